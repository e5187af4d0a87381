package sink_test

import (
	"context"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/msgsink/msgsink/sink"
	"github.com/msgsink/msgsink/tlv"
)

// diamond builds depth levels of composites, two per level, each over both
// of the level below, on top of the two sinks given, and a round robin
// "top" over the last level: 2^depth paths from the top to each leaf.
// patterns gives each level's pattern, in turn.
func diamond(t *testing.T, depth int, patterns []sink.Kind, a, b sink.Sink) sink.Sink {
	t.Helper()
	below := []sink.Sink{a, b}
	for level := range depth {
		var this []sink.Sink
		for _, side := range []string{"l", "r"} {
			name := side + strconv.Itoa(level)
			var s sink.Sink
			var err error
			switch patterns[level%len(patterns)] {
			case sink.KindFanout:
				s, err = sink.NewFanout(name, below...)
			case sink.KindRoundRobin:
				s, err = sink.NewRoundRobin(name, below...)
			default:
				s, err = sink.NewFailover(name, below...)
			}
			if err != nil {
				t.Fatal(err)
			}
			this = append(this, s)
		}
		below = this
	}
	top, err := sink.NewRoundRobin("top", below...)
	if err != nil {
		t.Fatal(err)
	}
	return top
}

// TestDiamondIsLinear: building a diamond of composites 30 levels deep, and
// taking its Info and State, must read each sink once, not once per path: a
// walk per path would not end. The top's Info reports a leaf's last error
// once.
func TestDiamondIsLinear(t *testing.T) {
	const depth = 30
	dead := deadTarget(t, "dead") // nobody listens: its connects fail
	b := tlv.NewBuilder(tlv.DomainMarketData, 1)
	if err := dead.Send(message(t, b)); err != nil {
		t.Fatal(err)
	}
	waitFor(t, "the dead target's connect error", func() bool { return dead.Info().LastError != nil })
	top := diamond(t, depth, sink.Patterns(), dead, deadTarget(t, "idle"))
	i := top.Info()
	want := "l" + strconv.Itoa(depth-1) + ",r" + strconv.Itoa(depth-1)
	if i.Endpoint != want || i.Metadata["targets"] != want {
		t.Fatalf("top's targets %q, want %q", i.Endpoint, want)
	}
	if i.LastError == nil || strings.Count(i.LastError.Error(), `"dead"`) != 1 {
		t.Fatalf("top's LastError %v, want the dead target's error once", i.LastError)
	}
	if st := top.(sink.Stater).State(); st == sink.StateClosed || st == sink.StateConnected || st != i.State {
		t.Fatalf("top's state %v (Info says %v), want the leaves' best: idle, backoff or connecting", st, i.State)
	}
}

// TestDiamondSend: a message sent through a diamond of round robins and
// failovers 40 levels deep takes one path to one leaf; the failovers read
// the State of the composites below them on every Send, each sink once.
func TestDiamondSend(t *testing.T) {
	const depth, n = 40, 100
	pa, pb := newPeer(t, false), newPeer(t, false)
	a, bb := target(t, "a", pa.endpoint(), 0), target(t, "b", pb.endpoint(), 0)
	top := diamond(t, depth, []sink.Kind{sink.KindFailover, sink.KindRoundRobin}, a, bb)
	b := tlv.NewBuilder(tlv.DomainMarketData, 1)
	for range n {
		if err := top.Send(message(t, b)); err != nil {
			t.Fatal(err)
		}
	}
	flushAll(t, a, bb)
	waitFor(t, "every frame at one peer", func() bool { return len(pa.received())+len(pb.received()) == n })
	if i := top.Info(); i.Enqueued != n || !i.Balanced() {
		t.Fatalf("top: %v", i)
	}
}

// TestStateBehindClosedComposite: a closed composite hides the sinks under
// it from the State of the composites above, unless another path reaches
// them.
func TestStateBehindClosedComposite(t *testing.T) {
	pa := newPeer(t, false)
	a := target(t, "a", pa.endpoint(), 0)
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	if err := a.Connect(ctx); err != nil {
		t.Fatal(err)
	}
	idle := deadTarget(t, "idle")
	inner, _ := sink.NewRoundRobin("inner", a)
	hidden, _ := sink.NewFailover("hidden", inner, idle)
	reached, _ := sink.NewFailover("reached", inner, a)
	for _, c := range []struct {
		s    sink.Sink
		want sink.State
	}{{hidden, sink.StateConnected}, {reached, sink.StateConnected}} {
		if st := c.s.Info().State; st != c.want {
			t.Fatalf("%s before inner's Close: %v, want %v", c.s.Info().Name, st, c.want)
		}
	}
	if err := inner.Close(); err != nil {
		t.Fatal(err)
	}
	for _, c := range []struct {
		s    sink.Sink
		want sink.State
	}{{hidden, sink.StateIdle}, {reached, sink.StateConnected}} {
		if st := c.s.(sink.Stater).State(); st != c.want {
			t.Fatalf("%s after inner's Close: %v, want %v", c.s.Info().Name, st, c.want)
		}
	}
}
