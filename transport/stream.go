package transport

import (
	"errors"
	"net"
	"sync"
	"sync/atomic"
	"syscall"
	"time"

	"github.com/msgsink/msgsink/internal/iovec"
	"github.com/msgsink/msgsink/tlv"
)

const (
	// coalesceBufSize is the writer-owned buffer small frames are copied into.
	// 64 KiB holds a full batch of 1024 64-byte messages; 256 KiB measured no
	// faster for batches of larger frames.
	coalesceBufSize = 64 << 10
	// defaultCoalesceMax is the largest frame copied into the coalescing
	// buffer; larger frames go to writev as their own iovec. On the reference
	// machine (BenchmarkCoalesceThreshold) copying is faster up to 512 bytes;
	// at 1 KiB it ties over Unix sockets and loses over TCP in large batches
	// (a 64 KiB buffer means more, smaller writes), and from 2 KiB it loses.
	defaultCoalesceMax = 512
	// readBufSize is the buffer the reader goroutine discards into: peers of a
	// sink send nothing, so it only has to notice EOF.
	readBufSize = 512
)

// StreamConn is a Conn over a Unix or TCP stream socket. It writes each batch
// with one writev (more only when the batch has over 1024 iovecs, overflows
// the 64 KiB coalescing buffer, or the socket takes it in parts): frames up to
// 512 bytes are copied into a writer-owned buffer and sent as one iovec per
// run of small frames, larger frames go as their own iovec straight from the
// message's buffer.
//
// WriteBatch and SetWriteDeadline belong to one goroutine (the sink's writer);
// Done, Err, BytesDiscarded and Close may be called from any goroutine.
type StreamConn struct {
	conn     net.Conn // a *net.UnixConn or *net.TCPConn
	rc       syscall.RawConn
	endpoint string

	// Writer state, owned by the goroutine in WriteBatch.
	w           iovec.Writer // the iovecs of the chunk being built, and their writev
	buf         []byte       // coalescing buffer, never grown, so iovecs may point into it
	runStart    int          // start in buf of the run the last iovec covers, or -1
	coalesceMax int          // defaultCoalesceMax (at most coalesceBufSize); benchmarks vary it
	sent        int64        // bytes written by the current WriteBatch
	// skip is how much of the next WriteBatch's first message TryWrite has
	// already written.
	skip   int
	failed error // the error of the WriteBatch that failed, which ends the stream

	done      chan struct{} // closed when the reader goroutine returns
	readErr   error         // why the reader returned; read only after done
	discarded atomic.Uint64
	rbuf      [readBufSize]byte
	in        inbound // the frames handler, when SetInbound set one

	closeOnce sync.Once
	closeErr  error
}

var (
	_ TryWriter   = (*StreamConn)(nil)
	_ InboundConn = (*StreamConn)(nil)
)

// SetInbound implements InboundConn.
func (c *StreamConn) SetInbound(fn func(frame []byte)) { c.in.set(fn) }

// NewStreamConn wraps a connected *net.UnixConn or *net.TCPConn, for example
// one accepted by a relay, and takes ownership of it: Close closes it. It turns
// TCP_NODELAY on and starts the goroutine that watches the read side.
func NewStreamConn(nc net.Conn) (*StreamConn, error) {
	var endpoint string
	switch nc.(type) {
	case *net.TCPConn:
		endpoint = "tcp://" + nc.RemoteAddr().String()
	case *net.UnixConn:
		// The path is the remote name of a dialed connection and the local
		// name of an accepted one, whose peer is unnamed.
		endpoint = "unix://"
		for _, a := range []net.Addr{nc.RemoteAddr(), nc.LocalAddr()} {
			if a == nil {
				continue
			}
			if s := a.String(); s != "" && s != "@" && s != "<nil>" {
				endpoint += s
				break
			}
		}
	default:
		return nil, errors.New("transport: NewStreamConn takes a *net.UnixConn or *net.TCPConn")
	}
	return newStreamConn(nc, endpoint)
}

func newStreamConn(nc net.Conn, endpoint string) (*StreamConn, error) {
	if tc, ok := nc.(*net.TCPConn); ok {
		if err := tc.SetNoDelay(true); err != nil {
			return nil, &OpError{Op: "dial", Endpoint: endpoint, Err: unwrapNetOpError(err)}
		}
	}
	rc, err := nc.(syscall.Conn).SyscallConn()
	if err != nil {
		return nil, &OpError{Op: "dial", Endpoint: endpoint, Err: err}
	}
	c := &StreamConn{
		conn:        nc,
		rc:          rc,
		endpoint:    endpoint,
		buf:         make([]byte, 0, coalesceBufSize),
		runStart:    -1,
		coalesceMax: defaultCoalesceMax,
		done:        make(chan struct{}),
	}
	c.w.Init()
	go c.readLoop()
	return c, nil
}

// WriteBatch implements Conn: it writes a then b, whole messages in order, and
// returns how many were written whole. It does not allocate unless it fails;
// errors are *OpError with Op "write". After an error every later call
// returns 0 and the same error at once: the stream may end in part of a
// frame, so nothing more may follow it.
func (c *StreamConn) WriteBatch(a, b []*tlv.Message) (int, error) {
	if c.failed != nil {
		return 0, c.failed
	}
	if len(a)+len(b) == 0 {
		return 0, nil // keeps skip for the batch that brings its message
	}
	// The bytes of a[0] that TryWrite wrote count as sent, so that a
	// failure counts whole messages right.
	skip := c.skip
	c.sent, c.skip = int64(skip), 0
	for _, ms := range [...][]*tlv.Message{a, b} {
		for _, m := range ms {
			p := m.Bytes()[skip:]
			skip = 0
			if c.add(p) {
				continue
			}
			if err := c.flush(); err != nil {
				return c.fail(a, b, err)
			}
			c.add(p) // always fits an empty chunk
		}
	}
	if err := c.flush(); err != nil {
		return c.fail(a, b, err)
	}
	return len(a) + len(b), nil
}

