package sinktest

import (
	"context"
	"errors"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/msgsink/msgsink/sink"
	"github.com/msgsink/msgsink/tlv"
)

// Market-data producers are numbered from 1; the probes that check
// ownership of a refused message use sources from probeSource on, so that a
// probe that reached a peer stands out.
const probeSource = 100

func checkOrder(t *testing.T, h Harness) {
	e := start(t, h, Options{})
	const producers, each = 4, 1000
	var wg sync.WaitGroup
	for i := range producers {
		wg.Go(func() {
			p := newProducer(tlv.DomainMarketData, uint8(1+i), 40, 200)
			for range each {
				if !e.sendRetry(p.next(), nil) {
					return
				}
			}
		})
	}
	wg.Wait()
	if t.Failed() {
		t.FailNow()
	}
	e.flush()
	e.assertEverywhere()
	e.checkCounters()
}

func checkOwnership(t *testing.T, h Harness) {
	e := start(t, h, Options{})
	const n = 64
	p := newProducer(tlv.DomainMarketData, 1)
	sent := make(map[*tlv.Message]bool, n)
	for range n {
		m := p.next()
		sent[m] = true
		if !e.sendRetry(m, nil) {
			t.FailNow()
		}
	}
	e.flush()
	// Written means released: the builder gets every message back, and
	// builds the next ones in them.
	reused := 0
	for range n {
		m := p.next()
		if sent[m] {
			reused++
		}
		m.Release()
	}
	if reused != n {
		t.Errorf("after Flush, %d of %d messages had not come back to their builder: the sink kept references", n-reused, n)
	}
	e.assertEverywhere()
	e.checkCounters()
}

func checkBufferFull(t *testing.T, h Harness) {
	const size = 16
	e := start(t, h, Options{BufferSize: size})
	if e.Capacity <= 0 {
		t.Fatal("sinktest: Setup.Capacity must say how many messages the sink holds with its peers stopped")
	}
	e.stopPeers()
	p := newProducer(tlv.DomainMarketData, 1)
	took := 0
	for {
		m := p.next()
		err := e.send(m)
		if err == nil {
			if took++; took > e.Capacity {
				t.Fatalf("took %d messages with every peer stopped and rings of %d (Capacity %d), never ErrBufferFull",
					took, size, e.Capacity)
			}
			continue
		}
		if !errors.Is(err, sink.ErrBufferFull) {
			t.Fatalf("Send to a full sink: %v, want ErrBufferFull", err)
		}
		m.Release()
		break
	}

	probe := newProducer(tlv.DomainMarketData, probeSource)
	m := probe.next()
	if err := e.send(m); !errors.Is(err, sink.ErrBufferFull) {
		t.Fatalf("Send to a full sink: %v, want ErrBufferFull", err)
	}
	e.assertOwned(probe, m, "Send to a full sink")
	a, b := newProducer(tlv.DomainMarketData, probeSource+1), newProducer(tlv.DomainMarketData, probeSource+2)
	batch := []*tlv.Message{a.next(), b.next()}
	if n, err := e.sendBatch(batch); n != 0 || !errors.Is(err, sink.ErrBufferFull) {
		t.Fatalf("SendBatch to a full sink: %d, %v; want 0, ErrBufferFull", n, err)
	}
	e.assertOwned(a, batch[0], "SendBatch to a full sink")
	e.assertOwned(b, batch[1], "SendBatch to a full sink")
	e.checkCounters()

	// What was taken waited for the peers; what was refused never went.
	e.startPeers()
	e.flush()
	e.assertTaken()
	e.checkCounters()
}

