// Package iovec writes a vector of buffers to a non-blocking socket with
// writev, from a syscall.RawConn.Write callback: a short write advances the
// vector and writes again, EINTR retries, and EAGAIN hands control back to
// Go's netpoller, so no thread blocks and nothing spins. It serves the
// sinks' StreamConn and the relay's consumer writers alike, and allocates
// nothing.
//
// Writer is the part both writers had written out again around Vec: the
// RawConn.Write callbacks, bound once (a method value made per call
// allocates), the bytes a write put on the socket, the writev's error
// beside the poller's, and the one-attempt variant a write through uses.
// Filling the vector stays with each owner: StreamConn coalesces small
// messages into a buffer of its own, the relay merges adjacent spans of its
// read buffers.
package iovec

import (
	"io"
	"os"
	"syscall"
	"unsafe"

	"golang.org/x/sys/unix"
)

// Max is IOV_MAX on Linux and macOS: the most buffers one writev takes.
const Max = 1024

// Vec is an array of iovecs and the part of it still to be written,
// Iov[Next:N]. Its owner fills Iov[:N] and sets Next to 0 before writing.
type Vec struct {
	Iov  []unix.Iovec
	Next int
	N    int
}

// Writev writes Iov[Next:N] to fd. done is false when the socket would
// block: the RawConn.Write callback returns false, and the netpoller calls
// it again once fd is writable. sent is the bytes this call wrote. A write
// error ends it with done true.
func (v *Vec) Writev(fd uintptr) (done bool, sent int, err error) {
	for v.Next < v.N {
		n, _, e := unix.Syscall(unix.SYS_WRITEV, fd, uintptr(unsafe.Pointer(&v.Iov[v.Next])), uintptr(v.N-v.Next))
		switch e {
		case 0:
		case unix.EINTR:
			continue
		case unix.EAGAIN:
			return false, sent, nil
		default:
			return true, sent, os.NewSyscallError("writev", e)
		}
		if n == 0 {
			return true, sent, io.ErrUnexpectedEOF
		}
		sent += int(n)
		v.advance(int(n))
	}
	return true, sent, nil
}

// advance drops the first n written bytes from Iov[Next:N].
func (v *Vec) advance(n int) {
	for n > 0 {
		iv := &v.Iov[v.Next]
		l := int(iv.Len)
		if n < l {
			iv.Base = (*byte)(unsafe.Add(unsafe.Pointer(iv.Base), n))
			iv.SetLen(l - n)
			return
		}
		n -= l
		v.Next++
	}
}

// Writer writes its Vec to a socket through a syscall.RawConn. Its owner
// fills Iov[:N]; Write or Try sends it and empties the vector again. The
// zero value is not usable: call Init.
type Writer struct {
	Vec
	sent      int
	err       error                 // what stopped writev, if not the poller
	wait, try func(fd uintptr) bool // writev and tryWritev, bound once
}

// Init gives w its Max iovecs and binds its callbacks.
func (w *Writer) Init() {
	w.Iov = make([]unix.Iovec, Max)
	w.wait, w.try = w.writev, w.tryWritev
}

// Write writes Iov[:N] to rc, waiting in Go's netpoller whenever the socket
// is full, and returns the bytes written, counted also when it fails. The
// error is the poller's (Close, a deadline) as RawConn.Write returns it, or
// the writev's. It forgets the buffers and empties the vector before it
// returns, since they go back to their owners after it. It does not
// allocate unless it fails.
func (w *Writer) Write(rc syscall.RawConn) (int, error) { return w.do(rc, w.wait) }

// Try is Write with one attempt that never waits: a socket that would block
// ends it, with the bytes written so far (a short count and a nil error).
// It is for a write through, by a goroutine that must not block.
func (w *Writer) Try(rc syscall.RawConn) (int, error) { return w.do(rc, w.try) }

func (w *Writer) do(rc syscall.RawConn, fn func(fd uintptr) bool) (int, error) {
	w.Next, w.sent = 0, 0
	err := rc.Write(fn)
	clear(w.Iov[:w.N])
	w.N = 0
	if err == nil {
		err = w.err
	}
	w.err = nil
	return w.sent, err
}

// writev is the RawConn.Write callback: false means EAGAIN, wait until the
// socket is writable and call again; true means done, or failed (w.err).
func (w *Writer) writev(fd uintptr) bool {
	done, n, err := w.Writev(fd)
	w.sent += n
	if err != nil {
		w.err = err
	}
	return done
}

// tryWritev is writev for Try: EAGAIN ends it too.
func (w *Writer) tryWritev(fd uintptr) bool {
	w.writev(fd)
	return true
}
