package sink_test

import (
	"context"
	"errors"
	"fmt"
	"net"
	"path/filepath"
	"sync"
	"testing"
	"time"

	"github.com/msgsink/msgsink/lazy"
	"github.com/msgsink/msgsink/sink"
	"github.com/msgsink/msgsink/tlv"
	"github.com/msgsink/msgsink/transport"
	"go.uber.org/goleak"
)

func TestMain(m *testing.M) { goleak.VerifyTestMain(m) }

// peer is a real Unix-socket listener that parses every Protocol V2 frame it
// reads and keeps their sequence numbers in arrival order. With silent set it
// accepts and never reads, so the sender's socket buffer and ring fill.
type peer struct {
	t      testing.TB
	path   string
	silent bool
	ln     net.Listener
	mu     sync.Mutex
	seqs   []uint64
	bad    error
	conns  []net.Conn
	wg     sync.WaitGroup
}

func newPeer(t testing.TB, silent bool) *peer {
	t.Helper()
	p := &peer{t: t, path: filepath.Join(t.TempDir(), "p.sock"), silent: silent}
	p.start()
	t.Cleanup(p.stop)
	return p
}

func (p *peer) start() {
	p.t.Helper()
	ln, err := net.Listen("unix", p.path)
	if err != nil {
		p.t.Fatal(err)
	}
	p.mu.Lock()
	p.ln = ln
	p.mu.Unlock()
	p.wg.Add(1)
	go p.accept(ln)
}

func (p *peer) accept(ln net.Listener) {
	defer p.wg.Done()
	for {
		c, err := ln.Accept()
		if err != nil {
			return
		}
		p.mu.Lock()
		p.conns = append(p.conns, c)
		p.mu.Unlock()
		if p.silent {
			continue // closed by stop
		}
		p.wg.Add(1)
		go p.read(c)
	}
}

func (p *peer) read(c net.Conn) {
	defer p.wg.Done()
	var v tlv.Validator
	buf := make([]byte, 0, 1<<16)
	tmp := make([]byte, 1<<16)
	for {
		n, err := c.Read(tmp)
		buf = append(buf, tmp[:n]...)
		for len(buf) >= tlv.HeaderSize {
			size, ferr := v.FrameSize(buf)
			if ferr == nil && len(buf) < size {
				break
			}
			var f tlv.Frame
			if ferr == nil {
				f, ferr = v.Parse(buf[:size])
			}
			if ferr != nil {
				p.mu.Lock()
				p.bad = ferr
				p.mu.Unlock()
				return
			}
			p.mu.Lock()
			p.seqs = append(p.seqs, f.Header().Sequence())
			p.mu.Unlock()
			buf = buf[size:]
		}
		if err != nil {
			return
		}
	}
}

// stop stops listening and hangs up, as a peer process that exits would.
func (p *peer) stop() {
	p.mu.Lock()
	_ = p.ln.Close()
	for _, c := range p.conns {
		_ = c.Close()
	}
	p.conns = nil
	p.mu.Unlock()
	p.wg.Wait()
}

func (p *peer) received() []uint64 {
	p.mu.Lock()
	defer p.mu.Unlock()
	if p.bad != nil {
		p.t.Errorf("peer %s: %v", p.path, p.bad)
	}
	return append([]uint64(nil), p.seqs...)
}

func (p *peer) endpoint() transport.Endpoint { return endpoint(p.t, p.path) }

func endpoint(t testing.TB, path string) transport.Endpoint {
	t.Helper()
	e, err := transport.ParseEndpoint("unix://" + path)
	if err != nil {
		t.Fatal(err)
	}
	return e
}

// target returns a lazy sink to ep that retries quickly and gives up
// flushing at Close soon, so that tests with dead peers end fast.
func target(t testing.TB, name string, ep transport.Endpoint, bufferSize int) *lazy.Sink {
	t.Helper()
	s, err := lazy.New(lazy.Config{Name: name, Endpoint: ep, BufferSize: bufferSize,
		CloseTimeout: 200 * time.Millisecond,
		Retry:        lazy.Retry{Initial: 2 * time.Millisecond, Max: 10 * time.Millisecond}})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = s.Close() })
	return s
}

