package transport

import (
	"context"
	"errors"
	"io"
	"net"
	"os"
	"sync"
	"sync/atomic"
	"syscall"
	"time"

	"golang.org/x/sys/unix"

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
	// readBufSize is the buffer the reader goroutine reads into: large, so
	// that a peer that sends a lot (heartbeats, acks, garbage) costs one read
	// per 64 KiB rather than per few hundred bytes. It is borrowed from
	// readBufs only while the socket has input, so an idle connection holds
	// none.
	readBufSize = 64 << 10
)

// readBufs holds the read buffers of every StreamConn: a reader takes one
// when the socket becomes readable and gives it back when the socket is
// drained, so a relay with many quiet connections does not keep 64 KiB for
// each.
var readBufs = sync.Pool{New: func() any { return new([readBufSize]byte) }}

// StreamConn is a Conn over a Unix or TCP stream socket. It writes each batch
// with one writev (more only when the batch has over 1024 iovecs, overflows
// the 64 KiB coalescing buffer, or the socket takes it in parts): frames up to
// 512 bytes are copied into a writer-owned buffer and sent as one iovec per
// run of small frames, larger frames go as their own iovec straight from the
// message's buffer.
//
// WriteBatch, SetWriteDeadline and Shutdown belong to one goroutine (the
// sink's writer); Done, Err, BytesDiscarded and Close may be called from any
// goroutine.
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
	in        inbound // the frames handler, when SetInbound set one
	// closing tells the reader, which may be reading a flooding peer without
	// ever meeting EAGAIN, to stop: the socket cannot close while it reads.
	closing atomic.Bool

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
	c, err := newStreamConn(nc, endpoint)
	if err != nil {
		return nil, &OpError{Op: "dial", Endpoint: endpoint, Err: err}
	}
	return c, nil
}

