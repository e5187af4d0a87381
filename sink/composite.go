package sink

import (
	"context"
	"errors"
	"fmt"
	"strconv"
	"sync"
	"sync/atomic"

	"github.com/msgsink/msgsink/tlv"
)

// Composite sinks (SPEC section 8) put several sinks behind one Sink:
// Fanout (every message to every target), RoundRobin (each message to the
// next target that takes it) and Failover (every message to the first usable
// target). They nest: a target may itself be a composite.
//
// Ownership follows the Sink contract at every level. A composite's Send that
// returns nil has consumed the caller's reference exactly once, either by
// handing it to a target or by releasing it; one that returns an error has
// left it with the caller and every reference it took meanwhile released. A
// fanout adds one reference per extra target (RetainN, one atomic add for
// them all), never a copy.
//
// Accounting: a composite holds no queue, so Info.Enqueued counts the
// messages it accepted, Written equals Enqueued (handed on), Pending is 0,
// and Refused counts, by reason, the messages no target took. What each
// target accepted and refused is in TargetStats and in Info.Metadata; what
// the targets wrote or dropped is in their own Info.
//
// A composite never closes its targets: a target may be shared (the factory
// hands out one sink per name) and belongs to whoever made it.

// Stater is implemented by sinks that can report their connection state
// cheaply (lazy.Sink: one atomic load). Failover consults it on every Send; a
// target without it always counts as available.
type Stater interface {
	State() State
}

// TargetStats counts what one target of a composite did with the messages
// the composite offered it.
type TargetStats struct {
	Name     string
	Accepted uint64 // messages the target took (its reference)
	Refused  uint64 // messages the target refused; the composite handled the reference
}

// targetCounter is padded to a cache line: producers on several cores bump
// the counters of different targets.
type targetCounter struct {
	accepted, refused atomic.Uint64
	_                 [48]byte
}

// composite is what the three patterns share: targets, counters, lifecycle.
// It owns no target: one target may serve several composites (the factory
// hands out one sink per name), so Close leaves the targets open.
type composite struct {
	name    string
	kind    Kind
	targets []Sink
	staters []Stater // staters[i] is targets[i] as a Stater, or nil
	names   []string // per-target keys for Info.Metadata
	counts  []targetCounter
	closed  atomic.Bool

	// below is every sink under c, each once, made on first use (State,
	// Info): they then read each sink once however many paths lead to it,
	// where a walk by path would cost twice as much per level of a diamond
	// of composites.
	belowOnce sync.Once
	below     sinksUnder

	// Messages no target took, by reason; refSelf counts those refused
	// because the composite itself was closed, which no target saw.
	refFull, refClosed, refDomain, refPrec, refMalformed, refSelf atomic.Uint64
}

// sendEach is the SendBatch of every composite: each message through s.Send,
// in order, stopping at the first refusal, so that a batch is routed, counted
// and refused exactly as its messages sent one by one would be.
func sendEach(s Sink, ms []*tlv.Message) (int, error) {
	for i, m := range ms {
		if err := s.Send(m); err != nil {
			return i, err
		}
	}
	return len(ms), nil
}

// init sets c up over targets, of which it needs at least the given number.
func (c *composite) init(name string, kind Kind, least int, targets []Sink) error {
	bad := func(why string) error {
		return &Error{Sink: name, Op: "new " + string(kind), Err: fmt.Errorf("%w: %s", ErrInvalidConfig, why)}
	}
	if len(targets) < least {
		if least == 1 {
			return bad("no targets: list at least one")
		}
		return bad("needs at least " + strconv.Itoa(least) + " targets, got " + strconv.Itoa(len(targets)))
	}
	c.name, c.kind = name, kind
	c.targets = append([]Sink(nil), targets...)
	c.staters = make([]Stater, len(targets))
	c.names = make([]string, len(targets))
	c.counts = make([]targetCounter, len(targets))
	seen := make(map[string]bool, len(targets))
	for i, t := range targets {
		if t == nil {
			return bad("target " + strconv.Itoa(i) + " is nil")
		}
		c.staters[i], _ = t.(Stater)
		// Metadata keys by target name; an unnamed or repeated name falls
		// back to the position so that no two targets share a key.
		n := nameOf(t)
		if n == "" || seen[n] {
			n = strconv.Itoa(i)
		}
		seen[n] = true
		c.names[i] = n
	}
	return nil
}

