package lazy

import (
	"context"
	"errors"
	"fmt"
	"maps"
	"runtime"
	"sync"
	"sync/atomic"
	"time"

	"github.com/msgsink/msgsink/internal/checked"
	"github.com/msgsink/msgsink/internal/handoff"
	"github.com/msgsink/msgsink/ring"
	"github.com/msgsink/msgsink/sink"
	"github.com/msgsink/msgsink/tlv"
	"github.com/msgsink/msgsink/transport"
)

// The writer's gate word (handoff.Gate.Word) holds the sink.State in its
// low byte beside the hand-off flags, so that Send learns everything it
// needs (is the writer awake and connected?) from one load. The fast path
// is word == StateConnected.
const stateMask = handoff.OwnerMask

// Control requests to the writer, in ctl. Send never reads them.
const (
	ctlDisconnect = 1 << iota // flushed: drop the connection, go idle
	ctlClose                  // drain, then close for good
	ctlAbort                  // Close's deadline passed: drop what is left
)

var errStop = errors.New("lazy: writer stopped")

// Sink is a sink that connects on its first Send ("wake on data"), writes
// through one writer goroutine, and reconnects after failures (SPEC sections
// 3 and 4). It holds no goroutine, socket or file descriptor until it is
// first used. All methods are safe for concurrent use.
type Sink struct {
	cfg       Config
	validator tlv.Validator
	ring      *ring.Ring[*tlv.Message]
	// gate is the writer's word (state and hand-off flags) and the channel
	// that kicks it when parked or sleeping in a backoff.
	gate     handoff.Gate
	idle     handoff.Schedule // by cfg.Idle
	ctl      atomic.Uint32
	progress chan struct{} // tells a Flush that the writer moved on; capacity 1
	flushing atomic.Int32  // Flush calls waiting
	// room wakes a SendWait that found the ring full; the writer sends on it,
	// once per batch, when waiters says anyone is waiting.
	room    chan struct{} // capacity 1
	waiters atomic.Int32
	// through is the live connection's write-through side, nil when it has
	// none. The writer sets it before it first parks on a connection and
	// clears it only when it is neither parked nor written through, so a
	// Send that won the writing side reads it safely.
	through transport.TryWriter
	// midFrame is set when a write through did not take the whole message:
	// part of the ring's first message may be on the connection, so the
	// writer must not drop the connection on request (Disconnect) before
	// it has finished that message. Owned like through.
	midFrame bool
	sending  atomic.Bool // checked build, SingleProducer: a Send is in progress
	// disconnectAt is the ring count up to which a Disconnect wants
	// everything written before the connection drops; disconnects counts the
	// connections dropped on request, which Disconnect waits for.
	disconnectAt, disconnects atomic.Uint64
	ctx                       context.Context
	cancel                    context.CancelFunc // aborts a dial in progress at Close's deadline
	closeOnce                 sync.Once

	written, writtenBytes, wroteThrough, attempts, reconnects atomic.Uint64
	refFull, refClosed, refDomain, refPrec, refMalformed      atomic.Uint64
	dropConnect, dropStale, dropClosed                        atomic.Uint64
	connectReported                                           atomic.Uint64 // dropConnect as the last Flush saw it

	notify *notifier // nil without a Logger or OnStateChange

	ack acked // delivery = "acked"; off otherwise

	mu      sync.Mutex
	conn    transport.Conn // the live connection, for Close to break a blocked write
	exited  chan struct{}  // closed when the current writer goroutine ends
	lastErr error
}

var _ sink.Sink = (*Sink)(nil)

// New returns an idle sink: nothing is dialed and no goroutine starts until
// the first Send (or Connect).
func New(cfg Config) (*Sink, error) {
	cfg, err := cfg.withDefaults()
	if err != nil {
		return nil, err
	}
	s := &Sink{
		cfg:       cfg,
		validator: cfg.Validator,
		ring:      ring.New[*tlv.Message](cfg.BufferSize),
		idle:      idleSchedules[cfg.Idle],
		progress:  make(chan struct{}, 1),
		room:      make(chan struct{}, 1),
		notify:    newNotifier(cfg.Logger, cfg.OnStateChange),
	}
	s.gate.Init()
	if cfg.Delivery == DeliveryAcked {
		s.initAcked()
	}
	s.ctx, s.cancel = context.WithCancel(context.Background())
	return s, nil
}

