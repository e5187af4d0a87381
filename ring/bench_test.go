package ring

import (
	"fmt"
	"runtime"
	"sync"
	"sync/atomic"
	"testing"
	"time"
)

// The benchmarks move *int values, which cost what the sink's *tlv.Message
// costs: a pointer store with a write barrier during GC. ns/op is per value.

func BenchmarkRing(b *testing.B) {
	msg := new(int)

	b.Run("op=push-pop", func(b *testing.B) {
		r := New[*int](1024)
		b.ReportAllocs()
		for b.Loop() {
			r.Push(msg)
			r.Pop()
		}
	})

	b.Run("op=pushshared-pop", func(b *testing.B) {
		r := New[*int](1024)
		b.ReportAllocs()
		for b.Loop() {
			r.PushShared(msg)
			r.Pop()
		}
	})

	b.Run("op=push-drain/batch=64", func(b *testing.B) {
		r := New[*int](1024)
		b.ReportAllocs()
		i := 0
		for b.Loop() {
			r.Push(msg)
			if i++; i == 64 {
				i = 0
				x, y := r.Peek(64)
				r.Discard(len(x) + len(y))
			}
		}
	})

	// One producer goroutine and one consumer goroutine, as in a sink: the
	// producer is the benchmark loop, the consumer drains in batches. work=0 is
	// a consumer that polls flat out and so sits right behind the producer,
	// sharing its cache lines; work=1us spends about one writev per batch, as the
	// sink's writer does.
	for _, c := range []struct {
		batch int
		work  time.Duration
	}{
		{1, 0},
		{64, 0},
		{1024, 0},
		{64, time.Microsecond},
		{1024, time.Microsecond},
	} {
		b.Run(fmt.Sprintf("op=spsc/batch=%d/work=%s", c.batch, workName(c.work)), func(b *testing.B) {
			r := New[*int](4096)
			stop := startConsumer(r, c.batch, c.work)
			b.ReportAllocs()
			n := 0
			for b.Loop() {
				for !r.Push(msg) {
					runtime.Gosched()
				}
				n++
			}
			b.ReportMetric(float64(n)/b.Elapsed().Seconds(), "msgs/s")
			stop()
		})
	}
}

// BenchmarkPushShared measures one producer's PushShared while producers-1
// others push into the same ring and a writer-like consumer drains it. ns/op is
// the cost of one call under that contention; msgs/s counts every producer.
func BenchmarkPushShared(b *testing.B) {
	msg := new(int)
	for _, producers := range []int{1, 4} {
		b.Run(fmt.Sprintf("producers=%d", producers), func(b *testing.B) {
			r := New[*int](4096)
			stopConsumer := startConsumer(r, 1024, time.Microsecond)
			var (
				stop   atomic.Bool
				others atomic.Int64
				wg     sync.WaitGroup
			)
			for range producers - 1 {
				wg.Go(func() {
					var n int64
					for !stop.Load() {
						if r.PushShared(msg) {
							n++
						} else {
							runtime.Gosched()
						}
					}
					others.Add(n)
				})
			}
			b.ReportAllocs()
			n := 0
			for b.Loop() {
				for !r.PushShared(msg) {
					runtime.Gosched()
				}
				n++
			}
			elapsed := b.Elapsed()
			stop.Store(true)
			wg.Wait()
			stopConsumer()
			b.ReportMetric(float64(int64(n)+others.Load())/elapsed.Seconds(), "msgs/s")
		})
	}
}

// startConsumer drains r in batches of up to batch values on its own goroutine
// until the returned function is called, busy for work per batch between Peek
// and Discard as a writer is in writev.
func startConsumer(r *Ring[*int], batch int, work time.Duration) (stop func()) {
	var quit atomic.Bool
	done := make(chan struct{})
	go func() {
		defer close(done)
		for !quit.Load() {
			x, y := r.Peek(batch)
			if n := len(x) + len(y); n > 0 {
				for start := time.Now(); time.Since(start) < work; {
				}
				r.Discard(n)
			} else {
				runtime.Gosched()
			}
		}
	}()
	return func() {
		quit.Store(true)
		<-done
	}
}

func workName(d time.Duration) string {
	if d == 0 {
		return "0"
	}
	return fmt.Sprintf("%dus", d.Microseconds())
}
