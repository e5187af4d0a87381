// Package testnet holds real-socket fixtures shared by msgsink's tests.
// Only test files import it.
package testnet

import (
	"encoding/binary"
	"errors"
	"net"
	"os"
	"path/filepath"
	"strconv"
	"testing"
	"time"

	"golang.org/x/sys/unix"
)

// Blackhole returns a TCP address on loopback whose connects never complete:
// a listener with backlog 0 that never accepts, its accept queue filled, so
// Linux drops further SYNs and a dialer waits for its deadline. It proves the
// queue is full by dialing until one connect times out. Everything is closed
// when the test ends.
func Blackhole(tb testing.TB) string {
	tb.Helper()
	fd, err := unix.Socket(unix.AF_INET, unix.SOCK_STREAM|unix.SOCK_CLOEXEC, 0)
	if err != nil {
		tb.Fatal(err)
	}
	tb.Cleanup(func() { _ = unix.Close(fd) })
	if err := unix.Bind(fd, &unix.SockaddrInet4{Addr: [4]byte{127, 0, 0, 1}}); err != nil {
		tb.Fatal(err)
	}
	// Backlog 0: the queue holds one connection (Linux allows backlog+1).
	if err := unix.Listen(fd, 0); err != nil {
		tb.Fatal(err)
	}
	sa, err := unix.Getsockname(fd)
	if err != nil {
		tb.Fatal(err)
	}
	addr := net.JoinHostPort("127.0.0.1", strconv.Itoa(sa.(*unix.SockaddrInet4).Port))
	for range 8 {
		c, err := net.DialTimeout("tcp", addr, 100*time.Millisecond)
		if err != nil {
			// The deadline shows as context.DeadlineExceeded or as the net
			// package's i/o timeout, whichever fires first.
			var ne net.Error
			if !errors.As(err, &ne) || !ne.Timeout() {
				tb.Fatalf("filling the accept queue of %s: %v", addr, err)
			}
			return addr
		}
		tb.Cleanup(func() { _ = c.Close() })
	}
	tb.Fatalf("8 connections and the accept queue of %s is still not full", addr)
	return ""
}

// SocketPath returns a path for a Unix socket in a fresh directory that is
// removed when the test ends. Not tb.TempDir: its paths grow with the test's
// name and soon pass the 108 bytes of sun_path.
func SocketPath(tb testing.TB) string {
	tb.Helper()
	dir, err := os.MkdirTemp("", "msgsink")
	if err != nil {
		tb.Fatal(err)
	}
	tb.Cleanup(func() { _ = os.RemoveAll(dir) })
	return filepath.Join(dir, "s.sock")
}

// ClientFrame reads the head of the masked WebSocket client frame at the
// start of p (RFC 6455 section 5.2): the length of its header, mask key
// included, and of its payload. ok is false while p holds less than the
// whole header. Servers in the tests read frames in place with it, without
// the allocations of a general reader.
func ClientFrame(p []byte) (hlen, plen int, ok bool) {
	if len(p) < 2 {
		return 0, 0, false
	}
	hlen, plen = 2, int(p[1]&0x7F)
	switch plen {
	case 126:
		hlen += 2
	case 127:
		hlen += 8
	}
	hlen += 4 // the mask key
	if len(p) < hlen {
		return 0, 0, false
	}
	switch plen {
	case 126:
		plen = int(binary.BigEndian.Uint16(p[2:]))
	case 127:
		plen = int(binary.BigEndian.Uint64(p[2:]))
	}
	return hlen, plen, true
}