// Send validates m and enqueues it. On success the sink owns the caller's
// reference. A nil or released m is refused with ErrMalformed (counted as
// refused, malformed) by the validation, never handed to the writer. It
// never blocks and never dials. When it finds the writer parked on an idle
// connection, it writes m itself with one non-blocking write (or hands it to
// the writer if the socket would block): a message after a quiet spell then
// costs what one write per message costs, not a goroutine wake-up.
func (s *Sink) Send(m *tlv.Message) error {
	if checked.On && s.cfg.SingleProducer {
		s.enterSend()
		defer s.exitSend()
	}
	if err := s.validator.Check(m); err != nil {
		return s.refuse(err)
	}
	if !s.push(m) {
		return s.refusePush()
	}
	if w := s.gate.Word.Load(); w != uint32(sink.StateConnected) {
		s.wakeWriter(w)
	}
	return nil
}

// SendBatch sends ms in order; on error ms[n:] stay with the caller. An
// empty batch does nothing: it neither wakes nor starts the writer.
func (s *Sink) SendBatch(ms []*tlv.Message) (int, error) {
	if len(ms) == 0 {
		return 0, nil
	}
	if checked.On && s.cfg.SingleProducer {
		s.enterSend()
		defer s.exitSend()
	}
	for i, m := range ms {
		if err := s.validator.Check(m); err != nil {
			return i, s.refuse(err)
		}
		if !s.push(m) {
			return i, s.refusePush()
		}
	}
	if w := s.gate.Word.Load(); w != uint32(sink.StateConnected) {
		s.wakeWriter(w)
	}
	return len(ms), nil
}

// SendWait is Send that waits for room instead of returning ErrBufferFull.
// The writer wakes it when it frees slots, so a waiting producer sleeps: it
// neither spins nor takes the processor that the writer and Go's netpoller
// need. When ctx ends first it returns ctx.Err() (an already ended ctx
// returns at once if the ring is full), the message is still the caller's,
// and it is counted as refused for a full buffer. Close while it waits
// makes it return ErrClosed. It does not allocate.
//
// It is Send with waitPush where Send refuses, written out rather than
// shared with Send through a flag: Send's body is the hot path, and one
// more call in it measured 2-3 ns (BenchmarkOverhead op=send).
func (s *Sink) SendWait(ctx context.Context, m *tlv.Message) error {
	if checked.On && s.cfg.SingleProducer {
		s.enterSend()
		defer s.exitSend()
	}
	if err := s.validator.Check(m); err != nil {
		return s.refuse(err)
	}
	if !s.push(m) {
		if err := s.waitPush(ctx, m); err != nil {
			return err
		}
	}
	if w := s.gate.Word.Load(); w != uint32(sink.StateConnected) {
		s.wakeWriter(w)
	}
	return nil
}

// waitPush waits for room for m and pushes it, or returns why it could not.
func (s *Sink) waitPush(ctx context.Context, m *tlv.Message) error {
	s.waiters.Add(1)
	defer s.waiters.Add(-1)
	for {
		// Registered first, then tried again: a writer that freed slots
		// before it saw us waiting sent no signal, and this push sees them.
		if s.push(m) {
			s.passRoom()
			return nil
		}
		if s.ring.Closed() {
			s.passRoom()
			s.refClosed.Add(1)
			return sink.ErrClosed
		}
		// The writer may be parked with a full ring that this producer has
		// not woken yet (a SendWait that found it full from the start).
		if w := s.gate.Word.Load(); w != uint32(sink.StateConnected) {
			s.wakeWriter(w)
		}
		select {
		case <-s.room:
		case <-ctx.Done():
			s.refFull.Add(1)
			return ctx.Err()
		}
	}
}

// passRoom hands the room signal on to another waiting producer: the writer
// sends one per batch, and the waiter it woke may not need all the room.
func (s *Sink) passRoom() {
	if s.waiters.Load() > 1 {
		select {
		case s.room <- struct{}{}:
		default:
		}
	}
}