// add appends frame p to the chunk being built, or reports that the chunk is
// full (out of iovecs or coalescing buffer) and must be flushed first.
func (c *StreamConn) add(p []byte) bool {
	switch {
	case len(p) == 0:
		return true
	case len(p) <= c.coalesceMax:
		n := len(c.buf)
		if n+len(p) > cap(c.buf) {
			return false
		}
		if c.runStart < 0 {
			if c.w.N == iovec.Max {
				return false
			}
			c.runStart = n
			c.w.N++
		}
		c.buf = append(c.buf, p...)
		v := &c.w.Iov[c.w.N-1]
		v.Base = &c.buf[c.runStart]
		v.SetLen(len(c.buf) - c.runStart)
	default:
		if c.w.N == iovec.Max {
			return false
		}
		c.w.Iov[c.w.N].Base = &p[0]
		c.w.Iov[c.w.N].SetLen(len(p))
		c.w.N++
		c.runStart = -1
	}
	return true
}

// flush writes the chunk through the netpoller: RawConn.Write calls writev
// until it reports EAGAIN, parks the goroutine until the socket is writable,
// and returns when writev is done or the poller fails (Close, deadline).
func (c *StreamConn) flush() error {
	if c.w.N == 0 {
		return nil
	}
	n, err := c.w.Write(c.rc)
	c.sent += int64(n)
	c.buf, c.runStart = c.buf[:0], -1
	if err != nil {
		return unwrapNetOpError(err)
	}
	return nil
}

// TryWrite implements TryWriter: one writev of m on the non-blocking
// socket, through RawConn.Write with a callback that never asks the poller
// to wait. The vector is empty: WriteBatch leaves it so, and TryWrite runs
// only while the writer is parked.
func (c *StreamConn) TryWrite(m *tlv.Message) (bool, error) {
	if c.failed != nil {
		return false, c.failed
	}
	if c.skip != 0 {
		return false, nil // part of a message is out: only WriteBatch may go on
	}
	p := m.Bytes()
	c.w.Iov[0].Base = &p[0]
	c.w.Iov[0].SetLen(len(p))
	c.w.N = 1
	n, err := c.w.Try(c.rc)
	if err != nil {
		c.failed = &OpError{Op: "write", Endpoint: c.endpoint, Err: unwrapNetOpError(err)}
		return false, c.failed
	}
	if n < len(p) {
		c.skip = n
		return false, nil
	}
	return true, nil
}

// fail returns the number of messages of a then b that were written whole
// before err, with err as an *OpError. The rest of the chunk was dropped by
// flush.
func (c *StreamConn) fail(a, b []*tlv.Message, err error) (int, error) {
	c.failed = &OpError{Op: "write", Endpoint: c.endpoint, Err: err}
	return wholeMessages(a, b, c.sent), c.failed
}

// wholeMessages counts the messages of a then b that end within the first w
// bytes of their concatenation.
func wholeMessages(a, b []*tlv.Message, w int64) int {
	n := 0
	for _, ms := range [...][]*tlv.Message{a, b} {
		for _, m := range ms {
			l := int64(m.Len())
			if l > w {
				return n
			}
			w -= l
			n++
		}
	}
	return n
}

// SetWriteDeadline bounds WriteBatch, like net.Conn's: a WriteBatch still
// blocked at t returns an error matching os.ErrDeadlineExceeded, with the count
// of messages written whole. The zero time means no deadline.
func (c *StreamConn) SetWriteDeadline(t time.Time) error { return c.conn.SetWriteDeadline(t) }

// readLoop watches the read side. Peers never send on these streams: what
// arrives is counted and dropped, and EOF or an error means the connection is
// gone even though no write has failed yet.
func (c *StreamConn) readLoop() {
	defer close(c.done)
	for {
		n, err := c.conn.Read(c.rbuf[:])
		c.discarded.Add(uint64(c.in.feed(c.rbuf[:n])))
		if err != nil {
			c.readErr = &OpError{Op: "read", Endpoint: c.endpoint, Err: unwrapNetOpError(err)}
			return
		}
	}
}

// Done implements Conn. It is also closed once Close has returned.
func (c *StreamConn) Done() <-chan struct{} { return c.done }

// Err returns nil while Done is open, then why it closed: an *OpError with Op
// "read" whose cause is io.EOF when the peer closed the connection, or
// net.ErrClosed after Close.
func (c *StreamConn) Err() error {
	select {
	case <-c.done:
		return c.readErr
	default:
		return nil
	}
}

// BytesDiscarded returns how many bytes the peer sent that were dropped:
// all of them, unless SetInbound took its frames.
func (c *StreamConn) BytesDiscarded() uint64 { return c.discarded.Load() }

// Close implements Conn. It closes the socket, which makes a WriteBatch blocked
// on a full socket return an error matching net.ErrClosed, and waits for the
// reader goroutine to return. Later calls return the first call's result.
func (c *StreamConn) Close() error {
	c.closeOnce.Do(func() {
		c.closeErr = c.conn.Close()
		<-c.done
	})
	return c.closeErr
}

// unwrapNetOpError drops net.OpError's wrapping: OpError already names the
// operation and the endpoint.
func unwrapNetOpError(err error) error {
	if oe, ok := err.(*net.OpError); ok && oe.Err != nil {
		return oe.Err
	}
	return err
}
