package sink_test

import (
	"strconv"
	"strings"
	"testing"

	"github.com/msgsink/msgsink/sink"
	"github.com/msgsink/msgsink/tlv"
)

// TestDiamondIsLinear: composites that share targets level after level (a
// diamond: two composites per level, each over both of the level below)
// have 2^depth paths from the top. Building one and taking its Info must
// visit each sink once, not once per path: at depth 30 a walk per path
// would not end. The top's Info reports a leaf's last error once.
func TestDiamondIsLinear(t *testing.T) {
	const depth = 30
	dead := deadTarget(t, "dead") // nobody listens: its connects fail
	b := tlv.NewBuilder(tlv.DomainMarketData, 1)
	if err := dead.Send(message(t, b)); err != nil {
		t.Fatal(err)
	}
	waitFor(t, "the dead target's connect error", func() bool { return dead.Info().LastError != nil })
	below := []sink.Sink{dead, deadTarget(t, "idle")}
	for level := range depth {
		var this []sink.Sink
		for _, side := range []string{"l", "r"} {
			name := side + strconv.Itoa(level)
			var s sink.Sink
			var err error
			switch level % 3 {
			case 0:
				s, err = sink.NewFanout(name, below...)
			case 1:
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
	i := top.Info()
	want := "l" + strconv.Itoa(depth-1) + ",r" + strconv.Itoa(depth-1)
	if i.Endpoint != want || i.Metadata["targets"] != want {
		t.Fatalf("top's targets %q, want %q", i.Endpoint, want)
	}
	if i.LastError == nil || strings.Count(i.LastError.Error(), `"dead"`) != 1 {
		t.Fatalf("top's LastError %v, want the dead target's error once", i.LastError)
	}
	if i.State == sink.StateClosed || i.State == sink.StateConnected {
		t.Fatalf("top's state %v, want the leaves' best (idle, backoff or connecting)", i.State)
	}
}