// nameOf returns t's name without a composite target's Info, which visits
// every sink under it: building a composite over composites that share
// targets (a diamond) would cost twice as much per level.
func nameOf(t Sink) string {
	if c, ok := t.(under); ok {
		return c.self().name
	}
	return t.Info().Name
}

// under is implemented by the three composites (through the embedded
// composite), so that walks over a tree of composites visit each sink once.
type under interface{ self() *composite }

func (c *composite) self() *composite { return c }

// sinksUnder is every sink under a composite, each once.
type sinksUnder struct {
	leaves     []Sink       // the sinks that are not composites
	staters    []Stater     // staters[i] is leaves[i] as a Stater, or nil
	composites []*composite // the composites, whose Close hides what is under them
}

// sinksBelow returns every sink under c, each once, from its targets' own
// lists: linear in the sinks, where a walk by path is exponential in the
// depth of a diamond.
func (c *composite) sinksBelow() *sinksUnder {
	c.belowOnce.Do(func() {
		seen := map[any]bool{}
		addLeaf := func(l Sink, st Stater) {
			if !seen[l] {
				seen[l] = true
				c.below.leaves = append(c.below.leaves, l)
				c.below.staters = append(c.below.staters, st)
			}
		}
		addComposite := func(u *composite) bool {
			if seen[u] {
				return false
			}
			seen[u] = true
			c.below.composites = append(c.below.composites, u)
			return true
		}
		for i, t := range c.targets {
			u, ok := t.(under)
			if !ok {
				addLeaf(t, c.staters[i])
				continue
			}
			if !addComposite(u.self()) {
				continue
			}
			b := u.self().sinksBelow()
			for j, l := range b.leaves {
				addLeaf(l, b.staters[j])
			}
			for _, n := range b.composites {
				addComposite(n)
			}
		}
	})
	return &c.below
}

// refuseClosed counts and returns the refusal of a closed composite.
func (c *composite) refuseClosed() error {
	c.refSelf.Add(1)
	return ErrClosed
}

// refuse counts a message no target took, by the reason returned.
func (c *composite) refuse(err error) error {
	switch reason(err) {
	case ErrBufferFull:
		c.refFull.Add(1)
	case ErrClosed:
		c.refClosed.Add(1)
	case ErrPrecision:
		c.refPrec.Add(1)
	case ErrDomain:
		c.refDomain.Add(1)
	default:
		c.refMalformed.Add(1)
	}
	return err
}

// reason maps a refusal to its sentinel. The precision check comes before
// the domain one, as in lazy.Sink's accounting.
func reason(err error) error {
	for _, r := range [...]error{ErrBufferFull, ErrClosed, ErrPrecision, ErrDomain} {
		if err == r || errors.Is(err, r) {
			return r
		}
	}
	return ErrMalformed
}

// common folds the refusals of several targets into the one error Send
// returns: the first target's error when all refused for the same reason
// (a malformed message stays malformed, whichever target says so),
// ErrBufferFull otherwise, since a retry may find room.
func common(acc, err error) error {
	if acc == nil {
		return err
	}
	if acc == err || reason(acc) == reason(err) {
		return acc
	}
	return ErrBufferFull
}

// each applies op to every target, concurrently so that one slow target does
// not use up ctx for the others, and joins the errors.
func (c *composite) each(ctx context.Context, op func(Sink, context.Context) error) error {
	errs := make([]error, len(c.targets))
	done := make(chan struct{}, len(c.targets))
	for i, t := range c.targets {
		go func() {
			errs[i] = op(t, ctx)
			done <- struct{}{}
		}()
	}
	for range c.targets {
		<-done
	}
	return errors.Join(errs...)
}

