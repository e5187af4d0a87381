package lazy_test

import (
	"context"
	"errors"
	"net"
	"os"
	"path/filepath"
	"runtime"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	"github.com/msgsink/msgsink/internal/testnet"
	"github.com/msgsink/msgsink/lazy"
	"github.com/msgsink/msgsink/sink"
	"github.com/msgsink/msgsink/tlv"
)

// lazyGoroutines counts goroutines running code of package lazy.
func lazyGoroutines() int {
	buf := make([]byte, 1<<20)
	buf = buf[:runtime.Stack(buf, true)]
	n := 0
	for _, g := range strings.Split(string(buf), "\n\n") {
		if strings.Contains(g, "msgsink/lazy.(*Sink)") {
			n++
		}
	}
	return n
}

// openFDs returns the process's open descriptors and what they point at.
func openFDs(t *testing.T) map[string]string {
	t.Helper()
	ents, err := os.ReadDir("/proc/self/fd")
	if err != nil {
		t.Skip("no /proc/self/fd")
	}
	fds := make(map[string]string, len(ents))
	for _, e := range ents {
		target, _ := os.Readlink("/proc/self/fd/" + e.Name())
		fds[e.Name()] = target
	}
	return fds
}

// newFDs lists descriptors open now that were not open (or pointed
// elsewhere) before; descriptors closed meanwhile by other tests don't count.
func newFDs(t *testing.T, before map[string]string) []string {
	var added []string
	for fd, target := range openFDs(t) {
		if before[fd] != target && !strings.HasPrefix(target, "/proc/") {
			added = append(added, fd+" -> "+target)
		}
	}
	return added
}

func TestNeverSentHoldsNothing(t *testing.T) {
	_, ep := unixPeer(t)
	fds := openFDs(t)
	s := newSink(t, lazy.Config{Endpoint: ep})
	time.Sleep(10 * time.Millisecond)
	if n, added := lazyGoroutines(), newFDs(t, fds); n != 0 || len(added) != 0 {
		t.Fatalf("idle sink holds %d goroutines and descriptors %v", n, added)
	}
	i := s.Info()
	if i.State != sink.StateIdle || i.ConnectAttempts != 0 || i.BufferSize != lazy.DefaultBufferSize {
		t.Fatalf("info %+v", i)
	}
}

// Sixty-four goroutines send their first messages at once: one dial, one
// connection, every message delivered, in order per goroutine.
func TestFirstSendsStartOneDial(t *testing.T) {
	p, ep := unixPeer(t)
	s := newSink(t, lazy.Config{Endpoint: ep})
	const producers, each = 64, 50
	var start, wg sync.WaitGroup
	start.Add(1)
	for g := range producers {
		wg.Add(1)
		go func() {
			defer wg.Done()
			b := tlv.NewBuilder(tlv.DomainMarketData, uint8(g+1))
			start.Wait()
			for range each {
				b.Append(5, []byte{byte(g)})
				m, _ := b.FinishAt(1)
				for {
					err := s.Send(m)
					if err == nil {
						break
					}
					if !errors.Is(err, sink.ErrBufferFull) {
						t.Error(err)
						return
					}
					runtime.Gosched()
				}
			}
		}()
	}
	start.Done()
	wg.Wait()
	flush(t, s)
	waitFor(t, "all frames", func() bool { return p.total() == producers*each })
	i := assertBalanced(t, s)
	if p.accepts != 1 || i.ConnectAttempts != 1 || i.Written != producers*each {
		t.Fatalf("accepts %d attempts %d written %d", p.accepts, i.ConnectAttempts, i.Written)
	}
}

