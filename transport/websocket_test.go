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

func dialWS(t testing.TB, e Endpoint, o WebSocketOptions) *WebSocketConn {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	c, err := DialWebSocket(ctx, e, o)
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
	c := dialWS(t, e, WebSocketOptions{})
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
	c := dialWS(t, e, WebSocketOptions{})
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
	c := dialWS(t, e, WebSocketOptions{})
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
			data, pongs := 0, 1
			for data < n {
				f, err := readClientFrame(r)
				if err != nil {
					return err
				}
				switch f.h.OpCode {
				case ws.OpPong:
					pongs++
					if want := fmt.Sprintf("ping-%03d", pongs); string(f.payload) != want {
						return errors.New("pong " + string(f.payload) + ", want " + want)
					}
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
	c := dialWS(t, e, WebSocketOptions{})
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
		"oversized ping":      append([]byte{0x89, 126, 0, 200}, make([]byte, 200)...),
		"fragmented ping":     {0x09, 0},
		"masked server frame": {0x82, 0x80 | 1, 1, 2, 3, 4, 0},
		"reserved bits":       {0x80 | 0x40 | 0x2, 0},
		"unknown opcode":      {0x83, 0},
	}
	for name, raw := range cases {
		t.Run(name, func(t *testing.T) {
			closed := make(chan uint16, 1)
			e := wsServer(t, func(c net.Conn, r *bufio.Reader) {
				if _, err := c.Write(raw); err != nil {
					t.Error(err)
				}
				f, err := readClientFrame(r)
				if err != nil || f.h.OpCode != ws.OpClose || len(f.payload) < 2 {
					t.Errorf("want a Close frame from the client, got %+v, %v", f.h, err)
					closed <- 0
					return
				}
				closed <- binary.BigEndian.Uint16(f.payload)
			})
			c := dialWS(t, e, WebSocketOptions{})
			<-c.Done()
			if err := c.Err(); !errors.Is(err, ErrWebSocketProtocol) {
				t.Fatalf("Err() = %v, want ErrWebSocketProtocol", err)
			}
			if code := <-closed; code != 1002 {
				t.Fatalf("client closed with %d, want 1002", code)
			}
		})
	}
}

// Data frames from the server are read and dropped; the connection stays.
func TestWebSocketServerDataDiscarded(t *testing.T) {
	e := wsServer(t, func(c net.Conn, r *bufio.Reader) {
		_ = ws.WriteFrame(c, ws.NewBinaryFrame(make([]byte, 10000)))
		_ = ws.WriteFrame(c, ws.NewTextFrame([]byte("hello")))
		_, _ = io.Copy(io.Discard, r)
	})
	c := dialWS(t, e, WebSocketOptions{})
	deadline := time.Now().Add(5 * time.Second)
	for c.BytesDiscarded() != 10005 {
		if time.Now().After(deadline) {
			t.Fatalf("discarded %d bytes, want 10005", c.BytesDiscarded())
		}
		time.Sleep(time.Millisecond)
	}
	if err := c.Err(); err != nil {
		t.Fatalf("connection ended: %v", err)
	}
}

// A server that never reads: WriteBatch blocks once the socket buffers are
// full, and Close from another goroutine unblocks it with net.ErrClosed.
func TestWebSocketServerNeverReads(t *testing.T) {
	stop := make(chan struct{})
	e := wsServer(t, func(c net.Conn, r *bufio.Reader) { <-stop })
	defer close(stop)
	c := dialWS(t, e, WebSocketOptions{})
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
	if _, err := DialWebSocket(ctx, e, WebSocketOptions{}); !errors.Is(err, context.DeadlineExceeded) {
		t.Fatalf("dial = %v, want context.DeadlineExceeded", err)
	}
}

// wss: a self-signed server certificate fails verification by default, and
// is accepted with its CA in the pool or with InsecureSkipVerify.
func TestWebSocketTLS(t *testing.T) {
	got := make(chan []byte, 3)
	srv := httptest.NewUnstartedServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		conn, _, _, err := ws.UpgradeHTTP(r, w)
		if err != nil {
			return
		}
		defer conn.Close()
		f, err := readClientFrame(conn)
		if err == nil {
			got <- f.payload
		}
	}))
	srv.StartTLS()
	defer srv.Close()
	e, err := ParseEndpoint("wss://" + strings.TrimPrefix(srv.URL, "https://") + "/feed")
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	_, err = Dial(ctx, e)
	var verr *tls.CertificateVerificationError
	if !errors.As(err, &verr) || !errors.As(err, new(x509.UnknownAuthorityError)) {
		t.Fatalf("dial with the system roots = %v, want an unknown-authority verification error", err)
	}

	pool := x509.NewCertPool()
	pool.AddCert(srv.Certificate())
	for name, cfg := range map[string]*tls.Config{
		"ca":       {RootCAs: pool, ServerName: "example.com"}, // httptest's certificate names example.com
		"insecure": {InsecureSkipVerify: true},
	} {
		c, err := DialWebSocket(ctx, e, WebSocketOptions{TLS: cfg})
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
