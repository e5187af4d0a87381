// The pacer needs timerfd, which only Linux has.

//go:build linux

package bench

import (
	"encoding/binary"
	"fmt"
	"os"
	"testing"
	"time"

	"golang.org/x/sys/unix"

	"github.com/msgsink/msgsink/internal/hist"
	"github.com/msgsink/msgsink/lazy"
)

// BenchmarkLatency measures the delay from Send to the reader at a fixed
// offered rate, over a Unix socket with 64-byte messages, each built with a
// tlv.Builder as it is sent and recycled after the write: the sink with
// each idle strategy (and with SingleProducer, idle=backoff), and beside it
// one write per message, bufio with a Flush per message, and the channel
// design. One op is one message; p50-ns, p99-ns and p999-ns are quantiles
// of the run (within 12.5%), and msgs/s is the rate actually offered (below
// the target only if the producer fell behind).
func BenchmarkLatency(b *testing.B) {
	for _, rate := range []struct {
		name string
		perS int
	}{{"10k", 10_000}, {"100k", 100_000}} {
		for _, idle := range []lazy.Idle{lazy.IdleBackoff, lazy.IdleSpin, lazy.IdlePark} {
			b.Run(fmt.Sprintf("rate=%s/impl=sink/idle=%s", rate.name, idle), func(b *testing.B) {
				benchLatency(b, implSink, idle, rate.perS)
			})
		}
		b.Run(fmt.Sprintf("rate=%s/impl=sink-single/idle=%s", rate.name, lazy.IdleBackoff), func(b *testing.B) {
			benchLatency(b, implSinkSingle, lazy.IdleBackoff, rate.perS)
		})
		for _, im := range latencyBaselines {
			b.Run(fmt.Sprintf("rate=%s/impl=%s", rate.name, im.name), func(b *testing.B) {
				benchLatency(b, im, 0, rate.perS)
			})
		}
	}
}

// latencyBaselines are the designs Latency measures the sink against.
var latencyBaselines = []impl{implWritePerMsg, implBufioFlush, implChanAlloc}

func benchLatency(b *testing.B, im impl, idle lazy.Idle, rate int) {
	benchLatencyOver(b, listen(b, "unix"), im, idle, rate)
}

// benchLatencyOver is benchLatency with the receiver reading from srv: a
// Unix socket of its own, or a relay's consumer side (viaRelay).
func benchLatencyOver(b *testing.B, srv server, im impl, idle lazy.Idle, rate int) {
	const size = 64
	var h hist.Histogram
	r := newReceiver(b, srv, size, b.N, &h, false)
	p, err := im.open(setup{ep: srv.ep, producers: 1, idle: idle})
	if err != nil {
		b.Fatal(err)
	}
	b.Cleanup(func() {
		if err := p.close(); err != nil {
			b.Error(err)
		}
	})
	pc, err := newPacer(time.Second / time.Duration(rate))
	if err != nil {
		b.Fatal(err)
	}
	b.Cleanup(func() { pc.close() })
	fb := newFrameBuilder(size, 1)
	fb.warm(warmN)
	b.ReportAllocs()
	b.ResetTimer()
	start := time.Now()
	err = paced(p, r, pc, fb, b.N)
	elapsed := time.Since(start)
	b.StopTimer()
	if err != nil {
		b.Fatal(err)
	}
	s := h.Snapshot()
	for _, q := range []struct {
		q    float64
		unit string
	}{{0.5, "p50-ns"}, {0.99, "p99-ns"}, {0.999, "p999-ns"}} {
		d, _ := s.Quantile(q.q)
		b.ReportMetric(float64(d), q.unit)
	}
	b.ReportMetric(float64(b.N)/elapsed.Seconds(), "msgs/s")
}

// paced sends n messages through p, built by fb and stamped as they are
// sent, one per tick of pc, then flushes p and waits until r has read all n.
// Behind schedule, it sends what is due at once (an open loop).
func paced(p pipe, r *receiver, pc *pacer, fb *frameBuilder, n int) error {
	for sent := 0; sent < n; {
		due, err := pc.wait()
		if err != nil {
			return err
		}
		for range min(due, n-sent) {
			if err := p.send(fb.build(stamp())); err != nil {
				return err
			}
			sent++
		}
	}
	if err := p.flush(); err != nil {
		return err
	}
	return r.wait()
}

// pacer wakes its goroutine at a fixed period through a timerfd that Go's
// netpoller waits on. time.Sleep is too coarse for it (about 1 ms on the
// reference machine), and a producer spinning on the clock would take one
// of the two cores that the sink's writer and the reader need.
type pacer struct {
	f   *os.File
	buf [8]byte
}

func newPacer(period time.Duration) (*pacer, error) {
	fd, err := unix.TimerfdCreate(unix.CLOCK_MONOTONIC, unix.TFD_NONBLOCK|unix.TFD_CLOEXEC)
	if err != nil {
		return nil, err
	}
	ts := unix.NsecToTimespec(int64(period))
	if err := unix.TimerfdSettime(fd, 0, &unix.ItimerSpec{Interval: ts, Value: ts}, nil); err != nil {
		unix.Close(fd)
		return nil, err
	}
	// A non-blocking descriptor makes a pollable File: Read parks the
	// goroutine in the netpoller instead of blocking a thread.
	return &pacer{f: os.NewFile(uintptr(fd), "timerfd")}, nil
}

// wait blocks until the next tick and returns how many periods have passed
// since the last wait: more than one when the caller fell behind.
func (p *pacer) wait() (int, error) {
	if _, err := p.f.Read(p.buf[:]); err != nil {
		return 0, err
	}
	return int(binary.NativeEndian.Uint64(p.buf[:])), nil
}

func (p *pacer) close() error { return p.f.Close() }