func TestOrderAndAccounting(t *testing.T) {
	for _, idle := range []lazy.Idle{lazy.IdleBackoff, lazy.IdleSpin, lazy.IdlePark} {
		t.Run("idle="+idle.String(), func(t *testing.T) {
			p, ep := unixPeer(t)
			s := newSink(t, lazy.Config{Endpoint: ep, Idle: idle, BufferSize: 256})
			b := newBuilder(64)
			const n = 20000
			for sent := 0; sent < n; {
				m := b.next()
				if err := s.Send(m); err != nil {
					if !errors.Is(err, sink.ErrBufferFull) {
						t.Fatal(err)
					}
					m.Release()
					b.b.SetSequence(b.b.Sequence() - 1) // reuse the number: no gap
					runtime.Gosched()
					continue
				}
				sent++
				if sent%5000 == 0 {
					time.Sleep(2 * time.Millisecond) // let the writer park now and then
				}
			}
			flush(t, s)
			waitFor(t, "all frames", func() bool { return p.total() == n })
			for i, seq := range p.seqs()[0] {
				if seq != uint64(i+1) {
					t.Fatalf("frame %d has sequence %d", i, seq)
				}
			}
			i := assertBalanced(t, s)
			if i.Written != n || i.WrittenBytes != n*64 || i.Pending != 0 || i.State != sink.StateConnected {
				t.Fatalf("info %+v", i)
			}
			if g := lazyGoroutines(); g != 1 {
				t.Fatalf("a connected sink runs %d writer goroutines, want 1", g)
			}
		})
	}
}

// Messages sent before the endpoint exists wait in the ring, are written
// after the connect, in order.
func TestQueuedWhileConnecting(t *testing.T) {
	path := filepath.Join(t.TempDir(), "late.sock")
	ep := mustEndpoint(t, "unix://"+path)
	s := newSink(t, lazy.Config{Endpoint: ep, Retry: lazy.Retry{Initial: time.Millisecond, Max: 5 * time.Millisecond}})
	b := newBuilder(100)
	for range 10 {
		if err := s.Send(b.next()); err != nil {
			t.Fatal(err)
		}
	}
	waitFor(t, "failed dials", func() bool { return s.Info().ConnectAttempts >= 2 })
	if st := s.Info().State; st != sink.StateBackoff && st != sink.StateConnecting {
		t.Fatalf("state %v while the endpoint is missing", st)
	}
	p := listen(t, "unix", path)
	flush(t, s)
	waitFor(t, "frames", func() bool { return p.total() == 10 })
	if got := p.seqs()[0]; got[0] != 1 || got[9] != 10 {
		t.Fatalf("sequences %v", got)
	}
	assertBalanced(t, s)
}

func TestFaultConnectionRefused(t *testing.T) {
	ep := mustEndpoint(t, "unix://"+filepath.Join(t.TempDir(), "nobody.sock"))
	s := newSink(t, lazy.Config{Endpoint: ep, Retry: lazy.Retry{Initial: time.Millisecond, MaxAttempts: 3}})
	b := newBuilder(64)
	for range 5 {
		if err := s.Send(b.next()); err != nil {
			t.Fatal(err)
		}
	}
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	err := s.Flush(ctx)
	if !errors.Is(err, sink.ErrConnectFailed) || !errors.Is(err, syscall.ENOENT) {
		t.Fatalf("flush: %v", err)
	}
	waitFor(t, "idle", func() bool { return s.Info().State == sink.StateIdle })
	i := assertBalanced(t, s)
	if i.Dropped.ConnectFailed != 5 || i.ConnectAttempts != 3 || !errors.Is(i.LastError, sink.ErrConnectFailed) {
		t.Fatalf("info %+v", i)
	}
	// The next Send wakes the sink again.
	if err := s.Send(b.next()); err != nil {
		t.Fatal(err)
	}
	waitFor(t, "second round", func() bool { return s.Info().ConnectAttempts == 6 && s.Info().Dropped.ConnectFailed == 6 })
}

// A writer that gives up before Flush is called: the drop still reaches
// Flush, once. Comparing counters around Flush's wait missed this case when a
// dial failed in microseconds (ExampleWithStateChange failed in CI).
func TestFlushReportsDropsBeforeTheCall(t *testing.T) {
	ep := mustEndpoint(t, "unix://"+filepath.Join(t.TempDir(), "nobody.sock"))
	s := newSink(t, lazy.Config{Endpoint: ep, Retry: lazy.Retry{MaxAttempts: 1}})
	b := newBuilder(64)
	if err := s.Send(b.next()); err != nil {
		t.Fatal(err)
	}
	waitFor(t, "the drop", func() bool { return s.Info().Dropped.ConnectFailed == 1 })
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	if err := s.Flush(ctx); !errors.Is(err, sink.ErrConnectFailed) || !errors.Is(err, syscall.ENOENT) {
		t.Fatalf("first Flush after the drop = %v, want ErrConnectFailed wrapping ENOENT", err)
	}
	if err := s.Flush(ctx); err != nil {
		t.Fatalf("second Flush = %v, want nil: the drop was reported", err)
	}
	assertBalanced(t, s)
}

