package transport

import (
	"bufio"
	"bytes"
	"context"
	"crypto/tls"
	"crypto/x509"
	"encoding/binary"
	"errors"
	"fmt"
	"io"
	"log"
	"net"
	"net/http"
	"net/http/httptest"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/coder/websocket"
	"github.com/gobwas/ws"

	"github.com/msgsink/msgsink/tlv"
)

// frame is one frame as a server received it, payload unmasked.
type frame struct {
	h       ws.Header
	payload []byte
}

// readClientFrame reads one frame from a client, checks that it is masked as
// RFC 6455 section 5.3 requires, and unmasks it.
func readClientFrame(r io.Reader) (frame, error) {
	h, err := ws.ReadHeader(r)
	if err != nil {
		return frame{}, err
	}
	p := make([]byte, h.Length)
	if _, err := io.ReadFull(r, p); err != nil {
		return frame{}, err
	}
	if !h.Masked {
		return frame{}, errors.New("an unmasked client frame")
	}
	ws.Cipher(p, h.Mask, 0)
	return frame{h, p}, nil
}

// wsServer is a gobwas/ws server on a loopback port that hands each
// upgraded connection to handle.
func wsServer(t testing.TB, handle func(c net.Conn, r *bufio.Reader)) Endpoint {
	t.Helper()
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	var wg sync.WaitGroup
	t.Cleanup(func() { l.Close(); wg.Wait() })
	wg.Go(func() {
		for {
			c, err := l.Accept()
			if err != nil {
				return
			}
			wg.Go(func() {
				defer c.Close()
				if _, err := ws.Upgrade(c); err != nil {
					t.Errorf("server upgrade: %v", err)
					return
				}
				handle(c, bufio.NewReader(c))
			})
		}
	})
	e, err := ParseEndpoint("ws://" + l.Addr().String() + "/feed?v=2")
	if err != nil {
		t.Fatal(err)
	}
	return e
}

// wssServer is wsServer over TLS: an httptest server with its self-signed
// certificate (srv.Certificate), HTTP/2 on so that the client's ALPN
// matters, upgrading with gobwas/ws.
func wssServer(t testing.TB, handle func(c net.Conn, r *bufio.Reader)) (Endpoint, *httptest.Server) {
	t.Helper()
	// srv.Close does not wait for hijacked connections: the cleanup waits
	// for their handlers, each counted under mu, so that its Add happens
	// before the Wait, as WaitGroup requires.
	var (
		mu       sync.Mutex
		stopped  bool
		handlers sync.WaitGroup
	)
	srv := httptest.NewUnstartedServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		c, rw, _, err := ws.UpgradeHTTP(r, w)
		if err != nil {
			return
		}
		defer c.Close()
		mu.Lock()
		if stopped {
			mu.Unlock()
			return
		}
		handlers.Add(1)
		mu.Unlock()
		defer handlers.Done()
		handle(c, rw.Reader)
	}))
	srv.EnableHTTP2 = true
	srv.Config.ErrorLog = log.New(io.Discard, "", 0) // refused certificates are what some tests are about
	srv.StartTLS()
	t.Cleanup(func() {
		srv.Close()
		mu.Lock()
		stopped = true
		mu.Unlock()
		handlers.Wait()
	})
	e, err := ParseEndpoint("wss://" + strings.TrimPrefix(srv.URL, "https://") + "/feed")
	if err != nil {
		t.Fatal(err)
	}
	return e, srv
}

// insecure accepts the test servers' self-signed certificates.
var insecure = Dialer{TLS: &tls.Config{InsecureSkipVerify: true}}

// bigMessage builds a message of about size bytes (over 65535 needs several
// records), released at the end of the test.
func bigMessage(t testing.TB, size int) *tlv.Message {
	t.Helper()
	b := tlv.NewBuilder(tlv.DomainMarketData, 2)
	for left := size - tlv.HeaderSize; left > 5; left -= 30000 + 5 {
		b.Append(5, bytes.Repeat([]byte{0x5A}, min(left-5, 30000)))
	}
	m, err := b.Finish()
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(m.Release)
	return m
}

func dialWS(t testing.TB, e Endpoint, o Dialer) *WebSocketConn {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	c, err := o.DialWebSocket(ctx, e)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { c.Close() })
	return c
}