// push is the ring push the configuration allows: the plain SPSC one for a
// single producer, the serialised one otherwise.
func (s *Sink) push(m *tlv.Message) bool {
	if s.cfg.SingleProducer {
		return s.ring.Push(m)
	}
	return s.ring.PushShared(m)
}

// enterSend and exitSend bracket a Send of a SingleProducer sink in the
// checked build, to catch a second goroutine sending at the same time.
func (s *Sink) enterSend() {
	if !s.sending.CompareAndSwap(false, true) {
		panic(fmt.Sprintf("lazy: concurrent Send on sink %q, configured with SingleProducer (single_producer = true): "+
			"send from one goroutine at a time, or remove single_producer", s.cfg.Name))
	}
}

func (s *Sink) exitSend() { s.sending.Store(false) }

func (s *Sink) refuse(err error) error {
	switch {
	case errors.Is(err, tlv.ErrPrecision):
		s.refPrec.Add(1)
	case errors.Is(err, tlv.ErrDomain):
		s.refDomain.Add(1)
	default:
		s.refMalformed.Add(1)
	}
	return err
}

func (s *Sink) refusePush() error {
	if s.ring.Closed() {
		s.refClosed.Add(1)
		return sink.ErrClosed
	}
	s.refFull.Add(1)
	return sink.ErrBufferFull
}

// wakeWriter is Send's slow path, after a push: hand off to a parked
// writer (see handoff), or start one for an idle sink. Only one caller wins
// each transition, so any number of concurrent first Sends start exactly
// one writer and one dial.
func (s *Sink) wakeWriter(w uint32) {
	for {
		var r handoff.Result
		r, w = s.gate.Wake(w)
		switch {
		case r == handoff.WriteThrough:
			s.writeThrough()
			return
		case r == handoff.Done || sink.State(w&stateMask) != sink.StateIdle:
			return // connecting, backoff, connected and awake, closed
		case s.startIfIdle(w):
			return
		}
		w = s.gate.Word.Load()
	}
}

// writeThrough is Send's write through, by a caller that won the writing
// side from a parked writer: it writes the oldest message in the ring with
// one non-blocking write, which leaves a partial write for the writer's next
// WriteBatch to finish (transport.TryWriter).
func (s *Sink) writeThrough() {
	whole := false
	if a, _ := s.ring.Peek(1); len(a) == 1 {
		// An error ends the connection inside the Conn; the writer's next
		// WriteBatch returns it and the writer reconnects.
		whole, _ = s.through.TryWrite(a[0])
		s.midFrame = !whole
		if whole {
			s.consume(a, nil, 1, &s.written, &s.writtenBytes)
			s.wroteThrough.Add(1) // after written, as Info reads them the other way round
		}
	}
	if s.gate.EndThrough(whole) && s.ring.Len() > 0 {
		s.wakeWriter(s.gate.Word.Load())
	}
}

// startIfIdle moves the sink from idle (word w) to connecting and starts the
// writer. The CAS and the new exited channel go together under mu, so that
// whoever sees a non-idle state and then reads exited gets this writer's.
func (s *Sink) startIfIdle(w uint32) bool {
	s.mu.Lock()
	defer s.mu.Unlock()
	if !s.gate.Word.CompareAndSwap(w, uint32(sink.StateConnecting)) {
		return false
	}
	s.exited = make(chan struct{})
	go s.run(s.exited)
	return true
}

// ensureWriter starts a writer for an idle sink that has work (Flush,
// Connect, Close with pending messages), as a Send would.
func (s *Sink) ensureWriter() {
	if w := s.gate.Word.Load(); sink.State(w&stateMask) == sink.StateIdle {
		s.wakeWriter(w)
	}
}

// setState moves to st, keeping the parked bit, and reports the change.
func (s *Sink) setState(st sink.State) { s.setStateErr(st, nil) }

// setStateErr is setState for a move to backoff caused by err.
func (s *Sink) setStateErr(st sink.State, err error) {
	for {
		w := s.gate.Word.Load()
		if s.gate.Word.CompareAndSwap(w, w&^stateMask|uint32(st)) {
			s.changed(sink.State(w&stateMask), st, err)
			return
		}
	}
}

