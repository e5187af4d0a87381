//go:build linux

package bench

import (
	"context"
	"testing"
	"time"

	"github.com/msgsink/msgsink/lazy"
	"github.com/msgsink/msgsink/relay"
	"github.com/msgsink/msgsink/relay/relaytest"
	"github.com/msgsink/msgsink/transport"
)

// BenchmarkDelivery measures what acked delivery costs: one producer sends
// 64-byte messages, each built as an adapter builds it (a warmed builder,
// sequence and timestamp in every message), with SendWait (a producer that
// must not drop) through a lazy sink to a domain relay in this process, with
// one consumer reading what it forwards, as fast as the path takes them.
// ns/op is the sending loop alone; msgs/s also counts the final Flush, which
// for delivery=acked returns once the relay has acknowledged every message,
// and for delivery=at_most_once once the kernel took them.
// delivery=at_most_once is what a user gets without acknowledgements, in
// the same run.
func BenchmarkDelivery(b *testing.B) {
	for _, d := range []lazy.Delivery{lazy.DeliveryAtMostOnce, lazy.DeliveryAcked} {
		b.Run("transport=unix/size=64/producers=1/delivery="+d.String(), func(b *testing.B) {
			ep := relayWithReader(b)
			s, err := lazy.New(lazy.Config{Name: "bench", Endpoint: ep, SingleProducer: true, Delivery: d})
			if err != nil {
				b.Fatal(err)
			}
			defer s.Close()
			ctx, cancel := context.WithTimeout(context.Background(), waitLimit)
			defer cancel()
			if err := s.Connect(ctx); err != nil {
				b.Fatal(err)
			}
			fb := newFrameBuilder(64, 1)
			fb.warm(warmN)
			b.SetBytes(64)
			b.ReportAllocs()
			start := time.Now()
			for b.Loop() {
				if err := s.SendWait(ctx, fb.next()); err != nil {
					b.Fatal(err)
				}
			}
			if err := s.Flush(ctx); err != nil {
				b.Fatal(err)
			}
			b.ReportMetric(float64(b.N)/time.Since(start).Seconds(), "msgs/s")
			if in := s.Info(); d == lazy.DeliveryAcked && in.Acked != in.Enqueued {
				b.Fatalf("acked %d of %d", in.Acked, in.Enqueued)
			}
		})
	}
}

// relayWithReader starts a market-data relay on a fresh Unix socket with
// one consumer that reads and drops every frame, and returns its endpoint.
// Everything stops when the benchmark ends.
func relayWithReader(tb testing.TB) transport.Endpoint {
	tb.Helper()
	r := relaytest.Serve(tb, relay.Config{})
	relaytest.Drain(tb, r)
	return relaytest.Endpoint(r)
}
