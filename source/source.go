package source

import (
	"context"
	"errors"
	"fmt"
	"io"
	"net"
	"sync"
	"sync/atomic"
	"time"

	"github.com/msgsink/msgsink/internal/checked"
	"github.com/msgsink/msgsink/internal/inbound"
	"github.com/msgsink/msgsink/relay"
	"github.com/msgsink/msgsink/sink"
	"github.com/msgsink/msgsink/tlv"
	"github.com/msgsink/msgsink/transport"
)

// readBufSize is the read buffer a Source starts with: one read takes what a
// relay's writev of a busy feed put on the socket.
const readBufSize = 64 << 10

// Source is a relay consumer that connects on its first Next, subscribes,
// and reconnects and subscribes again whenever the connection ends (SPEC
// section 9a). Next belongs to one goroutine at a time; Close and Info are
// safe from any goroutine.
type Source struct {
	cfg       Config
	subscribe []byte // the Subscribe frame, built once

	// Reader side: owned by the goroutine in Next.
	nc      net.Conn // the live connection, nil when there is none
	buf     []byte
	r, w    int   // buf[r:w] is read and not yet returned
	readErr error // why the connection ended, once buf[r:w] holds no whole frame
	lost    bool  // a connection was lost: wait before the next dial
	seq     Tracker
	// dirty marks the producers whose counts changed since publish, which
	// runs when Next has returned all it read and before each read; nDirty
	// > 0 says some did.
	dirty    [256]bool
	dirtyIDs [256]uint8
	nDirty   int
	bytes    uint64 // bytes of the frames returned
	invalid  uint64

	// Published counters, read by Info: stored by the reader once per read.
	state                                    atomic.Uint32 // a sink.State
	frames, frameBytes, gaps, dups, restarts atomic.Uint64
	invalidPub, attempts, reconnects         atomic.Uint64
	lagged, relayDropped                     atomic.Uint64
	per                                      [256]published

	inNext atomic.Bool // checked build: a Next (or Connect) is running

	// Close's side.
	ctx       context.Context
	cancel    context.CancelFunc // ends a dial or a backoff at Close
	closeOnce sync.Once
	mu        sync.Mutex
	conn      net.Conn // under mu: what Close must close
	lastErr   error    // under mu
}

// published are the counts of one producer, as Info sees them.
type published struct {
	seen                               atomic.Bool
	frames, gaps, duplicates, restarts atomic.Uint64
}

// New returns an idle Source: nothing is dialed until the first Next. It
// refuses a Config it cannot use with an *Error (Op "new") that matches
// sink.ErrInvalidConfig and names the setting.
func New(cfg Config) (*Source, error) {
	cfg, err := cfg.settings()
	if err != nil {
		return nil, err
	}
	b := tlv.NewBuilder(tlv.DomainSystem, tlv.SubscribeSource)
	b.AppendSubscribe(tlv.RoleConsumer)
	m, err := b.Finish()
	if err != nil {
		return nil, &Error{Source: cfg.Name, Op: "new", Err: err}
	}
	defer m.Release()
	s := &Source{
		cfg:       cfg,
		subscribe: append([]byte(nil), m.Bytes()...),
		buf:       make([]byte, readBufSize),
	}
	s.ctx, s.cancel = context.WithCancel(context.Background())
	return s, nil
}