// A peer that stops reading: the ring fills and Send says so at once;
// nothing is lost, and once the peer reads again everything arrives.
func TestFaultPeerStopsReading(t *testing.T) {
	path := filepath.Join(t.TempDir(), "slow.sock")
	ln, err := net.Listen("unix", path)
	if err != nil {
		t.Fatal(err)
	}
	defer ln.Close()
	accepted := make(chan net.Conn, 1)
	go func() {
		c, err := ln.Accept()
		if err == nil {
			accepted <- c
		}
	}()
	s := newSink(t, lazy.Config{Endpoint: mustEndpoint(t, "unix://"+path), BufferSize: 64})
	b := newBuilder(1024)
	sent, full := 0, 0
	for full == 0 {
		m := b.next()
		start := time.Now()
		err := s.Send(m)
		if d := time.Since(start); d > 100*time.Millisecond {
			t.Fatalf("Send blocked for %v", d)
		}
		switch {
		case err == nil:
			sent++
		case errors.Is(err, sink.ErrBufferFull):
			full++
			m.Release()
		default:
			t.Fatal(err)
		}
	}
	// The writer connects, fills the socket buffers (or writes all, when
	// the ring filled before it connected) and then blocks: a quiet point,
	// where nothing moves between two looks. A balanced look alone is not
	// one: before the writer connects, everything is pending.
	var last sink.Info
	waitFor(t, "the writer to block on the full socket", func() bool {
		i := s.Info()
		quiet := i.State == sink.StateConnected && i.Balanced() && i.Written == last.Written && i.Pending == last.Pending
		last = i
		if quiet {
			time.Sleep(20 * time.Millisecond)
			if j := s.Info(); j.Written != i.Written || j.Pending != i.Pending {
				return false
			}
		}
		return quiet
	})
	i := assertBalanced(t, s)
	if i.Refused.BufferFull != 1 || i.Enqueued != uint64(sent) {
		t.Fatalf("info %+v", i)
	}
	c := <-accepted
	defer c.Close()
	done := make(chan int64)
	go func() {
		var n int64
		buf := make([]byte, 1<<16)
		for n < int64(sent)*1024 {
			k, err := c.Read(buf)
			n += int64(k)
			if err != nil {
				break
			}
		}
		done <- n
	}()
	flush(t, s)
	if n := <-done; n != int64(sent)*1024 {
		t.Fatalf("peer read %d bytes, want %d", n, sent*1024)
	}
	assertBalanced(t, s)
}

func TestSendAfterCloseAndCloseTwice(t *testing.T) {
	p, ep := unixPeer(t)
	s := newSink(t, lazy.Config{Endpoint: ep})
	b := newBuilder(64)
	for range 100 {
		if err := s.Send(b.next()); err != nil {
			t.Fatal(err)
		}
	}
	if err := s.Close(); err != nil {
		t.Fatal(err)
	}
	if err := s.Close(); err != nil {
		t.Fatalf("second Close: %v", err)
	}
	m := b.next()
	if err := s.Send(m); !errors.Is(err, sink.ErrClosed) {
		t.Fatalf("Send after Close: %v", err)
	}
	m.Release() // still ours: no panic, no double release
	i := assertBalanced(t, s)
	if i.Written != 100 || i.Refused.Closed != 1 || i.State != sink.StateClosed {
		t.Fatalf("info %+v", i)
	}
	waitFor(t, "frames", func() bool { return p.total() == 100 })
}

// Close while the endpoint never answers: Close returns at its deadline and
// counts what it dropped.
func TestFaultCloseWhileConnecting(t *testing.T) {
	ep := mustEndpoint(t, "tcp://"+testnet.Blackhole(t))
	s := newSink(t, lazy.Config{Endpoint: ep, ConnectTimeout: 10 * time.Second, CloseTimeout: 100 * time.Millisecond})
	b := newBuilder(64)
	for range 7 {
		if err := s.Send(b.next()); err != nil {
			t.Fatal(err)
		}
	}
	waitFor(t, "dialing", func() bool { return s.Info().State == sink.StateConnecting })
	start := time.Now()
	err := s.Close()
	if d := time.Since(start); d > 2*time.Second {
		t.Fatalf("Close took %v with a 100ms close timeout", d)
	}
	if err == nil {
		t.Fatal("Close dropped messages without saying so")
	}
	i := assertBalanced(t, s)
	if i.Dropped.Closed != 7 || i.State != sink.StateClosed {
		t.Fatalf("info %+v", i)
	}
}

