package lazy_test

import (
	"bufio"
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
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	"github.com/gobwas/ws"

	"github.com/msgsink/msgsink/internal/testnet"
	"github.com/msgsink/msgsink/lazy"
	"github.com/msgsink/msgsink/sink"
	"github.com/msgsink/msgsink/tlv"
	"github.com/msgsink/msgsink/transport"
)

// chattyPeer is the far end of the clean-close tests: a peer that writes to
// the sink all the time (garbage bytes on a stream; Pings and binary
// heartbeats on a WebSocket) while it reads the sink's messages, checking
// each one whole and in sequence. Whatever the sink sends last, the peer is
// still writing when the sink closes, so the sink always has unread input
// then: the case in which closing a socket at once resets it and throws away
// what the kernel still had to send.
type chattyPeer struct {
	// every is the pause between two of the peer's writes (ws: between two
	// Pings, with a binary heartbeat after each unless pingsOnly).
	every     time.Duration
	pingsOnly bool

	mu        sync.Mutex
	frames    int   // whole messages received, in sequence on each connection
	bad       error // the first thing received that is not what the sink sent
	end       error // how the read side ended: nil after the sink's Close frame
	closeCode int   // the code of the sink's Close frame (ws), 0 if none came
	pongs     int
	ended     int            // connections served to their end
	wg        sync.WaitGroup // the connections being served
}

// endConn counts a connection served to its end.
func (p *chattyPeer) endConn() {
	p.mu.Lock()
	p.ended++
	p.mu.Unlock()
}

// waitEnded waits until k connections have been served to their end.
func (p *chattyPeer) waitEnded(t *testing.T, k int) {
	t.Helper()
	waitFor(t, fmt.Sprintf("%d connections to end at the peer", k), func() bool {
		p.mu.Lock()
		defer p.mu.Unlock()
		return p.ended >= k
	})
}

func (p *chattyPeer) failf(format string, args ...any) {
	p.mu.Lock()
	defer p.mu.Unlock()
	if p.bad == nil {
		p.bad = fmt.Errorf(format, args...)
	}
}

// message checks one message of a connection's stream: a valid frame with
// the sequence number after next's, which it advances (0: any).
func (p *chattyPeer) message(b []byte, next *uint64) {
	var v tlv.Validator
	f, err := v.Parse(b)
	if err != nil {
		p.failf("message %d: %v", p.frames+1, err)
		return
	}
	p.mu.Lock()
	defer p.mu.Unlock()
	seq := f.Header().Sequence()
	if *next != 0 && seq != *next && p.bad == nil {
		p.bad = fmt.Errorf("message %d has sequence %d, want %d", p.frames+1, seq, *next)
	}
	*next = seq + 1
	p.frames++
}

// serveStream reads c until EOF, cutting the stream into messages, while
// chat writes garbage to it.
func (p *chattyPeer) serveStream(c net.Conn) {
	defer p.endConn()
	defer c.Close()
	_ = c.SetDeadline(time.Now().Add(time.Minute)) // a test that fails must still end
	var wg sync.WaitGroup
	wg.Go(func() {
		junk := make([]byte, 4<<10)
		for i := range junk {
			junk[i] = byte(i*7 + 3)
		}
		for {
			if _, err := c.Write(junk); err != nil {
				return // the sink closed
			}
			time.Sleep(p.every)
		}
	})
	defer wg.Wait()
	var v tlv.Validator
	var next uint64
	buf := make([]byte, 0, 256<<10)
	tmp := make([]byte, 64<<10)
	for {
		n, err := c.Read(tmp)
		buf = append(buf, tmp[:n]...)
		off := 0
		for len(buf)-off >= tlv.HeaderSize {
			size, ferr := v.FrameSize(buf[off:])
			if ferr != nil {
				p.failf("after %d messages: %v", p.frames, ferr)
				return
			}
			if len(buf)-off < size {
				break
			}
			p.message(buf[off:off+size], &next)
			off += size
		}
		buf = append(buf[:0], buf[off:]...)
		if err != nil {
			p.mu.Lock()
			p.end = err
			p.mu.Unlock()
			if len(buf) > 0 {
				p.failf("the stream ends in %d bytes of a torn message: %v", len(buf), err)
			}
			return
		}
	}
}

