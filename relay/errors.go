package relay

import (
	"errors"
	"strings"
	"syscall"

	"github.com/msgsink/msgsink/sink"
)

var (
	// ErrInvalidConfig: a Config field is out of range. The error is a
	// *ConfigError that names the field and says what to write instead. It
	// is sink.ErrInvalidConfig, the one sentinel for a configuration mistake
	// in every package.
	ErrInvalidConfig = sink.ErrInvalidConfig
	// ErrInUse: another relay answers at the endpoint (a live socket), or the
	// TCP address is taken. The error is a *ListenError.
	ErrInUse = errors.New("relay: endpoint in use")
	// ErrNotSocket: the Unix socket path exists and is not a socket; the relay
	// never deletes such a file. The error is a *ListenError.
	ErrNotSocket = errors.New("relay: path exists and is not a socket")
	// ErrUnsafeDir: the Unix socket's directory could let another user
	// replace the socket: it belongs to another user, is writable by group or
	// others, or is a symbolic link. The relay refuses to start. The error is
	// a *ListenError wrapping a *DirError that says what to change.
	ErrUnsafeDir = errors.New("relay: unsafe socket directory")
	// ErrClosed: Serve was called after Close.
	ErrClosed = errors.New("relay: closed")
)

// ConfigError names the Config field that Listen refused and says what to
// change. It matches ErrInvalidConfig.
type ConfigError struct {
	Field  string // the Config field, e.g. "MaxFrame"
	Value  string // the value given, formatted
	Reason string // what is wrong and what to write instead
}

func (e *ConfigError) Error() string {
	return "relay: invalid configuration: " + e.Field + " = " + e.Value + ": " + e.Reason
}

// Unwrap makes errors.Is(err, ErrInvalidConfig) true.
func (e *ConfigError) Unwrap() error { return ErrInvalidConfig }

// DirError is why Listen refused the socket's directory; it matches
// ErrUnsafeDir.
type DirError struct {
	Dir    string // the directory
	Reason string // what is wrong and what to change
}

func (e *DirError) Error() string { return "relay: the socket's directory " + e.Dir + " " + e.Reason }

// Unwrap makes errors.Is(err, ErrUnsafeDir) true.
func (e *DirError) Unwrap() error { return ErrUnsafeDir }

// ListenError is the error of a Listen that could not bind its endpoint,
// like net.OpError: it names the endpoint, unwraps to the cause (ErrInUse,
// ErrNotSocket, a *DirError, or a *os.PathError or *os.SyscallError matching a
// syscall.Errno) and says what to check.
type ListenError struct {
	Endpoint string // the endpoint in canonical form
	Err      error
}

func (e *ListenError) Error() string {
	var b strings.Builder
	b.WriteString("relay: listen ")
	b.WriteString(e.Endpoint)
	b.WriteString(": ")
	b.WriteString(e.Err.Error())
	if h := e.hint(); h != "" {
		b.WriteString(" (")
		b.WriteString(h)
		b.WriteByte(')')
	}
	return b.String()
}

// Unwrap returns the cause.
func (e *ListenError) Unwrap() error { return e.Err }

func (e *ListenError) hint() string {
	switch err := e.Err; {
	case errors.Is(err, ErrInUse):
		if strings.HasPrefix(e.Endpoint, "unix://") {
			return "another relay answers on this socket: stop it, or give this one another endpoint"
		}
		return "the address is taken: stop what listens there, or choose another port"
	case errors.Is(err, ErrNotSocket):
		return "the relay never deletes a file that is not a socket: remove it yourself, or choose another path"
	case errors.Is(err, syscall.EACCES), errors.Is(err, syscall.EPERM):
		return "check the permissions of the socket's directory"
	}
	return ""
}