// deadTarget is a lazy sink whose endpoint has no listener, with a tiny ring.
func deadTarget(t testing.TB, name string) *lazy.Sink {
	return target(t, name, endpoint(t, filepath.Join(t.TempDir(), "nobody.sock")), 4)
}

func waitFor(t testing.TB, what string, cond func() bool) {
	t.Helper()
	for deadline := time.Now().Add(10 * time.Second); !cond(); time.Sleep(time.Millisecond) {
		if time.Now().After(deadline) {
			t.Fatalf("timed out waiting for %s", what)
		}
	}
}

func flushAll(t testing.TB, ss ...sink.Sink) {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	for _, s := range ss {
		if err := s.Flush(ctx); err != nil {
			t.Fatalf("flush %s: %v", s.Info().Name, err)
		}
	}
}

func message(t testing.TB, b *tlv.Builder) *tlv.Message {
	t.Helper()
	b.Append(5, make([]byte, 40))
	m, err := b.Finish()
	if err != nil {
		t.Fatal(err)
	}
	return m
}

func seq(from, to uint64) []uint64 {
	var s []uint64
	for i := from; i <= to; i++ {
		s = append(s, i)
	}
	return s
}

func equal(a, b []uint64) bool {
	if len(a) != len(b) {
		return false
	}
	for i := range a {
		if a[i] != b[i] {
			return false
		}
	}
	return true
}

func assertBalanced(t testing.TB, ss ...sink.Sink) {
	t.Helper()
	for _, s := range ss {
		if i := s.Info(); !i.Balanced() || i.Pending != 0 {
			t.Errorf("%s: accounting %+v", i.Name, i)
		}
	}
}

func TestNewCompositeErrors(t *testing.T) {
	s := deadTarget(t, "a")
	for _, tc := range []struct {
		name string
		new  func() error
	}{
		{"fanout/none", func() error { _, err := sink.NewFanout("f"); return err }},
		{"fanout/nil", func() error { _, err := sink.NewFanout("f", s, nil); return err }},
		{"round_robin/none", func() error { _, err := sink.NewRoundRobin("r"); return err }},
		{"failover/one", func() error { _, err := sink.NewFailover("o", s); return err }},
		{"failover/nil", func() error { _, err := sink.NewFailover("o", nil, s); return err }},
	} {
		t.Run(tc.name, func(t *testing.T) {
			err := tc.new()
			if !errors.Is(err, sink.ErrInvalidConfig) {
				t.Fatalf("got %v, want ErrInvalidConfig", err)
			}
			t.Log(err)
		})
	}
}

func TestFanoutDeliversEverywhereInOrder(t *testing.T) {
	const n = 3000
	var peers []*peer
	var targets []sink.Sink
	for _, name := range []string{"a", "b", "c"} {
		p := newPeer(t, false)
		peers = append(peers, p)
		targets = append(targets, target(t, name, p.endpoint(), 0))
	}
	f, err := sink.NewFanout("md", targets...)
	if err != nil {
		t.Fatal(err)
	}
	b := tlv.NewBuilder(tlv.DomainMarketData, 1)
	for range n {
		m := message(t, b)
		if err := f.Send(m); err != nil {
			t.Fatal(err) // 3000 messages fit in the default rings
		}
	}
	flushAll(t, f)
	for i, p := range peers {
		waitFor(t, "all frames", func() bool { return len(p.received()) == n })
		if got := p.received(); !equal(got, seq(1, n)) {
			t.Fatalf("target %d: frames out of order", i)
		}
	}
	info := f.Info()
	if info.Kind != sink.KindFanout || info.Enqueued != n || info.Refused.Total() != 0 || !info.Balanced() {
		t.Fatalf("fanout info %+v", info)
	}
	for _, st := range f.TargetStats() {
		if st.Accepted != n || st.Refused != 0 {
			t.Fatalf("target stats %+v", st)
		}
	}
	assertBalanced(t, targets...)
}