// Every message is one final binary frame, masked with its own key, whose
// unmasked payload is the message's bytes, in order; the message buffers are
// left as they were. Sizes cover the three length encodings.
func TestWebSocketFramesGobwas(t *testing.T) {
	sizes := []int{40, 125, 126, 200, 65535, 64, 70000, 34}
	ms := newBatch(t, sizes[:6]...)
	ms = append(ms, bigMessage(t, 70000), newBatch(t, 34)[0])
	orig := make([][]byte, len(ms))
	for i, m := range ms {
		orig[i] = bytes.Clone(m.Bytes())
	}
	got := make(chan []frame, 1)
	e := wsServer(t, func(c net.Conn, r *bufio.Reader) {
		var fs []frame
		for range ms {
			f, err := readClientFrame(r)
			if err != nil {
				t.Error(err)
				break
			}
			fs = append(fs, f)
		}
		got <- fs
	})
	c := dialWS(t, e, Dialer{})
	if n, err := c.WriteBatch(ms[:3], ms[3:]); n != len(ms) || err != nil {
		t.Fatalf("WriteBatch = %d, %v", n, err)
	}
	fs := <-got
	masks := map[[4]byte]bool{}
	for i, f := range fs {
		if !f.h.Fin || f.h.OpCode != ws.OpBinary || f.h.Rsv != 0 {
			t.Errorf("frame %d: header %+v, want a final binary frame", i, f.h)
		}
		if !bytes.Equal(f.payload, orig[i]) {
			t.Errorf("frame %d: payload differs from message %d (%d bytes)", i, i, sizes[i])
		}
		if !bytes.Equal(ms[i].Bytes(), orig[i]) {
			t.Errorf("message %d was modified by masking", i)
		}
		masks[f.h.Mask] = true
	}
	if len(fs) != len(ms) || len(masks) != len(ms) {
		t.Fatalf("%d frames with %d distinct masks, want %d of each", len(fs), len(masks), len(ms))
	}
}

// An independent implementation, coder/websocket behind net/http, reads
// every message whole and in order.
func TestWebSocketIndependentServer(t *testing.T) {
	const n = 2000
	sizes := make([]int, n-1)
	for i := range sizes {
		sizes[i] = []int{64, 300, 5000, 60000}[i%4]
	}
	ms := newBatch(t, sizes...)
	ms = append(ms[:len(ms):len(ms)], bigMessage(t, 200000)) // a 64-bit frame length, last
	got := make(chan [][]byte, 1)
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		c, err := websocket.Accept(w, r, nil)
		if err != nil {
			t.Error(err)
			return
		}
		defer c.CloseNow()
		c.SetReadLimit(1 << 20)
		var ps [][]byte
		for range n {
			typ, p, err := c.Read(r.Context())
			if err != nil {
				t.Error(err)
				break
			}
			if typ != websocket.MessageBinary {
				t.Errorf("message type %v, want binary", typ)
			}
			ps = append(ps, p)
		}
		got <- ps
	}))
	defer srv.Close()
	e, err := ParseEndpoint("ws://" + strings.TrimPrefix(srv.URL, "http://") + "/")
	if err != nil {
		t.Fatal(err)
	}
	c := dialWS(t, e, Dialer{})
	for i := 0; i < n; i += 100 {
		if k, err := c.WriteBatch(ms[i:i+60], ms[i+60:i+100]); k != 100 || err != nil {
			t.Fatalf("WriteBatch = %d, %v", k, err)
		}
	}
	ps := <-got
	if len(ps) != n {
		t.Fatalf("server read %d messages, want %d", len(ps), n)
	}
	for i, p := range ps {
		if !bytes.Equal(p, ms[i].Bytes()) {
			t.Fatalf("message %d differs", i)
		}
	}
}