// serveWebSocket reads the client's frames, one message per binary frame,
// until its Close frame, which it answers, while chat pings and sends
// binary heartbeats.
func (p *chattyPeer) serveWebSocket(c net.Conn, r *bufio.Reader) {
	defer p.endConn()
	defer c.Close()
	_ = c.SetDeadline(time.Now().Add(time.Minute))
	var wmu sync.Mutex // the chat's frames and the Close reply
	closed := false
	stop := make(chan struct{})
	var wg sync.WaitGroup
	wg.Go(func() {
		beat := make([]byte, 1<<10)
		for i := uint64(0); ; i++ {
			select {
			case <-stop:
				return
			case <-time.After(p.every):
			}
			var ping [8]byte
			binary.BigEndian.PutUint64(ping[:], i)
			wmu.Lock()
			if closed {
				wmu.Unlock()
				return
			}
			err := ws.WriteFrame(c, ws.NewPingFrame(ping[:]))
			if err == nil && !p.pingsOnly {
				err = ws.WriteFrame(c, ws.NewBinaryFrame(beat))
			}
			wmu.Unlock()
			if err != nil {
				return // the sink closed
			}
		}
	})
	defer wg.Wait()
	defer close(stop)
	payload := make([]byte, 64<<10)
	var next uint64
	for {
		h, err := ws.ReadHeader(r)
		if err == nil && h.Length > int64(len(payload)) {
			err = fmt.Errorf("a client frame of %d bytes", h.Length)
		}
		if err == nil {
			_, err = io.ReadFull(r, payload[:h.Length])
		}
		if err != nil {
			p.mu.Lock()
			p.end = err // no Close frame: what a server reports as 1006
			p.mu.Unlock()
			return
		}
		b := payload[:h.Length]
		if h.Masked {
			ws.Cipher(b, h.Mask, 0)
		} else {
			p.failf("an unmasked client frame")
		}
		switch h.OpCode {
		case ws.OpBinary:
			p.message(b, &next)
		case ws.OpPong:
			p.mu.Lock()
			p.pongs++
			p.mu.Unlock()
		case ws.OpClose:
			code := 1005
			if len(b) >= 2 {
				code = int(binary.BigEndian.Uint16(b))
			}
			p.mu.Lock()
			p.closeCode = code
			p.mu.Unlock()
			wmu.Lock()
			closed = true
			_ = ws.WriteFrame(c, ws.NewCloseFrame(ws.NewCloseFrameBody(ws.StatusNormalClosure, "")))
			wmu.Unlock()
			return
		default:
			p.failf("a client frame with opcode %d", h.OpCode)
		}
	}
}