// checkSendWait: on a sink that is full with every peer stopped (filled by
// SendWait itself), SendWait waits instead of refusing, and a ctx that has
// ended returns ctx.Err() with the message still the caller's; the waiting message is taken once
// the peers are back and arrives with the rest; with room, SendWait takes
// what Send would; after Close it refuses with ErrClosed.
func checkSendWait(t *testing.T, h Harness) {
	const size = 16
	e := start(t, h, Options{BufferSize: size})
	// Stopped before the first message, as in buffer_full: no connection
	// is up, so nothing drains the rings and nothing is lost in flight.
	e.stopPeers()
	// Filled through SendWait itself with an ended ctx: it takes what it
	// has room for (a failover, say, queues on its preferred target where
	// Send, finding no target up, refuses) and then refuses with ctx.Err().
	ended, cancel := context.WithCancel(context.Background())
	cancel()
	p := newProducer(tlv.DomainMarketData, 1)
	for took := 0; ; took++ {
		if took > 1<<16 {
			t.Fatalf("SendWait with an ended ctx took %d messages with every peer stopped, never refused", took)
		}
		m := p.next()
		err := e.sendWait(ended, m)
		if err == nil {
			continue
		}
		if !errors.Is(err, context.Canceled) {
			t.Fatalf("SendWait to a full sink with an ended ctx: %v, want context.Canceled", err)
		}
		m.Release()
		break
	}

	probe := newProducer(tlv.DomainMarketData, probeSource)
	m := probe.next()
	if err := e.sendWait(ended, m); !errors.Is(err, context.Canceled) {
		t.Fatalf("SendWait to a full sink with an ended ctx: %v, want context.Canceled", err)
	}
	e.assertOwned(probe, m, "SendWait to a full sink with an ended ctx")
	e.checkCounters()

	w := newProducer(tlv.DomainMarketData, probeSource+1)
	ctx, cancel := context.WithTimeout(context.Background(), patience)
	defer cancel()
	done := make(chan error, 1)
	go func() { done <- e.sendWait(ctx, w.next()) }()
	select {
	case err := <-done:
		t.Fatalf("SendWait to a full sink with every peer stopped returned %v; want it to wait", err)
	case <-time.After(20 * time.Millisecond):
	}
	e.startPeers()
	if err := <-done; err != nil {
		t.Fatalf("SendWait once the peers were back: %v", err)
	}
	for range 5 {
		if err := e.sendWait(ctx, p.next()); err != nil {
			t.Fatalf("SendWait with room: %v", err)
		}
	}
	e.flush()
	e.assertTaken()
	e.checkCounters()

	if err := e.Sink.Close(); err != nil {
		t.Fatalf("Close: %v", err)
	}
	c := newProducer(tlv.DomainMarketData, probeSource+2)
	m = c.next()
	if err := e.sendWait(context.Background(), m); !errors.Is(err, sink.ErrClosed) {
		t.Fatalf("SendWait after Close: %v, want ErrClosed", err)
	}
	e.assertOwned(c, m, "SendWait after Close")
}

func checkClosed(t *testing.T, h Harness) {
	e := start(t, h, Options{})
	e.sendAll(newProducer(tlv.DomainMarketData, 1), 10)
	e.flush()
	e.assertEverywhere()
	if err := e.Sink.Close(); err != nil {
		t.Fatalf("Close: %v", err)
	}
	if err := e.Sink.Close(); err != nil {
		t.Fatalf("second Close: %v", err)
	}

	probe := newProducer(tlv.DomainMarketData, probeSource)
	m := probe.next()
	if err := e.send(m); !errors.Is(err, sink.ErrClosed) {
		t.Fatalf("Send after Close: %v, want ErrClosed", err)
	}
	e.assertOwned(probe, m, "Send after Close")
	a, b := newProducer(tlv.DomainMarketData, probeSource+1), newProducer(tlv.DomainMarketData, probeSource+2)
	batch := []*tlv.Message{a.next(), b.next()}
	if n, err := e.sendBatch(batch); n != 0 || !errors.Is(err, sink.ErrClosed) {
		t.Fatalf("SendBatch after Close: %d, %v; want 0, ErrClosed", n, err)
	}
	e.assertOwned(a, batch[0], "SendBatch after Close")
	e.assertOwned(b, batch[1], "SendBatch after Close")
	ctx, cancel := context.WithTimeout(context.Background(), patience)
	defer cancel()
	if err := e.Sink.Connect(ctx); !errors.Is(err, sink.ErrClosed) {
		t.Fatalf("Connect after Close: %v, want ErrClosed", err)
	}
	if i := e.Sink.Info(); i.State != sink.StateClosed || i.Pending != 0 {
		t.Fatalf("after Close: state %v, %d pending", i.State, i.Pending)
	}
	e.checkCounters()
}