// changed reports a state change to the observers, if any. Moves made by a
// CAS outside setState (Send waking an idle sink, Close closing one) report
// through it too.
func (s *Sink) changed(from, to sink.State, err error) {
	if s.notify != nil {
		s.notify.Notify(sink.StateChange{Sink: s.cfg.Name, From: from, To: to, Err: err, At: time.Now()})
	}
}

func (s *Sink) state() sink.State { return sink.State(s.gate.Word.Load() & stateMask) }

// run is the writer goroutine: it connects, writes, reconnects, and ends when
// the sink goes idle or closed.
func (s *Sink) run(exited chan struct{}) {
	defer close(exited)
	s.changed(sink.StateIdle, sink.StateConnecting, nil) // made by whoever started us
	var lost error                                       // why the last connection ended; nil on a first connect
	for {
		conn, err := s.dial(lost)
		if conn == nil {
			var exhausted error
			if err != nil && !errors.Is(err, errStop) {
				s.dropAll(&s.dropConnect) // retries exhausted
				exhausted = s.lastError()
			}
			if s.finish(exhausted) {
				return
			}
			lost = nil
			continue
		}
		if lost != nil && s.cfg.Backlog == BacklogDrop {
			s.dropAll(&s.dropStale)
		}
		s.mu.Lock()
		s.conn = conn
		s.mu.Unlock()
		s.setState(sink.StateConnected)
		err = s.writeLoop(conn)
		aborted := s.ctl.Load()&ctlAbort != 0
		if errors.Is(err, errStop) && !aborted {
			s.shutdown(conn)
		}
		s.mu.Lock()
		s.conn = nil
		s.mu.Unlock()
		_ = conn.Close()
		// A write that Close's deadline broke is no failure of the peer's:
		// it is neither the last error nor a lost connection.
		if errors.Is(err, errStop) || aborted {
			if s.finish(nil) {
				return
			}
			lost = nil
			continue
		}
		if !s.stopping() {
			// A new connect follows, as Info's doc says a reconnect is:
			// not so for a connection lost as Close or Disconnect ends
			// the writer.
			s.reconnects.Add(1)
		}
		op := "write"
		if oe := (*transport.OpError)(nil); errors.As(err, &oe) && oe.Op == "read" {
			op = "read" // the peer ended it while the writer waited
		}
		lost = s.setErr(op, err)
	}
}

// shutdown ends conn gracefully (transport.Conn.Shutdown), within the close
// timeout, or sooner if Close's deadline passes first: abort cancels s.ctx.
// A peer that does not close its side in time may lose what it had not read
// (over TCP the kernel resets the connection): that is the last error.
func (s *Sink) shutdown(conn transport.Conn) {
	ctx, cancel := context.WithTimeout(s.ctx, s.cfg.CloseTimeout)
	err := conn.Shutdown(ctx)
	cancel()
	if err != nil && s.ctl.Load()&ctlAbort == 0 {
		s.setErr("close", err)
	}
}

// finish ends a writer's run: closed if Close asked, idle otherwise; cause
// is why, when the dial attempts ran out. It reports whether the goroutine
// should exit; false means messages arrived after all and this writer
// carries on.
func (s *Sink) finish(cause error) bool {
	if s.ctl.And(^uint32(ctlDisconnect))&ctlDisconnect != 0 {
		s.disconnects.Add(1) // served: the connection is down
	}
	if c := s.ctl.Load(); c&ctlAbort != 0 || (c&ctlClose != 0 && s.ring.Len() == 0) {
		s.dropAll(&s.dropClosed)
		s.setState(sink.StateClosed)
		return true
	}
	if s.ctl.Load()&ctlClose != 0 {
		return false // keep trying to flush until Close's deadline
	}
	s.setStateErr(sink.StateIdle, cause)
	if s.ring.Len() == 0 {
		return true
	}
	// A Send pushed after our last look but saw a running writer: take the
	// sink back, unless that Send (or another) has already started a writer.
	if s.gate.Word.CompareAndSwap(uint32(sink.StateIdle), uint32(sink.StateConnecting)) {
		s.changed(sink.StateIdle, sink.StateConnecting, nil)
		return false
	}
	return true
}

