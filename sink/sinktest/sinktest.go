package sinktest

import (
	"context"
	"errors"
	"fmt"
	"maps"
	"runtime"
	"slices"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/msgsink/msgsink/sink"
	"github.com/msgsink/msgsink/tlv"
)

// Harness tells Run how to make the sink under test.
type Harness struct {
	// New builds a fresh sink with its peers listening, for one check. It
	// registers with t.Cleanup whatever must be closed after the check: the
	// peers first, then the sinks (a composite's targets), so that the sinks
	// close, and flush, while their peers still listen. Run closes
	// Setup.Sink itself, before all that. New may call t.Skip for Options
	// its kind cannot honour.
	//
	// The suite stops the peers and expects the sinks to hold what is sent
	// meanwhile and deliver it once the peers are back: leaf sinks must
	// retry forever (lazy.Retry.MaxAttempts 0), a few milliseconds apart,
	// and replay their backlog (lazy.BacklogReplay, the default).
	New func(t *testing.T, o Options) Setup
	// SingleProducer says that the sink takes Send and SendBatch from one
	// goroutine at a time (lazy.Config.SingleProducer): the checks that
	// send from several producers then take turns, one call at a time,
	// so that they still interleave the producers' messages without
	// overlapping two calls.
	SingleProducer bool
}

// Options are what a check asks of the sink it gets.
type Options struct {
	// BufferSize is the ring size, a power of two, of every leaf sink; 0
	// means the kind's default. A check asks for small rings to see
	// ErrBufferFull.
	BufferSize int
	// Domain, when set, is the only relay domain the sink may accept
	// (lazy.Config.Validator.Domain); the others are refused with
	// ErrDomain.
	Domain tlv.Domain
}

// Setup is a sink under test and what the suite may assume about it.
type Setup struct {
	Sink sink.Sink
	// Groups lists the peers by the sink in front of them. One sink is one
	// group of one peer; a round robin or failover over two sinks is one
	// group of two peers; a fanout makes a group of each target. So a
	// fanout to a failover pair (a, b) and a third sink c has two groups:
	// the failover with the peers of a and b, and c with its peer.
	Groups []Group
	// Leaves are the sinks with rings and connections behind Sink, the
	// targets at the bottom of a composite; nil means Sink itself. The
	// suite checks their accounting too, and watches their State to know
	// when they have noticed a stopped peer.
	Leaves []sink.Sink
	// Capacity is the most messages Sink can take while every peer is
	// stopped: Options.BufferSize for one sink or a fanout of them, the sum
	// of the rings for a round robin or failover. The suite expects
	// ErrBufferFull by then.
	Capacity int
}

// Group is a sink and the peers it sends to, directly or through targets of
// its own: every message Target takes reaches exactly one of Peers. Every
// message Setup.Sink takes is offered to every group's Target (the Sink
// itself, or a target of a fanout), which may refuse it: a fanout delivers
// to its targets that take a message, as long as one does.
type Group struct {
	Target sink.Sink // nil means Setup.Sink
	Peers  []Peer
}

// Run runs every check, each as a subtest on a fresh sink from h. A check
// sends numbered messages from one or more producers through real peers,
// and compares what the peers received and what Info counts with what Send
// returned:
//
//   - order: concurrent producers; every message each producer had
//     accepted reaches one peer of every group exactly once, in the order
//     sent on every connection; after Flush nothing is pending.
//   - ownership: every reference the sink took is released once the
//     message is written: the builder gets all its messages back.
//   - buffer_full: with the peers stopped and small rings, Send and
//     SendBatch return ErrBufferFull within Capacity; the refused messages
//     are still the caller's; once the peers are back everything accepted
//     is delivered, nothing refused is.
//   - closed: Close is idempotent; afterwards Send, SendBatch and Connect
//     return ErrClosed, the refused messages are still the caller's, and
//     the state is closed.
//   - flush: when Flush returns, nothing is pending, nothing was dropped,
//     and the counters balance.
//   - reconnect: the peers stop and start again at the same address; what
//     was taken during the outage and after it is delivered, the leaves
//     count their reconnects.
//   - no_torn_frames: the peers are stopped and restarted while a producer
//     sends frames of up to a few KiB without pause; every connection
//     carries whole, valid frames from its first byte, no frame arrives
//     twice, and the flow resumes.
//   - domain: a sink with a domain refuses a message of another domain
//     with ErrDomain, leaves it with the caller, and takes the next
//     in-domain ones.
//   - lifecycle: Connect connects to every group, Disconnect drops the
//     connections, and the next Send wakes the sink on new ones.
//   - busy_lifecycle: three producers send while Flush and Disconnect are
//     called in turn; nothing is lost or reordered, the sink wakes after
//     each Disconnect, and the counters balance after every round.
//   - send_wait: SendWait waits for room instead of refusing.
//   - bad_calls: an empty SendBatch does nothing (an idle sink stays idle);
//     Send, SendWait and SendBatch of a nil or released message return
//     ErrMalformed, counted as refused, without a panic then or later in a
//     writer, and the sink goes on delivering (SPEC section 3, "Bad calls").
//
// After every check the sink's Info matches what Send returned (Enqueued,
// Refused by reason) and balances (Enqueued = Written + Dropped +
// Pending), and so does every leaf's.
//
// For a Harness.SingleProducer sink, the producers of order and
// busy_lifecycle take turns: no two Send or SendBatch calls overlap, and
// every other check sends from one goroutine at a time already.
func Run(t *testing.T, h Harness) {
	t.Helper()
	for _, c := range checks {
		t.Run(c.name, func(t *testing.T) { c.run(t, h) })
	}
}

