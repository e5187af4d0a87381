package bench

import (
	"syscall"
	"testing"
	"time"

	"github.com/msgsink/msgsink/lazy"
)

// idleWindow is one op of BenchmarkIdleCPU: run it with -benchtime=Nx.
const idleWindow = 100 * time.Millisecond

// BenchmarkIdleCPU measures the CPU that a connected sink with nothing to
// send costs, for each idle strategy: the process's CPU time over b.N
// windows of idleWindow with the sink connected and quiet, minus the same
// number of windows measured before the sink existed (the runtime's and the
// reader's own background), in percent of one core.
func BenchmarkIdleCPU(b *testing.B) {
	for _, idle := range []lazy.Idle{lazy.IdlePark, lazy.IdleBackoff, lazy.IdleSpin} {
		b.Run("idle="+idle.String(), func(b *testing.B) { benchIdleCPU(b, idle) })
	}
}

func benchIdleCPU(b *testing.B, idle lazy.Idle) {
	srv := listen(b, "unix")
	r := newReceiver(b, srv, 64, 1, nil, false)
	var base time.Duration
	for range b.N {
		base += cpuOver(b, idleWindow)
	}
	p, err := openSink(setup{ep: srv.ep, producers: 1, idle: idle})
	if err != nil {
		b.Fatal(err)
	}
	b.Cleanup(func() {
		if err := p.close(); err != nil {
			b.Error(err)
		}
	})
	// One message through, so the writer has been busy and gone idle, as
	// after a burst of traffic.
	if err := p.send(retained(64, 1, 1)); err != nil {
		b.Fatal(err)
	}
	if err := r.wait(); err != nil {
		b.Fatal(err)
	}
	b.ReportAllocs()
	b.ResetTimer()
	var used time.Duration
	for range b.N {
		used += cpuOver(b, idleWindow)
	}
	b.StopTimer()
	b.ReportMetric(100*float64(used-base)/float64(time.Duration(b.N)*idleWindow), "cpu-%")
}

// cpuOver sleeps for d and returns the CPU time (user and system, every
// thread) the process used meanwhile.
func cpuOver(b *testing.B, d time.Duration) time.Duration {
	before := cpuTime(b)
	time.Sleep(d)
	return cpuTime(b) - before
}

func cpuTime(b *testing.B) time.Duration {
	var ru syscall.Rusage
	if err := syscall.Getrusage(syscall.RUSAGE_SELF, &ru); err != nil {
		b.Fatal(err)
	}
	return time.Duration(ru.Utime.Nano() + ru.Stime.Nano())
}