func checkFlush(t *testing.T, h Harness) {
	e := start(t, h, Options{})
	p := newProducer(tlv.DomainMarketData, 1, 40, 300)
	e.sendAll(p, 500)
	e.flush()
	for _, l := range e.Leaves {
		if i := l.Info(); i.Dropped.Total() != 0 {
			t.Fatalf("%s dropped messages with its peer up: %+v", i.Name, i.Dropped)
		}
	}
	e.checkCounters()
	e.assertEverywhere()
	e.flush() // nothing enqueued since: returns too

	// Messages that wait for a peer: Flush waits for the reconnect.
	e.stopPeers()
	e.waitLeavesNoticed("every leaf to notice that its peer stopped")
	for range 50 {
		m := p.next()
		if err := e.send(m); err != nil {
			if !errors.Is(err, sink.ErrBufferFull) {
				t.Fatalf("Send with the peers stopped: %v", err)
			}
			m.Release() // a failover has no target to offer it to
		}
	}
	e.startPeers()
	e.flush()
	e.checkCounters()
	e.assertTaken()
}

func checkReconnect(t *testing.T, h Harness) {
	e := start(t, h, Options{})
	p := newProducer(tlv.DomainMarketData, 1, 40, 1000)
	e.sendAll(p, 100)
	e.flush()
	e.assertEverywhere()
	connected := make([]bool, len(e.Leaves))
	reconnects := make([]uint64, len(e.Leaves))
	for i, l := range e.Leaves {
		info := l.Info()
		connected[i], reconnects[i] = info.State == sink.StateConnected, info.Reconnects
	}

	e.stopPeers()
	// Once every leaf has noticed, nothing can go into a dead connection:
	// what is taken from now on must all arrive.
	e.waitLeavesNoticed("every leaf to notice that its peer stopped")
	for range 100 {
		m := p.next()
		if err := e.send(m); err != nil {
			if !errors.Is(err, sink.ErrBufferFull) {
				t.Fatalf("Send with the peers stopped: %v", err)
			}
			m.Release()
		}
	}
	e.checkCounters()
	e.startPeers()
	e.sendAll(p, 100)
	e.flush()
	e.assertTaken()
	for i, l := range e.Leaves {
		if info := l.Info(); connected[i] && info.Reconnects <= reconnects[i] {
			t.Errorf("%s lost its connection and counts %d reconnects, as before", info.Name, info.Reconnects)
		}
	}
	e.checkCounters()
}

func checkNoTornFrames(t *testing.T, h Harness) {
	e := start(t, h, Options{})
	var stop atomic.Bool
	done := make(chan struct{})
	go func() {
		defer close(done)
		// Sizes on both sides of the transports' coalescing threshold, and
		// frames of a few KiB that a broken connection can cut.
		p := newProducer(tlv.DomainMarketData, 1, 40, 700, 3000, 200)
		for !stop.Load() {
			if !e.sendRetry(p.next(), &stop) {
				return
			}
		}
	}()
	defer func() {
		stop.Store(true)
		<-done
	}()

	counts := func() []int {
		var n []int
		for _, g := range e.received() {
			n = append(n, len(g))
		}
		return n
	}
	flowing := func(what string) {
		t.Helper()
		before := counts()
		e.waitFor(what, func() bool {
			for g, n := range counts() {
				if n < before[g]+100 {
					return false
				}
			}
			return true
		})
	}
	// Hang up on a sink whose writes are stuck part way: the peers stop
	// reading until every ring is full, so that each writer is inside a
	// write the kernel took only part of, likely ending inside a frame.
	refusedFull := func() uint64 {
		e.mu.Lock()
		defer e.mu.Unlock()
		return e.refused[sink.ErrBufferFull]
	}
	flowing("frames at every group")
	for range 2 {
		for _, p := range e.peers {
			p.Stall()
		}
		full := refusedFull()
		e.waitFor("the sink to fill up behind its stalled peers", func() bool { return refusedFull() > full })
		e.stopPeers()
		e.startPeers()
		flowing("frames at every group after the peers restarted")
	}
	stop.Store(true)
	<-done
	if t.Failed() {
		t.FailNow()
	}
	e.flush()
	// Frames written into a connection as it broke may be lost; what is
	// sent once every leaf is connected again is not.
	e.onlyAccepted(e.received())
	e.waitFor("every leaf to reconnect", func() bool {
		for _, l := range e.Leaves {
			if l.Info().State != sink.StateConnected {
				return false
			}
		}
		return true
	})
	e.waitDelivered(e.sendAll(newProducer(tlv.DomainMarketData, 2), 10))
	e.checkCounters()
}

