package source_test

import (
	"net"
	"testing"
	"time"

	"github.com/msgsink/msgsink/source"
	"github.com/msgsink/msgsink/tlv"
)

// TestListenAcks: a hand-written producer on a real socket sends
// Subscribe{role: producer} and then frames of two sources; the Listener
// acks, per source and cumulatively, what Next returned, and never more.
func TestListenAcks(t *testing.T) {
	for _, scheme := range []string{"unix", "tcp"} {
		t.Run("scheme="+scheme, func(t *testing.T) {
			noLeaks(t)
			l := listen(t, scheme, source.ListenConfig{})
			c := dialRaw(t, l)
			b5, b6 := tlv.NewBuilder(tlv.DomainMarketData, 5), tlv.NewBuilder(tlv.DomainMarketData, 6)
			out := subscribeFrame(t, tlv.RoleProducer)
			const n5, n6 = 3000, 100
			for i := range n5 {
				out = append(out, frame(t, b5, 24)...)
				if i%30 == 0 {
					out = append(out, frame(t, b6, 24)...)
				}
			}
			if _, err := c.Write(out); err != nil {
				t.Fatal(err)
			}
			// Next returns the first 2000 frames of source 5 (and what of
			// source 6 comes between): acks may cover up to them, not beyond.
			var returned5, returned6 uint64
			for returned5 < 2000 {
				f := nextFrame(t, l)
				if f.Header().Source() == 5 {
					returned5 = f.Header().Sequence()
				} else {
					returned6 = f.Header().Sequence()
				}
			}
			acks := readAcks(t, c, func(src uint8, seq uint64) bool { return src == 5 && seq >= 1024 })
			// Anything else already sent comes within a moment.
			_ = c.SetReadDeadline(time.Now().Add(50 * time.Millisecond))
			more := make([]byte, 4096)
			if k, _ := c.Read(more); k > 0 {
				acks = append(acks, parseAcks(t, more[:k])...)
			}
			for _, a := range acks {
				if a[0] == 5 && a[1] > returned5 || a[0] == 6 && a[1] > returned6 {
					t.Fatalf("ack %v covers more than Next returned (source 5 up to %d, 6 up to %d)", a, returned5, returned6)
				}
			}
			// The rest; then every frame is acked.
			for returned5 < n5 || returned6 < n6 {
				f := nextFrame(t, l)
				if f.Header().Source() == 5 {
					returned5 = f.Header().Sequence()
				} else {
					returned6 = f.Header().Sequence()
				}
			}
			last := map[uint8]uint64{}
			readAcks(t, c, func(src uint8, seq uint64) bool {
				if seq < last[src] {
					t.Fatalf("source %d acked %d after %d: acks are cumulative", src, seq, last[src])
				}
				last[src] = seq
				return last[5] == n5 && last[6] == n6
			})
			// A resend after a reconnect: the duplicates are dropped, and
			// acked, for the producer to let them go.
			c2 := dialRaw(t, l)
			b5.SetSequence(n5 - 1)
			resend := append(subscribeFrame(t, tlv.RoleProducer), frame(t, b5, 24)...)
			resend = append(resend, frame(t, b5, 24)...) // n5 - 1, n5: duplicates
			resend = append(resend, frame(t, b5, 24)...) // n5 + 1: new
			if _, err := c2.Write(resend); err != nil {
				t.Fatal(err)
			}
			if got := nextFrame(t, l).Header().Sequence(); got != n5+1 {
				t.Fatalf("after the resend Next returned sequence %d, want %d", got, n5+1)
			}
			readAcks(t, c2, func(src uint8, seq uint64) bool { return src == 5 && seq == n5+1 })
			i := l.Info()
			if i.Duplicates != 2 || i.Acks == 0 || i.Frames != n5+n6+1 {
				t.Errorf("Info = %+v, want 2 duplicates, %d frames, acks sent", i, n5+n6+1)
			}
		})
	}
}

// TestListenNoAcksUnasked: a producer that did not subscribe gets nothing
// back.
func TestListenNoAcksUnasked(t *testing.T) {
	noLeaks(t)
	l := listen(t, "unix", source.ListenConfig{})
	c := dialRaw(t, l)
	b := tlv.NewBuilder(tlv.DomainMarketData, 1)
	var out []byte
	for range 2000 {
		out = append(out, frame(t, b, 8)...)
	}
	if _, err := c.Write(out); err != nil {
		t.Fatal(err)
	}
	for range 2000 {
		nextFrame(t, l)
	}
	_ = c.SetReadDeadline(time.Now().Add(50 * time.Millisecond))
	if k, err := c.Read(make([]byte, 64)); k > 0 || !isTimeout(err) {
		t.Fatalf("a producer that asked for nothing read %d bytes (%v)", k, err)
	}
	if i := l.Info(); i.Acks != 0 {
		t.Errorf("Info.Acks = %d, want 0", i.Acks)
	}
}

func isTimeout(err error) bool {
	ne, ok := err.(net.Error)
	return ok && ne.Timeout()
}

// parseAcks reads the (source, sequence) of the whole Ack frames in p.
func parseAcks(t testing.TB, p []byte) [][2]uint64 {
	t.Helper()
	var got [][2]uint64
	for len(p) >= tlv.HeaderSize {
		n, err := tlv.Validator{}.FrameSize(p)
		if err != nil || n > len(p) {
			break
		}
		f, err := tlv.Parse(p[:n])
		if err != nil {
			t.Fatal(err)
		}
		it := f.Records()
		for it.Next() {
			if a, err := tlv.AsAck(it.Value()); err == nil {
				got = append(got, [2]uint64{uint64(a.Source()), a.Sequence()})
			}
		}
		p = p[n:]
	}
	return got
}
