package source_test

import (
	"flag"
	"fmt"
	"slices"
	"testing"
	"time"

	"github.com/msgsink/msgsink/internal/testnet"
	"github.com/msgsink/msgsink/lazy"
	"github.com/msgsink/msgsink/source"
)

var restarts = flag.Int("restarts", 50, "how many times TestRelayKilledAndRestarted kills and restarts the relay process")

// A real relay process is killed with SIGKILL and restarted again and
// again under a steady producer (a lazy sink). The Source goes on by
// itself; it never returns a torn or invalid frame (checkFrame on every
// one); the gaps it reports are exactly the sequences it never returned;
// and once closed it leaves no goroutine (goleak, TestMain) and no
// descriptor behind. It also logs how long frames took to flow again
// after each restart, beside the retry schedule's steps: the target
// is within twice the next step, a figure for a quiet machine, not asserted
// here.
func TestRelayKilledAndRestarted(t *testing.T) {
	before := openFDs(t)
	path := testnet.SocketPath(t)
	e := unixEndpoint(path)
	rp := startRelay(t, path)
	s := newSource(t, source.Config{Name: "restarts", Endpoint: e, Retry: fastRetry})
	p := produce(t, e, 7, 64, 100*time.Microsecond)
	rd := read(s)
	// Info, from another goroutine while Next runs: its counters only grow.
	watching := make(chan struct{})
	watched := make(chan error, 1)
	go func() {
		var last source.Info
		for {
			select {
			case <-watching:
				watched <- nil
				return
			case <-time.After(time.Millisecond):
			}
			i := s.Info()
			if i.Frames < last.Frames || i.Gaps < last.Gaps || i.Reconnects < last.Reconnects || i.ConnectAttempts < last.ConnectAttempts {
				watched <- fmt.Errorf("Info went back: %+v after %+v", i, last)
				return
			}
			last = i
		}
	}()

	var flowing []time.Duration // from the new relay's start to the next frame
	for range *restarts {
		n := rd.frames.Load()
		waitFor(t, "frames through the relay", func() bool { return rd.frames.Load() >= n+50 })
		rp.kill()
		rp = startRelay(t, path)
		ready := time.Now()
		n = rd.frames.Load()
		waitFor(t, "frames through the restarted relay", func() bool { return rd.frames.Load() > n })
		flowing = append(flowing, time.Since(ready))
	}
	p.close()
	close(watching)
	if err := <-watched; err != nil {
		t.Fatal(err)
	}
	if err := rd.stop(); err != nil {
		t.Fatal(err)
	}
	rp.kill()

	i := s.Info()
	missed := rd.missed()
	if i.Frames != rd.frames.Load() || i.PerSource[7].Frames != i.Frames {
		t.Fatalf("Info counts %d frames (%d for producer 7), Next returned %d", i.Frames, i.PerSource[7].Frames, rd.frames.Load())
	}
	if i.Gaps != missed[7] || i.PerSource[7].Gaps != missed[7] {
		t.Fatalf("Info reports %d gaps (%d for producer 7); Next never returned %d sequences", i.Gaps, i.PerSource[7].Gaps, missed[7])
	}
	if i.Reconnects < uint64(*restarts) || i.Invalid != 0 || i.Restarts != 0 {
		t.Fatalf("after %d restarts: %+v", *restarts, i)
	}
	if fds := newFDs(t, before); len(fds) != 0 {
		t.Fatalf("descriptors left open: %v", fds)
	}
	slices.Sort(flowing)
	t.Logf("%d restarts: %d frames returned, %d gaps, %d reconnects, %d connect attempts",
		*restarts, i.Frames, i.Gaps, i.Reconnects, i.ConnectAttempts)
	r := lazy.Config{Retry: fastRetry}.Resolved().Retry
	t.Logf("frames flowing again after a restart (both the producer and the Source reconnect): median %v, max %v; "+
		"the retry schedule: initial %v, multiplier %v, max %v, jitter %v", flowing[len(flowing)/2], flowing[len(flowing)-1],
		r.Initial, r.Multiplier, r.Max, r.Jitter)
}
