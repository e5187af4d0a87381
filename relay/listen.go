package relay

import (
	"errors"
	"fmt"
	"io/fs"
	"net"
	"os"
	"path/filepath"
	"syscall"

	"golang.org/x/sys/unix"

	"github.com/msgsink/msgsink/internal/inbound"
)

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

// privateDirPattern names the directory, beside the socket and this relay's
// alone, in which listenUnix binds the socket before moving it into place;
// os.MkdirTemp adds up to 10 digits.
const privateDirPattern = ".relay"

// bindPath is the longest path at which listenUnix may bind a socket first,
// for a socket in dir: the private directory and a one-letter name.
func bindPath(dir, pattern string) string {
	return filepath.Join(dir, pattern+"4294967295", "s")
}

// listenUnix binds path with permissions mode and listens. Its directory is
// created 0700 when missing and must otherwise be the relay user's alone
// (checkDir). A socket file that nobody answers on (left by a relay that
// died) is replaced, one that answers is refused with ErrInUse, and any other
// file with ErrNotSocket. replaced reports a stale socket removed.
//
// The socket is bound in a fresh private directory (0700) beside path, given
// its mode there, made to listen, and then hard-linked to path, which fails
// rather than replace anything that appeared there since the check. So the
// socket has its mode from the moment it is reachable at path, and the chmod
// acts on a name no other user can swap for a symbolic link: a chmod at path
// itself would follow a link put there between bind and chmod. Setting the
// umask around bind instead would need no rename, but the umask is the
// process's: every file another goroutine created meanwhile would get the
// relay's mask, looser than the process's for a mode like 0666.
func listenUnix(path string, mode os.FileMode) (ln net.Listener, sock *socketFile, replaced bool, err error) {
	dir := filepath.Dir(path)
	if err := checkDir(dir); err != nil {
		return nil, nil, false, err
	}
	switch replaced, err = inbound.ClearStale(path); {
	case errors.Is(err, inbound.ErrInUse):
		return nil, nil, false, ErrInUse
	case errors.Is(err, inbound.ErrNotSocket):
		return nil, nil, false, ErrNotSocket
	case err != nil:
		return nil, nil, false, err
	}
	priv, err := os.MkdirTemp(dir, privateDirPattern)
	if err != nil {
		return nil, nil, false, err
	}
	tmp := filepath.Join(priv, "s")
	// The private directory goes in every case: after the link, path holds
	// the socket; after a failure, nothing of this call is left.
	defer func() {
		_ = os.Remove(tmp)
		_ = os.Remove(priv)
	}()
	fd, err := unix.Socket(unix.AF_UNIX, unix.SOCK_STREAM|unix.SOCK_CLOEXEC, 0)
	if err != nil {
		return nil, nil, false, os.NewSyscallError("socket", err)
	}
	fail := func(err error) (net.Listener, *socketFile, bool, error) {
		_ = unix.Close(fd)
		return nil, nil, false, err
	}
	if err := unix.Bind(fd, &unix.SockaddrUnix{Name: tmp}); err != nil {
		return fail(&os.PathError{Op: "bind", Path: tmp, Err: err})
	}
	sock = &socketFile{path: path}
	if err := os.Chmod(tmp, mode); err != nil {
		return fail(err)
	}
	if sock.fi, err = os.Lstat(tmp); err != nil {
		return fail(err)
	}
	if err := unix.Listen(fd, unix.SOMAXCONN); err != nil {
		return fail(os.NewSyscallError("listen", err))
	}
	if err := os.Link(tmp, path); err != nil {
		if errors.Is(err, fs.ErrExist) {
			// Something took the path between the probe and here.
			return fail(ErrInUse)
		}
		return fail(err)
	}
	// FileListener duplicates the descriptor into Go's netpoller; a listener
	// made this way does not unlink the file on Close, which socketFile does.
	f := os.NewFile(uintptr(fd), path)
	ln, err = net.FileListener(f)
	_ = f.Close()
	if err != nil {
		sock.remove()
		return nil, nil, false, err
	}
	return ln, sock, replaced, nil
}

// checkDir creates dir, mode 0700, when it is missing, and refuses it
// (*DirError) unless it is a directory, not a symbolic link, owned by the
// relay's user and not writable by group or others: whoever can write the
// directory can rename the socket away and bind their own in its place, and
// producers would then send to them. It checks after creating, so a directory
// someone else made first is caught too.
func checkDir(dir string) error {
	if err := os.MkdirAll(dir, 0o700); err != nil {
		return err
	}
	fi, err := os.Lstat(dir)
	if err != nil {
		return err
	}
	unsafe := func(reason string) error { return &DirError{Dir: dir, Reason: reason} }
	if fi.Mode().Type() == fs.ModeSymlink {
		return unsafe("is a symbolic link, which whoever owns it can point elsewhere: use the directory it points to in the endpoint")
	}
	if !fi.IsDir() {
		return unsafe("is not a directory: choose another path for the socket")
	}
	if st, ok := fi.Sys().(*syscall.Stat_t); ok && int(st.Uid) != os.Geteuid() {
		return unsafe(fmt.Sprintf("belongs to uid %d, not to the relay's user (uid %d), so its owner can replace the socket: "+
			"remove it and let the relay create it, chown it to uid %d, or choose a directory this user owns",
			st.Uid, os.Geteuid(), os.Geteuid()))
	}
	if perm := fi.Mode().Perm(); perm&0o022 != 0 {
		return unsafe(fmt.Sprintf("is writable by group or others (mode %#o), who could replace the socket: "+
			"run chmod go-w %s, or choose a directory only this user can write", perm, dir))
	}
	return nil
}
