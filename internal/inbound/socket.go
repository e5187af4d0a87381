package inbound

import (
	"errors"
	"io/fs"
	"net"
	"os"
	"syscall"
	"time"
)

// probeTimeout bounds the connect that tells a live socket from a stale one.
// A Unix connect does not wait for the peer's accept, so a live listener
// answers at once; the bound only matters for a peer that is stuck.
const probeTimeout = time.Second

// ClearStale's refusals: the relay and source.Listen each report them in
// their own terms.
var (
	// ErrInUse: a listener answers at the path.
	ErrInUse = errors.New("a live socket answers at the path")
	// ErrNotSocket: the path is a file other than a socket, which is never
	// deleted.
	ErrNotSocket = errors.New("the path exists and is not a socket")
)

// ClearStale removes a stale Unix socket file at path, one nobody answers on
// (left by a process that died), and reports whether it did. A missing path
// is no error. A socket that answers, or whose accept queue is full, is
// ErrInUse; a file that is not a socket is ErrNotSocket.
func ClearStale(path string) (bool, error) {
	fi, err := os.Lstat(path)
	if errors.Is(err, fs.ErrNotExist) {
		return false, nil
	}
	if err != nil {
		return false, err
	}
	if fi.Mode().Type() != fs.ModeSocket {
		return false, ErrNotSocket
	}
	c, err := net.DialTimeout("unix", path, probeTimeout)
	switch {
	case err == nil:
		_ = c.Close()
		return false, ErrInUse
	case errors.Is(err, syscall.EAGAIN):
		// A full accept queue: someone is listening, just not keeping up.
		return false, ErrInUse
	case errors.Is(err, syscall.ENOENT):
		return false, nil // removed since the Lstat
	case errors.Is(err, syscall.ECONNREFUSED):
		if err := os.Remove(path); err != nil && !errors.Is(err, fs.ErrNotExist) {
			return false, err
		}
		return true, nil
	}
	// Anything else (EACCES, a timeout) says nothing about liveness: refuse
	// rather than delete a socket that may be in use.
	return false, err
}