// dial connects with the retry schedule, after a first delay when lost, the
// error that ended the previous connection, is set. It returns a nil Conn
// with errStop when asked to stop, or with the last dial error when attempts
// run out.
func (s *Sink) dial(lost error) (transport.Conn, error) {
	attempt := 0
	if lost != nil {
		s.setStateErr(sink.StateBackoff, lost)
		if !s.sleep(s.cfg.Retry.Delay(1)) {
			return nil, errStop
		}
	}
	for {
		if s.stopping() {
			return nil, errStop
		}
		s.setState(sink.StateConnecting)
		s.attempts.Add(1)
		ctx, cancel := context.WithTimeout(s.ctx, s.cfg.ConnectTimeout)
		conn, err := s.cfg.Dialer.DialContext(ctx, s.cfg.Endpoint)
		cancel()
		if err == nil {
			return conn, nil
		}
		failed := s.setErr("connect", err)
		attempt++
		if s.cfg.Retry.MaxAttempts > 0 && attempt >= s.cfg.Retry.MaxAttempts {
			return nil, err
		}
		s.setStateErr(sink.StateBackoff, failed)
		if !s.sleep(s.cfg.Retry.Delay(attempt)) {
			return nil, errStop
		}
	}
}

// stopping reports whether a control request means the writer should stop
// dialing: an abort or a disconnect, or a Close with nothing left to flush.
func (s *Sink) stopping() bool {
	c := s.ctl.Load()
	return c&(ctlAbort|ctlDisconnect) != 0 || (c&ctlClose != 0 && s.ring.Len() == 0)
}

// sleep waits d unless a stop is requested; it reports whether to go on.
func (s *Sink) sleep(d time.Duration) bool {
	t := time.NewTimer(d)
	defer t.Stop()
	for {
		select {
		case <-t.C:
			return true
		case <-s.gate.C():
			if s.stopping() {
				return false
			}
		case <-s.ctx.Done():
			return false
		}
	}
}

// writeLoop drains the ring into conn until a write fails, the peer goes
// away, or a control request finds the ring empty (errStop). With acked
// delivery it first announces the sink (startAcked), writes from the oldest
// message this connection has not written, keeps what it writes in the ring
// and releases it as the Acks come; there is then no write through, since a
// message may leave the ring only acknowledged.
func (s *Sink) writeLoop(conn transport.Conn) error {
	s.midFrame = false
	if s.ack.on {
		if err := s.startAcked(conn); err != nil {
			return err
		}
	} else {
		// No Send writes through before the writer's first park, nor after
		// it has left its last one: through is the writer's to set and
		// clear here.
		s.through, _ = conn.(transport.TryWriter)
		defer func() { s.through = nil }()
	}
	idle := 0
	for {
		if s.ack.on {
			s.releaseAcked()
		}
		if c := s.ctl.Load(); c != 0 && s.stopWriting(c) {
			return errStop
		}
		a, b := s.unwritten()
		if len(a) == 0 {
			if idle == 0 && s.ack.conf != nil { // the last messages are out: have them confirmed
				if err := s.ack.conf.Confirm(); err != nil {
					return err
				}
			}
			if err := s.wait(conn, &idle); err != nil {
				return err
			}
			continue
		}
		idle = 0
		n, err := conn.WriteBatch(a, b)
		s.wrote(a, b, n)
		if err != nil {
			return err
		}
	}
}

// unwritten returns the next batch for this connection: the ring's first
// messages, or with acked delivery those after what it has written.
func (s *Sink) unwritten() (a, b []*tlv.Message) {
	if s.ack.on {
		return s.ring.PeekFrom(s.ack.sent, s.cfg.MaxBatch)
	}
	return s.ring.Peek(s.cfg.MaxBatch)
}

// wrote accounts for the first n messages of a WriteBatch of a then b:
// released and counted written, or with acked delivery counted and kept.
func (s *Sink) wrote(a, b []*tlv.Message, n int) {
	if s.ack.on {
		s.wroteAcked(a, b, n)
		return
	}
	if n > 0 {
		s.midFrame = false
	}
	s.consume(a, b, n, &s.written, &s.writtenBytes)
}