// The upgrade request names the endpoint's host, with its port unless that
// is the scheme's default, and its path and query as written.
func TestWebSocketRequestTarget(t *testing.T) {
	type target struct{ host, uri string }
	serve := func(addr string) (Endpoint, <-chan target) {
		l, err := net.Listen("tcp", addr)
		if err != nil {
			t.Skipf("cannot listen on %s: %v", addr, err)
		}
		got := make(chan target, 1)
		var wg sync.WaitGroup
		t.Cleanup(func() { l.Close(); wg.Wait() })
		wg.Go(func() {
			c, err := l.Accept()
			if err != nil {
				return
			}
			defer c.Close()
			var tg target
			u := ws.Upgrader{
				OnRequest: func(uri []byte) error { tg.uri = string(uri); return nil },
				OnHost:    func(host []byte) error { tg.host = string(host); return nil },
			}
			if _, err := u.Upgrade(c); err != nil {
				t.Error(err)
			}
			got <- tg
		})
		e, err := ParseEndpoint("ws://" + l.Addr().String() + "/feed?v=2&x=%20")
		if err != nil {
			t.Fatal(err)
		}
		return e, got
	}
	e, got := serve("127.0.0.1:0")
	dialWS(t, e, Dialer{})
	if tg := <-got; tg.host != e.Addr || tg.uri != "/feed?v=2&x=%20" {
		t.Errorf("Host %q, request URI %q; want %q and the endpoint's path", tg.host, tg.uri, e.Addr)
	}
	// Port 80 needs the privilege to bind it: skipped without.
	e, got = serve("127.0.0.1:80")
	dialWS(t, e, Dialer{})
	if tg := <-got; tg.host != "127.0.0.1" {
		t.Errorf("Host %q for %s, want 127.0.0.1: no default port", tg.host, e)
	}
}

// A refused upgrade names the HTTP status.
func TestWebSocketHandshakeRefused(t *testing.T) {
	for _, status := range []int{403, 503} {
		srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
			http.Error(w, "no", status)
		}))
		e, _ := ParseEndpoint("ws://" + strings.TrimPrefix(srv.URL, "http://") + "/feed")
		ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
		_, err := Dial(ctx, e)
		cancel()
		srv.Close()
		var he *HandshakeError
		var oe *OpError
		if !errors.As(err, &he) || he.Status != status || !errors.As(err, &oe) || oe.Op != "dial" {
			t.Fatalf("status %d: error %v, want a dial *OpError with *HandshakeError{%d}", status, err, status)
		}
		if !strings.Contains(err.Error(), "HTTP status "+strconv.Itoa(status)) {
			t.Errorf("message %q does not name the status", err)
		}
	}
}

// A server that closes with a code: the client echoes the code, the
// connection ends with a *CloseError, and no frame follows.
func TestWebSocketServerClose(t *testing.T) {
	reply := make(chan frame, 1)
	e := wsServer(t, func(c net.Conn, r *bufio.Reader) {
		body := binary.BigEndian.AppendUint16(nil, 1001)
		body = append(body, "going away"...)
		if err := ws.WriteFrame(c, ws.NewCloseFrame(body)); err != nil {
			t.Error(err)
			return
		}
		f, err := readClientFrame(r)
		if err != nil {
			t.Error(err)
		}
		reply <- f
	})
	c := dialWS(t, e, Dialer{})
	select {
	case <-c.Done():
	case <-time.After(5 * time.Second):
		t.Fatal("Done not closed after the server's Close frame")
	}
	var ce *CloseError
	if err := c.Err(); !errors.As(err, &ce) || ce.Code != 1001 || ce.Reason != "going away" {
		t.Fatalf("Err() = %v, want *CloseError{1001, going away}", err)
	}
	if f := <-reply; f.h.OpCode != ws.OpClose || binary.BigEndian.Uint16(f.payload) != 1001 {
		t.Fatalf("client replied %+v %x, want Close 1001", f.h, f.payload)
	}
	ms := newBatch(t, 64)
	if n, err := c.WriteBatch(ms, nil); n != 0 || !errors.As(err, &ce) {
		t.Fatalf("WriteBatch after Close = %d, %v; want 0 and the *CloseError", n, err)
	}
}

// A server that hangs up without a Close frame: Done closes, Err says EOF,
// and the next WriteBatch fails at once with it.
func TestWebSocketServerHangsUp(t *testing.T) {
	e := wsServer(t, func(c net.Conn, r *bufio.Reader) {})
	c := dialWS(t, e, Dialer{})
	select {
	case <-c.Done():
	case <-time.After(5 * time.Second):
		t.Fatal("Done not closed after the server hung up")
	}
	var oe *OpError
	if err := c.Err(); !errors.Is(err, io.EOF) || !errors.As(err, &oe) || oe.Op != "read" {
		t.Fatalf("Err() = %v, want a read *OpError with io.EOF", err)
	}
	if n, err := c.WriteBatch(newBatch(t, 64), nil); n != 0 || !errors.Is(err, io.EOF) {
		t.Fatalf("WriteBatch after the hang-up = %d, %v; want 0 and io.EOF", n, err)
	}
}

