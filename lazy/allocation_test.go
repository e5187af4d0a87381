//go:build !race

package lazy_test

import (
	"context"
	"errors"
	"runtime"
	"strconv"
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

// SendWait allocates nothing either, on its fast path and when it waits
// for room: at GOMAXPROCS=1 (AllocsPerRun's setting) the producer fills the
// ring and then sleeps in SendWait until the writer frees slots, many times
// over. Its ctx's Done channel is made once, before the measurement.
func TestAllocsSendWaitSteadyState(t *testing.T) {
	for _, single := range []bool{false, true} {
		t.Run("single_producer="+strconv.FormatBool(single), func(t *testing.T) {
			ep, _ := drainPeer(t, "unix")
			s := newSink(t, lazy.Config{Endpoint: ep, SingleProducer: single})
			if n := steadySendWaitAllocs(t, s); n != 0 {
				t.Fatalf("%v allocs per SendWait in steady state", n)
			}
			if i := s.Info(); i.Refused.BufferFull != 0 {
				t.Fatalf("SendWait refused %d messages", i.Refused.BufferFull)
			}
		})
	}
}

// steadySendWaitAllocs connects s, sends until every buffer in flight has
// been allocated once (the builder's free list grows to the ring's size),
// and returns the allocations per SendWait after that.
func steadySendWaitAllocs(t *testing.T, s *lazy.Sink) float64 {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	if err := s.Connect(ctx); err != nil {
		t.Fatal(err)
	}
	_ = ctx.Done()
	b := newBuilder(64)
	send := func() {
		if err := s.SendWait(ctx, b.next()); err != nil {
			t.Fatal(err)
		}
	}
	testing.AllocsPerRun(3*lazy.DefaultBufferSize, send)
	flush(t, s)
	return testing.AllocsPerRun(20000, send)
}

// Builder, Send on a SingleProducer sink, the writer's batches and their
// release back to the builder in runs (tlv.ReleaseAll): nothing allocates,
// with the writer parking (and Sends writing through) or not.
func TestAllocsSendSingleProducerSteadyState(t *testing.T) {
	for _, idle := range []lazy.Idle{lazy.IdleBackoff, lazy.IdlePark} {
		t.Run("idle="+idle.String(), func(t *testing.T) {
			ep, _ := drainPeer(t, "unix")
			s := newSink(t, lazy.Config{Endpoint: ep, Idle: idle, SingleProducer: true})
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
			testing.AllocsPerRun(3*lazy.DefaultBufferSize, send)
			flush(t, s)
			if n := testing.AllocsPerRun(20000, send); n != 0 {
				t.Fatalf("%v allocs per Send in steady state", n)
			}
		})
	}
}

// Acked delivery allocates nothing per message either, in the whole
// process: Send, the writer keeping and releasing messages, the sink's
// reading of Acks, and the relay that acknowledges them (a real one, in
// process, with a consumer attached).
func TestAllocsSendAckedSteadyState(t *testing.T) {
	s := newSink(t, lazy.Config{Endpoint: ackedRelay(t), Delivery: lazy.DeliveryAcked})
	if n := steadySendWaitAllocs(t, s); n != 0 {
		t.Fatalf("%v allocs per acked Send in steady state", n)
	}
	flush(t, s)
	if i := s.Info(); i.Acked != i.Enqueued {
		t.Fatalf("acked %d of %d", i.Acked, i.Enqueued)
	}
}