// stopWriting reports whether the control requests in c end the connection
// now: an abort at once, a disconnect once what was enqueued before it is
// written (and no message is half out, see midFrame), a close once the
// ring is empty.
func (s *Sink) stopWriting(c uint32) bool {
	_, removed := s.ring.Counts()
	return c&ctlAbort != 0 ||
		(c&ctlDisconnect != 0 && removed >= s.disconnectAt.Load() && !s.midFrame) ||
		(c&ctlClose != 0 && s.ring.Len() == 0)
}

// errPeerGone is why a connection ended when the peer closed it while the
// writer waited for work, for a Conn that does not say why (Err nil).
var errPeerGone = errors.New("lazy: connection closed by peer")

// peerGone returns why the peer ended conn: the Conn's own reason (an EOF, a
// reset, a WebSocket close code and reason) when it gives one.
func peerGone(conn transport.Conn) error {
	if err := conn.Err(); err != nil {
		return err
	}
	return errPeerGone
}

// idleSchedules maps the configured strategy to its handoff schedule.
var idleSchedules = [...]handoff.Schedule{
	IdleBackoff: handoff.Backoff,
	IdleSpin:    handoff.SpinForever,
	IdlePark:    handoff.ParkAtOnce,
}

// wait waits for work by the idle schedule. It returns an error when the
// connection is found broken while waiting.
func (s *Sink) wait(conn transport.Conn, rounds *int) error {
	switch s.idle.Next(rounds) {
	case handoff.Spin:
		if *rounds%handoff.PollEvery == 0 {
			select {
			case <-conn.Done():
				return peerGone(conn)
			default:
			}
		}
		return nil
	case handoff.Yield:
		runtime.Gosched()
		return nil
	}
	return s.park(conn)
}

// park sleeps until a Send, a control request, or the peer wakes it. The
// parked flag is set before the last look at the ring, and a Send looks at
// it after its push, so one of the two always sees the other.
func (s *Sink) park(conn transport.Conn) error {
	s.gate.Park(s.through != nil)
	defer s.gate.Unpark()
	if s.ack.on {
		if s.busyAcked() {
			return nil
		}
	} else if s.ring.Len() > 0 || s.ctl.Load() != 0 {
		return nil
	}
	select {
	case <-s.gate.C():
		return nil
	case <-conn.Done():
		return peerGone(conn)
	}
}

// consume releases the first n messages of a then b and removes them from the
// ring, counting them under counter (written, or a drop reason) and their
// bytes under bytes when not nil. Counters move before the ring does, so that
// whoever sees the messages gone (Flush) also sees them counted. Then it
// tells a waiting Flush and a waiting SendWait that things moved.
func (s *Sink) consume(a, b []*tlv.Message, n int, counter, bytes *atomic.Uint64) {
	a, b = firstN(a, b, n)
	if bytes != nil {
		bytes.Add(batchBytes(a, b))
	}
	tlv.ReleaseAll(a)
	tlv.ReleaseAll(b)
	counter.Add(uint64(n))
	s.ring.Discard(n)
	if s.flushing.Load() != 0 {
		select {
		case s.progress <- struct{}{}:
		default:
		}
	}
	if s.waiters.Load() != 0 {
		select {
		case s.room <- struct{}{}:
		default:
		}
	}
}

// firstN returns the first n messages of a then b, as a and b.
func firstN(a, b []*tlv.Message, n int) ([]*tlv.Message, []*tlv.Message) {
	return a[:min(n, len(a))], b[:max(0, n-len(a))]
}

// batchBytes returns the size of the messages in a and b.
func batchBytes(a, b []*tlv.Message) uint64 {
	var size uint64
	for _, m := range a {
		size += uint64(m.Len())
	}
	for _, m := range b {
		size += uint64(m.Len())
	}
	return size
}

// dropAll drops everything in the ring, counted under counter: with acked
// delivery, also what was written and not acknowledged.
func (s *Sink) dropAll(counter *atomic.Uint64) {
	for {
		a, b := s.ring.Peek(MaxBatchLimit)
		if len(a) == 0 {
			break
		}
		s.consume(a, b, len(a)+len(b), counter, nil)
	}
	if s.ack.on {
		s.ackedDropped()
	}
}

// setErr records err as the sink's last error and returns it as reported.
func (s *Sink) setErr(op string, err error) error {
	e := &sink.Error{Sink: s.cfg.Name, Op: op, Err: err}
	s.mu.Lock()
	s.lastErr = e
	s.mu.Unlock()
	return e
}