// listenChatty starts p on a fresh endpoint of scheme (unix, tcp, ws, wss)
// and returns it with the dialer that trusts it.
func listenChatty(t *testing.T, scheme string, p *chattyPeer) (transport.Endpoint, lazy.Dialer) {
	t.Helper()
	switch scheme {
	case "unix", "tcp":
		addr := "127.0.0.1:0"
		if scheme == "unix" {
			addr = testnet.SocketPath(t)
		}
		ln, err := net.Listen(scheme, addr)
		if err != nil {
			t.Fatal(err)
		}
		var accepting sync.WaitGroup
		accepting.Go(func() {
			for {
				c, err := ln.Accept()
				if err != nil {
					return
				}
				p.wg.Go(func() { p.serveStream(c) })
			}
		})
		t.Cleanup(func() { ln.Close(); accepting.Wait(); p.wg.Wait() })
		return mustEndpoint(t, scheme+"://"+ln.Addr().String()), &transport.Dialer{}
	}
	srv := httptest.NewUnstartedServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		p.wg.Add(1) // before the sink has sent anything, so before the test waits
		defer p.wg.Done()
		c, rw, _, err := ws.UpgradeHTTP(r, w)
		if err != nil {
			return
		}
		p.serveWebSocket(c, rw.Reader)
	}))
	d := &transport.Dialer{}
	if scheme == "wss" {
		srv.StartTLS()
		pool := x509.NewCertPool()
		pool.AddCert(srv.Certificate())
		d.TLS = &tls.Config{RootCAs: pool}
	} else {
		srv.Start()
	}
	// Close waits for the handlers, hijacked connections included, once
	// the sink has closed its end.
	t.Cleanup(srv.Close)
	host := strings.TrimPrefix(strings.TrimPrefix(srv.URL, "https://"), "http://")
	return mustEndpoint(t, scheme+"://"+host+"/feed"), d
}

// sendTrades sends n Trades to s, waiting for room, then flushes.
func sendTrades(t *testing.T, s *lazy.Sink, n int) {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
	defer cancel()
	b := tlv.NewBuilder(tlv.DomainMarketData, 1)
	for i := range n {
		b.AppendTrade(&tlv.Trade{Instrument: 42, Price: int64(100+i%50) * tlv.PriceScale,
			Volume: tlv.PriceScale, Side: tlv.SideBuy})
		m, err := b.Finish()
		if err != nil {
			t.Fatal(err)
		}
		if err := s.SendWait(ctx, m); err != nil {
			m.Release()
			t.Fatalf("SendWait %d: %v", i, err)
		}
	}
	if err := s.Flush(ctx); err != nil {
		t.Fatalf("Flush: %v", err)
	}
}

// A clean Close loses nothing to a peer that writes all the time (issue 14
// part 1): the sink sends 200k Trades, flushes and closes while the peer
// pings, sends heartbeats or garbage; every message counted as written
// arrives whole and in order, the stream ends with EOF, and a WebSocket
// peer gets the Close frame (1000), not a dropped connection (1006).
func TestCleanCloseChattyPeer(t *testing.T) {
	const n = 200_000
	for _, scheme := range []string{"tcp", "unix", "ws", "wss"} {
		t.Run("transport="+scheme, func(t *testing.T) {
			p := &chattyPeer{every: 100 * time.Microsecond}
			ep, d := listenChatty(t, scheme, p)
			s := newSink(t, lazy.Config{Endpoint: ep, Dialer: d, SingleProducer: true})
			sendTrades(t, s, n)
			if err := s.Close(); err != nil {
				t.Fatalf("Close: %v", err)
			}
			in := assertBalanced(t, s)
			if in.Written != n || in.Dropped.Total() != 0 {
				t.Fatalf("the sink wrote %d of %d, dropped %+v", in.Written, n, in.Dropped)
			}
			p.wg.Wait()
			p.mu.Lock()
			defer p.mu.Unlock()
			if p.bad != nil {
				t.Fatal(p.bad)
			}
			if p.frames != n {
				t.Fatalf("the peer received %d whole messages of the %d written (its read ended with %v)", p.frames, n, p.end)
			}
			switch scheme {
			case "tcp":
				if p.end != io.EOF {
					t.Errorf("the peer's read ended with %v, want EOF", p.end)
				}
			case "unix":
				// The sink closes once the peer has read everything (its
				// send queue is empty) and may then have unread input: a
				// Unix peer sees that as a reset after the data, or EOF.
				if p.end != io.EOF && !errors.Is(p.end, syscall.ECONNRESET) {
					t.Errorf("the peer's read ended with %v, want EOF", p.end)
				}
			default:
				if p.closeCode != 1000 {
					t.Errorf("the peer got close code %d (its read ended with %v), want 1000", p.closeCode, p.end)
				}
			}
		})
	}
}