// Pings are answered with Pongs carrying the same payload, while the client
// is idle and while it streams, and the pongs never split a data frame.
func TestWebSocketPingPong(t *testing.T) {
	const n = 3000
	ms := newBatch(t, repeat(n, 200)...)
	errc := make(chan error, 1)
	start := make(chan struct{})
	e := wsServer(t, func(c net.Conn, r *bufio.Reader) {
		errc <- func() error {
			pings := 0
			ping := func() error {
				pings++
				return ws.WriteFrame(c, ws.NewPingFrame(fmt.Appendf(nil, "ping-%03d", pings)))
			}
			if err := ping(); err != nil { // while the client is idle
				return err
			}
			f, err := readClientFrame(r)
			if err != nil {
				return err
			}
			if f.h.OpCode != ws.OpPong || string(f.payload) != "ping-001" {
				return fmt.Errorf("idle: want Pong ping-001, got opcode %d %q", f.h.OpCode, f.payload)
			}
			close(start)
			var mu sync.Mutex
			go func() { // pings while the client streams
				for range 20 {
					mu.Lock()
					err := ping()
					mu.Unlock()
					if err != nil {
						return
					}
					time.Sleep(200 * time.Microsecond)
				}
			}()
			data, answered := 0, 1 // the number of the last Ping answered
			for data < n {
				f, err := readClientFrame(r)
				if err != nil {
					return err
				}
				switch f.h.OpCode {
				case ws.OpPong:
					// Pings that come sooner than the Pong limit are
					// answered together, by the latest: later, never
					// earlier, than the last one answered.
					var k int
					if _, err := fmt.Sscanf(string(f.payload), "ping-%03d", &k); err != nil || k <= answered {
						return fmt.Errorf("pong %q after the Pong of ping-%03d", f.payload, answered)
					}
					answered = k
				case ws.OpBinary:
					if !bytes.Equal(f.payload, ms[data].Bytes()) {
						return errors.New("data frame out of order or torn")
					}
					data++
				default:
					return fmt.Errorf("unexpected opcode %d", f.h.OpCode)
				}
			}
			return nil
		}()
	})
	c := dialWS(t, e, Dialer{})
	<-start
	for i := 0; i < n; i += 10 {
		if k, err := c.WriteBatch(ms[i:i+10], nil); k != 10 || err != nil {
			t.Fatalf("WriteBatch = %d, %v", k, err)
		}
	}
	if err := <-errc; err != nil {
		t.Fatal(err)
	}
}

// Protocol violations end the connection with a *ProtocolError, after a
// Close 1002 to the server.
func TestWebSocketProtocolViolations(t *testing.T) {
	cases := map[string][]byte{
		"oversized ping":          append([]byte{0x89, 126, 0, 200}, make([]byte, 200)...),
		"fragmented ping":         {0x09, 0},
		"masked server frame":     {0x82, 0x80 | 1, 1, 2, 3, 4, 0},
		"reserved bits":           {0x80 | 0x40 | 0x2, 0},
		"reserved data opcode":    {0x83, 0},
		"reserved control opcode": {0x8B, 0},
		"length MSB set":          {0x82, 127, 0x80, 0, 0, 0, 0, 0, 0, 1},
		"close 1-byte payload":    {0x88, 1, 0x03},
		"close code 1005":         {0x88, 2, 0x03, 0xED},
		"close code 2000":         {0x88, 2, 0x07, 0xD0},
		"close reason not UTF-8":  {0x88, 4, 0x03, 0xE8, 0xFF, 0xFE},
		"orphan continuation":     {0x80, 0},
		"message inside fragment": {0x02, 1, 'a', 0x82, 0},
	}
	for name, raw := range cases {
		t.Run(name, func(t *testing.T) {
			closed := make(chan uint16, 1)
			e := wsServer(t, func(c net.Conn, r *bufio.Reader) {
				if _, err := c.Write(raw); err != nil {
					t.Error(err)
				}
				_ = c.SetReadDeadline(time.Now().Add(5 * time.Second))
				f, err := readClientFrame(r)
				if err != nil || f.h.OpCode != ws.OpClose || len(f.payload) < 2 {
					t.Errorf("want a Close frame from the client, got %+v, %v", f.h, err)
					closed <- 0
					return
				}
				closed <- binary.BigEndian.Uint16(f.payload)
			})
			c := dialWS(t, e, Dialer{})
			select {
			case <-c.Done():
			case <-time.After(5 * time.Second):
				c.Close()
				t.Fatal("the connection outlived the violation")
			}
			if err := c.Err(); !errors.Is(err, ErrWebSocketProtocol) {
				t.Fatalf("Err() = %v, want ErrWebSocketProtocol", err)
			}
			if code := <-closed; code != 1002 {
				t.Fatalf("client closed with %d, want 1002", code)
			}
		})
	}
}

