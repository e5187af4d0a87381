package lazy_test

import (
	"context"
	"errors"
	"flag"
	"math/rand/v2"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/msgsink/msgsink/lazy"
	"github.com/msgsink/msgsink/sink"
	"github.com/msgsink/msgsink/sink/sinktest"
	"github.com/msgsink/msgsink/tlv"
)

var faults = flag.Int("faults", 20, "faults injected by TestFaultSoak (a documented run uses 1000)")

// The faults the soak draws from. Each acts on a real Unix socket peer
// while a producer sends without pause.
type soakFault struct {
	name string
	// graceful faults lose nothing in flight: every message written
	// reaches the peer.
	graceful bool
	inject   func(s *lazy.Sink, p *sinktest.StreamPeer, rng *rand.Rand) error
}

var soakFaults = []soakFault{
	{"hang-up", false, func(_ *lazy.Sink, p *sinktest.StreamPeer, _ *rand.Rand) error {
		p.Stop() // every connection closed mid-stream, unread bytes lost with it
		p.Start()
		return nil
	}},
	{"down", false, func(_ *lazy.Sink, p *sinktest.StreamPeer, rng *rand.Rand) error {
		p.Stop() // and nothing listens for a while: dials fail, the ring fills
		time.Sleep(time.Duration(5+rng.IntN(25)) * time.Millisecond)
		p.Start()
		return nil
	}},
	{"stall", false, func(_ *lazy.Sink, p *sinktest.StreamPeer, rng *rand.Rand) error {
		p.Stall() // stops reading: writes block, Send refuses ErrBufferFull
		time.Sleep(time.Duration(5+rng.IntN(25)) * time.Millisecond)
		p.Stop() // the only way out of a stall is a hang-up
		p.Start()
		return nil
	}},
	{"disconnect", true, func(s *lazy.Sink, _ *sinktest.StreamPeer, _ *rand.Rand) error {
		ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
		defer cancel()
		return s.Disconnect(ctx) // writes what was queued, then hangs up; the next Send wakes it
	}},
	{"flush", true, func(s *lazy.Sink, _ *sinktest.StreamPeer, _ *rand.Rand) error {
		ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
		defer cancel()
		return s.Flush(ctx)
	}},
}

// TestFaultSoak injects -faults random faults into a stream of numbered
// messages of mixed sizes and checks, after every fault, that the peer saw
// no torn or corrupt frame, and at the end that no message was duplicated
// or reordered and that every message not received is a counted drop or
// was written into a connection the fault then broke. Run
// `go test ./lazy -run TestFaultSoak -faults=1000` for the documented soak.
//
// A run of graceful faults only (Disconnect, Flush) loses nothing in
// flight, so there the sequence gaps equal the counted drops exactly.
func TestFaultSoak(t *testing.T) {
	var graceful []soakFault
	for _, f := range soakFaults {
		if f.graceful {
			graceful = append(graceful, f)
		}
	}
	for _, backlog := range []lazy.Backlog{lazy.BacklogReplay, lazy.BacklogDrop} {
		t.Run("faults=all/backlog="+backlog.String(), func(t *testing.T) { soak(t, backlog, max(*faults/2, 1), soakFaults) })
	}
	t.Run("faults=graceful", func(t *testing.T) { soak(t, lazy.BacklogReplay, max(*faults/10, 1), graceful) })
}