// Connect connects every target and waits for all of them; the errors of
// those that could not connect are joined. After Close it returns ErrClosed.
func (c *composite) Connect(ctx context.Context) error {
	if c.closed.Load() {
		return ErrClosed
	}
	return c.each(ctx, Sink.Connect)
}

// Flush flushes every target. A composite holds no queue of its own, so this
// waits for what the targets hold, including messages other users of a
// shared target sent.
func (c *composite) Flush(ctx context.Context) error { return c.each(ctx, Sink.Flush) }

// Disconnect disconnects every target; the next Send wakes them again.
func (c *composite) Disconnect(ctx context.Context) error { return c.each(ctx, Sink.Disconnect) }

// Close makes later Sends return ErrClosed. It does not close, and does not
// flush, the targets: they may be shared with other composites or used
// directly, and their owner (the factory) closes them, which flushes what
// this composite handed them. It is idempotent and never blocks.
func (c *composite) Close() error {
	c.closed.Store(true)
	return nil
}

// State is StateClosed after Close, otherwise the most useful state among the
// targets (connected, connecting, backoff, idle in that order): whether the
// composite can deliver now. A target without State counts as connected.
// The sinks under nested composites are read once each, however many paths
// lead to them.
func (c *composite) State() State {
	if c.closed.Load() {
		return StateClosed
	}
	b := c.sinksBelow()
	for _, n := range b.composites {
		if n.closed.Load() {
			// A closed composite hides the sinks under it, which other
			// paths may still reach: judge path by path.
			return best(c.staters)
		}
	}
	return best(b.staters)
}

// best returns the most useful of the states of staters (nil: connected).
func best(staters []Stater) State {
	st, rank := StateClosed, 0
	for _, s := range staters {
		x := StateConnected
		if s != nil {
			x = s.State()
		}
		if r := stateRank(x); r > rank {
			st, rank = x, r
			if x == StateConnected {
				break // nothing ranks higher
			}
		}
	}
	return st
}

func stateRank(s State) int {
	switch s {
	case StateConnected:
		return 4
	case StateConnecting:
		return 3
	case StateBackoff:
		return 2
	case StateIdle:
		return 1
	}
	return 0
}

// TargetStats returns what each target, in order, accepted and refused.
func (c *composite) TargetStats() []TargetStats {
	out := make([]TargetStats, len(c.targets))
	for i := range c.targets {
		out[i] = TargetStats{Name: c.names[i], Accepted: c.counts[i].accepted.Load(), Refused: c.counts[i].refused.Load()}
	}
	return out
}

// info builds the composite's Info. A composite has no ring: a message it
// accepts is in a target's hands when Send returns, so it counts as written
// (handed on) at once, Pending is 0 and Balanced holds. What the targets
// wrote or dropped is in their own Info. Metadata lists the targets and, per
// target, "target.<name>.accepted" and "target.<name>.refused".
func (c *composite) info(stats []TargetStats, enq uint64) Info {
	md := make(map[string]string, 1+2*len(stats))
	var names []byte
	for i, st := range stats {
		if i > 0 {
			names = append(names, ',')
		}
		names = append(names, st.Name...)
		md["target."+st.Name+".accepted"] = strconv.FormatUint(st.Accepted, 10)
		md["target."+st.Name+".refused"] = strconv.FormatUint(st.Refused, 10)
	}
	md["targets"] = string(names)
	// The last errors of the sinks under c, each once.
	var lastErrs []error
	for _, l := range c.sinksBelow().leaves {
		if err := l.Info().LastError; err != nil {
			lastErrs = append(lastErrs, err)
		}
	}
	return Info{
		Name:     c.name,
		Kind:     c.kind,
		Endpoint: string(names),
		State:    c.State(),
		Metadata: md,
		Enqueued: enq,
		Written:  enq,
		Refused: Refused{
			BufferFull: c.refFull.Load(), Closed: c.refClosed.Load() + c.refSelf.Load(), Domain: c.refDomain.Load(),
			Precision: c.refPrec.Load(), Malformed: c.refMalformed.Load(),
		},
		LastError: errors.Join(lastErrs...),
	}
}