// A dial to an endpoint that never answers fails at ConnectTimeout.
func TestFaultConnectTimeout(t *testing.T) {
	ep := mustEndpoint(t, "tcp://"+testnet.Blackhole(t))
	s := newSink(t, lazy.Config{Endpoint: ep, ConnectTimeout: 50 * time.Millisecond,
		Retry: lazy.Retry{Initial: time.Millisecond, MaxAttempts: 2}})
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	start := time.Now()
	err := s.Connect(ctx)
	// The dial's deadline surfaces as context.DeadlineExceeded or as the net
	// package's i/o timeout, whichever fires first; both are net timeouts.
	var timeout interface{ Timeout() bool }
	if !errors.Is(err, sink.ErrConnectFailed) || !errors.As(err, &timeout) || !timeout.Timeout() {
		t.Fatalf("Connect: %v", err)
	}
	if d := time.Since(start); d < 100*time.Millisecond || d > 5*time.Second {
		t.Fatalf("two 50ms attempts took %v", d)
	}
	if i := s.Info(); i.ConnectAttempts != 2 || i.State != sink.StateIdle {
		t.Fatalf("info %+v", i)
	}
}

func TestConnectDisconnectWakeAgain(t *testing.T) {
	p, ep := unixPeer(t)
	s := newSink(t, lazy.Config{Endpoint: ep})
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	if err := s.Connect(ctx); err != nil {
		t.Fatal(err)
	}
	b := newBuilder(64)
	for range 3 {
		if err := s.Send(b.next()); err != nil {
			t.Fatal(err)
		}
	}
	if err := s.Disconnect(ctx); err != nil {
		t.Fatal(err)
	}
	if st := s.Info().State; st != sink.StateIdle {
		t.Fatalf("after Disconnect: %v", st)
	}
	if n := lazyGoroutines(); n != 0 {
		t.Fatalf("%d writer goroutines after Disconnect", n)
	}
	if err := s.Send(b.next()); err != nil {
		t.Fatal(err)
	}
	flush(t, s)
	waitFor(t, "frames", func() bool { return p.total() == 4 })
	got := p.seqs()
	if p.accepts != 2 || len(got[0]) != 3 || got[1][0] != 4 {
		t.Fatalf("accepts %d, frames %v", p.accepts, got)
	}
	assertBalanced(t, s)
}

func TestRefusals(t *testing.T) {
	_, ep := unixPeer(t)
	s := newSink(t, lazy.Config{Endpoint: ep, Validator: tlv.Validator{Domain: tlv.DomainMarketData, Precision: tlv.PrecisionDEX}})
	sig := tlv.NewBuilder(tlv.DomainSignal, 20)
	sig.AppendSignalIdentity(&tlv.SignalIdentity{})
	m1, _ := sig.Finish()
	if err := s.Send(m1); !errors.Is(err, sink.ErrDomain) || errors.Is(err, sink.ErrPrecision) {
		t.Fatalf("signal into a market_data sink: %v", err)
	}
	md := tlv.NewBuilder(tlv.DomainMarketData, 1)
	md.AppendTrade(&tlv.Trade{Price: 1})
	m2, _ := md.Finish()
	if err := s.Send(m2); !errors.Is(err, sink.ErrPrecision) {
		t.Fatalf("trade into a dex sink: %v", err)
	}
	m1.Release()
	m2.Release()
	i := s.Info()
	if i.Refused.Domain != 1 || i.Refused.Precision != 1 || i.Enqueued != 0 || i.State != sink.StateIdle {
		t.Fatalf("info %+v", i)
	}
}