// Next returns the next frame: a zero-copy view into the Source's read
// buffer, valid until the next call to Next, checked by Config.Validator.
// Duplicates (a sequence at or below one already returned for the same
// producer) are dropped; frames a broken connection cut short are never
// returned. The first call connects and subscribes; when the connection
// ends, Next reconnects with the retry schedule, subscribes again and goes
// on, blocking meanwhile. It does not allocate, except to grow the buffer
// for a frame larger than it.
//
// Errors: after Close (also one that ends a blocked Next), an *Error
// matching sink.ErrClosed; when the schedule's MaxAttempts dials fail, an
// *Error matching sink.ErrConnectFailed (the next call tries again); when
// the relay dropped the Source for lagging, a *LaggedError (the next call
// subscribes again).
//
// Next belongs to one goroutine at a time: the checked build
// (-tags msgsink_checked) panics when two call it at once.
func (s *Source) Next() (tlv.Frame, error) {
	if checked.On {
		s.enterNext()
		defer s.inNext.Store(false)
	}
	if s.isClosed() {
		return nil, s.closedErr()
	}
	for {
		need := tlv.HeaderSize
		if avail := s.w - s.r; avail >= tlv.HeaderSize {
			b := s.buf[s.r:s.w]
			// When the frame the header announces is all here, accept's
			// Parse checks its framing too: FrameSize only runs for a frame
			// not yet whole, whose header must be sound before Next waits
			// for the rest.
			n := inbound.FrameLen(b)
			if n > avail || n > s.cfg.Validator.MaxSize {
				var err error
				if n, err = s.cfg.Validator.FrameSize(b); err != nil {
					s.refuse(err) // out of step with the stream: reconnect
					continue
				}
			}
			if n <= avail {
				f := tlv.Frame(b[:n:n])
				s.r += n
				if f, ok, err := s.accept(f); ok || err != nil {
					return f, err
				}
				continue
			}
			need = n
		}
		if err := s.more(need); err != nil {
			return nil, err
		}
	}
}

// accept decides what to do with a whole frame just cut from the stream:
// return it (ok), skip it, or end Next with an error.
func (s *Source) accept(f tlv.Frame) (tlv.Frame, bool, error) {
	h := f.Header()
	if h.Domain() == tlv.DomainSystem && h.Source() == relay.ControlSource {
		if err := s.notice(f); err != nil {
			return nil, false, err
		}
	}
	if _, err := s.cfg.Validator.Parse(f); err != nil {
		s.refuse(err)
		return nil, false, nil
	}
	src := h.Source()
	dup := s.seq.Observe(src, h.Sequence())
	if !s.dirty[src] {
		s.dirty[src] = true
		s.dirtyIDs[s.nDirty] = src
		s.nDirty++
	}
	if !dup {
		s.bytes += uint64(len(f))
	}
	if s.r == s.w {
		s.publish() // the caller has everything read so far
	}
	return f, !dup, nil
}

// notice handles a relay's control frame: a Disconnect before it drops the
// Source for lagging ends the connection and is returned as a *LaggedError.
func (s *Source) notice(f tlv.Frame) error {
	if _, err := (tlv.Validator{Domain: tlv.DomainSystem}).Parse(f); err != nil {
		return nil // not a notice; Next's own validation decides
	}
	it := f.Records()
	if !it.Next() || it.Type() != tlv.TypeDisconnect {
		return nil
	}
	v, err := tlv.AsDisconnect(it.Value())
	if err != nil || v.Reason() != tlv.DisconnectLagged {
		return nil
	}
	s.lagged.Add(1)
	s.relayDropped.Add(v.Dropped())
	err = &LaggedError{Source: s.cfg.Name, Dropped: v.Dropped()}
	s.setErr(err)
	s.cfg.Logger.Warn("source: dropped by the relay for lagging", "source", s.cfg.Name, "dropped", v.Dropped())
	s.drop()
	s.lost = false // the relay is there: subscribe again at once
	s.reconnects.Add(1)
	s.publish()
	return err
}

// refuse counts a frame that failed validation (or a stream out of step)
// and drops the connection: what follows a bad frame cannot be trusted.
// The new connection waits one step of the schedule, as after a loss, so
// that a Validator that refuses every frame does not hammer the relay.
func (s *Source) refuse(err error) {
	s.invalid++
	s.setErr(&Error{Source: s.cfg.Name, Op: "read", Err: err})
	s.cfg.Logger.Warn("source: invalid frame; reconnecting", "source", s.cfg.Name, "err", err)
	s.drop()
	s.lost = true
	s.reconnects.Add(1)
	s.publish()
}

// more gets more bytes for the frame at r, of need bytes (tlv.HeaderSize
// while its header is not in): from the live connection, or from a new one
// when there is none or it ended.
func (s *Source) more(need int) error {
	if s.isClosed() {
		return s.closedErr()
	}
	if s.nc != nil && s.readErr == nil {
		s.fill(need)
		return nil
	}
	s.lose()
	return s.connect(s.ctx)
}

