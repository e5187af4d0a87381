package transport

import (
	"bufio"
	"bytes"
	"io"
	"net"
	"testing"
	"time"

	"github.com/gobwas/ws"

	"github.com/msgsink/msgsink/tlv"
)

// frames returns n Ack frames and their concatenation.
func ackFrames(tb testing.TB, n int) ([][]byte, []byte) {
	tb.Helper()
	b := tlv.NewBuilder(tlv.DomainSystem, 80)
	var each [][]byte
	var all []byte
	for i := range n {
		b.AppendAck(7, uint64(i+1))
		m, err := b.Finish()
		if err != nil {
			tb.Fatal(err)
		}
		f := bytes.Clone(m.Bytes())
		m.Release()
		each = append(each, f)
		all = append(all, f...)
	}
	return each, all
}

// TestFramerSplits feeds the same stream cut at every size, as reads may
// cut it, and wants every frame whole, once, in order.
func TestFramerSplits(t *testing.T) {
	each, all := ackFrames(t, 5)
	big := make([]byte, tlv.HeaderSize+MaxInboundFrame) // skipped whole
	tlv.Header(big).SetMagic(tlv.Magic)
	tlv.Header(big).SetPayloadSize(MaxInboundFrame)
	stream := append(append(append([]byte{}, all[:2*len(each[0])]...), big...), all[2*len(each[0]):]...)
	for cut := 1; cut <= len(stream); cut++ {
		var got [][]byte
		var in inbound
		in.set(func(f []byte) { got = append(got, bytes.Clone(f)) })
		discarded := 0
		for p := stream; len(p) > 0; {
			n := min(cut, len(p))
			discarded += in.feed(p[:n])
			p = p[n:]
		}
		if len(got) != len(each) {
			t.Fatalf("cut %d: %d frames, want %d", cut, len(got), len(each))
		}
		for i := range got {
			if !bytes.Equal(got[i], each[i]) {
				t.Fatalf("cut %d: frame %d differs", cut, i)
			}
		}
		if discarded != len(big) {
			t.Fatalf("cut %d: discarded %d bytes, want the oversize frame's %d", cut, discarded, len(big))
		}
	}
}

// TestFramerLost: bytes without the magic end the framing; the rest is
// discarded, and nothing after them reaches the handler.
func TestFramerLost(t *testing.T) {
	each, all := ackFrames(t, 2)
	garbage := bytes.Repeat([]byte{'x'}, tlv.HeaderSize)
	stream := append(append(append([]byte{}, each[0]...), garbage...), all...)
	calls := 0
	var in inbound
	in.set(func([]byte) { calls++ })
	if d := in.feed(stream); d != len(stream)-len(each[0]) {
		t.Fatalf("discarded %d, want %d", d, len(stream)-len(each[0]))
	}
	if calls != 1 {
		t.Fatalf("%d frames handed over, want 1 (the one before the garbage)", calls)
	}
	var none inbound
	if d := none.feed(stream); d != len(stream) {
		t.Fatalf("without a handler: discarded %d, want all %d", d, len(stream))
	}
}

// TestStreamConnInbound: frames a real peer writes, in pieces, reach the
// handler on the connection's reader goroutine.
func TestStreamConnInbound(t *testing.T) {
	each, all := ackFrames(t, 50)
	for _, tr := range transports {
		t.Run("transport="+tr, func(t *testing.T) {
			c, peer := connPair(t, tr)
			got := make(chan []byte, len(each))
			c.SetInbound(func(f []byte) { got <- bytes.Clone(f) })
			for p := all; len(p) > 0; {
				n := min(7, len(p))
				if _, err := peer.Write(p[:n]); err != nil {
					t.Fatal(err)
				}
				p = p[n:]
			}
			for i := range each {
				select {
				case f := <-got:
					if !bytes.Equal(f, each[i]) {
						t.Fatalf("frame %d differs", i)
					}
				case <-time.After(10 * time.Second):
					t.Fatalf("frame %d never arrived", i)
				}
			}
			if d := c.BytesDiscarded(); d != 0 {
				t.Fatalf("BytesDiscarded = %d, want 0: every byte was a frame", d)
			}
		})
	}
}

// TestWebSocketInbound: the payloads of a server's binary messages, cut
// anywhere, fragmented, with a ping between fragments, are the stream the
// frames come from.
func TestWebSocketInbound(t *testing.T) {
	each, all := ackFrames(t, 20)
	start := make(chan struct{})
	e := wsServer(t, func(c net.Conn, r *bufio.Reader) {
		<-start
		cut := len(all) / 3
		for _, f := range []ws.Frame{
			ws.NewBinaryFrame(all[:7]),
			ws.NewFrame(ws.OpBinary, false, all[7:cut]),
			ws.NewPingFrame([]byte("between fragments")),
			ws.NewFrame(ws.OpContinuation, true, all[cut:2*cut]),
			ws.NewBinaryFrame(all[2*cut:]),
		} {
			if err := ws.WriteFrame(c, f); err != nil {
				t.Error(err)
				return
			}
		}
		_, _ = io.Copy(io.Discard, r)
	})
	c := dialWS(t, e, Dialer{})
	got := make(chan []byte, len(each))
	c.SetInbound(func(f []byte) { got <- bytes.Clone(f) })
	close(start)
	for i := range each {
		select {
		case f := <-got:
			if !bytes.Equal(f, each[i]) {
				t.Fatalf("frame %d differs", i)
			}
		case <-time.After(10 * time.Second):
			t.Fatalf("frame %d never arrived", i)
		}
	}
	if d := c.BytesDiscarded(); d != 0 {
		t.Fatalf("BytesDiscarded = %d, want 0", d)
	}
}