func TestFanoutSlowTargetsDoNotHoldBackOthers(t *testing.T) {
	const n = 3000
	good := newPeer(t, false)
	silent := newPeer(t, true)
	a := target(t, "good", good.endpoint(), 0)
	down := deadTarget(t, "down")
	stuck := target(t, "stuck", silent.endpoint(), 4)
	f, err := sink.NewFanout("md", down, a, stuck)
	if err != nil {
		t.Fatal(err)
	}
	b := tlv.NewBuilder(tlv.DomainMarketData, 1)
	// 1 KiB messages, so the silent peer's socket buffer fills too.
	body := make([]byte, 1000)
	for range n {
		b.Append(5, body)
		m, err := b.Finish()
		if err != nil {
			t.Fatal(err)
		}
		if err := f.Send(m); err != nil {
			t.Fatalf("a working target was held back: %v", err)
		}
	}
	flushAll(t, a)
	waitFor(t, "all frames at the good peer", func() bool { return len(good.received()) == n })
	st := f.TargetStats()
	if st[1].Accepted != n || st[1].Refused != 0 {
		t.Fatalf("good target %+v", st[1])
	}
	if st[0].Refused < n-4 || st[0].Accepted+st[0].Refused != n {
		t.Fatalf("down target %+v", st[0])
	}
	if st[2].Refused == 0 || st[2].Accepted+st[2].Refused != n {
		t.Fatalf("stuck target %+v", st[2])
	}
	// The composite's per-target refusals are the targets' own.
	if got := down.Info().Refused.BufferFull; got != st[0].Refused {
		t.Fatalf("down target counts %d refusals, fanout %d", got, st[0].Refused)
	}
	md := f.Info().Metadata
	if md["target.down.refused"] == "" || md["targets"] != "down,good,stuck" {
		t.Fatalf("metadata %v", md)
	}
	if i := f.Info(); i.Enqueued != n || i.Refused.Total() != 0 {
		t.Fatalf("fanout info %+v", i)
	}
}

func TestFanoutAllRefuseLeavesTheMessageWithTheCaller(t *testing.T) {
	x, y := deadTarget(t, "x"), deadTarget(t, "y")
	f, err := sink.NewFanout("md", x, y)
	if err != nil {
		t.Fatal(err)
	}
	b := tlv.NewBuilder(tlv.DomainMarketData, 1)
	var refused *tlv.Message
	for i := 0; refused == nil; i++ {
		if i > 100 {
			t.Fatal("rings of 4 never filled")
		}
		m := message(t, b)
		switch err := f.Send(m); {
		case errors.Is(err, sink.ErrBufferFull):
			refused = m
		case err != nil:
			t.Fatal(err)
		}
	}
	// The caller still holds its reference: had Send released it too, this
	// Release would panic (TestFanoutRefusedMessageRecycled checks that no
	// reference leaked either).
	refused.Release()
	if i := f.Info(); i.Refused.BufferFull != 1 {
		t.Fatalf("fanout refusals %+v", i.Refused)
	}
	// Everything the targets hold is released when they close.
	for _, s := range []*lazy.Sink{x, y} {
		_ = s.Close()
		if i := s.Info(); !i.Balanced() || i.Pending != 0 || i.Dropped.Total() == 0 {
			t.Fatalf("%+v", i)
		}
	}
}

// A message refused by every target goes back to the caller with exactly the
// reference it had: released once, it returns to its builder.
func TestFanoutRefusedMessageRecycled(t *testing.T) {
	x, y, z := deadTarget(t, "x"), deadTarget(t, "y"), deadTarget(t, "z")
	for _, s := range []*lazy.Sink{x, y, z} {
		_ = s.Close() // closed targets refuse at once
	}
	f, err := sink.NewFanout("md", x, y, z)
	if err != nil {
		t.Fatal(err)
	}
	b := tlv.NewBuilder(tlv.DomainMarketData, 1)
	m := message(t, b)
	if err := f.Send(m); !errors.Is(err, sink.ErrClosed) {
		t.Fatalf("got %v, want the targets' common ErrClosed", err)
	}
	m.Release()
	m2 := message(t, b)
	defer m2.Release()
	if m2 != m {
		t.Fatal("the refused message did not go back to its builder: a reference leaked")
	}
	if i := f.Info(); i.Refused.Closed != 1 || i.Enqueued != 0 {
		t.Fatalf("%+v", i)
	}
}

