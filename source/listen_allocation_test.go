//go:build !race

package source_test

import (
	"testing"

	gows "github.com/gobwas/ws"

	"github.com/msgsink/msgsink/source"
	"github.com/msgsink/msgsink/tlv"
)

// TestListenNextZeroAllocs holds the Listener's steady state to zero
// allocations on real sockets: a producer's frames read, validated, handed
// to Next and returned, and for an acked producer its Ack frames built and
// written. Every goroutine's allocations count, the Listener's included.
func TestListenNextZeroAllocs(t *testing.T) {
	const frames = 64
	for _, tc := range []struct {
		scheme string
		acked  bool
	}{{"unix", false}, {"unix", true}, {"ws", false}, {"ws", true}} {
		name := "scheme=" + tc.scheme
		if tc.acked {
			name += "/acked"
		}
		t.Run(name, func(t *testing.T) {
			l := listen(t, tc.scheme, source.ListenConfig{})
			var write func([]byte) error
			if tc.scheme == "ws" {
				c, err := dialWS(t, l, "/feed")
				if err != nil {
					t.Fatal(err)
				}
				write = func(p []byte) error { _, err := c.nc.Write(p); return err }
			} else {
				c := dialRaw(t, l)
				write = func(p []byte) error { _, err := c.Write(p); return err }
			}
			ws := tc.scheme == "ws"
			if tc.acked {
				sub := subscribeFrame(t, tlv.RoleProducer)
				var p producerBatch
				p.add(sub, ws)
				p.encode(ws)
				if err := write(p.out); err != nil {
					t.Fatal(err)
				}
			}
			var p producerBatch
			b := tlv.NewBuilder(tlv.DomainMarketData, 1)
			for range frames {
				p.add(frame(t, b, 32), ws)
			}
			var failed error
			seq := uint64(0)
			round := func() {
				for _, f := range p.plain {
					seq++
					tlv.Header(f).SetSequence(seq)
				}
				p.encode(ws)
				if err := write(p.out); err != nil && failed == nil {
					failed = err
				}
				for range frames {
					if _, err := l.Next(); err != nil && failed == nil {
						failed = err
					}
				}
			}
			for range 10 {
				round()
			}
			if got := testing.AllocsPerRun(200, round); got != 0 {
				t.Errorf("%.2f allocations per round of %d frames, want 0", got, frames)
			}
			if failed != nil {
				t.Fatal(failed)
			}
			if tc.acked {
				waitFor(t, "acks", func() bool { return l.Info().Acks > 0 })
			}
			if i := l.Info(); i.Frames != seq || tc.acked != (i.Acks > 0) {
				t.Errorf("Info = %+v, want %d frames, acks sent only when asked", i, seq)
			}
		})
	}
}

// producerBatch is what a hand-written producer writes in one go: frames
// back to back, or each in a masked WebSocket binary frame (payloads under
// 126 bytes), masked again each time it is encoded, without allocating.
type producerBatch struct {
	plain [][]byte
	out   []byte
}

func (p *producerBatch) add(f []byte, ws bool) {
	p.plain = append(p.plain, f)
	p.out = make([]byte, 0, len(p.out)+len(f)+6)
	p.encode(ws)
}

func (p *producerBatch) encode(ws bool) {
	p.out = p.out[:0]
	for i, f := range p.plain {
		if !ws {
			p.out = append(p.out, f...)
			continue
		}
		mask := [4]byte{byte(i), 0x5A, 0xA5, byte(len(f))}
		p.out = append(p.out, 0x82, 0x80|byte(len(f)))
		p.out = append(p.out, mask[:]...)
		start := len(p.out)
		p.out = append(p.out, f...)
		gows.Cipher(p.out[start:], mask, 0)
	}
}
