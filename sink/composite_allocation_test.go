//go:build !race

package sink_test

import (
	"errors"
	"runtime"
	"testing"

	"github.com/msgsink/msgsink/lazy"
	"github.com/msgsink/msgsink/sink"
	"github.com/msgsink/msgsink/tlv"
)

// A fanout to three lazy sinks on real Unix sockets allocates nothing in
// steady state: building, the fanout's references, the three Sends, the
// writers' batches and the releases back to the builder. AllocsPerRun counts
// every goroutine's allocations.
func TestAllocsCompositeSend(t *testing.T) {
	for _, kind := range sink.Patterns() {
		t.Run("kind="+string(kind)+"/targets=3", func(t *testing.T) {
			ts := drainTargets(t, 3)
			var s sink.Sink
			var err error
			switch kind {
			case sink.KindFanout:
				s, err = sink.NewFanout("alloc", ts...)
			case sink.KindRoundRobin:
				s, err = sink.NewRoundRobin("alloc", ts...)
			default:
				s, err = sink.NewFailover("alloc", ts...)
			}
			if err != nil {
				t.Fatal(err)
			}
			b := newTestBuilder()
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
			// The builder's free list grows to the most messages ever in
			// flight. With three targets refusing at different moments their
			// rings can hold different messages, up to three rings' worth:
			// grow it to more than that first, so that the measurement never
			// finds it empty.
			grow := make([]*tlv.Message, 4*lazy.DefaultBufferSize)
			for i := range grow {
				grow[i] = b.next()
			}
			for _, m := range grow {
				m.Release()
			}
			// Warm up under the measurement's conditions (GOMAXPROCS=1, where
			// the producer fills whole rings before the writers run).
			testing.AllocsPerRun(3*lazy.DefaultBufferSize, send)
			flushAll(t, ts...)
			if n := testing.AllocsPerRun(20000, send); n != 0 {
				t.Fatalf("%v allocs per Send in steady state", n)
			}
		})
	}
}