// Disconnect ends the connection as cleanly as Close: after Flush, the
// chatty peer gets everything, then EOF (or the Close frame), and the next
// Send connects again.
func TestCleanDisconnectChattyPeer(t *testing.T) {
	const n = 100_000
	for _, scheme := range []string{"tcp", "ws"} {
		t.Run("transport="+scheme, func(t *testing.T) {
			p := &chattyPeer{every: 100 * time.Microsecond}
			ep, d := listenChatty(t, scheme, p)
			s := newSink(t, lazy.Config{Endpoint: ep, Dialer: d})
			sendTrades(t, s, n)
			ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
			defer cancel()
			if err := s.Disconnect(ctx); err != nil {
				t.Fatalf("Disconnect: %v", err)
			}
			p.waitEnded(t, 1)
			p.mu.Lock()
			frames, end, code, bad := p.frames, p.end, p.closeCode, p.bad
			p.mu.Unlock()
			if bad != nil {
				t.Fatal(bad)
			}
			if in := assertBalanced(t, s); in.Written != n || frames != n {
				t.Fatalf("written %d, received %d of %d (read ended with %v)", in.Written, frames, n, end)
			}
			if (scheme == "tcp" && end != io.EOF) || (scheme == "ws" && code != 1000) {
				t.Fatalf("the peer's read ended with %v, close code %d", end, code)
			}
			sendTrades(t, s, 10) // wakes the sink: a new connection
			if err := s.Close(); err != nil {
				t.Fatal(err)
			}
			p.waitEnded(t, 2)
			p.mu.Lock()
			defer p.mu.Unlock()
			if p.bad != nil {
				t.Fatal(p.bad)
			}
			if in := assertBalanced(t, s); in.Written != n+10 || p.frames != n+10 || in.Reconnects != 0 {
				t.Fatalf("written %d, received %d of %d, reconnects %d", in.Written, p.frames, n+10, in.Reconnects)
			}
		})
	}
}

// The case: a WebSocket server that pings every 10 ms while the sink
// sends 200k Trades, flushes and closes. Every Ping before the Close frame
// is answered (none comes sooner than the Pong limit allows), and
// everything arrives.
func TestCleanClosePingingServer(t *testing.T) {
	const n = 200_000
	p := &chattyPeer{every: 10 * time.Millisecond, pingsOnly: true}
	ep, d := listenChatty(t, "ws", p)
	s := newSink(t, lazy.Config{Endpoint: ep, Dialer: d, SingleProducer: true})
	start := time.Now()
	sendTrades(t, s, n)
	if err := s.Close(); err != nil {
		t.Fatalf("Close: %v", err)
	}
	took := time.Since(start)
	p.wg.Wait()
	in := assertBalanced(t, s)
	p.mu.Lock()
	defer p.mu.Unlock()
	if p.bad != nil {
		t.Fatal(p.bad)
	}
	if in.Written != n || p.frames != n || p.closeCode != 1000 {
		t.Fatalf("written %d, received %d of %d, close code %d (read ended with %v)", in.Written, p.frames, n, p.closeCode, p.end)
	}
	t.Logf("%d Pongs in %v", p.pongs, took)
}

