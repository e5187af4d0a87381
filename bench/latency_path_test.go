//go:build linux

package bench

import (
	"testing"
	"time"

	"github.com/msgsink/msgsink/internal/hist"
	"github.com/msgsink/msgsink/lazy"
)

// TestPacedLatency runs BenchmarkLatency's path briefly for the sink (shared
// and SingleProducer) and every baseline, and BenchmarkRelayLatency's
// through a relay: every paced message arrives, valid and in order, the
// pacer keeps roughly to its rate, and every message's delay is recorded.
func TestPacedLatency(t *testing.T) {
	const n, rate = 300, 10_000
	type path struct {
		name string
		im   impl
		srv  func(testing.TB) server
	}
	direct := func(tb testing.TB) server { return listen(tb, "unix") }
	var paths []path
	for _, im := range append([]impl{implSink, implSinkSingle}, latencyBaselines...) {
		paths = append(paths, path{"impl=" + im.name, im, direct})
	}
	paths = append(paths, path{"impl=" + implSinkSingle.name + "/hop=relay", implSinkSingle, viaRelay})
	for _, pt := range paths {
		im := pt.im
		t.Run(pt.name, func(t *testing.T) {
			srv := pt.srv(t)
			var h hist.Histogram
			r := newReceiver(t, srv, 64, n, &h, true)
			p, err := im.open(setup{ep: srv.ep, producers: 1, idle: lazy.IdlePark})
			if err != nil {
				t.Fatal(err)
			}
			defer p.close()
			pc, err := newPacer(time.Second / rate)
			if err != nil {
				t.Fatal(err)
			}
			defer pc.close()
			start := time.Now()
			if err := paced(p, r, pc, newFrameBuilder(64, 1), n); err != nil {
				t.Fatal(err)
			}
			// n messages at rate take n/rate; an open loop never takes
			// much longer, whatever the scheduling.
			if took, want := time.Since(start), time.Second*n/rate; took < want*9/10 || took > 10*want {
				t.Errorf("%d messages at %d/s took %v, want about %v", n, rate, took, want)
			}
			var recorded uint64
			for _, c := range h.Snapshot() {
				recorded += c
			}
			if recorded != n {
				t.Errorf("recorded %d delays, want %d", recorded, n)
			}
			if p50, _ := h.Snapshot().Quantile(0.5); p50 <= 0 || p50 > time.Second {
				t.Errorf("p50 %v: the send timestamp did not travel", p50)
			}
		})
	}
}