var checks = []struct {
	name string
	run  func(*testing.T, Harness)
}{
	{"order", checkOrder},
	{"ownership", checkOwnership},
	{"buffer_full", checkBufferFull},
	{"closed", checkClosed},
	{"flush", checkFlush},
	{"reconnect", checkReconnect},
	{"no_torn_frames", checkNoTornFrames},
	{"domain", checkDomain},
	{"lifecycle", checkLifecycle},
	{"busy_lifecycle", checkBusyLifecycle},
	{"send_wait", checkSendWait},
	{"bad_calls", checkBadCalls},
}

// patience bounds every wait for the sink or its peers. Checks assert what
// happens, never how fast: this is only how long to wait before calling a
// thing lost.
const patience = 10 * time.Second

// env is one check's sink, its peers, and the suite's own tally of what
// Send returned, to compare with what the sink counts and the peers got.
type env struct {
	t *testing.T
	Setup
	peers []Peer // every peer once

	mu       sync.Mutex
	accepted map[FrameID]bool
	refused  map[error]uint64 // by sentinel

	// serial, for a Harness.SingleProducer sink, makes the producers' Send
	// and SendBatch calls take turns.
	serial *sync.Mutex
}

// refusals are the reasons the suite provokes, with the Info field of each.
var refusals = []struct {
	err   error
	count func(sink.Refused) uint64
}{
	{sink.ErrBufferFull, func(r sink.Refused) uint64 { return r.BufferFull }},
	{sink.ErrClosed, func(r sink.Refused) uint64 { return r.Closed }},
	{sink.ErrDomain, func(r sink.Refused) uint64 { return r.Domain }},
	{sink.ErrMalformed, func(r sink.Refused) uint64 { return r.Malformed }},
}

func start(t *testing.T, h Harness, o Options) *env {
	t.Helper()
	s := h.New(t, o)
	if s.Sink == nil || len(s.Groups) == 0 {
		t.Fatalf("sinktest: the harness's Setup needs a Sink and Groups: %+v", s)
	}
	t.Cleanup(func() { _ = s.Sink.Close() })
	if s.Leaves == nil {
		s.Leaves = []sink.Sink{s.Sink}
	}
	e := &env{t: t, Setup: s, accepted: make(map[FrameID]bool), refused: make(map[error]uint64)}
	if h.SingleProducer {
		e.serial = new(sync.Mutex)
	}
	for i := range e.Groups {
		g := &e.Groups[i]
		if g.Target == nil {
			g.Target = s.Sink
		}
		if len(g.Peers) == 0 {
			t.Fatalf("sinktest: group %d has no peers", i)
		}
		for _, p := range g.Peers {
			if !slices.Contains(e.peers, p) {
				e.peers = append(e.peers, p)
			}
		}
	}
	return e
}

// idOf reads m's identity; it must be called before m is handed over.
func idOf(m *tlv.Message) FrameID {
	h := m.Header()
	return FrameID{h.Source(), h.Sequence()}
}