func checkDomain(t *testing.T, h Harness) {
	e := start(t, h, Options{Domain: tlv.DomainMarketData})
	sig := newProducer(tlv.DomainSignal, probeSource)
	m := sig.next()
	if err := e.send(m); !errors.Is(err, sink.ErrDomain) {
		t.Fatalf("Send of a signal message to a market_data sink: %v, want ErrDomain", err)
	}
	e.assertOwned(sig, m, "Send outside the domain")
	sig2 := newProducer(tlv.DomainSignal, probeSource+1)
	batch := []*tlv.Message{sig2.next()}
	if n, err := e.sendBatch(batch); n != 0 || !errors.Is(err, sink.ErrDomain) {
		t.Fatalf("SendBatch of a signal message to a market_data sink: %d, %v; want 0, ErrDomain", n, err)
	}
	e.assertOwned(sig2, batch[0], "SendBatch outside the domain")

	// A message refused for what it is says nothing about the sink: the
	// next ones, in the domain, go through.
	e.sendAll(newProducer(tlv.DomainMarketData, 1), 20)
	e.flush()
	e.assertEverywhere()
	e.checkCounters()
}

func checkLifecycle(t *testing.T, h Harness) {
	e := start(t, h, Options{})
	ctx, cancel := context.WithTimeout(context.Background(), patience)
	defer cancel()
	if err := e.Sink.Connect(ctx); err != nil {
		t.Fatalf("Connect: %v", err)
	}
	if st := e.Sink.Info().State; st != sink.StateConnected {
		t.Fatalf("state %v after Connect", st)
	}
	e.waitFor("a connection at every group", func() bool {
		for _, g := range e.Groups {
			if !anyConnection(g.Peers) {
				return false
			}
		}
		return true
	})
	p := newProducer(tlv.DomainMarketData, 1)
	e.sendAll(p, 10)
	e.flush()
	e.assertEverywhere()

	conns := make(map[Peer]int)
	for _, peer := range e.peers {
		conns[peer] = len(peer.Received())
	}
	if err := e.Sink.Disconnect(ctx); err != nil {
		t.Fatalf("Disconnect: %v", err)
	}
	e.waitLeavesNoticed("every leaf to drop its connection after Disconnect")
	again := e.sendAll(p, 10)
	e.flush()
	got := e.waitDelivered(again)
	for g, frames := range got {
		for _, id := range again {
			at := frames[id]
			if peer := e.Groups[g].Peers[at.peer]; at.index < conns[peer] {
				t.Fatalf("group %d: frame %v, sent after Disconnect, arrived on connection %d, which was open before",
					g, id, at.index)
			}
		}
	}
	e.assertEverywhere()
	e.checkCounters()
}

func anyConnection(peers []Peer) bool {
	for _, p := range peers {
		if len(p.Received()) > 0 {
			return true
		}
	}
	return false
}

