// Package iovec writes a vector of buffers to a non-blocking socket with
// writev, from a syscall.RawConn.Write callback: a short write advances the
// vector and writes again, EINTR retries, and EAGAIN hands control back to
// Go's netpoller, so no thread blocks and nothing spins. It serves the
// sinks' StreamConn and the relay's consumer writers alike, and allocates
// nothing.
package iovec

import (
	"io"
	"os"
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
