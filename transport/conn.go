package transport

import (
	"context"

	"github.com/msgsink/msgsink/tlv"
)

// Conn is one live connection that writes whole messages in batches. A sink's
// writer goroutine owns it: it calls WriteBatch with what it drained from its
// ring, releases the messages written, and watches Done to notice a dead peer
// while it has nothing to write.
type Conn interface {
	// WriteBatch writes the messages of a, then b, in order, with as few
	// syscalls as it can, and returns how many messages (from the start of a
	// then b) were written whole. Its error is nil only when all were. Short
	// writes and EAGAIN are handled inside, through Go's netpoller: no busy
	// loop, no thread blocked. On an error the count excludes a message
	// written in part: the peer may have received its start, the connection
	// is dead, and the caller resends that message whole on its next
	// connection. "Written" means handed to the kernel, not received (see the
	// package documentation). An error ends the connection: later calls fail
	// at once, and the caller closes it and dials again.
	//
	// WriteBatch reads the messages' bytes and never writes into them, and does
	// not Release them: the caller does, once it returns. It does not allocate
	// unless it fails.
	WriteBatch(a, b []*tlv.Message) (int, error)
	// Done is closed when the connection is known broken without writing: the
	// peer closed it (EOF) or the read side failed. It is also closed after
	// Close. What the peer sends is dropped, unless an inbound handler
	// (InboundConn.SetInbound) takes its frames.
	Done() <-chan struct{}
	// Err returns nil while Done is open, then why it closed: an *OpError
	// with Op "read" whose cause says what the peer did (io.EOF, a
	// *CloseError with the WebSocket close code and reason, a reset), or
	// net.ErrClosed after Close.
	Err() error
	// Shutdown ends the connection gracefully, after the last WriteBatch and
	// from the goroutine that owns the writing side: it half-closes (a TCP
	// or Unix shutdown(SHUT_WR), a WebSocket Close frame), keeps reading and
	// discarding until the peer closes its side (or answers the Close
	// frame), or a stream's peer has everything written (its kernel
	// acknowledged it all, or it read it all), or ctx ends, then closes.
	// Closing a socket with unread input at once makes the kernel reset the
	// connection and throw away what it still had to send; waiting for the
	// peer lets everything written arrive. It returns nil when the peer
	// closed or had everything in time, an *OpError whose cause is ctx's
	// error when ctx ended first, or the read error that ended the
	// connection instead (a reset). Close, from any goroutine, cuts it
	// short.
	Shutdown(ctx context.Context) error
	// Close closes the connection at once and stops any goroutine it
	// started. It may be called from any goroutine, also while WriteBatch or
	// Shutdown is blocked, which then returns an error matching
	// net.ErrClosed. Close is idempotent.
	Close() error
}

// A TryWriter is a Conn that can write one message at once from the calling
// goroutine, with a single non-blocking system call, so that a sink whose
// writer goroutine is parked can skip the hand-off to it ("write through").
// Only whoever owns the writing side may call it, as with WriteBatch: the
// sink hands that ownership to a Send while its writer is parked.
type TryWriter interface {
	Conn
	// TryWrite writes m with one non-blocking write and reports whether the
	// kernel took all of it. It never waits. When it took part or none of m,
	// the next WriteBatch must begin with m: it writes what is left of m
	// first, so the stream stays whole. An error ends the connection as a
	// failed WriteBatch does. It does not allocate unless it fails.
	TryWrite(m *tlv.Message) (whole bool, err error)
}