// note records what Send returned for the message id.
func (e *env) note(id FrameID, err error) {
	e.t.Helper()
	e.mu.Lock()
	defer e.mu.Unlock()
	if err == nil {
		if e.accepted[id] {
			e.t.Errorf("message %v accepted twice", id)
		}
		e.accepted[id] = true
		return
	}
	for _, r := range refusals {
		if errors.Is(err, r.err) {
			e.refused[r.err]++
			return
		}
	}
	e.t.Errorf("Send %v: unexpected error %v", id, err)
}

// send sends m and records the outcome; on error m is still the caller's.
func (e *env) send(m *tlv.Message) error {
	e.t.Helper()
	id := idOf(m)
	if e.serial != nil {
		e.serial.Lock()
	}
	err := e.Sink.Send(m)
	if e.serial != nil {
		e.serial.Unlock()
	}
	e.note(id, err)
	return err
}

// sendWait sends m with SendWait and records the outcome as send does; a
// wait that ctx ended counts as a refusal for a full buffer, as the sinks
// count it.
func (e *env) sendWait(ctx context.Context, m *tlv.Message) error {
	e.t.Helper()
	id := idOf(m)
	if e.serial != nil {
		e.serial.Lock()
	}
	err := e.Sink.SendWait(ctx, m)
	if e.serial != nil {
		e.serial.Unlock()
	}
	if errors.Is(err, context.Canceled) || errors.Is(err, context.DeadlineExceeded) {
		e.note(id, sink.ErrBufferFull)
	} else {
		e.note(id, err)
	}
	return err
}

// sendBatch sends ms with SendBatch and checks its contract: n messages
// taken, an error exactly when n < len(ms), counted once.
func (e *env) sendBatch(ms []*tlv.Message) (int, error) {
	e.t.Helper()
	ids := make([]FrameID, len(ms))
	for i, m := range ms {
		ids[i] = idOf(m)
	}
	if e.serial != nil {
		e.serial.Lock()
	}
	n, err := e.Sink.SendBatch(ms)
	if e.serial != nil {
		e.serial.Unlock()
	}
	if n < 0 || n > len(ms) || (err == nil) != (n == len(ms)) {
		e.t.Fatalf("SendBatch of %d: n = %d, err = %v", len(ms), n, err)
	}
	for _, id := range ids[:n] {
		e.note(id, nil)
	}
	if err != nil {
		e.note(ids[n], err)
	}
	return n, err
}

// sendRetry sends m until the sink takes it, retrying on ErrBufferFull (each
// refusal counted, as the sink counts it). It reports false, with m
// released, if stop is set first or the sink does not take it in time.
func (e *env) sendRetry(m *tlv.Message, stop *atomic.Bool) bool {
	e.t.Helper()
	id := idOf(m)
	deadline := time.Now().Add(patience)
	for i := 0; ; i++ {
		err := e.send(m)
		if err == nil {
			return true
		}
		if !errors.Is(err, sink.ErrBufferFull) || (stop != nil && stop.Load()) || time.Now().After(deadline) {
			m.Release()
			if stop == nil || !stop.Load() {
				e.t.Errorf("Send %v: %v (retried for %v)", id, err, patience)
			}
			return false
		}
		if i%64 == 63 {
			time.Sleep(time.Millisecond)
		} else {
			runtime.Gosched()
		}
	}
}

// sendAll sends n messages from p, each retried until taken, and returns
// their identities.
func (e *env) sendAll(p *producer, n int) []FrameID {
	e.t.Helper()
	ids := make([]FrameID, 0, n)
	for range n {
		m := p.next()
		id := idOf(m)
		if !e.sendRetry(m, nil) {
			e.t.FailNow()
		}
		ids = append(ids, id)
	}
	return ids
}

func (e *env) acceptedIDs() map[FrameID]bool {
	e.mu.Lock()
	defer e.mu.Unlock()
	return maps.Clone(e.accepted)
}

// flush calls Flush, which must succeed, and then finds nothing pending in
// the sink or any leaf.
func (e *env) flush() {
	e.t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), patience)
	defer cancel()
	if err := e.Sink.Flush(ctx); err != nil {
		e.t.Fatalf("Flush: %v%s", err, e.peerTrouble())
	}
	for _, s := range e.sinks() {
		if i := s.Info(); i.Pending != 0 {
			e.t.Fatalf("%s: %d messages pending after Flush returned: %v", i.Name, i.Pending, i)
		}
	}
}

func (e *env) sinks() []sink.Sink {
	return append([]sink.Sink{e.Sink}, e.Leaves...)
}