// lose ends a connection that broke (readErr is set): what is left in
// buf[r:w] is a torn frame, dropped with it.
func (s *Source) lose() {
	if s.nc != nil {
		s.setErr(s.readErr)
		s.cfg.Logger.Info("source: connection lost", "source", s.cfg.Name, "err", s.readErr)
		s.drop()
		s.lost = true
		s.reconnects.Add(1)
	}
	s.publish()
}

// Connect connects and subscribes now instead of on the first Next, and
// returns once the Subscribe frame is written (at once when already
// connected; the relay forwards what arrives after it reads it), when the
// schedule's MaxAttempts dials have failed, or when ctx ends (ctx.Err()).
// Like Next, it belongs to one goroutine at a time: call it from the
// reading goroutine, before its Next.
func (s *Source) Connect(ctx context.Context) error {
	if checked.On {
		s.enterNext()
		defer s.inNext.Store(false)
	}
	if s.isClosed() {
		return s.closedErr()
	}
	if s.nc != nil && s.readErr == nil {
		return nil
	}
	s.lose()
	cctx, cancel := context.WithCancel(s.ctx)
	defer cancel()
	defer context.AfterFunc(ctx, cancel)()
	err := s.connect(cctx)
	if err != nil && !s.isClosed() && ctx.Err() != nil {
		return ctx.Err()
	}
	return err
}

// fill reads once into the buffer, first making room for the frame at r, of
// need bytes: the partial frame moves to the front, or to a larger buffer,
// only when it does not fit or fewer than inbound.MinRead bytes are left to
// read into, so that a busy stream is never read a few bytes at a time.
func (s *Source) fill(need int) {
	if s.r == s.w {
		s.r, s.w = 0, 0
	}
	size := len(s.buf)
	if size-s.r < need || size-s.w < inbound.MinRead && need < inbound.MinRead {
		buf := s.buf
		if need > size {
			buf = make([]byte, max(need, 2*size))
		}
		s.w = copy(buf, s.buf[s.r:s.w])
		s.r, s.buf = 0, buf
	}
	if s.nDirty > 0 {
		s.publish() // what Next returned before it waits: Info is exact while Next blocks
	}
	n, err := s.nc.Read(s.buf[s.w:])
	s.w += n
	if err != nil {
		if err == io.EOF {
			err = errRelayGone
		}
		s.readErr = &Error{Source: s.cfg.Name, Op: "read", Err: &transport.OpError{
			Op: "read", Endpoint: s.cfg.Endpoint.String(), Err: unwrapNetOpError(err)}}
	}
}

// errRelayGone is the cause of a connection the relay closed.
var errRelayGone = errors.New("the relay closed the connection (stopped, restarted or crashed)")

// drop closes the live connection and forgets what was read from it.
func (s *Source) drop() {
	s.mu.Lock()
	s.conn = nil
	s.mu.Unlock()
	if s.nc != nil {
		_ = s.nc.Close()
	}
	s.nc, s.readErr = nil, nil
	s.r, s.w = 0, 0
}

// connect dials and subscribes by the retry schedule, first waiting one
// step when a connection was just lost.
func (s *Source) connect(ctx context.Context) error {
	attempt := 0
	if s.lost {
		s.setState(sink.StateBackoff)
		if !s.sleep(ctx, s.cfg.Retry.Delay(1)) {
			return s.stopped(ctx)
		}
	}
	for {
		if s.isClosed() || ctx.Err() != nil {
			return s.stopped(ctx)
		}
		s.setState(sink.StateConnecting)
		s.attempts.Add(1)
		nc, err := s.dial(ctx)
		if err == nil {
			// Close stores its state before it takes mu: seen here, or
			// Close finds the connection in conn and closes it.
			s.mu.Lock()
			if s.isClosed() {
				s.mu.Unlock()
				_ = nc.Close()
				return s.closedErr()
			}
			s.conn = nc
			s.mu.Unlock()
			s.nc, s.lost = nc, false
			s.setState(sink.StateConnected)
			return nil
		}
		if s.isClosed() || ctx.Err() != nil {
			return s.stopped(ctx)
		}
		err = &Error{Source: s.cfg.Name, Op: "connect", Err: err}
		s.setErr(err)
		attempt++
		if m := s.cfg.Retry.MaxAttempts; m > 0 && attempt >= m {
			s.lost = false
			s.setState(sink.StateIdle)
			return err
		}
		s.setState(sink.StateBackoff)
		s.cfg.Logger.Info("source: connect failed; backing off", "source", s.cfg.Name, "err", err)
		if !s.sleep(ctx, s.cfg.Retry.Delay(attempt)) {
			return s.stopped(ctx)
		}
	}
}