// newStreamConn wraps nc, or returns why it cannot: the cause, which its
// caller wraps in an *OpError.
func newStreamConn(nc net.Conn, endpoint string) (*StreamConn, error) {
	if tc, ok := nc.(*net.TCPConn); ok {
		if err := tc.SetNoDelay(true); err != nil {
			return nil, unwrapNetOpError(err)
		}
	}
	rc, err := nc.(syscall.Conn).SyscallConn()
	if err != nil {
		return nil, err
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

// readLoop watches the read side until EOF, an error or Close. Peers of a
// sink send little (acks, heartbeats), but whatever they send must be read:
// unread input makes the kernel reset the connection at close, losing what
// was still queued to send. It reads from the RawConn's callback, which the
// poller calls when the socket is readable: the callback borrows a pooled
// buffer, reads until EAGAIN, and gives it back before the goroutine parks.
func (c *StreamConn) readLoop() {
	defer close(c.done)
	var cause error
	err := c.rc.Read(func(fd uintptr) bool {
		buf := readBufs.Get().(*[readBufSize]byte)
		defer readBufs.Put(buf)
		for !c.closing.Load() {
			n, err := syscall.Read(int(fd), buf[:])
			switch {
			case n > 0:
				c.inbound(buf[:n])
			case err == syscall.EINTR:
			case err == syscall.EAGAIN:
				return false // parks until readable
			case err != nil:
				cause = os.NewSyscallError("read", err)
				return true
			default:
				cause = io.EOF
				return true
			}
		}
		cause = net.ErrClosed
		return true
	})
	if err != nil {
		cause = unwrapNetOpError(err)
	}
	c.readErr = &OpError{Op: "read", Endpoint: c.endpoint, Err: cause}
}

// inbound takes what the peer sent, as it arrives: bytes, in the order
// sent, cut anywhere. The frames handler (SetInbound: an acked sink's Acks)
// gets them; without one they are counted and dropped.
func (c *StreamConn) inbound(p []byte) { c.discarded.Add(uint64(c.in.feed(p))) }

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

// Shutdown implements Conn: shutdown(SHUT_WR), so that the peer reads
// everything written and then EOF, then reading until the peer closes its
// side, or has everything, or ctx ends; then Close. After a failed write it
// only closes.
func (c *StreamConn) Shutdown(ctx context.Context) error {
	if c.failed != nil {
		return c.Close()
	}
	if err := c.conn.(interface{ CloseWrite() error }).CloseWrite(); err != nil {
		if rerr := c.Err(); rerr != nil && !cleanEnd(rerr) {
			err = rerr // the peer reset the connection: that is the news
		} else {
			err = &OpError{Op: "shutdown", Endpoint: c.endpoint, Err: unwrapNetOpError(err)}
		}
		_ = c.Close()
		return err
	}
	return endShutdown(ctx, c, c.rc, c.endpoint)
}

// shutdownPoll is how often a Shutdown looks whether the peer has taken
// everything, while it waits.
const shutdownPoll = time.Millisecond

// endShutdown is the end of a Shutdown, once c has half-closed: it waits
// until the reader meets the peer's end (Done), or the peer has everything
// that was written (only with an rc to ask, see below), or ctx ends; closes
// c; and reports how it ended, as Conn.Shutdown documents.
//
// The peer has everything when the socket's send queue (SIOCOUTQ on rc) is
// empty: over TCP, its kernel acknowledged every byte; over a Unix socket,
// it read every byte. Closing then loses nothing even if the peer sends more
// afterwards: the reset that unread input causes throws away only a send
// queue, which is empty, and a Linux peer still reads what it had received.
// So a peer that reads to EOF but never closes its side (a naive server)
// does not hold Close for the whole timeout, and a chatty one cannot lose
// data. A chatty Unix peer may then see the end of the stream as a reset
// after the last byte instead of EOF: Linux reports unread input at close
// that way, and only the peer's own close could avoid it.
func endShutdown(ctx context.Context, c Conn, rc syscall.RawConn, endpoint string) error {
	poll := time.NewTicker(shutdownPoll)
	defer poll.Stop()
	ended := func() error {
		_ = c.Close()
		err := c.Err()
		switch {
		case cleanEnd(err):
			return nil
		case ctx.Err() != nil && errors.Is(err, net.ErrClosed):
			// ctx's end closed c (WebSocketConn.Shutdown's AfterFunc)
			// before this loop saw it: the deadline, not the peer.
			return &OpError{Op: "shutdown", Endpoint: endpoint, Err: ctx.Err()}
		}
		return err // a reset: what the peer had not read is lost
	}
	for {
		// The peer's end first: a Unix peer that closes without reading
		// empties the send queue too, and its reset says so.
		select {
		case <-c.Done():
			return ended()
		default:
		}
		if rc != nil && delivered(rc) {
			_ = c.Close()
			return nil
		}
		select {
		case <-c.Done():
			return ended()
		case <-ctx.Done():
			if rc != nil && delivered(rc) {
				_ = c.Close()
				return nil
			}
			_ = c.Close()
			return &OpError{Op: "shutdown", Endpoint: endpoint, Err: ctx.Err()}
		case <-poll.C:
		}
	}
}

// delivered reports whether the socket's send queue is empty (see
// endShutdown). A socket closed meanwhile cannot say: it reports false, and
// Done, closed by Close, says how it ended.
func delivered(rc syscall.RawConn) bool {
	queued := -1
	_ = rc.Control(func(fd uintptr) {
		if n, err := unix.IoctlGetInt(int(fd), unix.SIOCOUTQ); err == nil {
			queued = n
		}
	})
	return queued == 0
}

// cleanEnd reports whether a reader's error is the peer's orderly end:
// EOF, or a WebSocket Close frame.
func cleanEnd(err error) bool {
	var ce *CloseError
	return errors.Is(err, io.EOF) || errors.As(err, &ce)
}

// Close implements Conn. It closes the socket at once, which makes a
// WriteBatch blocked on a full socket return an error matching net.ErrClosed,
// and waits for the reader goroutine to return. Unread input then makes the
// kernel reset the connection: Shutdown is the graceful end. Later calls
// return the first call's result.
func (c *StreamConn) Close() error {
	c.closeOnce.Do(func() {
		c.closing.Store(true)
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