// checkCounters compares the sink's Info with what Send returned, and
// checks that the sink and every leaf balance. It is meant for quiet
// points: after Flush, Close, or with the peers stopped.
func (e *env) checkCounters() {
	e.t.Helper()
	e.mu.Lock()
	accepted := uint64(len(e.accepted))
	refused := maps.Clone(e.refused)
	e.mu.Unlock()
	i := e.Sink.Info()
	if i.Enqueued != accepted {
		e.t.Errorf("Info.Enqueued = %d, but Send accepted %d messages", i.Enqueued, accepted)
	}
	for _, r := range refusals {
		if got := r.count(i.Refused); got != refused[r.err] {
			e.t.Errorf("Info.Refused counts %d for %q, but Send returned it %d times", got, r.err, refused[r.err])
		}
	}
	if i.Refused.Precision != 0 {
		e.t.Errorf("Info.Refused counts precision refusals the suite never provoked: %+v", i.Refused)
	}
	for _, s := range e.sinks() {
		if i := s.Info(); !i.Balanced() {
			e.t.Errorf("%s: enqueued %d != written %d + dropped %d + pending %d",
				i.Name, i.Enqueued, i.Written, i.Dropped.Total(), i.Pending)
		}
	}
}

// waitFor polls cond until it holds, or fails the check after patience.
func (e *env) waitFor(what string, cond func() bool) {
	e.t.Helper()
	for deadline := time.Now().Add(patience); !cond(); time.Sleep(time.Millisecond) {
		if time.Now().After(deadline) {
			e.t.Fatalf("gave up waiting %v for %s%s", patience, what, e.peerTrouble())
		}
	}
}

// peerTrouble describes the first violation a peer saw, which may be why
// the sink stalled, or returns "".
func (e *env) peerTrouble() string {
	for _, p := range e.peers {
		if err := p.Err(); err != nil {
			return "; a peer saw: " + err.Error()
		}
	}
	return ""
}

// received checks what each group's peers got so far (whole, valid frames,
// each at most once per group, in order per producer on every connection)
// and returns, per group, the frames and the connection index of each.
func (e *env) received() []map[FrameID]conn {
	e.t.Helper()
	out := make([]map[FrameID]conn, len(e.Groups))
	for g, group := range e.Groups {
		out[g] = make(map[FrameID]conn)
		for pi, p := range group.Peers {
			if err := p.Err(); err != nil {
				e.t.Fatalf("group %d peer %d: %v", g, pi, err)
			}
			for ci, frames := range p.Received() {
				last := make(map[uint8]uint64)
				for _, f := range frames {
					if prev, ok := last[f.Source]; ok && f.Seq <= prev {
						e.t.Fatalf("group %d peer %d connection %d: producer %d's frame %d arrived after its frame %d",
							g, pi, ci, f.Source, f.Seq, prev)
					}
					last[f.Source] = f.Seq
					if c, dup := out[g][f]; dup {
						e.t.Fatalf("group %d: frame %v arrived twice (peer %d connection %d, then peer %d connection %d)",
							g, f, c.peer, c.index, pi, ci)
					}
					out[g][f] = conn{pi, ci}
				}
			}
		}
	}
	return out
}

// conn says where a frame arrived: which peer of its group, which of that
// peer's connections.
type conn struct{ peer, index int }

// waitDelivered waits until every group has received every frame in want,
// and then checks that no group received a frame the sink never accepted.
func (e *env) waitDelivered(want []FrameID) []map[FrameID]conn {
	e.t.Helper()
	var got []map[FrameID]conn
	e.waitFor(fmt.Sprintf("%d frames at every group of peers", len(want)), func() bool {
		got = e.received()
		for _, g := range got {
			for _, id := range want {
				if _, ok := g[id]; !ok {
					return false
				}
			}
		}
		return true
	})
	e.onlyAccepted(got)
	return got
}

func (e *env) onlyAccepted(got []map[FrameID]conn) {
	e.t.Helper()
	accepted := e.acceptedIDs()
	for g, frames := range got {
		for id := range frames {
			if !accepted[id] {
				e.t.Fatalf("group %d received frame %v, which the sink never accepted", g, id)
			}
		}
	}
}

// assertEverywhere checks that every group received exactly the messages
// the sink accepted: after a Flush, when no connection broke and no
// target refused anything.
func (e *env) assertEverywhere() {
	e.t.Helper()
	accepted := e.acceptedIDs()
	want := make([]FrameID, 0, len(accepted))
	for id := range accepted {
		want = append(want, id)
	}
	for g, frames := range e.waitDelivered(want) {
		if len(frames) != len(want) {
			e.t.Fatalf("group %d received %d frames, the sink accepted %d", g, len(frames), len(want))
		}
	}
}