// stopped is connect's answer when Close (or Connect's ctx) ended it.
func (s *Source) stopped(ctx context.Context) error {
	if s.isClosed() {
		return s.closedErr()
	}
	s.setState(sink.StateIdle)
	return ctx.Err()
}

// dial connects and sends the Subscribe frame, both within ConnectTimeout.
func (s *Source) dial(ctx context.Context) (net.Conn, error) {
	e := s.cfg.Endpoint
	opErr := func(op string, err error) error { // the hints ask about the relay
		return &transport.OpError{Op: op, Endpoint: e.String(), Relay: true, Err: unwrapNetOpError(err)}
	}
	ctx, cancel := context.WithTimeout(ctx, s.cfg.ConnectTimeout)
	defer cancel()
	var d net.Dialer
	nc, err := d.DialContext(ctx, e.Scheme, e.Addr)
	if err != nil {
		return nil, opErr("dial", err)
	}
	deadline, _ := ctx.Deadline()
	_ = nc.SetWriteDeadline(deadline)
	if _, err := nc.Write(s.subscribe); err != nil {
		_ = nc.Close()
		return nil, opErr("write", err)
	}
	_ = nc.SetWriteDeadline(time.Time{})
	return nc, nil
}

// sleep waits d unless ctx ends first (Close ends every ctx connect is
// given); it reports whether to go on.
func (s *Source) sleep(ctx context.Context, d time.Duration) bool {
	t := time.NewTimer(d)
	defer t.Stop()
	select {
	case <-t.C:
		return true
	case <-ctx.Done():
		return false
	}
}

func (s *Source) isClosed() bool { return sink.State(s.state.Load()) == sink.StateClosed }

// closedErr is Next's error after Close. It drops what the reader held.
func (s *Source) closedErr() error {
	s.drop()
	s.publish()
	return &Error{Source: s.cfg.Name, Op: "next", Err: sink.ErrClosed}
}

// publish makes the reader's counts visible to Info: about once per read,
// not once per frame, so that Next stays cheap.
func (s *Source) publish() {
	all := &s.seq.all
	s.frameBytes.Store(s.bytes) // bytes before frames, as Info reads them
	s.frames.Store(all.Frames)
	s.gaps.Store(all.Gaps)
	s.dups.Store(all.Duplicates)
	s.restarts.Store(all.Restarts)
	s.invalidPub.Store(s.invalid)
	for _, src := range s.dirtyIDs[:s.nDirty] {
		p, c := &s.per[src], &s.seq.per[src]
		p.frames.Store(c.Frames)
		p.gaps.Store(c.Gaps)
		p.duplicates.Store(c.Duplicates)
		p.restarts.Store(c.Restarts)
		p.seen.Store(true)
		s.dirty[src] = false
	}
	s.nDirty = 0
}

// setState moves to st, unless the Source is closed, and logs the change.
func (s *Source) setState(st sink.State) {
	for {
		old := s.state.Load()
		if sink.State(old) == sink.StateClosed || sink.State(old) == st {
			return
		}
		if s.state.CompareAndSwap(old, uint32(st)) {
			s.cfg.Logger.Debug("source: state", "source", s.cfg.Name, "from", sink.State(old).String(), "to", st.String())
			return
		}
	}
}

func (s *Source) setErr(err error) {
	s.mu.Lock()
	s.lastErr = err
	s.mu.Unlock()
}

// enterNext catches, in the checked build, a second goroutine calling
// Next while one is in it.
func (s *Source) enterNext() {
	if !s.inNext.CompareAndSwap(false, true) {
		panic(fmt.Sprintf("source: concurrent Next on source %q: Next belongs to one goroutine at a time "+
			"(give each goroutine its own Source, or hand frames on from one reader)", s.cfg.Name))
	}
}

