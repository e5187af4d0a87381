package lazy_test

import (
	"testing"
	"time"

	"github.com/msgsink/msgsink/lazy"
)

// A Send that finds the writer parked on an idle connection writes its
// message itself (handoff.WriteThrough), once per quiet spell, and the
// counters and the peer see every message once, in order.
func TestWriteThroughWhenParked(t *testing.T) {
	p, ep := unixPeer(t)
	var w writeCounts
	s := newSink(t, lazy.Config{Endpoint: ep, Idle: lazy.IdlePark, Dialer: countingDial(&w)})
	b := newBuilder(64)
	const sends = 5
	for i := range sends {
		if i > 0 {
			waitFor(t, "the writer to park", func() bool { return lazy.Parked(s) })
			time.Sleep(time.Millisecond) // well past the gap between writes through
		}
		if err := s.Send(b.next()); err != nil {
			t.Fatal(err)
		}
		flush(t, s)
	}
	waitFor(t, "the peer to read every message", func() bool { return p.total() == sends })
	info := assertBalanced(t, s)
	// The first Send starts the writer, which writes it; every later one
	// finds the writer parked.
	if info.WrittenThrough != sends-1 || w.through.Load() != sends-1 {
		t.Fatalf("written through: Info %d, conn %d of %d tries; want %d",
			info.WrittenThrough, w.through.Load(), w.tries.Load(), sends-1)
	}
	if info.Written != sends {
		t.Fatalf("written %d, want %d", info.Written, sends)
	}
}