// assertTaken checks that every group received exactly the messages its
// Target took, and every message the sink accepted reached a group: after
// a Flush, when no connection broke while it held messages, but targets
// may have refused some (peers stopped, rings full). A Target counts what
// it took in Info.Enqueued.
func (e *env) assertTaken() {
	e.t.Helper()
	accepted := e.acceptedIDs()
	want := make([]uint64, len(e.Groups))
	for g, group := range e.Groups {
		want[g] = group.Target.Info().Enqueued
		if want[g] > uint64(len(accepted)) {
			e.t.Fatalf("group %d: its target took %d messages, the sink only %d", g, want[g], len(accepted))
		}
	}
	var got []map[FrameID]conn
	e.waitFor("every group to receive what its target took", func() bool {
		got = e.received()
		for g := range got {
			if uint64(len(got[g])) < want[g] {
				return false
			}
		}
		for id := range accepted {
			if !slices.ContainsFunc(got, func(g map[FrameID]conn) bool { _, ok := g[id]; return ok }) {
				return false
			}
		}
		return true
	})
	e.onlyAccepted(got)
	for g := range got {
		if uint64(len(got[g])) != want[g] {
			e.t.Fatalf("group %d received %d frames, its target took %d", g, len(got[g]), want[g])
		}
	}
}

func (e *env) stopPeers() {
	for _, p := range e.peers {
		p.Stop()
	}
}

func (e *env) startPeers() {
	for _, p := range e.peers {
		p.Start()
	}
}

// waitLeavesNoticed waits until no leaf is connected: each has noticed that
// its peer went away, so nothing sent from now on can go into a dead
// connection.
func (e *env) waitLeavesNoticed(what string) {
	e.t.Helper()
	e.waitFor(what, func() bool {
		for _, l := range e.Leaves {
			if l.Info().State == sink.StateConnected {
				return false
			}
		}
		return true
	})
}

// assertOwned checks that the caller still owns m, refused by the sink, and
// that m holds no reference the sink took: the caller's Release must
// neither panic (the sink released it too) nor leave m out of its builder
// (the sink kept a reference), which then hands it out again.
func (e *env) assertOwned(p *producer, m *tlv.Message, what string) {
	e.t.Helper()
	if p.n != 1 {
		e.t.Fatal("sinktest: assertOwned needs a producer that built nothing but m")
	}
	func() {
		defer func() {
			if r := recover(); r != nil {
				e.t.Fatalf("%s: the refused message was no longer the caller's: its Release panicked: %v", what, r)
			}
		}()
		m.Release()
	}()
	again := p.next()
	defer again.Release()
	if again != m {
		e.t.Fatalf("%s: the refused message did not go back to its builder on the caller's Release: the sink kept a reference", what)
	}
}

// producer builds numbered messages of one source. Checksums are on, so that
// a peer notices a frame whose bytes changed on the way.
type producer struct {
	b     *tlv.Builder
	sizes []int // body sizes, in turn
	body  []byte
	n     int // messages built
}

func newProducer(d tlv.Domain, source uint8, sizes ...int) *producer {
	if len(sizes) == 0 {
		sizes = []int{40}
	}
	b := tlv.NewBuilder(d, source)
	b.Checksum = true
	return &producer{b: b, sizes: sizes, body: make([]byte, slices.Max(sizes))}
}

// opaque is an unregistered type of each domain, for bodies of any size.
var opaque = map[tlv.Domain]tlv.Type{
	tlv.DomainMarketData: 5, tlv.DomainSignal: 21, tlv.DomainExecution: 41, tlv.DomainSystem: 81,
}

// next builds the next message. A build error is a bug in the suite, not in
// the sink under test: it panics.
func (p *producer) next() *tlv.Message {
	body := p.body[:p.sizes[p.n%len(p.sizes)]]
	seq := byte(p.b.Sequence())
	for i := range body {
		body[i] = seq + byte(i)
	}
	p.b.Append(opaque[p.b.Domain], body)
	m, err := p.b.FinishAt(uint64(time.Now().UnixNano()))
	if err != nil {
		panic("sinktest: building a message: " + err.Error())
	}
	p.n++
	return m
}
