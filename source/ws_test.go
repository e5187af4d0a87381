package source_test

import (
	"context"
	"encoding/binary"
	"errors"
	"io"
	"net"
	"strings"
	"testing"
	"time"

	"github.com/gobwas/ws"

	"github.com/msgsink/msgsink/source"
	"github.com/msgsink/msgsink/tlv"
)

// wsClient is a gobwas/ws client connection to l at path.
type wsClient struct {
	t  *testing.T
	nc net.Conn
	r  io.Reader
}

func dialWS(t *testing.T, l *source.Listener, path string) (*wsClient, error) {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	nc, br, _, err := ws.Dial(ctx, "ws://"+l.Addr().String()+path)
	if err != nil {
		return nil, err
	}
	t.Cleanup(func() { _ = nc.Close() })
	c := &wsClient{t: t, nc: nc, r: nc}
	if br != nil {
		c.r = br
	}
	return c, nil
}

// send writes one frame, masked as a client must unless masked is false.
func (c *wsClient) send(op ws.OpCode, fin, masked bool, p []byte) {
	c.t.Helper()
	f := ws.NewFrame(op, fin, append([]byte(nil), p...))
	if masked {
		f = ws.MaskFrameInPlace(f)
	}
	if err := ws.WriteFrame(c.nc, f); err != nil {
		c.t.Fatal(err)
	}
}

// read reads the server's next frame, within 10 s.
func (c *wsClient) read() ws.Frame {
	c.t.Helper()
	_ = c.nc.SetReadDeadline(time.Now().Add(10 * time.Second))
	h, err := ws.ReadHeader(c.r)
	if err != nil {
		c.t.Fatalf("reading the server's frame: %v", err)
	}
	if h.Masked {
		c.t.Fatal("the server masked a frame (RFC 6455 section 5.1 forbids it)")
	}
	if h.Length > 1<<16 {
		c.t.Fatalf("a server frame of %d bytes: acks and control frames are small", h.Length)
	}
	f := ws.Frame{Header: h, Payload: make([]byte, h.Length)}
	if _, err := io.ReadFull(c.r, f.Payload); err != nil {
		c.t.Fatalf("reading the server's frame: %v", err)
	}
	return f
}

// readClose reads frames up to the server's Close frame and returns its
// code.
func (c *wsClient) readClose() int {
	c.t.Helper()
	for {
		f := c.read()
		if f.Header.OpCode == ws.OpClose {
			if len(f.Payload) < 2 {
				return 1005
			}
			return int(binary.BigEndian.Uint16(f.Payload))
		}
	}
}