// The peer's close code and reason reach Info.LastError and the state
// change's Err as a *transport.CloseError, not as "connection closed by
// peer".
func TestPeerCloseReasonReported(t *testing.T) {
	goingAway := make(chan struct{})
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		c, rw, _, err := ws.UpgradeHTTP(r, w)
		if err != nil {
			return
		}
		defer c.Close()
		// Reads nothing until told, then says goodbye as a server that
		// restarts would, and waits for the client's answer.
		<-goingAway
		_ = ws.WriteFrame(c, ws.NewCloseFrame(ws.NewCloseFrameBody(ws.StatusGoingAway, "going away")))
		_, _ = io.Copy(io.Discard, rw.Reader)
	}))
	defer srv.Close()
	var mu sync.Mutex
	var changes []sink.StateChange
	s := newSink(t, lazy.Config{
		Endpoint: mustEndpoint(t, "ws://"+strings.TrimPrefix(srv.URL, "http://")+"/feed"),
		Retry:    lazy.Retry{Initial: time.Hour, Max: time.Hour}, // one connection: no redial
		OnStateChange: func(sc sink.StateChange) {
			mu.Lock()
			changes = append(changes, sc)
			mu.Unlock()
		},
	})
	b := newBuilder(64)
	if err := s.Send(b.next()); err != nil {
		t.Fatal(err)
	}
	flush(t, s) // the writer now waits for work: only the reader can notice
	close(goingAway)
	waitFor(t, "the sink to notice the server's Close", func() bool { return s.Info().State == sink.StateBackoff })

	check := func(what string, err error) {
		t.Helper()
		var ce *transport.CloseError
		if !errors.As(err, &ce) || ce.Code != 1001 || ce.Reason != "going away" {
			t.Errorf("%s = %v, want the server's 1001 \"going away\" as a *transport.CloseError", what, err)
		}
	}
	check("Info.LastError", s.Info().LastError)
	if err := s.Close(); err != nil {
		t.Fatal(err)
	}
	mu.Lock()
	defer mu.Unlock()
	var toBackoff error
	for _, sc := range changes {
		if sc.To == sink.StateBackoff {
			toBackoff = sc.Err
		}
	}
	check("StateChange.Err of the move to backoff", toBackoff)
}

// A refused connection hints "is the relay running" only for a relay
// service; a direct one's hint speaks of the server.
func TestRefusedHintByKind(t *testing.T) {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	ep := mustEndpoint(t, "tcp://"+ln.Addr().String())
	ln.Close() // nothing listens there now
	for _, tc := range []struct {
		kind      sink.Kind
		want, not string
	}{
		{sink.KindRelay, "is the relay running and listening there?", "server"},
		{sink.KindDirect, "is the server running and listening there?", "relay"},
	} {
		t.Run("kind="+string(tc.kind), func(t *testing.T) {
			s := newSink(t, lazy.Config{Kind: tc.kind, Endpoint: ep, Retry: lazy.Retry{MaxAttempts: 1}})
			ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
			defer cancel()
			err := s.Connect(ctx)
			if !errors.Is(err, syscall.ECONNREFUSED) {
				t.Fatalf("Connect = %v, want ECONNREFUSED", err)
			}
			if msg := err.Error(); !strings.Contains(msg, tc.want) || strings.Contains(msg, tc.not) {
				t.Errorf("%q: want a hint %q, and no word %q", msg, tc.want, tc.not)
			}
		})
	}
}

// Reconnects counts connections lost and followed by a new connect: not
// the one that Close breaks at its deadline, when the peer stopped reading.
func TestReconnectsNotCountedAtClose(t *testing.T) {
	_, ep := listenGated(t, "unix")
	// The writer's first batch blocks until Close's deadline breaks it.
	s := newSink(t, lazy.Config{Endpoint: ep, CloseTimeout: 50 * time.Millisecond,
		Dialer: stalledDial(make(chan struct{}))})
	b := newBuilder(64)
	for range 10 {
		if err := s.Send(b.next()); err != nil {
			t.Fatal(err)
		}
	}
	waitFor(t, "the sink to connect", func() bool { return s.Info().State == sink.StateConnected })
	if err := s.Close(); err == nil {
		t.Fatal("Close dropped messages at its deadline and returned nil")
	}
	in := assertBalanced(t, s)
	if in.Reconnects != 0 || in.Dropped.Closed != 10 {
		t.Fatalf("reconnects %d, dropped at close %d: want 0 and 10 (LastError %v)",
			in.Reconnects, in.Dropped.Closed, in.LastError)
	}
}