// Fanout sends every message to every target (SPEC section 8). It shares the
// message by reference count, never by copy: one reference per target. A
// target that refuses (full ring, closed) is skipped and counted in its
// TargetStats; it never holds back the others, since no target's Send blocks.
type Fanout struct {
	composite
	enqueued atomic.Uint64
}

var _ Sink = (*Fanout)(nil)

// NewFanout returns a fanout over targets, in the order they are sent to. It
// needs at least one target and no nil one. The targets stay the caller's:
// Close does not close them.
func NewFanout(name string, targets ...Sink) (*Fanout, error) {
	f := new(Fanout)
	if err := f.init(name, KindFanout, 1, targets); err != nil {
		return nil, err
	}
	return f, nil
}

// Send offers m to every target. It takes the references of all targets but
// one up front, in one atomic add (RetainN); the caller's is the one left. A
// target that refuses has its reference released back, so when Send returns
// nil the caller's reference was consumed exactly once. Only when no target
// takes m does Send return an error (the targets' common one, else
// ErrBufferFull), and then the caller still owns m.
//
// When every target takes m, as in the steady state, Send costs the closed
// check, one atomic add for the references, the targets' Sends and one
// atomic add for the enqueued counter: per-target counters move only on
// refusals (a target's Accepted is derived, see TargetStats), and the
// refusal path is out of line (sendRefused).
func (f *Fanout) Send(m *tlv.Message) error {
	if f.closed.Load() {
		return f.refuseClosed()
	}
	// Before RetainN, which would bring a released message back to life.
	if err := m.CheckLive(); err != nil {
		return f.refuse(err)
	}
	ts := f.targets
	m.RetainN(len(ts) - 1)
	for i, t := range ts {
		if err := t.Send(m); err != nil {
			return f.sendRefused(m, i, err)
		}
	}
	f.enqueued.Add(1)
	return nil
}

// sendRefused finishes a Send whose target i refused m with err, after the
// targets before it took m: it offers m to the rest and settles the
// references. Each refusing target's reference is released, except the last
// one when no target took m, which is the caller's to keep.
func (f *Fanout) sendRefused(m *tlv.Message, i int, err error) error {
	ts := f.targets
	last := len(ts) - 1
	taken := i > 0
	var refusal error
	for {
		if err == nil {
			taken = true
		} else {
			f.counts[i].refused.Add(1)
			refusal = common(refusal, err)
			// The last target's reference is the caller's: it stays
			// with the caller when no target took m.
			if i < last || taken {
				m.Release()
			}
		}
		if i == last {
			break
		}
		i++
		err = ts[i].Send(m)
	}
	if !taken {
		return f.refuse(refusal)
	}
	f.enqueued.Add(1)
	return nil
}

// SendBatch sends ms in order, message by message; it stops at the first
// message no target takes and leaves ms[n:] with the caller.
func (f *Fanout) SendBatch(ms []*tlv.Message) (int, error) { return sendEach(f, ms) }

// TargetStats returns what each target accepted and refused. A fanout offers
// every message to every target, so a target's Accepted is the messages
// offered (Enqueued plus the ones all targets refused) less its Refused.
func (f *Fanout) TargetStats() []TargetStats {
	offered := f.enqueued.Load() + f.refFull.Load() + f.refClosed.Load() +
		f.refDomain.Load() + f.refPrec.Load() + f.refMalformed.Load()
	out := f.composite.TargetStats()
	for i := range out {
		// A Send between the loads may be counted as refused here and not
		// yet as offered: never report a wrapped-around count.
		out[i].Accepted = offered - min(offered, out[i].Refused)
	}
	return out
}