// Buffered returns the number of bytes read and not yet returned by Next: a
// caller that batches its own output flushes it when this is zero. It
// belongs to Next's goroutine.
func (s *Source) Buffered() int { return s.w - s.r }

// Close ends the Source: it closes the connection, which ends a Next
// blocked on it, and ends a dial or backoff in progress; Next then returns
// an error matching sink.ErrClosed, at once in every later call. Close may
// be called from any goroutine, and is idempotent.
func (s *Source) Close() error {
	s.closeOnce.Do(func() {
		s.state.Store(uint32(sink.StateClosed)) // before mu: connect checks it under mu
		s.cfg.Logger.Info("source: closed", "source", s.cfg.Name)
		s.mu.Lock()
		nc := s.conn
		s.conn = nil
		s.mu.Unlock()
		s.cancel()
		if nc != nil {
			_ = nc.Close()
		}
	})
	return nil
}

// Info is a snapshot of a Source. Its counters are monotonic. The reader
// publishes them when Next has returned everything read so far and before
// it waits for more, not per frame: while the caller works through one
// read's frames, a snapshot may trail Next by those.
type Info struct {
	Name     string     `json:"name"`
	Endpoint string     `json:"endpoint"`
	State    sink.State `json:"state"`
	// SourceCounts are the totals over every producer: frames returned,
	// gaps (sequences never seen), duplicates dropped, restarts.
	SourceCounts
	// Bytes is the size of the frames returned.
	Bytes uint64 `json:"bytes"`
	// PerSource holds the counts of each producer (header source) heard
	// from.
	PerSource map[uint8]SourceCounts `json:"per_source,omitempty"`
	// Invalid counts frames that failed the Validator (or a stream out of
	// step), each followed by a new connection.
	Invalid uint64 `json:"invalid"`
	// ConnectAttempts counts dials started; Reconnects counts connections
	// that ended after they were made (the relay went away, dropped the
	// Source for lagging, or sent an invalid frame), each followed by a new
	// one.
	ConnectAttempts uint64 `json:"connect_attempts"`
	Reconnects      uint64 `json:"reconnects"`
	// Lagged counts the times the relay dropped the Source for lagging;
	// RelayDropped sums the frames the relay said it dropped for it then.
	Lagged       uint64 `json:"lagged"`
	RelayDropped uint64 `json:"relay_dropped"`
	// LastError is the most recent connect, read, validation or lag
	// error, nil if none; it stays after the Source recovers.
	LastError error `json:"-"`
}

// Info returns a snapshot of the Source's state and counters.
func (s *Source) Info() Info {
	i := Info{
		Name:     s.cfg.Name,
		Endpoint: s.cfg.Endpoint.String(),
		State:    sink.State(s.state.Load()),
	}
	i.Frames = s.frames.Load()
	i.Bytes = s.frameBytes.Load()
	i.Gaps = s.gaps.Load()
	i.Duplicates = s.dups.Load()
	i.Restarts = s.restarts.Load()
	i.Invalid = s.invalidPub.Load()
	i.ConnectAttempts = s.attempts.Load()
	i.Reconnects = s.reconnects.Load()
	i.Lagged = s.lagged.Load()
	i.RelayDropped = s.relayDropped.Load()
	for src := range s.per {
		p := &s.per[src]
		if !p.seen.Load() {
			continue
		}
		if i.PerSource == nil {
			i.PerSource = make(map[uint8]SourceCounts)
		}
		i.PerSource[uint8(src)] = SourceCounts{Frames: p.frames.Load(), Gaps: p.gaps.Load(),
			Duplicates: p.duplicates.Load(), Restarts: p.restarts.Load()}
	}
	s.mu.Lock()
	i.LastError = s.lastErr
	s.mu.Unlock()
	return i
}

// unwrapNetOpError drops net.OpError's wrapping: transport.OpError already
// names the operation and the endpoint.
func unwrapNetOpError(err error) error {
	var oe *net.OpError
	if errors.As(err, &oe) && oe.Err != nil {
		return oe.Err
	}
	return err
}