// Data frames from the server, fragmented messages among them, are read and
// dropped; a Ping between two fragments is answered; the connection stays.
func TestWebSocketServerDataDiscarded(t *testing.T) {
	pong := make(chan frame, 1)
	e := wsServer(t, func(c net.Conn, r *bufio.Reader) {
		for _, f := range []ws.Frame{
			ws.NewBinaryFrame(make([]byte, 10000)),
			ws.NewFrame(ws.OpBinary, false, []byte("abc")),
			ws.NewPingFrame([]byte("between fragments")),
			ws.NewFrame(ws.OpContinuation, false, []byte("de")),
			ws.NewFrame(ws.OpContinuation, true, []byte("f")),
			ws.NewTextFrame([]byte("hello")),
		} {
			if err := ws.WriteFrame(c, f); err != nil {
				t.Error(err)
				return
			}
		}
		f, err := readClientFrame(r)
		if err != nil {
			t.Error(err)
		}
		pong <- f
		_, _ = io.Copy(io.Discard, r)
	})
	c := dialWS(t, e, Dialer{})
	if f := <-pong; f.h.OpCode != ws.OpPong || string(f.payload) != "between fragments" {
		t.Fatalf("client sent %+v %q, want the Pong", f.h, f.payload)
	}
	deadline := time.Now().Add(5 * time.Second)
	for c.BytesDiscarded() != 10011 {
		if time.Now().After(deadline) {
			t.Fatalf("discarded %d bytes, want 10011", c.BytesDiscarded())
		}
		time.Sleep(time.Millisecond)
	}
	if err := c.Err(); err != nil {
		t.Fatalf("connection ended: %v", err)
	}
}

// A server that never reads: WriteBatch blocks once the socket buffers are
// full, and Close from another goroutine unblocks it with net.ErrClosed,
// over ws and wss.
func TestWebSocketServerNeverReads(t *testing.T) {
	t.Run("ws", func(t *testing.T) {
		stop := make(chan struct{})
		e := wsServer(t, func(c net.Conn, r *bufio.Reader) { <-stop })
		defer close(stop)
		testBlockedClose(t, dialWS(t, e, Dialer{}))
	})
	t.Run("wss", func(t *testing.T) {
		stop := make(chan struct{})
		e, _ := wssServer(t, func(c net.Conn, r *bufio.Reader) { <-stop })
		defer close(stop)
		testBlockedClose(t, dialWS(t, e, insecure))
	})
}

// testBlockedClose writes to c until WriteBatch blocks, then checks that
// Close unblocks it with an error matching net.ErrClosed.
func testBlockedClose(t *testing.T, c *WebSocketConn) {
	ms := newBatch(t, repeat(64, 60000)...)
	errc := make(chan error, 1)
	go func() {
		for {
			if _, err := c.WriteBatch(ms, nil); err != nil {
				errc <- err
				return
			}
		}
	}()
	select {
	case err := <-errc:
		t.Fatalf("WriteBatch failed before Close: %v", err)
	case <-time.After(200 * time.Millisecond):
	}
	c.Close()
	select {
	case err := <-errc:
		if !errors.Is(err, net.ErrClosed) {
			t.Fatalf("blocked WriteBatch returned %v, want net.ErrClosed", err)
		}
	case <-time.After(5 * time.Second):
		t.Fatal("Close did not unblock WriteBatch")
	}
}

