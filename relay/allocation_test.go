//go:build !race

package relay_test

import (
	"net"
	"testing"

	"github.com/msgsink/msgsink/relay"
	"github.com/msgsink/msgsink/tlv"
)

// TestForwardZeroAllocs holds the relay's steady state to zero allocations:
// a producer's frames read, validated, queued and written to two consumers,
// and read back with Subscriber.Next, all on real sockets. Every goroutine's
// allocations count, the relay's included.
func TestForwardZeroAllocs(t *testing.T) {
	r := serve(t, relay.Config{})
	subs := []*relay.Subscriber{subscribe(t, r, 1), subscribe(t, r, 2)}
	p := dial(t, r)
	b := tlv.NewBuilder(tlv.DomainMarketData, 1)
	var batch []byte
	const frames = 64
	for range frames {
		batch = append(batch, frameOf(t, b, 64)...)
	}
	var failed error
	round := func() {
		if _, err := p.Write(batch); err != nil && failed == nil {
			failed = err
		}
		for _, s := range subs {
			for range frames {
				if _, err := s.Next(); err != nil && failed == nil {
					failed = err
				}
			}
		}
	}
	for range 50 { // warm the pools, the buffers and the netpoller
		round()
	}
	allocs := testing.AllocsPerRun(500, round)
	if failed != nil {
		t.Fatal(failed)
	}
	if allocs != 0 {
		t.Errorf("forwarding %d frames to 2 consumers allocates %v times, want 0", frames, allocs)
	}
}

// TestSubscriberNextZeroAllocs holds Next to zero allocations on a stream of
// small frames, crossing many buffer refills.
func TestSubscriberNextZeroAllocs(t *testing.T) {
	b := tlv.NewBuilder(tlv.DomainMarketData, 1)
	f := frameOf(t, b, 100)
	const n = 200_000
	stop := make(chan struct{})
	s := fakeRelay(t, func(c net.Conn) {
		batch := make([]byte, 0, 1000*len(f))
		for range 1000 {
			batch = append(batch, f...)
		}
		for range n / 1000 {
			if _, err := c.Write(batch); err != nil {
				return
			}
		}
		<-stop
	})
	defer close(stop)
	for range 1000 {
		if _, err := s.Next(); err != nil {
			t.Fatal(err)
		}
	}
	var failed error
	allocs := testing.AllocsPerRun(n/2, func() {
		if _, err := s.Next(); err != nil && failed == nil {
			failed = err
		}
	})
	if failed != nil {
		t.Fatal(failed)
	}
	if allocs != 0 {
		t.Errorf("Next allocates %v times per frame, want 0", allocs)
	}
}
