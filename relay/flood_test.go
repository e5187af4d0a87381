package relay_test

import (
	"io"
	"net"
	"os"
	"os/exec"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/msgsink/msgsink/internal/hist"
	"github.com/msgsink/msgsink/relay"
	"github.com/msgsink/msgsink/relay/relaytest"
	"github.com/msgsink/msgsink/tlv"
)

// floodAddr, set in the environment to network:address, makes
// TestDeliversDuringGarbageFlood a flooding process (see floodProcess).
const floodAddr = "RELAY_TEST_FLOOD"

// flood connects to r from n goroutines, each writing a garbage header and
// hanging up, again and again, until the returned stop is called.
func flood(tb testing.TB, r *relay.Relay, n int) (stop func()) {
	tb.Helper()
	return floodAt(tb, r.Addr(), n)
}

func floodAt(tb testing.TB, a net.Addr, n int) (stop func()) {
	garbage := make([]byte, 64)
	for i := range garbage {
		garbage[i] = byte(0xA5 ^ i)
	}
	done := make(chan struct{})
	var wg sync.WaitGroup
	for range n {
		wg.Go(func() {
			for {
				select {
				case <-done:
					return
				default:
				}
				c, err := net.Dial(a.Network(), a.String())
				if err != nil {
					continue // the backlog is full: the flood is working
				}
				_, _ = c.Write(garbage)
				_ = c.Close()
			}
		})
	}
	var once sync.Once
	stop = func() {
		once.Do(func() {
			close(done)
			wg.Wait()
		})
	}
	tb.Cleanup(stop)
	return stop
}

// TestDeliversDuringGarbageFlood: while connections carrying garbage arrive
// without pause, a producer and a consumer connected beforehand, and a
// consumer that connects during the flood, get every frame, in order.
func TestDeliversDuringGarbageFlood(t *testing.T) {
	if a := os.Getenv(floodAddr); a != "" {
		network, addr, _ := strings.Cut(a, ":")
		a, err := net.ResolveUnixAddr(network, addr)
		if err != nil {
			t.Fatal(err)
		}
		stop := floodAt(t, a, 4)
		_, _ = io.Copy(io.Discard, os.Stdin)
		stop()
		return
	}
	r := relaytest.Serve(t, relay.Config{})
	early := rawConsumer(t, r, 1)
	p := dial(t, r)
	stop := flood(t, r, 4)
	waitFor(t, "the flood", func() bool { return r.Stats().Rejected.Malformed >= 200 })
	late := rawConsumer(t, r, 2)
	b := tlv.NewBuilder(tlv.DomainMarketData, 1)
	const frames = 300
	for i := range frames {
		f := testFrame(t, b, 100)
		if _, err := p.Write(f); err != nil {
			t.Fatal(err)
		}
		for _, c := range []net.Conn{early, late} {
			got, err := readFrame(c)
			if err != nil {
				t.Fatalf("frame %d during the flood: %v", i, err)
			}
			if string(got) != string(f) {
				t.Fatalf("frame %d came out changed", i)
			}
		}
	}
	during := r.Stats().Rejected.Malformed
	stop()
	s := quiet(t, r, frames)
	t.Logf("%d garbage connections rejected; %v", s.Rejected.Malformed, s)
	if during < 200 || s.FramesOut != 2*frames || s.Rejected.Total() != s.Rejected.Malformed || s.ConsumersTotal != 2 {
		t.Errorf("stats %v", s)
	}
}

// TestGarbageConnectionCost bounds what a connection costs the relay before
// its first frame shows what it is: 500 connections that each sent a few
// bytes, less than a header, and wait, hold a page each, not a 64 KiB read
// buffer (32 MiB).
func TestGarbageConnectionCost(t *testing.T) {
	const conns = 500
	r := relaytest.Serve(t, relay.Config{})
	before := heapInUse()
	for range conns {
		if _, err := dial(t, r).Write([]byte("GET / HT")); err != nil {
			t.Fatal(err)
		}
	}
	waitFor(t, "the bytes held", func() bool { return r.Stats().PartialBytes == conns*8 })
	grown := int64(heapInUse()) - int64(before)
	t.Logf("%d connections that sent 8 bytes: heap +%d KiB", conns, grown>>10)
	// A page of buffer, a goroutine's stack and the connection: 16 KiB.
	if limit := int64(conns * 16 << 10); grown > limit {
		t.Errorf("heap grew by %d KiB for %d connections, want at most %d KiB", grown>>10, conns, limit>>10)
	}
}

// floodProcess floods r from another process, a re-exec of the test binary,
// until the benchmark ends: in the benchmark's own process the flooding
// goroutines would compete with the legitimate ones in Go's scheduler, and
// the figures would measure that instead of the relay.
func floodProcess(b *testing.B, r *relay.Relay) {
	cmd := exec.Command(os.Args[0], "-test.run=^TestDeliversDuringGarbageFlood$", "-test.count=1")
	cmd.Env = append(os.Environ(), floodAddr+"="+r.Addr().Network()+":"+r.Addr().String())
	stdin, err := cmd.StdinPipe()
	if err != nil {
		b.Fatal(err)
	}
	if err := cmd.Start(); err != nil {
		b.Fatal(err)
	}
	b.Cleanup(func() {
		_ = stdin.Close()
		if err := cmd.Wait(); err != nil {
			b.Errorf("flooding process: %v", err)
		}
	})
}

// BenchmarkLatencyUnderFlood measures a legitimate frame's trip from a
// producer through the relay to a consumer, one frame at a time, with and
// without a flood of garbage connections from another process (4 goroutines
// connecting, writing a garbage header and hanging up without pause). It
// reports the quantiles of the trip (p50-ns, p99-ns) and the garbage
// connections the relay rejected per second meanwhile.
func BenchmarkLatencyUnderFlood(b *testing.B) {
	for _, flooding := range []bool{false, true} {
		b.Run("flood="+strconv.FormatBool(flooding), func(b *testing.B) {
			r := relaytest.Serve(b, relay.Config{})
			c := rawConsumer(b, r, 1)
			p := dial(b, r)
			f := frameOf(b, tlv.NewBuilder(tlv.DomainMarketData, 1), 64)
			got := make([]byte, len(f))
			if flooding {
				floodProcess(b, r)
				waitFor(b, "the flood", func() bool { return r.Stats().Rejected.Malformed >= 100 })
			}
			var h hist.Histogram
			rejected := r.Stats().Rejected.Malformed
			b.ReportAllocs()
			start := time.Now()
			for b.Loop() {
				t0 := time.Now()
				if _, err := p.Write(f); err != nil {
					b.Fatal(err)
				}
				if _, err := io.ReadFull(c, got); err != nil {
					b.Fatal(err)
				}
				h.Record(time.Since(t0))
			}
			elapsed := time.Since(start)
			s := h.Snapshot()
			p50, _ := s.Quantile(0.5)
			p99, _ := s.Quantile(0.99)
			b.ReportMetric(float64(p50.Nanoseconds()), "p50-ns")
			b.ReportMetric(float64(p99.Nanoseconds()), "p99-ns")
			b.ReportMetric(float64(r.Stats().Rejected.Malformed-rejected)/elapsed.Seconds(), "garbage-conns/s")
			b.ReportMetric(float64(b.N)/elapsed.Seconds(), "msgs/s")
		})
	}
}