// TestListenWebSocket: a gobwas/ws client through a real handshake. Pings
// are answered, a Close frame gets its Close back, and what a Listener does
// not take closes the connection with the right code, counted and reported
// with a typed error.
func TestListenWebSocket(t *testing.T) {
	good := func(t *testing.T, src uint8) []byte { return frame(t, tlv.NewBuilder(tlv.DomainMarketData, src), 16) }
	t.Run("ping", func(t *testing.T) {
		noLeaks(t)
		l := listen(t, "ws", source.ListenConfig{})
		c, err := dialWS(t, l, "/feed")
		if err != nil {
			t.Fatal(err)
		}
		c.send(ws.OpPing, true, true, []byte("are you there"))
		if f := c.read(); f.Header.OpCode != ws.OpPong || string(f.Payload) != "are you there" {
			t.Fatalf("got opcode %v %q, want the Pong with the Ping's payload", f.Header.OpCode, f.Payload)
		}
		// Frames around a ping arrive.
		a, b := good(t, 1), good(t, 2)
		c.send(ws.OpBinary, true, true, a)
		c.send(ws.OpPing, true, true, nil)
		c.send(ws.OpBinary, true, true, b)
		if got := nextFrame(t, l); string(got) != string(a) {
			t.Fatal("first frame not returned as sent")
		}
		if got := nextFrame(t, l); string(got) != string(b) {
			t.Fatal("frame after the ping not returned as sent")
		}
		if f := c.read(); f.Header.OpCode != ws.OpPong {
			t.Fatalf("opcode %v, want a Pong", f.Header.OpCode)
		}
	})
	t.Run("close", func(t *testing.T) {
		noLeaks(t)
		l := listen(t, "ws", source.ListenConfig{})
		c, err := dialWS(t, l, "/feed")
		if err != nil {
			t.Fatal(err)
		}
		a := good(t, 1)
		c.send(ws.OpBinary, true, true, a)
		c.send(ws.OpClose, true, true, ws.NewCloseFrameBody(ws.StatusGoingAway, "restarting"))
		if code := c.readClose(); code != 1001 {
			t.Fatalf("the server answered Close with code %d, want 1001 echoed", code)
		}
		if got := nextFrame(t, l); string(got) != string(a) {
			t.Fatal("the frame before the Close was not returned")
		}
		waitFor(t, "the producer to be gone", func() bool { return l.Info().Producers == 0 })
		if i := l.Info(); i.Rejected.Total() != 0 {
			t.Errorf("a clean close counted as a rejection: %+v", i.Rejected)
		}
	})
	t.Run("listener close", func(t *testing.T) {
		noLeaks(t)
		l := listen(t, "ws", source.ListenConfig{})
		c, err := dialWS(t, l, "/feed")
		if err != nil {
			t.Fatal(err)
		}
		waitFor(t, "the producer", func() bool { return l.Info().Producers == 1 })
		_ = l.Close()
		if code := c.readClose(); code != 1001 {
			t.Fatalf("Close sent code %d, want 1001 (going away)", code)
		}
	})

	cases := []struct {
		name string
		cfg  source.ListenConfig
		send func(t *testing.T, c *wsClient)
		code int
		want func(source.Rejects) uint64
	}{
		{"text", source.ListenConfig{}, func(t *testing.T, c *wsClient) {
			c.send(ws.OpText, true, true, []byte("hello"))
		}, 1003, func(r source.Rejects) uint64 { return r.Unsupported }},
		{"fragmented", source.ListenConfig{}, func(t *testing.T, c *wsClient) {
			f := good(t, 9)
			c.send(ws.OpBinary, false, true, f[:10]) // the rest would follow in a continuation
		}, 1003, func(r source.Rejects) uint64 { return r.Unsupported }},
		{"oversize", source.ListenConfig{Validator: tlv.Validator{MaxSize: 1000}}, func(t *testing.T, c *wsClient) {
			c.send(ws.OpBinary, true, true, frame(t, tlv.NewBuilder(tlv.DomainMarketData, 9), 2000))
		}, 1009, func(r source.Rejects) uint64 { return r.Oversize }},
		{"unmasked", source.ListenConfig{}, func(t *testing.T, c *wsClient) {
			c.send(ws.OpBinary, true, false, good(t, 9))
		}, 1002, func(r source.Rejects) uint64 { return r.Protocol }},
		{"long ping", source.ListenConfig{}, func(t *testing.T, c *wsClient) {
			c.send(ws.OpPing, true, true, make([]byte, 126))
		}, 1002, func(r source.Rejects) uint64 { return r.Protocol }},
		{"not a frame", source.ListenConfig{}, func(t *testing.T, c *wsClient) {
			c.send(ws.OpBinary, true, true, []byte(strings.Repeat("x", 40)))
		}, 1007, func(r source.Rejects) uint64 { return r.Malformed }},
		{"bad close code", source.ListenConfig{}, func(t *testing.T, c *wsClient) {
			c.send(ws.OpClose, true, true, []byte{0x03, 0xE8 + 5}) // 1005: never sent
		}, 1002, func(r source.Rejects) uint64 { return r.Protocol }},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			noLeaks(t)
			l := listen(t, "ws", tc.cfg)
			c, err := dialWS(t, l, "/feed")
			if err != nil {
				t.Fatal(err)
			}
			before := good(t, 1)
			c.send(ws.OpBinary, true, true, before)
			tc.send(t, c)
			if got := nextFrame(t, l); string(got) != string(before) {
				t.Fatal("the frame before the bad one was not returned")
			}
			if code := c.readClose(); code != tc.code {
				t.Fatalf("closed with code %d, want %d", code, tc.code)
			}
			waitFor(t, "the rejection to be counted", func() bool { return tc.want(l.Info().Rejected) == 1 })
			i := l.Info()
			var re *source.RejectError
			if i.Rejected.Total() != 1 || !errors.As(i.LastReject, &re) {
				t.Fatalf("Info = %+v, want one rejection reported as a *RejectError", i)
			}
			var pe *source.ProtocolError
			if tc.code != 1007 && (!errors.As(i.LastReject, &pe) || pe.Code != tc.code || !errors.Is(i.LastReject, source.ErrProtocol)) {
				t.Errorf("LastReject = %v, want a *ProtocolError with code %d", i.LastReject, tc.code)
			}
			if tc.code == 1007 && !errors.Is(i.LastReject, tlv.ErrMalformed) {
				t.Errorf("LastReject = %v, want tlv.ErrMalformed", i.LastReject)
			}
		})
	}

	t.Run("wrong path", func(t *testing.T) {
		noLeaks(t)
		l := listen(t, "ws", source.ListenConfig{})
		_, err := dialWS(t, l, "/other")
		var se ws.StatusError
		if !errors.As(err, &se) || se != 404 {
			t.Fatalf("dial to the wrong path: %v, want HTTP 404", err)
		}
		waitFor(t, "the failed handshake to be counted", func() bool { return l.Info().Rejected.Handshake == 1 })
	})
	t.Run("not websocket", func(t *testing.T) {
		noLeaks(t)
		// Frame bytes hold no line end: the request line never ends, and
		// the handshake timeout closes the connection.
		l := listen(t, "ws", source.ListenConfig{HandshakeTimeout: 100 * time.Millisecond})
		c, err := net.Dial("tcp", l.Addr().String())
		if err != nil {
			t.Fatal(err)
		}
		defer c.Close()
		if _, err := c.Write(good(t, 1)); err != nil { // a raw producer at a ws endpoint
			t.Fatal(err)
		}
		waitFor(t, "the failed handshake to be counted", func() bool { return l.Info().Rejected.Handshake == 1 })
		_ = c.SetReadDeadline(time.Now().Add(10 * time.Second))
		if _, err := io.ReadAll(c); err != nil {
			t.Fatalf("the connection was not closed: %v", err)
		}
	})
	t.Run("acks", func(t *testing.T) {
		noLeaks(t)
		l := listen(t, "ws", source.ListenConfig{})
		c, err := dialWS(t, l, "/feed?token=1")
		if err != nil {
			t.Fatal(err)
		}
		c.send(ws.OpBinary, true, true, subscribeFrame(t, tlv.RoleProducer))
		b := tlv.NewBuilder(tlv.DomainMarketData, 4)
		const n = 100
		for range n {
			c.send(ws.OpBinary, true, true, frame(t, b, 8))
		}
		for range n {
			nextFrame(t, l)
		}
		var last uint64
		for last < n {
			f := c.read()
			if f.Header.OpCode != ws.OpBinary {
				t.Fatalf("opcode %v, want binary Ack frames", f.Header.OpCode)
			}
			acks := parseAcks(t, f.Payload)
			if len(acks) != 1 || acks[0][0] != 4 || acks[0][1] < last {
				t.Fatalf("acks %v after %d: want one cumulative Ack of source 4 per message", acks, last)
			}
			last = acks[0][1]
		}
	})
}