// Every pattern of three targets taking or refusing a message leaves exactly
// one reference per taker and, when none took it, the caller's: releasing
// those returns the message to its builder, with no panic and no leak.
func TestFanoutReferencesEveryPattern(t *testing.T) {
	for takers := range 8 {
		t.Run(fmt.Sprintf("takers=%03b", takers), func(t *testing.T) {
			var ts []sink.Sink
			var hs []*holdSink
			for i := range 3 {
				h := &holdSink{take: takers&(1<<i) != 0}
				hs, ts = append(hs, h), append(ts, h)
			}
			f, _ := sink.NewFanout("f", ts...)
			b := tlv.NewBuilder(tlv.DomainMarketData, 1)
			m := message(t, b)
			err := f.Send(m)
			if takers == 0 {
				if !errors.Is(err, sink.ErrBufferFull) {
					t.Fatalf("no taker: %v", err)
				}
				m.Release() // the caller's
			} else if err != nil {
				t.Fatal(err)
			}
			for i, h := range hs {
				if len(h.held) != takers>>i&1 {
					t.Fatalf("target %d holds %d references", i, len(h.held))
				}
				for _, held := range h.held {
					held.Release()
				}
				if st := f.TargetStats()[i]; st.Refused != uint64(1-takers>>i&1) {
					t.Fatalf("target %d: %+v", i, st)
				}
			}
			again := message(t, b)
			defer again.Release()
			if again != m {
				t.Fatal("the message did not go back to its builder: a reference leaked")
			}
		})
	}
}

// holdSink takes messages and keeps their references, or refuses them.
type holdSink struct {
	nopSink
	take bool
	held []*tlv.Message
}

func (h *holdSink) Send(m *tlv.Message) error {
	if !h.take {
		return sink.ErrBufferFull
	}
	h.held = append(h.held, m)
	return nil
}

func TestRoundRobinTakesTurnsAndSkipsFull(t *testing.T) {
	const n = 300
	var peers []*peer
	var targets []sink.Sink
	for _, name := range []string{"a", "b", "c"} {
		p := newPeer(t, false)
		peers = append(peers, p)
		targets = append(targets, target(t, name, p.endpoint(), 0))
	}
	r, err := sink.NewRoundRobin("rr", targets...)
	if err != nil {
		t.Fatal(err)
	}
	b := tlv.NewBuilder(tlv.DomainMarketData, 1)
	for range n {
		if err := r.Send(message(t, b)); err != nil {
			t.Fatal(err)
		}
	}
	flushAll(t, r)
	for i, p := range peers {
		var want []uint64
		for s := uint64(i + 1); s <= n; s += 3 {
			want = append(want, s)
		}
		waitFor(t, "frames", func() bool { return len(p.received()) == len(want) })
		if !equal(p.received(), want) {
			t.Fatalf("target %d got %v", i, p.received())
		}
	}
	assertBalanced(t, append(targets, r)...)

	t.Run("skips_full", func(t *testing.T) {
		p := newPeer(t, false)
		good := target(t, "good", p.endpoint(), 0)
		down := deadTarget(t, "down")
		r, err := sink.NewRoundRobin("rr", down, good)
		if err != nil {
			t.Fatal(err)
		}
		b := tlv.NewBuilder(tlv.DomainMarketData, 1)
		for range n {
			if err := r.Send(message(t, b)); err != nil {
				t.Fatal(err)
			}
		}
		flushAll(t, good)
		st := r.TargetStats()
		if st[0].Accepted > 4 || st[0].Refused == 0 || st[0].Accepted+st[1].Accepted != n || st[1].Refused != 0 {
			t.Fatalf("stats %+v", st)
		}
		waitFor(t, "frames", func() bool { return len(p.received()) == int(st[1].Accepted) })
	})
}

