//go:build !race

package relay_test

import (
	"io"
	"net"
	"testing"

	"github.com/msgsink/msgsink/relay"
	"github.com/msgsink/msgsink/relay/relaytest"
	"github.com/msgsink/msgsink/tlv"
)

// TestForwardZeroAllocs holds the relay's steady state to zero allocations:
// a producer's frames read, validated, queued and written to two consumers,
// and read back by two subscribed connections, all on real sockets. Every
// goroutine's allocations count, the relay's included. (source.Source's
// Next has its own allocation test.)
func TestForwardZeroAllocs(t *testing.T) {
	r := relaytest.Serve(t, relay.Config{})
	subs := []net.Conn{subscribeRaw(t, r, 1), subscribeRaw(t, r, 2)}
	for _, s := range subs {
		t.Cleanup(func() { _ = s.Close() })
	}
	p := dial(t, r)
	b := tlv.NewBuilder(tlv.DomainMarketData, 1)
	var batch []byte
	const frames = 64
	for range frames {
		batch = append(batch, frameOf(t, b, 64)...)
	}
	got := make([]byte, len(batch))
	var failed error
	round := func() {
		if _, err := p.Write(batch); err != nil && failed == nil {
			failed = err
		}
		for _, s := range subs {
			if _, err := io.ReadFull(s, got); err != nil && failed == nil {
				failed = err
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
