package lazy_test

import (
	"context"
	"errors"
	"runtime"
	"strconv"
	"testing"

	"github.com/msgsink/msgsink/lazy"
	"github.com/msgsink/msgsink/sink"
	"github.com/msgsink/msgsink/tlv"
)

// Benchmarks are named key=value for benchstat, e.g.
//
//	go test -run '^$' -bench . -count=10 ./lazy > new.txt
//	benchstat -col /impl new.txt

// sendRetained sends m, already retained for this Send, until the ring takes it.
func sendRetained(b *testing.B, s *lazy.Sink, m *tlv.Message) {
	for {
		err := s.Send(m)
		if err == nil {
			return
		}
		if !errors.Is(err, sink.ErrBufferFull) {
			b.Fatal(err)
		}
		runtime.Gosched()
	}
}

// retained returns a message of size bytes with n extra references, so a
// benchmark can send it n times without building: the cost measured is the
// sink's, not the builder's.
func retained(size, n int) *tlv.Message {
	m := newBuilder(size).next()
	for range n {
		m.Retain()
	}
	return m
}

// BenchmarkSend measures the Send call with the writer running on a real
// Unix socket. Sends come in bursts of half the ring, and the timer stops
// while the writer catches up between bursts, so ns/op is the cost of Send
// itself, not of the socket behind it (../bench measures the socket: E2E).
func BenchmarkSend(b *testing.B) {
	for _, size := range []int{64, 200} {
		for _, mode := range []string{"lazy", "connected"} {
			b.Run("transport=unix/size="+strconv.Itoa(size)+"/producers=1/impl="+mode, func(b *testing.B) {
				ep, _ := drainPeer(b, "unix")
				s := newSink(b, lazy.Config{Endpoint: ep})
				if mode == "connected" {
					if err := s.Connect(context.Background()); err != nil {
						b.Fatal(err)
					}
				}
				const burst = lazy.DefaultBufferSize / 2
				m := retained(size, b.N)
				b.ReportAllocs()
				b.SetBytes(int64(size))
				b.ResetTimer()
				for i := 0; i < b.N; i += burst {
					for range min(burst, b.N-i) {
						sendRetained(b, s, m)
					}
					b.StopTimer()
					flush(b, s)
					b.StartTimer()
				}
				b.StopTimer()
				m.Release()
			})
		}
	}
	// Four producers contend for one ring. ns/op is the cost of one Send
	// call; a full ring refuses at once (the producer keeps the message, as
	// a market-data adapter that drops stale ticks would), and full/op says
	// how often that happened.
	b.Run("transport=unix/size=64/producers=4/impl=lazy", func(b *testing.B) {
		ep, _ := drainPeer(b, "unix")
		s := newSink(b, lazy.Config{Endpoint: ep})
		b.ReportAllocs()
		b.SetParallelism(2) // 2 × GOMAXPROCS(2) = 4 producers
		b.RunParallel(func(pb *testing.PB) {
			m := newBuilder(64).next()
			for pb.Next() {
				m.Retain()
				if err := s.Send(m); err != nil {
					if !errors.Is(err, sink.ErrBufferFull) {
						b.Error(err)
						return
					}
					m.Release()
				}
			}
			m.Release()
		})
		b.StopTimer()
		flush(b, s)
		i := s.Info()
		b.ReportMetric(float64(i.Refused.BufferFull)/float64(b.N), "full/op")
	})
}