func (s *Sink) lastError() error {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.lastErr
}

func (s *Sink) currentExited() chan struct{} {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.exited
}

// Connect dials now and waits until the sink is connected, gives up, or ctx
// ends. Messages sent meanwhile are queued as usual.
func (s *Sink) Connect(ctx context.Context) error {
	if s.ring.Closed() {
		return sink.ErrClosed
	}
	s.ensureWriter()
	exited := s.currentExited()
	tick := time.NewTicker(time.Millisecond)
	defer tick.Stop()
	for {
		switch s.state() {
		case sink.StateConnected:
			return nil
		case sink.StateClosed:
			return sink.ErrClosed
		}
		select {
		case <-exited:
			if s.state() == sink.StateConnected {
				return nil
			}
			return s.connectErr()
		case <-tick.C:
		case <-ctx.Done():
			return &sink.Error{Sink: s.cfg.Name, Op: "connect", Err: ctx.Err()}
		}
	}
}

func (s *Sink) connectErr() error {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.lastErr != nil {
		return s.lastErr
	}
	return &sink.Error{Sink: s.cfg.Name, Op: "connect", Err: sink.ErrNotConnected}
}

// Flush waits until every message enqueued before the call is written or
// dropped. It wakes an idle sink that still holds messages. It returns an
// error wrapping ErrConnectFailed if messages were dropped because the
// endpoint could not be reached since the previous Flush (or since New):
// like bufio.Writer's, the error reaches the first Flush after it happened,
// even when the writer gave up before Flush was called.
//
// With acked delivery, written means acknowledged: Flush returns once the
// peer has acknowledged every message enqueued before the call (or they
// were dropped), so a nil Flush says they arrived, not only that the
// kernel took them. A peer that stops acknowledging holds Flush until ctx
// ends; Disconnect and Close wait for Acks in the same way (Close up to its
// close timeout, then it drops and counts what is left).
func (s *Sink) Flush(ctx context.Context) error {
	target, removed := s.ring.Counts()
	if removed >= target {
		return s.unreportedConnectDrops()
	}
	s.flushing.Add(1)
	defer s.flushing.Add(-1)
	s.ensureWriter()
	// The progress signal wakes one waiter per batch; the ticker covers the
	// rest and the moments when no batch is written (reconnecting).
	tick := time.NewTicker(time.Millisecond)
	defer tick.Stop()
	for {
		if _, removed = s.ring.Counts(); removed >= target {
			break
		}
		s.ensureWriter() // the writer may have given up and gone idle
		select {
		case <-s.progress:
		case <-tick.C:
		case <-ctx.Done():
			return &sink.Error{Sink: s.cfg.Name, Op: "flush", Err: ctx.Err()}
		}
	}
	return s.unreportedConnectDrops()
}

// unreportedConnectDrops returns the connect error once for the drops since
// the previous Flush reported them. Comparing counters around the wait would
// race the writer: a dial that fails in microseconds drops the message
// before Flush has read the counter, and Flush would call it a success.
func (s *Sink) unreportedConnectDrops() error {
	n := s.dropConnect.Load()
	if s.connectReported.Swap(n) == n {
		return nil
	}
	return s.connectErr()
}

// Disconnect writes everything enqueued before the call, then drops the
// connection and, if nothing else is queued, ends the writer. The next Send
// wakes the sink again; under continuous load that is at once, on a fresh
// connection.
func (s *Sink) Disconnect(ctx context.Context) error {
	if err := s.Flush(ctx); err != nil {
		return err
	}
	if st := s.state(); st == sink.StateIdle || st == sink.StateClosed {
		return nil
	}
	served := s.disconnects.Load()
	pushed, _ := s.ring.Counts()
	s.disconnectAt.Store(pushed)
	s.ctl.Or(ctlDisconnect)
	s.gate.Kick()
	tick := time.NewTicker(time.Millisecond)
	defer tick.Stop()
	for {
		if s.disconnects.Load() != served {
			return nil
		}
		if st := s.state(); st == sink.StateIdle || st == sink.StateClosed {
			return nil
		}
		select {
		case <-tick.C:
		case <-ctx.Done():
			return &sink.Error{Sink: s.cfg.Name, Op: "disconnect", Err: ctx.Err()}
		}
	}
}