func TestConfigErrors(t *testing.T) {
	for _, cfg := range []lazy.Config{
		{BufferSize: -1}, {MaxBatch: 2000}, {Retry: lazy.Retry{Multiplier: 0.5}},
		{Retry: lazy.Retry{Initial: time.Second, Max: time.Millisecond}}, {Retry: lazy.Retry{MaxAttempts: -1}},
	} {
		if _, err := lazy.New(cfg); !errors.Is(err, sink.ErrInvalidConfig) {
			t.Errorf("%+v: %v", cfg, err)
		}
	}
	_, err := lazy.New(lazy.Config{Name: "md", MaxBatch: 2000})
	var se *sink.Error
	if !errors.As(err, &se) || se.Sink != "md" || se.Op != "new" ||
		err.Error() != `sink "md": new: sink: invalid configuration: max_batch 2000 out of range 1..1024` {
		t.Fatalf("err = %v, want a *sink.Error naming the sink", err)
	}
}

// A parked writer waits on a channel, not in a loop: a connected sink with
// nothing to send leaves the process idle.
func TestParkedWriterUsesNoCPU(t *testing.T) {
	for _, idle := range []lazy.Idle{lazy.IdleBackoff, lazy.IdlePark} {
		t.Run("idle="+idle.String(), func(t *testing.T) {
			_, ep := unixPeer(t)
			s := newSink(t, lazy.Config{Endpoint: ep, Idle: idle})
			if err := s.Send(newBuilder(64).next()); err != nil {
				t.Fatal(err)
			}
			flush(t, s)
			time.Sleep(20 * time.Millisecond) // past the spin and yield rounds
			before := cpuTime(t)
			time.Sleep(300 * time.Millisecond)
			// A spinning writer would burn the whole 300 ms; allow 10% for the
			// test runtime, GC and the race detector.
			if used := cpuTime(t) - before; used > 30*time.Millisecond {
				t.Fatalf("the process used %v of CPU in 300ms with a parked writer", used)
			}
			if st := s.Info().State; st != sink.StateConnected {
				t.Fatalf("state %v", st)
			}
		})
	}
}

func cpuTime(t *testing.T) time.Duration {
	var ru syscall.Rusage
	if err := syscall.Getrusage(syscall.RUSAGE_SELF, &ru); err != nil {
		t.Fatal(err)
	}
	return time.Duration(ru.Utime.Nano() + ru.Stime.Nano())
}

// Info hands out a copy of the metadata: a caller that changes it changes
// neither the sink nor the map it configured the sink with.
func TestInfoMetadataIsACopy(t *testing.T) {
	md := map[string]string{"owner": "md-team"}
	s, err := lazy.New(lazy.Config{Name: "md", Endpoint: mustEndpoint(t, "unix:///tmp/msgsink-never-dialled.sock"), Metadata: md})
	if err != nil {
		t.Fatal(err)
	}
	defer s.Close()
	s.Info().Metadata["owner"] = "someone else"
	md["owner"] = "changed after New"
	if got := s.Info().Metadata["owner"]; got != "md-team" {
		t.Fatalf("Info().Metadata[owner] = %q, want md-team", got)
	}
}

// Resolved states the defaults once, for New and for config alike; a
// negative jitter (none) survives it.
func TestResolved(t *testing.T) {
	c := lazy.Config{Retry: lazy.Retry{Jitter: -1}}.Resolved()
	if c.BufferSize != lazy.DefaultBufferSize || c.MaxBatch != lazy.DefaultMaxBatch ||
		c.ConnectTimeout != lazy.DefaultConnectTimeout || c.CloseTimeout != lazy.DefaultCloseTimeout ||
		c.Retry.Initial != lazy.DefaultRetryInitial || c.Retry.Max != lazy.DefaultRetryMax ||
		c.Retry.Multiplier != lazy.DefaultMultiplier || c.Retry.Jitter != -1 {
		t.Fatalf("%+v", c)
	}
	if j := (lazy.Config{}).Resolved().Retry.Jitter; j != lazy.DefaultJitter {
		t.Fatalf("jitter %v, want the default", j)
	}
	for _, n := range lazy.IdleNames() {
		if i, ok := lazy.ParseIdle(n); !ok || i.String() != n {
			t.Errorf("idle %q: ParseIdle = %v, %v", n, i, ok)
		}
	}
	for _, n := range lazy.BacklogNames() {
		if b, ok := lazy.ParseBacklog(n); !ok || b.String() != n {
			t.Errorf("backlog %q: ParseBacklog = %v, %v", n, b, ok)
		}
	}
}