func TestFailoverSwitchesAndComesBack(t *testing.T) {
	first, second := newPeer(t, false), newPeer(t, false)
	primary := target(t, "primary", first.endpoint(), 0)
	backup := target(t, "backup", second.endpoint(), 0)
	f, err := sink.NewFailover("fo", primary, backup)
	if err != nil {
		t.Fatal(err)
	}
	b := tlv.NewBuilder(tlv.DomainMarketData, 1)
	sendUntil := func(what string, cond func() bool) {
		t.Helper()
		waitFor(t, what, func() bool {
			if err := f.Send(message(t, b)); err != nil {
				t.Fatal(err)
			}
			return cond()
		})
	}
	sendUntil("the primary to take messages", func() bool { return len(first.received()) >= 10 })
	if f.Active() != 0 || f.Switches() != 0 || len(second.received()) != 0 {
		t.Fatalf("active %d switches %d", f.Active(), f.Switches())
	}

	first.stop()
	sendUntil("the switch to the backup", func() bool { return len(second.received()) >= 10 })
	if f.Active() != 1 || f.Switches() != 1 {
		t.Fatalf("active %d switches %d", f.Active(), f.Switches())
	}

	first.start()
	sendUntil("the return to the primary", func() bool { return f.Active() == 0 })
	before := len(first.received())
	sendUntil("the primary to take messages again", func() bool { return len(first.received()) > before+10 })
	if f.Switches() != 2 {
		t.Fatalf("switches %d", f.Switches())
	}
	if md := f.Info().Metadata; md["switches"] != "2" || md["active"] != "primary" {
		t.Fatalf("metadata %v", md)
	}
	flushAll(t, f)
	assertBalanced(t, primary, backup, f)
}

// A message refused for its domain is no sign of a failed target: the
// failover must not pass its targets over for it. It did, and since a passed
// over target that is idle is never sent to again, every later message was
// refused with ErrBufferFull (found by sinktest's domain check).
func TestFailoverDomainRefusalKeepsTargets(t *testing.T) {
	var peers []*peer
	var targets []sink.Sink
	for _, name := range []string{"primary", "backup"} {
		p := newPeer(t, false)
		s, err := lazy.New(lazy.Config{Name: name, Endpoint: p.endpoint(),
			Validator: tlv.Validator{Domain: tlv.DomainMarketData}})
		if err != nil {
			t.Fatal(err)
		}
		t.Cleanup(func() { _ = s.Close() })
		peers, targets = append(peers, p), append(targets, s)
	}
	f, err := sink.NewFailover("fo", targets...)
	if err != nil {
		t.Fatal(err)
	}
	sig := tlv.NewBuilder(tlv.DomainSignal, 20)
	sig.AppendSignalIdentity(&tlv.SignalIdentity{})
	m, _ := sig.Finish()
	if err := f.Send(m); !errors.Is(err, sink.ErrDomain) {
		t.Fatalf("signal message into market_data targets: %v, want ErrDomain", err)
	}
	m.Release()
	b := tlv.NewBuilder(tlv.DomainMarketData, 1)
	for range 10 {
		if err := f.Send(message(t, b)); err != nil {
			t.Fatalf("after a domain refusal: %v", err)
		}
	}
	flushAll(t, f)
	waitFor(t, "frames at the primary", func() bool { return len(peers[0].received()) == 10 })
	if f.Active() != 0 || f.Switches() != 0 || len(peers[1].received()) != 0 {
		t.Fatalf("active %d switches %d", f.Active(), f.Switches())
	}
	if i := f.Info(); i.Refused.Domain != 1 || i.Enqueued != 10 {
		t.Fatalf("%+v", i)
	}
}

