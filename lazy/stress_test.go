package lazy_test

import (
	"context"
	"errors"
	"math/rand/v2"
	"runtime"
	"sync"
	"testing"
	"time"

	"github.com/msgsink/msgsink/lazy"
	"github.com/msgsink/msgsink/sink"
	"github.com/msgsink/msgsink/tlv"
)

// Producers send while another goroutine flushes, disconnects and connects
// at random, then Close. Afterwards every message is accounted for, and over
// Unix sockets (where a live reader gets every byte the kernel took) the peer
// received exactly Written whole frames, in order per producer.
func TestConcurrentLifecycle(t *testing.T) {
	for round := range 3 {
		p, ep := unixPeer(t)
		s, err := lazy.New(lazy.Config{Name: "stress", Endpoint: ep, BufferSize: 256, Idle: lazy.Idle(round % 3),
			Retry: lazy.Retry{Initial: time.Millisecond, Max: 5 * time.Millisecond}})
		if err != nil {
			t.Fatal(err)
		}
		const producers, each = 4, 20000
		var wg sync.WaitGroup
		stop := make(chan struct{})
		for g := range producers {
			wg.Add(1)
			go func() {
				defer wg.Done()
				b := tlv.NewBuilder(tlv.DomainMarketData, uint8(g+1))
				for k := range each {
					if k%1000 == 999 {
						time.Sleep(time.Millisecond) // let the control goroutine interleave
					}
					b.Append(5, []byte{byte(g)})
					m, _ := b.FinishAt(1)
					for {
						err := s.Send(m)
						if err == nil {
							break
						}
						if errors.Is(err, sink.ErrClosed) {
							m.Release()
							return
						}
						if !errors.Is(err, sink.ErrBufferFull) {
							t.Error(err)
							m.Release()
							return
						}
						runtime.Gosched()
					}
				}
			}()
		}
		var ctlDone sync.WaitGroup
		ctlDone.Add(1)
		go func() {
			defer ctlDone.Done()
			rng := rand.New(rand.NewPCG(uint64(round), 7))
			for {
				select {
				case <-stop:
					return
				default:
				}
				ctx, cancel := context.WithTimeout(context.Background(), time.Second)
				switch rng.IntN(3) {
				case 0:
					_ = s.Flush(ctx)
				case 1:
					_ = s.Disconnect(ctx)
				case 2:
					_ = s.Connect(ctx)
				}
				cancel()
				time.Sleep(time.Duration(rng.IntN(500)) * time.Microsecond)
			}
		}()
		wg.Wait()
		close(stop)
		ctlDone.Wait()
		if err := s.Close(); err != nil {
			t.Fatalf("round %d: Close: %v", round, err)
		}
		i := assertBalanced(t, s)
		if i.Pending != 0 || i.State != sink.StateClosed || i.Enqueued != producers*each || i.Written != i.Enqueued {
			t.Fatalf("round %d: %+v", round, i)
		}
		waitFor(t, "every written frame at the peer", func() bool { return uint64(p.total()) == i.Written })
		// Per producer (source), sequences arrive 1, 2, 3, … across all the
		// connections the disconnects made.
		next := map[uint8]uint64{}
		for _, conn := range p.seqsBySource() {
			for _, f := range conn {
				if f.seq != next[f.source]+1 {
					t.Fatalf("round %d: source %d: sequence %d after %d", round, f.source, f.seq, next[f.source])
				}
				next[f.source] = f.seq
			}
		}
		if p.accepts < 3 {
			t.Fatalf("round %d: only %d connections: the disconnects under load did not happen", round, p.accepts)
		}
		if p.torn != 0 || p.bad != nil {
			t.Fatalf("round %d: torn %d, bad %v", round, p.torn, p.bad)
		}
		t.Logf("round %d (idle=%s): %d connections, %d reconnects", round, lazy.Idle(round%3), p.accepts, i.Reconnects)
	}
}