// checkBusyLifecycle sends from several producers while another goroutine
// calls Flush and Disconnect over and over: every message Send took arrives
// at every group, in order per producer, Disconnect loses nothing and the
// next Send wakes the sink, and the counters balance after each round.
func checkBusyLifecycle(t *testing.T, h Harness) {
	e := start(t, h, Options{})
	const producers, each, rounds = 3, 600, 8
	var stop atomic.Bool
	var wg sync.WaitGroup
	// The counters balance at quiet points only (SPEC section 3): a
	// snapshot taken while messages move can see one counter before and
	// another after a batch. Each round's check holds the producers at
	// this gate and flushes what they sent before looking.
	var gate sync.RWMutex
	for i := range producers {
		wg.Go(func() {
			p := newProducer(tlv.DomainMarketData, uint8(1+i), 40, 700)
			for range each {
				gate.RLock()
				ok := e.sendRetry(p.next(), &stop)
				gate.RUnlock()
				if !ok {
					return
				}
			}
		})
	}
	ctx, cancel := context.WithTimeout(context.Background(), patience)
	defer cancel()
	for r := range rounds {
		var err error
		if r%2 == 0 {
			err = e.Sink.Flush(ctx)
		} else {
			err = e.Sink.Disconnect(ctx)
		}
		if err == nil {
			gate.Lock()
			err = e.Sink.Flush(ctx)
			for _, s := range e.sinks() {
				if i := s.Info(); err == nil && !i.Balanced() {
					t.Errorf("round %d: %s does not balance: %v", r, i.Name, i)
				}
			}
			gate.Unlock()
		}
		if err != nil {
			stop.Store(true)
			wg.Wait()
			t.Fatalf("round %d: %v%s", r, err, e.peerTrouble())
		}
	}
	wg.Wait()
	if t.Failed() {
		t.FailNow()
	}
	e.flush()
	e.assertEverywhere()
	e.checkCounters()
}

// checkBadCalls: on a sink that was never sent to, an empty SendBatch does
// nothing (no leaf wakes); Send, SendBatch and SendWait of a nil or an
// already released message return ErrMalformed, counted as refused, and
// never panic, there or later in a writer; the sink then delivers as usual.
func checkBadCalls(t *testing.T, h Harness) {
	e := start(t, h, Options{})
	idle := map[sink.Sink]bool{}
	for _, l := range e.Leaves {
		idle[l] = l.Info().State == sink.StateIdle
	}
	for _, ms := range [][]*tlv.Message{nil, {}} {
		if n, err := e.Sink.SendBatch(ms); n != 0 || err != nil {
			t.Fatalf("SendBatch(%#v): %d, %v; want 0, nil", ms, n, err)
		}
	}
	for _, l := range e.Leaves {
		if i := l.Info(); idle[l] && (i.State != sink.StateIdle || i.ConnectAttempts != 0) {
			t.Fatalf("%s: an empty SendBatch woke an idle sink: state %v, %d connect attempts", i.Name, i.State, i.ConnectAttempts)
		}
	}

	released := newProducer(tlv.DomainMarketData, probeSource).next()
	released.Release() // back on its builder's free list, bytes intact
	ctx, cancel := context.WithTimeout(context.Background(), patience)
	defer cancel()
	for _, c := range []struct {
		name string
		m    *tlv.Message
	}{{"nil", nil}, {"released", released}} {
		calls := []struct {
			name string
			call func() error
		}{
			{"Send", func() error { return e.Sink.Send(c.m) }},
			{"SendWait", func() error { return e.Sink.SendWait(ctx, c.m) }},
			{"SendBatch", func() error {
				n, err := e.Sink.SendBatch([]*tlv.Message{c.m})
				if n != 0 {
					t.Errorf("SendBatch of a %s message took %d", c.name, n)
				}
				return err
			}},
		}
		for _, call := range calls {
			err := func() (err error) {
				defer func() {
					if r := recover(); r != nil {
						t.Fatalf("%s of a %s message panicked: %v", call.name, c.name, r)
					}
				}()
				return call.call()
			}()
			if !errors.Is(err, sink.ErrMalformed) {
				t.Fatalf("%s of a %s message: %v, want ErrMalformed", call.name, c.name, err)
			}
			e.mu.Lock()
			e.refused[sink.ErrMalformed]++
			e.mu.Unlock()
		}
	}
	e.sendAll(newProducer(tlv.DomainMarketData, 1), 10)
	e.flush()
	e.assertEverywhere()
	e.checkCounters()
}