func TestFailoverTargetWithoutState(t *testing.T) {
	// A composite target has a State; a plain Sink wrapper has not and is
	// always tried. Here the primary is a closed sink behind such a wrapper.
	dead := deadTarget(t, "dead")
	_ = dead.Close()
	p := newPeer(t, false)
	backup := target(t, "backup", p.endpoint(), 0)
	f, err := sink.NewFailover("fo", stateless{dead}, backup)
	if err != nil {
		t.Fatal(err)
	}
	b := tlv.NewBuilder(tlv.DomainMarketData, 1)
	for range 10 {
		if err := f.Send(message(t, b)); err != nil {
			t.Fatal(err)
		}
	}
	flushAll(t, backup)
	st := f.TargetStats()
	if st[0].Refused != 10 || st[1].Accepted != 10 || f.Switches() != 1 {
		t.Fatalf("stats %+v switches %d", st, f.Switches())
	}
}

// stateless hides a sink's State method.
type stateless struct{ sink.Sink }

func TestNestedFanoutOfRoundRobin(t *testing.T) {
	const n = 1000
	pa, pb, pc := newPeer(t, false), newPeer(t, false), newPeer(t, false)
	a, bb, c := target(t, "a", pa.endpoint(), 0), target(t, "b", pb.endpoint(), 0), target(t, "c", pc.endpoint(), 0)
	r, err := sink.NewRoundRobin("rr", a, bb)
	if err != nil {
		t.Fatal(err)
	}
	f, err := sink.NewFanout("md", r, c)
	if err != nil {
		t.Fatal(err)
	}
	bld := tlv.NewBuilder(tlv.DomainMarketData, 1)
	for range n {
		if err := f.Send(message(t, bld)); err != nil {
			t.Fatal(err)
		}
	}
	flushAll(t, f)
	waitFor(t, "frames", func() bool {
		return len(pa.received()) == n/2 && len(pb.received()) == n/2 && len(pc.received()) == n
	})
	if !equal(pc.received(), seq(1, n)) {
		t.Fatal("fanout target out of order")
	}
	for _, s := range []*lazy.Sink{a, bb, c} {
		if i := s.Info(); i.Written+i.Dropped.Total() != i.Enqueued || i.Pending != 0 {
			t.Fatalf("%+v", i)
		}
	}
	assertBalanced(t, f, r)
	if i := f.Info(); i.Enqueued != n || i.State != sink.StateConnected {
		t.Fatalf("%+v", i)
	}
}

func TestCompositeClose(t *testing.T) {
	p := newPeer(t, false)
	a := target(t, "a", p.endpoint(), 0)
	b := tlv.NewBuilder(tlv.DomainMarketData, 1)
	fan, _ := sink.NewFanout("f", a)
	rr, _ := sink.NewRoundRobin("r", a)
	fo, _ := sink.NewFailover("o", a, a)
	for _, s := range []sink.Sink{fan, rr, fo} {
		t.Run(string(s.Info().Kind), func(t *testing.T) {
			if err := s.Close(); err != nil {
				t.Fatal(err)
			}
			if err := s.Close(); err != nil {
				t.Fatal("second Close:", err)
			}
			m := message(t, b)
			if err := s.Send(m); !errors.Is(err, sink.ErrClosed) {
				t.Fatalf("Send after Close: %v", err)
			}
			if n, err := s.SendBatch([]*tlv.Message{m}); n != 0 || !errors.Is(err, sink.ErrClosed) {
				t.Fatalf("SendBatch after Close: %d %v", n, err)
			}
			m.Release() // still the caller's
			if err := s.Connect(context.Background()); !errors.Is(err, sink.ErrClosed) {
				t.Fatalf("Connect after Close: %v", err)
			}
			if i := s.Info(); i.State != sink.StateClosed || i.Refused.Closed != 2 {
				t.Fatalf("%+v", i)
			}
		})
	}
	// The target is not the composites' to close.
	if err := a.Send(message(t, b)); err != nil {
		t.Fatalf("target closed by a composite: %v", err)
	}
	flushAll(t, a)
}