func soak(t *testing.T, backlog lazy.Backlog, n int, pool []soakFault) {
	seed := uint64(time.Now().UnixNano())
	t.Logf("seed %d", seed)
	rng := rand.New(rand.NewPCG(seed, 1))
	p := sinktest.ListenStream(t, "unix")
	s := newSink(t, lazy.Config{Endpoint: p.Endpoint(), BufferSize: 1024, Backlog: backlog,
		Retry: lazy.Retry{Initial: time.Millisecond, Max: 5 * time.Millisecond}, CloseTimeout: 10 * time.Second})

	// The producer retries a refused message until the sink takes it, so
	// that every sequence number enters the sink exactly once.
	var sent atomic.Uint64
	stop := make(chan struct{})
	var wg sync.WaitGroup
	wg.Go(func() {
		b := tlv.NewBuilder(tlv.DomainMarketData, 1)
		b.Checksum = true // a corrupt frame fails the peer's check
		sizes := []int{40, 200, 1500, 5000}
		body := make([]byte, 5000)
		for i := 0; ; i++ {
			b.Append(5, body[:sizes[i%len(sizes)]])
			m, err := b.Finish()
			if err != nil {
				t.Error(err)
				return
			}
			for err = s.Send(m); err != nil; err = s.Send(m) {
				if !errors.Is(err, sink.ErrBufferFull) {
					m.Release()
					t.Errorf("send: %v", err)
					return
				}
				select {
				case <-stop:
					m.Release()
					return
				case <-time.After(20 * time.Microsecond):
				}
			}
			sent.Add(1)
			select {
			case <-stop:
				return
			default:
			}
		}
	})

	count := map[string]int{}
	lossy := 0
	for i := range n {
		time.Sleep(time.Duration(1+rng.IntN(10)) * time.Millisecond)
		f := pool[rng.IntN(len(pool))]
		count[f.name]++
		if !f.graceful {
			lossy++
		}
		if err := f.inject(s, p, rng); err != nil {
			t.Fatalf("fault %d (%s): %v", i, f.name, err)
		}
		if err := p.Err(); err != nil {
			t.Fatalf("after fault %d (%s): %v", i, f.name, err)
		}
	}
	close(stop)
	wg.Wait()
	if err := s.Close(); err != nil { // flushes to the peer, which is up
		t.Fatal(err)
	}
	if err := p.Err(); err != nil {
		t.Fatal(err)
	}
	in := s.Info()

	// The peer may still be reading what the last connection carried. With
	// graceful faults only, it gets everything written; otherwise what a
	// fault broke never comes, and the count settles.
	received := receivedInOrder(t, p)
	if lossy == 0 {
		waitFor(t, "every message written", func() bool { received = receivedInOrder(t, p); return received == in.Written })
	} else {
		for settled := time.Now(); time.Since(settled) < 200*time.Millisecond; time.Sleep(10 * time.Millisecond) {
			if n := receivedInOrder(t, p); n != received {
				received, settled = n, time.Now()
			}
		}
	}
	inFlight := in.Written - received // written into a connection a fault broke
	t.Logf("%d faults %v; sent %d, received %d over %d connections; dropped %d (stale %d, connect_failed %d, closed %d); lost in flight %d",
		n, count, sent.Load(), received, len(p.Received()), in.Dropped.Total(), in.Dropped.Stale, in.Dropped.ConnectFailed,
		in.Dropped.Closed, inFlight)
	switch {
	case !in.Balanced() || in.Pending != 0:
		t.Fatalf("counters do not add up: %+v", in)
	case in.Enqueued != sent.Load():
		t.Fatalf("sink enqueued %d, producer sent %d", in.Enqueued, sent.Load())
	case received > in.Written:
		t.Fatalf("peer received %d, more than the %d written", received, in.Written)
	case backlog == lazy.BacklogReplay && in.Dropped.Total() != 0:
		t.Fatalf("backlog replay dropped %d messages", in.Dropped.Total())
	case lossy == 0 && inFlight != 0:
		t.Fatalf("graceful faults only, yet %d messages were lost in flight", inFlight)
	}
	if n := lazyGoroutines(); n != 0 {
		t.Fatalf("%d writer goroutines after Close", n)
	}
}

// receivedInOrder counts the frames the peer received and fails the test
// on a duplicate, a step back, or a gap inside a connection: sequences rise
// across every connection in the order the connections were made, and
// messages go missing only between two connections.
func receivedInOrder(t *testing.T, p *sinktest.StreamPeer) uint64 {
	t.Helper()
	received, last := uint64(0), uint64(0)
	for ci, conn := range p.Received() {
		for i, f := range conn {
			if f.Seq <= last {
				t.Fatalf("connection %d: sequence %d after %d", ci, f.Seq, last)
			}
			// Messages are lost only where a connection ends (in flight
			// when a fault broke it) or before one starts (dropped as
			// stale at the connect): inside a connection nothing is
			// skipped.
			if i > 0 && f.Seq != last+1 {
				t.Fatalf("connection %d: sequence %d after %d, a gap inside a connection", ci, f.Seq, last)
			}
			last = f.Seq
			received++
		}
	}
	return received
}
