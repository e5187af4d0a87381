//go:build !race

package lazy_test

import (
	"context"
	"errors"
	"runtime"
	"testing"
	"time"

	"github.com/msgsink/msgsink/lazy"
	"github.com/msgsink/msgsink/sink"
)

// Steady state allocates nothing anywhere in the process: building, Send,
// the writer's batches on a real socket, and the release back to the builder.
// AllocsPerRun counts every goroutine's allocations, the writer's included.
func TestAllocsSendSteadyState(t *testing.T) {
	for _, idle := range []lazy.Idle{lazy.IdleBackoff, lazy.IdlePark} {
		t.Run("idle="+idle.String(), func(t *testing.T) {
			ep, _ := drainPeer(t, "unix")
			s := newSink(t, lazy.Config{Endpoint: ep, Idle: idle})
			ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
			defer cancel()
			if err := s.Connect(ctx); err != nil {
				t.Fatal(err)
			}
			b := newBuilder(64)
			send := func() {
				m := b.next()
				for {
					err := s.Send(m)
					if err == nil {
						return
					}
					if !errors.Is(err, sink.ErrBufferFull) {
						t.Fatal(err)
					}
					runtime.Gosched()
				}
			}
			// Warm up under the same conditions as the measurement
			// (AllocsPerRun runs at GOMAXPROCS=1, where the producer fills the
			// whole ring before the writer runs): the builder's free list grows
			// once to the most messages ever in flight, then recycles.
			testing.AllocsPerRun(3*lazy.DefaultBufferSize, send)
			flush(t, s)
			if n := testing.AllocsPerRun(20000, send); n != 0 {
				t.Fatalf("%v allocs per Send in steady state", n)
			}
		})
	}
}
