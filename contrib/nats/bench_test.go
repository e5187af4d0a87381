package natssink_test

import (
	"context"
	"runtime"
	"strconv"
	"testing"
	"time"

	"github.com/nats-io/nats.go"

	natssink "github.com/msgsink/msgsink/contrib/nats"
	"github.com/msgsink/msgsink/lazy"
	"github.com/msgsink/msgsink/tlv"
)

// Benchmarks are named key=value for benchstat, e.g.
//
//	go test -run '^$' -bench Publish -count=10 ./... > new.txt
//	benchstat -col /impl new.txt
//
// Both sides of a comparison publish to the same embedded server, with no
// subscriber, and end with the server having processed every message (the
// sink's Flush, nats.go's Flush). Both build each frame with a tlv.Builder,
// as an adapter does. allocs/op counts every goroutine of the process: the
// producer, the sink's writer (or nats.go's, for the loop and JetStream)
// and the embedded server's.

// frameOverhead is a frame's size beyond its one record's value: the
// header and a standard record's type and length.
const frameOverhead = tlv.HeaderSize + 2

// BenchmarkPublish: one producer, 64-byte frames, through the nats sink
// (Send; its writer publishes) against what a user would write instead: a
// loop of nats.go Publish calls on one connection.
func BenchmarkPublish(b *testing.B) {
	for _, size := range []int{64} {
		sz := "size=" + strconv.Itoa(size)
		b.Run("mode=core/"+sz+"/producers=1/impl=natssink", func(b *testing.B) { benchSink(b, size, false) })
		b.Run("mode=core/"+sz+"/producers=1/impl=nats.go", func(b *testing.B) { benchPublishLoop(b, size) })
		b.Run("mode=jetstream/"+sz+"/producers=1/impl=natssink", func(b *testing.B) { benchSink(b, size, true) })
	}
}

func benchSink(b *testing.B, size int, jetstream bool) {
	srv := startServer(b, jetstream)
	if jetstream {
		createStream(b, srv.URL())
	}
	s, err := natssink.New(natssink.Config{Endpoint: srv.URL(), JetStream: jetstream, Sink: lazy.Config{SingleProducer: true}})
	if err != nil {
		b.Fatal(err)
	}
	defer s.Close()
	ctx := context.Background()
	if err := s.Connect(ctx); err != nil {
		b.Fatal(err)
	}
	p := newProducer(1, size-frameOverhead)
	if m := p.next(); m.Len() != size {
		b.Fatalf("frames of %d bytes, want %d", m.Len(), size)
	} else {
		m.Release()
	}
	for range 2 * lazy.DefaultBufferSize { // the builder's free list grows to what is in flight once
		if err := s.SendWait(ctx, p.next()); err != nil {
			b.Fatal(err)
		}
	}
	if err := s.Flush(ctx); err != nil {
		b.Fatal(err)
	}
	b.ReportAllocs()
	b.SetBytes(int64(size))
	start := time.Now()
	b.ResetTimer()
	for b.Loop() {
		if err := s.SendWait(ctx, p.next()); err != nil {
			b.Fatal(err)
		}
	}
	if err := s.Flush(ctx); err != nil {
		b.Fatal(err)
	}
	if jetstream {
		for s.JetStream().Unacked > 0 {
			runtime.Gosched()
			time.Sleep(100 * time.Microsecond)
		}
	}
	b.ReportMetric(float64(b.N)/time.Since(start).Seconds(), "msgs/s")
}

func benchPublishLoop(b *testing.B, size int) {
	srv := startServer(b, false)
	nc, err := nats.Connect(srv.URL())
	if err != nil {
		b.Fatal(err)
	}
	defer nc.Close()
	p := newProducer(1, size-frameOverhead)
	subj := "msgsink.market_data.1"
	b.ReportAllocs()
	b.SetBytes(int64(size))
	start := time.Now()
	b.ResetTimer()
	for b.Loop() {
		m := p.next()
		if err := nc.Publish(subj, m.Bytes()); err != nil {
			b.Fatal(err)
		}
		m.Release()
	}
	if err := nc.Flush(); err != nil {
		b.Fatal(err)
	}
	b.ReportMetric(float64(b.N)/time.Since(start).Seconds(), "msgs/s")
}
