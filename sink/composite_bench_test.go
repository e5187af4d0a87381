package sink_test

import (
	"context"
	"errors"
	"net"
	"path/filepath"
	"runtime"
	"strconv"
	"sync"
	"testing"

	"github.com/msgsink/msgsink/lazy"
	"github.com/msgsink/msgsink/sink"
	"github.com/msgsink/msgsink/tlv"
)

// drainTarget returns a connected lazy sink whose peer reads everything into
// a fixed buffer and allocates nothing per read: the far end for benchmarks
// and allocation tests.
func drainTarget(tb testing.TB, name string) *lazy.Sink {
	tb.Helper()
	path := filepath.Join(tb.TempDir(), "d.sock")
	ln, err := net.Listen("unix", path)
	if err != nil {
		tb.Fatal(err)
	}
	var wg sync.WaitGroup
	var mu sync.Mutex
	var conns []net.Conn
	wg.Add(1)
	go func() {
		defer wg.Done()
		for {
			c, err := ln.Accept()
			if err != nil {
				return
			}
			mu.Lock()
			conns = append(conns, c)
			mu.Unlock()
			wg.Add(1)
			go func() {
				defer wg.Done()
				buf := make([]byte, 1<<20)
				for {
					if _, err := c.Read(buf); err != nil {
						return
					}
				}
			}()
		}
	}()
	// Registered before the sink's cleanup, so it runs after the sink closed.
	tb.Cleanup(func() {
		_ = ln.Close()
		mu.Lock()
		for _, c := range conns {
			_ = c.Close()
		}
		mu.Unlock()
		wg.Wait()
	})
	s := target(tb, name, endpoint(tb, path), 0)
	if err := s.Connect(context.Background()); err != nil {
		tb.Fatal(err)
	}
	return s
}

func drainTargets(tb testing.TB, n int) []sink.Sink {
	ts := make([]sink.Sink, n)
	for i := range ts {
		ts[i] = drainTarget(tb, "t"+strconv.Itoa(i))
	}
	return ts
}

// benchComposite measures Send alone: bursts of a quarter of a target's ring,
// with the timer stopped while the writers catch up, as lazy's BenchmarkSend
// does. The messages are made outside the timer, so the builder's cost is
// not measured.
//
// msgs=shared sends one message with enough references over and over, as
// lazy's BenchmarkSend does: the cost of the composite and its targets' Send.
// msgs=distinct sends a fresh message each time, as in real use: each one's
// cache lines were last touched by the writer that released it on another
// core, so every Retain and ring push misses the cache.
func benchComposite(b *testing.B, send func(*tlv.Message) error, targets []sink.Sink) {
	for _, distinct := range []bool{false, true} {
		name := "msgs=shared"
		if distinct {
			name = "msgs=distinct"
		}
		b.Run(name, func(b *testing.B) { benchSend(b, send, targets, distinct) })
	}
}

func benchSend(b *testing.B, send func(*tlv.Message) error, targets []sink.Sink, distinct bool) {
	const burst = lazy.DefaultBufferSize / 4
	tb := newTestBuilder()
	ms := make([]*tlv.Message, burst)
	var shared *tlv.Message
	if !distinct {
		shared = tb.next()
		for range b.N {
			shared.Retain() // one per Send; a fanout retains the rest itself
		}
	}
	b.ReportAllocs()
	b.SetBytes(64)
	b.ResetTimer()
	for i := 0; i < b.N; i += burst {
		k := min(burst, b.N-i)
		b.StopTimer()
		for j := range k {
			if distinct {
				ms[j] = tb.next()
			} else {
				ms[j] = shared
			}
		}
		b.StartTimer()
		for _, m := range ms[:k] {
			for {
				err := send(m)
				if err == nil {
					break
				}
				if !errors.Is(err, sink.ErrBufferFull) {
					b.Fatal(err)
				}
				runtime.Gosched()
			}
		}
		b.StopTimer()
		flushAll(b, targets...)
		b.StartTimer()
	}
	b.StopTimer()
	if shared != nil {
		shared.Release()
	}
}