// Info returns the fanout's counters; see TargetStats for the per-target ones.
func (f *Fanout) Info() Info { return f.info(f.TargetStats(), f.enqueued.Load()) }

// RoundRobin sends each message to one target, taking turns (SPEC section
// 8). A target that refuses is skipped for the next in turn; each is tried
// at most once per Send. The accepting target gets the caller's reference,
// so no reference count moves.
type RoundRobin struct {
	composite
	next atomic.Uint32
}

var _ Sink = (*RoundRobin)(nil)

// NewRoundRobin returns a round robin over targets, starting with the first.
// It needs at least one target and no nil one. Close does not close them.
func NewRoundRobin(name string, targets ...Sink) (*RoundRobin, error) {
	r := new(RoundRobin)
	if err := r.init(name, KindRoundRobin, 1, targets); err != nil {
		return nil, err
	}
	return r, nil
}

// Send offers m to the target whose turn it is, then to the ones after it,
// until one takes it. When none does, it returns their common error (else
// ErrBufferFull) and the caller still owns m. Concurrent Sends each take
// their own turn.
func (r *RoundRobin) Send(m *tlv.Message) error {
	if r.closed.Load() {
		return r.refuseClosed()
	}
	if err := m.CheckLive(); err != nil {
		return r.refuse(err) // not every target checks, and none should count it
	}
	if _, refused := r.offer(m); refused != nil {
		return r.refuse(refused)
	}
	return nil
}

// offer gives m to the target whose turn it is, then to the ones after it,
// until one takes it. When none does, it returns their common refusal and
// the first target in turn that refused for a full buffer (-1 if none),
// the one SendWait waits on.
func (r *RoundRobin) offer(m *tlv.Message) (full int, refused error) {
	n := uint32(len(r.targets))
	start := (r.next.Add(1) - 1) % n
	full = -1
	for k := uint32(0); k < n; k++ {
		i := start + k
		if i >= n {
			i -= n
		}
		err := r.targets[i].Send(m)
		if err == nil {
			r.took(int(i))
			return -1, nil
		}
		r.counts[i].refused.Add(1)
		if full < 0 && reason(err) == ErrBufferFull {
			full = int(i)
		}
		refused = common(refused, err)
	}
	return full, refused
}

// took counts a message target i took; the targets' sum is Enqueued.
func (r *RoundRobin) took(i int) { r.counts[i].accepted.Add(1) }

// SendBatch sends ms in order, message by message, each to the next target
// in turn; it stops at the first message no target takes and leaves ms[n:]
// with the caller.
func (r *RoundRobin) SendBatch(ms []*tlv.Message) (int, error) { return sendEach(r, ms) }

// Info returns the round robin's counters; see TargetStats for the
// per-target ones.
func (r *RoundRobin) Info() Info { return r.infoSum() }

// infoSum is Info for the patterns that give each message to one target:
// Enqueued is the sum of the targets' Accepted, which saves Send a counter.
func (c *composite) infoSum() Info {
	stats := c.TargetStats()
	var enq uint64
	for _, st := range stats {
		enq += st.Accepted
	}
	return c.info(stats, enq)
}

// Failover sends every message to one target: the first, in order, that is
// connected or connecting (SPEC section 8). A target in backoff or closed,
// or one that refuses a message for want of room or because it is closed,
// is passed over for the next; once passed over it gets messages again only
// after it is connected, so a primary that is still redialing does not
// collect the traffic meanwhile. A refusal of the message itself (domain,
// precision, malformed) says nothing about the target: the message is
// offered to the next one, and the following messages still go to the
// first. The targets' State (the Stater interface) is read on every Send; a
// target without it is always tried.
//
// A lazy target whose retries ran out goes idle and dials again only when
// sent to; once passed over it is not sent to, so it comes back only when
// something connects it (Failover.Connect, or its owner).
type Failover struct {
	composite
	active   atomic.Int32 // index of the target that took the last message
	switches atomic.Uint64
	// passed[i] is set while target i is passed over after a failure.
	passed []atomic.Bool
}

