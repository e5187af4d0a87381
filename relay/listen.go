package relay

import (
	"errors"
	"io/fs"
	"net"
	"os"
	"path/filepath"
	"syscall"
	"time"

	"golang.org/x/sys/unix"
)

// probeTimeout bounds the connect that tells a live socket from a stale one.
// A Unix connect does not wait for the peer's accept, so a live relay answers
// at once; the bound only matters for a peer that is stuck.
const probeTimeout = time.Second

// socketFile is the socket file a relay created, so that Close removes it
// only while it is still this relay's: a file that another relay has put at
// the same path since is left alone.
type socketFile struct {
	path string
	fi   os.FileInfo
}

func (s *socketFile) remove() {
	if fi, err := os.Lstat(s.path); err == nil && os.SameFile(fi, s.fi) {
		_ = os.Remove(s.path)
	}
}

// listenUnix binds path with permissions mode and listens. A socket file that
// nobody answers on (left by a relay that died) is replaced, one that answers
// is refused with ErrInUse, and any other file with ErrNotSocket. The file is
// given its mode before listen(2), so that no connection can arrive while it
// still has the umask's permissions. replaced reports a stale socket removed.
func listenUnix(path string, mode os.FileMode) (ln net.Listener, sock *socketFile, replaced bool, err error) {
	if err := os.MkdirAll(filepath.Dir(path), 0o700); err != nil {
		return nil, nil, false, err
	}
	if replaced, err = clearStale(path); err != nil {
		return nil, nil, false, err
	}
	fd, err := unix.Socket(unix.AF_UNIX, unix.SOCK_STREAM|unix.SOCK_CLOEXEC, 0)
	if err != nil {
		return nil, nil, false, os.NewSyscallError("socket", err)
	}
	if err := unix.Bind(fd, &unix.SockaddrUnix{Name: path}); err != nil {
		_ = unix.Close(fd)
		if err == unix.EADDRINUSE {
			// Another relay bound the path between the probe and here.
			return nil, nil, false, ErrInUse
		}
		return nil, nil, false, &os.PathError{Op: "bind", Path: path, Err: err}
	}
	sock = &socketFile{path: path}
	fail := func(err error) (net.Listener, *socketFile, bool, error) {
		_ = unix.Close(fd)
		_ = os.Remove(path)
		return nil, nil, false, err
	}
	if err := os.Chmod(path, mode); err != nil {
		return fail(err)
	}
	if sock.fi, err = os.Lstat(path); err != nil {
		return fail(err)
	}
	if err := unix.Listen(fd, unix.SOMAXCONN); err != nil {
		return fail(os.NewSyscallError("listen", err))
	}
	// FileListener duplicates the descriptor into Go's netpoller; a listener
	// made this way does not unlink the file on Close, which socketFile does.
	f := os.NewFile(uintptr(fd), path)
	ln, err = net.FileListener(f)
	_ = f.Close()
	if err != nil {
		_ = os.Remove(path)
		return nil, nil, false, err
	}
	return ln, sock, replaced, nil
}

// clearStale removes a stale socket file at path and reports whether it did.
func clearStale(path string) (bool, error) {
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