// Close stops new sends (they get ErrClosed), flushes for up to the close
// timeout, then drops what is left (counted as closed), closes the
// connection and ends the writer. It is idempotent; only the first call
// waits. It returns an error if messages had to be dropped.
func (s *Sink) Close() error {
	first := false
	s.closeOnce.Do(func() { first = true })
	if !first {
		return nil
	}
	s.ctl.Or(ctlClose)
	s.ring.Close()
	select { // a SendWait waiting for room returns ErrClosed
	case s.room <- struct{}{}:
	default:
	}
	droppedBefore := s.dropClosed.Load()
	deadline := time.NewTimer(s.cfg.CloseTimeout)
	defer deadline.Stop()
	for {
		w := s.gate.Word.Load()
		switch sink.State(w & stateMask) {
		case sink.StateClosed:
			s.cancel()
			s.notify.Wait() // the observers have seen every change, Closed included
			if n := s.dropClosed.Load() - droppedBefore; n > 0 {
				return &sink.Error{Sink: s.cfg.Name, Op: "close",
					Err: fmt.Errorf("dropped %d messages not written within the close timeout %v", n, s.cfg.CloseTimeout)}
			}
			return nil
		case sink.StateIdle:
			// Pending messages get a writer to flush them; none, and we are done.
			if s.ring.Len() > 0 {
				s.startIfIdle(w)
			} else if s.gate.Word.CompareAndSwap(w, uint32(sink.StateClosed)) {
				s.changed(sink.StateIdle, sink.StateClosed, nil)
			}
			continue
		}
		exited := s.currentExited()
		s.gate.Kick()
		select {
		case <-exited:
		case <-deadline.C:
			s.abort()
			<-exited
		}
	}
}

// abort makes the writer give up at once: no more dials, the blocked write
// broken, what is left dropped.
func (s *Sink) abort() {
	s.ctl.Or(ctlAbort)
	s.cancel()
	s.mu.Lock()
	if s.conn != nil {
		_ = s.conn.Close()
	}
	s.mu.Unlock()
	s.gate.Kick()
}

// State returns the connection state with one atomic load: cheap enough for a
// failover composite to consult on every Send.
func (s *Sink) State() sink.State { return s.state() }

// Info returns a snapshot of the sink.
func (s *Sink) Info() sink.Info {
	// Before Written: a snapshot never counts more written through than
	// written.
	through := s.wroteThrough.Load()
	high := s.ack.high.Load() // before the ring's counts: never above pushed
	pushed, removed := s.ring.Counts()
	pending, unacked := pushed-removed, uint64(0)
	if s.ack.on {
		high = max(high, removed)
		pending, unacked = pushed-high, high-removed
	}
	s.mu.Lock()
	lastErr := s.lastErr
	s.mu.Unlock()
	return sink.Info{
		Name:           s.cfg.Name,
		Kind:           s.cfg.Kind,
		Endpoint:       s.cfg.Endpoint.String(),
		State:          s.state(),
		BufferSize:     s.ring.Cap(),
		Metadata:       maps.Clone(s.cfg.Metadata), // the caller may change its copy; the sink keeps its own
		Enqueued:       pushed,
		Written:        s.written.Load(),
		WrittenBytes:   s.writtenBytes.Load(),
		WrittenThrough: through,
		Pending:        pending,
		AckedDelivery:  s.ack.on,
		Acked:          s.ack.acked.Load(),
		Unacked:        unacked,
		Resent:         s.ack.resent.Load(),
		Refused: sink.Refused{
			BufferFull: s.refFull.Load(), Closed: s.refClosed.Load(), Domain: s.refDomain.Load(),
			Precision: s.refPrec.Load(), Malformed: s.refMalformed.Load(),
		},
		Dropped: sink.Dropped{
			ConnectFailed: s.dropConnect.Load(), Stale: s.dropStale.Load(), Closed: s.dropClosed.Load(),
		},
		ConnectAttempts: s.attempts.Load(),
		Reconnects:      s.reconnects.Load(),
		LastError:       lastErr,
	}
}