func BenchmarkFanout(b *testing.B) {
	for _, n := range []int{1, 3} {
		b.Run("targets="+strconv.Itoa(n), func(b *testing.B) {
			ts := drainTargets(b, n)
			f, err := sink.NewFanout("bench", ts...)
			if err != nil {
				b.Fatal(err)
			}
			benchComposite(b, f.Send, ts)
		})
	}
}

// BenchmarkFanoutFloor is BenchmarkFanout without the fanout: the same
// references (RetainN) and the targets' Sends called one after the other,
// which is what a fanout to these targets cannot go below. The bursts never
// fill a ring (a quarter of it, flushed in between), so a refusal is a bug
// here.
func BenchmarkFanoutFloor(b *testing.B) {
	b.Run("targets=3", func(b *testing.B) {
		ts := drainTargets(b, 3)
		benchComposite(b, func(m *tlv.Message) error {
			m.RetainN(len(ts) - 1)
			for _, t := range ts {
				if err := t.Send(m); err != nil {
					b.Fatal(err)
				}
			}
			return nil
		}, ts)
	})
}

func BenchmarkRoundRobin(b *testing.B) {
	b.Run("targets=3", func(b *testing.B) {
		ts := drainTargets(b, 3)
		r, err := sink.NewRoundRobin("bench", ts...)
		if err != nil {
			b.Fatal(err)
		}
		benchComposite(b, r.Send, ts)
	})
}

func BenchmarkFailover(b *testing.B) {
	b.Run("targets=3", func(b *testing.B) {
		ts := drainTargets(b, 3)
		f, err := sink.NewFailover("bench", ts...)
		if err != nil {
			b.Fatal(err)
		}
		benchComposite(b, f.Send, ts)
	})
}

// testBuilder makes 64-byte market-data messages without allocating.
type testBuilder struct {
	b    *tlv.Builder
	body []byte
}

func newTestBuilder() *testBuilder {
	return &testBuilder{b: tlv.NewBuilder(tlv.DomainMarketData, 1), body: make([]byte, 64-tlv.HeaderSize-2)}
}

func (b *testBuilder) next() *tlv.Message {
	b.b.Append(5, b.body)
	m, err := b.b.FinishAt(1)
	if err != nil {
		panic(err)
	}
	return m
}

// nopSink takes every message and releases it at once: a target with no cost
// of its own, to measure what a composite adds.
type nopSink struct{}

func (nopSink) Send(m *tlv.Message) error { m.Release(); return nil }
func (nopSink) SendBatch(ms []*tlv.Message) (int, error) {
	for _, m := range ms {
		m.Release()
	}
	return len(ms), nil
}
func (n nopSink) SendWait(_ context.Context, m *tlv.Message) error { return n.Send(m) }
func (nopSink) Connect(context.Context) error                      { return nil }
func (nopSink) Flush(context.Context) error                        { return nil }
func (nopSink) Disconnect(context.Context) error                   { return nil }
func (nopSink) Close() error                                       { return nil }
func (nopSink) Info() sink.Info                                    { return sink.Info{Name: "nop"} }

// BenchmarkCompositeOverhead measures the composites alone, over targets
// that cost nothing: their counters, reference counting and dispatch.
// kind=none is the floor under kind=fanout: the same references taken and
// released and the same three Sends, called directly.
func BenchmarkCompositeOverhead(b *testing.B) {
	ts := []sink.Sink{nopSink{}, nopSink{}, nopSink{}}
	fan, _ := sink.NewFanout("f", ts...)
	rr, _ := sink.NewRoundRobin("r", ts...)
	fo, _ := sink.NewFailover("o", ts...)
	direct := func(m *tlv.Message) error {
		m.RetainN(len(ts) - 1)
		for _, t := range ts {
			if err := t.Send(m); err != nil {
				return err
			}
		}
		return nil
	}
	for _, c := range []struct {
		kind sink.Kind
		send func(*tlv.Message) error
	}{
		{sink.KindFanout, fan.Send}, {sink.KindRoundRobin, rr.Send}, {sink.KindFailover, fo.Send}, {"none", direct},
	} {
		b.Run("kind="+string(c.kind)+"/targets=3", func(b *testing.B) {
			m := newTestBuilder().next()
			b.ReportAllocs()
			for b.Loop() {
				m.Retain()
				if err := c.send(m); err != nil {
					b.Fatal(err)
				}
			}
			m.Release()
		})
	}
}