// Close returns at once over wss when the server has stopped reading, even
// with no batch blocked: it must not wait for TLS's close_notify, which
// waits up to 5 s for room in a full socket.
func TestWebSocketCloseStalledTLS(t *testing.T) {
	stop := make(chan struct{})
	e, _ := wssServer(t, func(c net.Conn, r *bufio.Reader) { <-stop })
	defer close(stop)
	c := dialWS(t, e, insecure)
	// Fill the socket to the last byte underneath TLS (the server reads
	// nothing, so what is written does not matter).
	raw := c.conn.(*tls.Conn).NetConn()
	junk := make([]byte, 64<<10)
	for size := len(junk); size > 0; {
		if err := raw.SetWriteDeadline(time.Now().Add(20 * time.Millisecond)); err != nil {
			t.Fatal(err)
		}
		if n, err := raw.Write(junk[:size]); err != nil && n == 0 {
			size /= 2
		}
	}
	if err := raw.SetWriteDeadline(time.Time{}); err != nil {
		t.Fatal(err)
	}
	start := time.Now()
	c.Close()
	if d := time.Since(start); d > time.Second {
		t.Fatalf("Close took %v", d)
	}
}

// A server that accepts TCP but never answers the upgrade: the dial fails
// at the context's deadline.
func TestWebSocketConnectTimeout(t *testing.T) {
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer l.Close()
	var wg sync.WaitGroup
	defer wg.Wait()
	defer l.Close()
	wg.Go(func() {
		var held []net.Conn // accepted and never answered
		defer func() {
			for _, c := range held {
				c.Close()
			}
		}()
		for {
			c, err := l.Accept()
			if err != nil {
				return
			}
			held = append(held, c)
		}
	})
	e, _ := ParseEndpoint("ws://" + l.Addr().String() + "/")
	ctx, cancel := context.WithTimeout(context.Background(), 200*time.Millisecond)
	defer cancel()
	if _, err := (&Dialer{}).DialWebSocket(ctx, e); !errors.Is(err, context.DeadlineExceeded) {
		t.Fatalf("dial = %v, want context.DeadlineExceeded", err)
	}
}

// wss: a self-signed server certificate fails verification by default, and
// is accepted with its CA in the pool or with InsecureSkipVerify; a config
// that offers h2 still upgrades over HTTP/1.1.
func TestWebSocketTLS(t *testing.T) {
	got := make(chan []byte, 3)
	e, srv := wssServer(t, func(c net.Conn, r *bufio.Reader) {
		if f, err := readClientFrame(r); err == nil {
			got <- f.payload
		}
	})
	// Each dial has its own generous timeout: a TLS handshake under -race
	// on a loaded machine is slow, and a timeout is not what is tested.
	dial := func(o Dialer) (*WebSocketConn, error) {
		ctx, cancel := context.WithTimeout(context.Background(), 20*time.Second)
		defer cancel()
		return o.DialWebSocket(ctx, e)
	}
	_, err := dial(Dialer{})
	var verr *tls.CertificateVerificationError
	var oe *OpError
	if !errors.As(err, &verr) || !errors.As(err, new(x509.UnknownAuthorityError)) || !errors.As(err, &oe) || oe.Op != "dial" {
		t.Fatalf("dial with the system roots = %v, want a dial *OpError with an unknown-authority verification error", err)
	}
	if !strings.Contains(err.Error(), "trust its CA (tls_ca_file") {
		t.Errorf("error %q does not say what to change", err)
	}

	pool := x509.NewCertPool()
	pool.AddCert(srv.Certificate())
	for name, cfg := range map[string]*tls.Config{
		"ca":       {RootCAs: pool, ServerName: "example.com"}, // httptest's certificate names example.com
		"insecure": {InsecureSkipVerify: true},
		// The server speaks HTTP/2 as well (wssServer); the upgrade must
		// still be HTTP/1.1 when the config offers h2.
		"h2 offered": {RootCAs: pool, NextProtos: []string{"h2", "http/1.1"}},
	} {
		c, err := dial(Dialer{TLS: cfg})
		if err != nil {
			t.Fatalf("%s: %v", name, err)
		}
		ms := newBatch(t, 64)
		if n, err := c.WriteBatch(ms, nil); n != 1 || err != nil {
			t.Fatalf("%s: WriteBatch = %d, %v", name, n, err)
		}
		if p := <-got; !bytes.Equal(p, ms[0].Bytes()) {
			t.Fatalf("%s: server read %x", name, p)
		}
		c.Close()
	}
}
