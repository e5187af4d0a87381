package ring

import (
	"fmt"
	"runtime"
	"sync"
	"testing"
)

// scaled returns n, or a quarter of it under the race detector, which slows
// every atomic and slot access down by an order of magnitude.
func scaled(n int) int {
	if raceEnabled {
		return n / 4
	}
	return n
}

// TestSPSC moves a numbered sequence from one producer goroutine to one consumer
// goroutine through a small ring, so that both sides meet full and empty many
// times, and checks that every value arrives once and in order.
func TestSPSC(t *testing.T) {
	consumers := []struct {
		name string
		// drain takes what it can and returns it; it may return nothing.
		drain func(r *Ring[uint64], buf []uint64) []uint64
	}{
		{"pop", func(r *Ring[uint64], buf []uint64) []uint64 {
			if v, ok := r.Pop(); ok {
				return append(buf[:0], v)
			}
			return buf[:0]
		}},
		{"popbatch", func(r *Ring[uint64], buf []uint64) []uint64 {
			return buf[:r.PopBatch(buf[:cap(buf)])]
		}},
		{"peek-discard", func(r *Ring[uint64], buf []uint64) []uint64 {
			a, b := r.Peek(cap(buf))
			buf = append(append(buf[:0], a...), b...)
			r.Discard(len(buf))
			return buf
		}},
		{"peek-partial-discard", func(r *Ring[uint64], buf []uint64) []uint64 {
			// Like a writer whose writev stopped short: release only part of
			// what was peeked and expect the rest first next time.
			a, b := r.Peek(cap(buf))
			n := (len(a) + len(b) + 1) / 2
			buf = append(append(buf[:0], a...), b...)[:n]
			r.Discard(n)
			return buf
		}},
	}
	for _, producer := range []string{"push", "pushshared"} {
		for _, c := range consumers {
			t.Run(fmt.Sprintf("producer=%s/consumer=%s", producer, c.name), func(t *testing.T) {
				n := uint64(scaled(1_000_000))
				r := New[uint64](256)
				push := r.Push
				if producer == "pushshared" {
					push = r.PushShared
				}
				done := make(chan struct{})
				go func() {
					defer close(done)
					for i := uint64(0); i < n; {
						if push(i) {
							i++
						} else {
							runtime.Gosched()
						}
					}
				}()
				buf := make([]uint64, 0, 64)
				for want := uint64(0); want < n; {
					got := c.drain(r, buf)
					if len(got) == 0 {
						runtime.Gosched()
					}
					for _, v := range got {
						if v != want {
							t.Fatalf("got %d, want %d", v, want)
						}
						want++
					}
				}
				<-done
				if l := r.Len(); l != 0 {
					t.Fatalf("Len after draining = %d", l)
				}
			})
		}
	}
}

// item carries its producer and that producer's own sequence number, so the
// consumer can check per-producer order in a merged stream.
type item struct {
	producer, seq uint32
}

// TestManyProducers pushes the traffic of several producers through the single
// producer side of one ring and checks that each producer's values arrive in its
// own order, none lost and none duplicated. "shared" lets them race on
// PushShared; "serialised" orders them with a mutex instead and alternates Push
// and PushShared, which the contract allows as long as the calls do not overlap.
func TestManyProducers(t *testing.T) {
	const producers = 8
	for _, mode := range []string{"shared", "serialised"} {
		t.Run("mode="+mode, func(t *testing.T) {
			perProducer := uint32(scaled(200_000))
			r := New[item](64)
			var mu sync.Mutex
			push := func(v item) bool {
				if mode == "shared" {
					return r.PushShared(v)
				}
				mu.Lock()
				defer mu.Unlock()
				if v.seq%2 == 0 {
					return r.Push(v)
				}
				return r.PushShared(v)
			}
			var wg sync.WaitGroup
			for p := range uint32(producers) {
				wg.Go(func() {
					for seq := uint32(0); seq < perProducer; {
						if push(item{p, seq}) {
							seq++
						} else {
							runtime.Gosched()
						}
					}
				})
			}
			var next [producers]uint32
			buf := make([]item, 32)
			for total := 0; total < producers*int(perProducer); {
				n := r.PopBatch(buf)
				if n == 0 {
					runtime.Gosched()
				}
				for _, v := range buf[:n] {
					if v.producer >= producers || v.seq != next[v.producer] {
						t.Fatalf("got %+v, want seq %d from producer %d", v, next[v.producer%producers], v.producer)
					}
					next[v.producer]++
				}
				total += n
			}
			wg.Wait()
			if v, ok := r.Pop(); ok {
				t.Fatalf("ring holds %+v after every value arrived", v)
			}
			if tail := r.tail.Load(); tail != producers*uint64(perProducer) {
				t.Fatalf("tail = %#x, want %d unlocked", tail, producers*perProducer)
			}
		})
	}
}
