//go:build linux

package bench

import (
	"testing"
	"time"

	"github.com/msgsink/msgsink/internal/hist"
	"github.com/msgsink/msgsink/lazy"
)

// TestPacedLatency runs BenchmarkLatency's path briefly for the sink (shared
// and SingleProducer) and every baseline: every paced message arrives, valid and in order, the pacer
// keeps roughly to its rate, and every message's delay is recorded.
func TestPacedLatency(t *testing.T) {
	const n, rate = 300, 10_000
	for _, im := range append([]impl{implSink, implSinkSingle}, latencyBaselines...) {
		t.Run("impl="+im.name, func(t *testing.T) {
			srv := listen(t, "unix")
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
