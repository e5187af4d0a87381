package relay

import (
	"context"
	"errors"
	"io"
	"net"
	"sync"
	"time"

	"github.com/msgsink/msgsink/internal/inbound"
	"github.com/msgsink/msgsink/tlv"
	"github.com/msgsink/msgsink/transport"
)

// SubscriberSource is the header source of the Subscribe frame a Subscriber
// sends: the first system service type (SPEC section 1, system 60–79).
const SubscriberSource = 60

// subscriberBufSize is the Subscriber's read buffer: one read takes what a
// relay's writev of a busy feed put on the socket.
const subscriberBufSize = 64 << 10

// Subscriber is a relay consumer: it subscribes and returns the frames the
// relay forwards, one at a time, as views into its own read buffer. Next
// belongs to one goroutine; Close may be called from any goroutine, also
// while Next is blocked, which then returns an error matching net.ErrClosed.
type Subscriber struct {
	nc       net.Conn
	endpoint string
	framer   tlv.Validator // frames by header only: the relay validated the rest
	buf      []byte
	r, w     int   // buf[r:w] is read and not yet returned
	err      error // the read error to return once buf[r:w] is used up

	closeOnce sync.Once
	closeErr  error
}

// Subscribe connects to the relay at e (unix or tcp) and sends the Subscribe
// frame (system domain, source SubscriberSource, role tlv.RoleConsumer);
// ctx bounds both. The relay forwards to the Subscriber every frame that
// arrives once it has read the Subscribe frame. Errors are
// *transport.OpError, which unwraps to the cause (syscall.ECONNREFUSED,
// context.DeadlineExceeded, ...).
func Subscribe(ctx context.Context, e transport.Endpoint) (*Subscriber, error) {
	opErr := func(op string, err error) error {
		var oe *net.OpError
		if errors.As(err, &oe) && oe.Err != nil {
			err = oe.Err
		}
		return &transport.OpError{Op: op, Endpoint: e.String(), Err: err}
	}
	if e.Scheme != "unix" && e.Scheme != "tcp" {
		return nil, opErr("dial", transport.ErrUnsupportedScheme)
	}
	var d net.Dialer
	nc, err := d.DialContext(ctx, e.Scheme, e.Addr)
	if err != nil {
		return nil, opErr("dial", err)
	}
	b := tlv.NewBuilder(tlv.DomainSystem, SubscriberSource)
	b.AppendSubscribe(tlv.RoleConsumer)
	m, err := b.Finish()
	if err != nil {
		_ = nc.Close()
		return nil, err
	}
	defer m.Release()
	deadline, _ := ctx.Deadline()
	_ = nc.SetWriteDeadline(deadline)
	if _, err := nc.Write(m.Bytes()); err != nil {
		_ = nc.Close()
		return nil, opErr("write", err)
	}
	_ = nc.SetWriteDeadline(time.Time{})
	return &Subscriber{nc: nc, endpoint: e.String(), buf: make([]byte, subscriberBufSize)}, nil
}

// Next returns the next frame the relay forwarded: a view into the
// Subscriber's buffer, valid until the next call to Next. It checks the
// frame's header (the framing fields, against tlv.MaxMessageSize) and nothing
// more, since the relay validated the frame. It returns io.EOF when the relay
// closed the connection between frames, io.ErrUnexpectedEOF when it did in the
// middle of one (a relay that died mid-write, or dropped a lagging consumer),
// and otherwise a *transport.OpError with Op "read". Next does not allocate
// except to grow the buffer for a frame over 64 KiB.
func (s *Subscriber) Next() (tlv.Frame, error) {
	for {
		need := tlv.HeaderSize
		if avail := s.w - s.r; avail >= tlv.HeaderSize {
			n, err := s.framer.FrameSize(s.buf[s.r:s.w])
			if err != nil {
				return nil, err
			}
			if avail >= n {
				f := s.buf[s.r : s.r+n : s.r+n]
				s.r += n
				return tlv.Frame(f), nil
			}
			need = n
		}
		if s.err != nil {
			if s.err == io.EOF && s.w > s.r {
				return nil, io.ErrUnexpectedEOF
			}
			return nil, s.err
		}
		s.fill(need)
	}
}

// fill reads once into the buffer, first making room for a frame of need
// bytes at r, by the rule of the relay's own reads (stream.makeRoom): the
// partial frame moves to the front, or to a larger buffer, only when the frame
// does not fit or a small one is left with less than inbound.MinRead to read into.
func (s *Subscriber) fill(need int) {
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
	n, err := s.nc.Read(s.buf[s.w:])
	s.w += n
	if err != nil {
		if err != io.EOF {
			var oe *net.OpError
			if errors.As(err, &oe) && oe.Err != nil {
				err = oe.Err
			}
			err = &transport.OpError{Op: "read", Endpoint: s.endpoint, Err: err}
		}
		s.err = err
	}
}

// Buffered returns the number of bytes read from the relay and not yet
// returned by Next: a caller that batches its own output flushes when it is
// zero.
func (s *Subscriber) Buffered() int { return s.w - s.r }

// Close closes the connection; the relay counts the consumer as gone. It is
// idempotent and returns the first call's result.
func (s *Subscriber) Close() error {
	s.closeOnce.Do(func() { s.closeErr = s.nc.Close() })
	return s.closeErr
}
