//go:build !race

package source_test

import (
	"testing"

	"github.com/msgsink/msgsink/relay"
	"github.com/msgsink/msgsink/relay/relaytest"
	"github.com/msgsink/msgsink/source"
)

// TestNextZeroAllocs holds Next to zero allocations per frame on a real
// stream: a lazy sink through an in-process relay, over Unix sockets.
func TestNextZeroAllocs(t *testing.T) {
	r := relaytest.Serve(t, relay.Config{})
	s := newSource(t, source.Config{Endpoint: relaytest.Endpoint(r)})
	p := produce(t, relaytest.Endpoint(r), 7, 64, 0)
	next := func() {
		if _, err := s.Next(); err != nil {
			t.Fatal(err)
		}
	}
	for range 10_000 { // connected, subscribed, buffer at its working size
		next()
	}
	if n := testing.AllocsPerRun(100_000, next); n != 0 {
		t.Fatalf("Next: %v allocs per frame, want 0", n)
	}
	p.close()
}