func TestCompositeLifecycle(t *testing.T) {
	pa, pb := newPeer(t, false), newPeer(t, false)
	a, b := target(t, "a", pa.endpoint(), 0), target(t, "b", pb.endpoint(), 0)
	f, _ := sink.NewFanout("f", a, b)
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	if err := f.Connect(ctx); err != nil {
		t.Fatal(err)
	}
	if a.State() != sink.StateConnected || b.State() != sink.StateConnected {
		t.Fatal("not connected")
	}
	bld := tlv.NewBuilder(tlv.DomainMarketData, 1)
	ms := []*tlv.Message{message(t, bld), message(t, bld), message(t, bld)}
	if n, err := f.SendBatch(ms); n != 3 || err != nil {
		t.Fatal(n, err)
	}
	if err := f.Disconnect(ctx); err != nil {
		t.Fatal(err)
	}
	waitFor(t, "disconnected targets", func() bool { return a.State() == sink.StateIdle && b.State() == sink.StateIdle })
	waitFor(t, "frames", func() bool { return len(pa.received()) == 3 && len(pb.received()) == 3 })

	// Connect joins the errors of the targets that cannot connect.
	dead, err := lazy.New(lazy.Config{Name: "dead", Endpoint: endpoint(t, filepath.Join(t.TempDir(), "x.sock")),
		Retry: lazy.Retry{Initial: time.Millisecond, MaxAttempts: 2}})
	if err != nil {
		t.Fatal(err)
	}
	defer dead.Close()
	r, _ := sink.NewRoundRobin("r", a, dead)
	if err := r.Connect(ctx); !errors.Is(err, sink.ErrConnectFailed) {
		t.Fatalf("Connect: %v", err)
	}
	if i := r.Info(); i.LastError == nil {
		t.Fatal("no LastError from the dead target")
	}
}

// Concurrent producers through nested composites: run under -race.
func TestCompositeConcurrentSend(t *testing.T) {
	const producers, each = 4, 2000
	pa, pb, pc := newPeer(t, false), newPeer(t, false), newPeer(t, false)
	a, b, c := target(t, "a", pa.endpoint(), 0), target(t, "b", pb.endpoint(), 0), target(t, "c", pc.endpoint(), 0)
	fo, _ := sink.NewFailover("fo", a, b)
	f, _ := sink.NewFanout("f", fo, c)
	var wg sync.WaitGroup
	for i := range producers {
		wg.Add(1)
		go func() {
			defer wg.Done()
			bld := tlv.NewBuilder(tlv.DomainMarketData, uint8(i+1))
			for range each {
				m := message(t, bld)
				for f.Send(m) != nil {
					time.Sleep(10 * time.Microsecond)
				}
			}
		}()
	}
	wg.Wait()
	flushAll(t, f)
	const n = producers * each
	waitFor(t, "frames", func() bool { return len(pa.received())+len(pb.received()) == n && len(pc.received()) == n })
	assertBalanced(t, a, b, c, fo, f)
}

// A nested composite that refuses hands the reference back up: the outer
// fanout releases the one it took for it, and the message still reaches the
// other target. Closing everything then accounts for every message.
func TestNestedRefusalsReleaseReferences(t *testing.T) {
	const n = 500
	p := newPeer(t, false)
	good := target(t, "good", p.endpoint(), 0)
	x, y := deadTarget(t, "x"), deadTarget(t, "y")
	r, _ := sink.NewRoundRobin("rr", x, y)
	f, _ := sink.NewFanout("md", r, good)
	b := tlv.NewBuilder(tlv.DomainMarketData, 1)
	for range n {
		if err := f.Send(message(t, b)); err != nil {
			t.Fatal(err)
		}
	}
	flushAll(t, good)
	waitFor(t, "frames", func() bool { return len(p.received()) == n })
	if i := r.Info(); i.Enqueued != 8 || i.Refused.BufferFull != n-8 {
		t.Fatalf("round robin %+v", i)
	}
	if st := f.TargetStats(); st[0].Accepted != 8 || st[0].Refused != n-8 || st[1].Accepted != n {
		t.Fatalf("fanout %+v", st)
	}
	for _, s := range []*lazy.Sink{x, y, good} {
		_ = s.Close()
		if i := s.Info(); !i.Balanced() || i.Pending != 0 {
			t.Fatalf("%+v", i)
		}
	}
}