var _ Sink = (*Failover)(nil)

// NewFailover returns a failover over targets in order of preference. It
// needs at least two targets and no nil one. Close does not close them.
func NewFailover(name string, targets ...Sink) (*Failover, error) {
	f := &Failover{passed: make([]atomic.Bool, len(targets))}
	if err := f.init(name, KindFailover, 2, targets); err != nil {
		return nil, err
	}
	return f, nil
}

// usable reports whether target i should be offered the next message.
func (f *Failover) usable(i int) bool {
	s := f.staters[i]
	if s == nil {
		return true
	}
	switch s.State() {
	case StateConnected:
		return true
	case StateConnecting, StateIdle:
		// An idle target that has not failed is woken by the Send.
		return !f.passed[i].Load()
	}
	return false
}

// pass marks target i as failed, storing only on a change so that the
// steady state writes no shared cache line.
func (f *Failover) pass(i int) {
	if !f.passed[i].Load() {
		f.passed[i].Store(true)
	}
}

// Send offers m to the first usable target; when it refuses, to the next
// usable one. The target that takes m gets the caller's reference. When no
// target takes it, Send returns their common error (ErrBufferFull when none
// was usable) and the caller still owns m. A change of the target that takes
// the messages counts as a switch.
func (f *Failover) Send(m *tlv.Message) error {
	if f.closed.Load() {
		return f.refuseClosed()
	}
	if err := m.CheckLive(); err != nil {
		return f.refuse(err) // not every target checks, and none should count it
	}
	if _, refused := f.offer(m); refused != nil {
		return f.refuse(refused)
	}
	return nil
}

// offer gives m to the first usable target that takes it. When none does,
// it returns their common refusal (ErrBufferFull when none was usable) and
// the most preferred target that was full or passed over while not closed
// (-1 if none), the one SendWait waits on.
func (f *Failover) offer(m *tlv.Message) (wait int, refused error) {
	wait = -1
	for i, t := range f.targets {
		if !f.usable(i) {
			f.pass(i)
			if wait < 0 && f.staters[i].State() != StateClosed {
				wait = i
			}
			continue
		}
		err := t.Send(m)
		if err == nil {
			f.took(i)
			return -1, nil
		}
		f.counts[i].refused.Add(1)
		r := reason(err)
		if wait < 0 && r == ErrBufferFull {
			wait = i
		}
		if r == ErrBufferFull || r == ErrClosed {
			f.pass(i)
		}
		refused = common(refused, err)
	}
	if refused == nil {
		refused = ErrBufferFull
	}
	return wait, refused
}

// took records that target i took a message: counted, no longer passed
// over, and the active one (a change is a switch).
func (f *Failover) took(i int) {
	f.counts[i].accepted.Add(1) // their sum is Enqueued
	if f.passed[i].Load() {
		f.passed[i].Store(false)
	}
	if a := int32(i); f.active.Load() != a && f.active.Swap(a) != a {
		f.switches.Add(1)
	}
}

// SendBatch sends ms in order, message by message; it stops at the first
// message no target takes and leaves ms[n:] with the caller.
func (f *Failover) SendBatch(ms []*tlv.Message) (int, error) { return sendEach(f, ms) }

// Switches returns how many times the target taking the messages changed.
func (f *Failover) Switches() uint64 { return f.switches.Load() }

// Active returns the index of the target that took the last message.
func (f *Failover) Active() int { return int(f.active.Load()) }

// Info returns the failover's counters; Metadata adds "active" (the target
// taking the messages) and "switches".
func (f *Failover) Info() Info {
	i := f.infoSum()
	i.Metadata["active"] = f.names[f.Active()]
	i.Metadata["switches"] = strconv.FormatUint(f.Switches(), 10)
	return i
}
