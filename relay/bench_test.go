package relay_test

import (
	"fmt"
	"net"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"golang.org/x/sys/cpu"

	"github.com/msgsink/msgsink/relay"
	"github.com/msgsink/msgsink/relay/relaytest"
	"github.com/msgsink/msgsink/source"
	"github.com/msgsink/msgsink/tlv"
)

// BenchmarkForward measures the relay end to end on Unix sockets: producers
// write pre-built frames (renumbered before each write) in 64 KiB writes, as
// fast as the relay reads them or at a total rate in msgs/s, and every
// consumer reads them with source.Source's Next. One op is one frame in; msgs/s is the rate of frames
// delivered to each consumer, from the first write to the last delivery, and
// drops/op what consumer queues dropped, over all consumers: unpaced, the
// relay outruns the consumers on a 2-core machine and sheds what they cannot
// take, as it must.
func BenchmarkForward(b *testing.B) {
	for _, bc := range []struct{ producers, consumers, size, rate int }{
		{1, 1, 64, 0},
		{1, 2, 64, 0},
		{1, 2, 64, 5_000_000},
		{2, 2, 64, 0},
		{1, 2, 512, 0},
	} {
		name := fmt.Sprintf("producers=%d/consumers=%d/size=%d", bc.producers, bc.consumers, bc.size)
		if bc.rate > 0 {
			name += fmt.Sprintf("/rate=%dM", bc.rate/1_000_000)
		}
		b.Run(name, func(b *testing.B) { benchForward(b, bc.producers, bc.consumers, bc.size, bc.rate) })
	}
}

func benchForward(b *testing.B, producers, consumers, size, rate int) {
	r := relaytest.Serve(b, relay.Config{})
	// Each reader counts on its own cache line: a shared counter would cost
	// the readers more than the relay.
	type counter struct {
		n atomic.Uint64
		_ cpu.CacheLinePad
	}
	received := make([]counter, consumers)
	delivered := func() (n uint64) {
		for i := range received {
			n += received[i].n.Load()
		}
		return n
	}
	var readers sync.WaitGroup
	subs := make([]*source.Source, consumers)
	for i := range subs {
		subs[i] = subscribe(b, r, i+1)
		readers.Go(func() {
			for {
				if _, err := subs[i].Next(); err != nil {
					return
				}
				received[i].n.Add(1)
			}
		})
	}
	// One write per 64 KiB of frames, as a sink's writev of a full batch.
	batches := make([][]byte, producers)
	conns := make([]net.Conn, producers)
	perBatch := 64 << 10 / size
	for p := range producers {
		bld := tlv.NewBuilder(tlv.DomainMarketData, uint8(p+1))
		for range perBatch {
			batches[p] = append(batches[p], frameOf(b, bld, size)...)
		}
		conns[p] = dial(b, r)
	}
	b.SetBytes(int64(size))
	b.ReportAllocs()
	b.ResetTimer()
	start := time.Now()
	var wg sync.WaitGroup
	for p := range producers {
		n := b.N / producers
		if p == 0 {
			n += b.N % producers
		}
		wg.Go(func() {
			sent := 0
			for sent < n {
				k := min(n-sent, perBatch)
				// A Source drops a sequence it has seen: every frame
				// goes out with the next one.
				for j := range k {
					tlv.Header(batches[p][j*size:]).SetSequence(uint64(sent + j + 1))
				}
				if _, err := conns[p].Write(batches[p][:k*size]); err != nil {
					b.Error(err)
					return
				}
				sent += k
				if rate > 0 {
					due := start.Add(time.Duration(float64(sent*producers) / float64(rate) * float64(time.Second)))
					time.Sleep(time.Until(due))
				}
			}
		})
	}
	wg.Wait()
	var s relay.Stats
	for {
		s = r.Stats()
		if s.FramesIn == uint64(b.N) && s.Pending == 0 && delivered() == s.FramesOut {
			break
		}
		time.Sleep(50 * time.Microsecond)
	}
	elapsed := time.Since(start)
	b.StopTimer()
	for _, sub := range subs {
		_ = sub.Close()
	}
	readers.Wait()
	b.ReportMetric(float64(s.FramesOut)/float64(consumers)/elapsed.Seconds(), "msgs/s")
	b.ReportMetric(float64(s.ConsumerDrops)/float64(b.N), "drops/op")
}
