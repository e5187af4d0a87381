package transport

import (
	"context"
	"crypto/tls"
	"errors"
	"io"
	"net"
	"os"
	"strconv"
	"strings"
	"syscall"
)

var (
	// ErrInvalidEndpoint: an endpoint string does not parse. The error is an
	// *EndpointError that says what to change.
	ErrInvalidEndpoint = errors.New("transport: invalid endpoint")
	// ErrUnsupportedScheme: the operation does not support the endpoint's
	// scheme, as a relay, which speaks unix and tcp only, refuses ws.
	ErrUnsupportedScheme = errors.New("transport: scheme not supported here")
)

// EndpointError is returned by ParseEndpoint. It matches ErrInvalidEndpoint.
type EndpointError struct {
	Endpoint string // the string as given
	Reason   string // what is wrong and what to write instead
}

func (e *EndpointError) Error() string {
	return "transport: invalid endpoint " + strconv.Quote(e.Endpoint) + ": " + e.Reason
}

// Unwrap makes errors.Is(err, ErrInvalidEndpoint) true.
func (e *EndpointError) Unwrap() error { return ErrInvalidEndpoint }

// OpError is the error of a failed dial, write or read, like net.OpError: it
// names the operation and the endpoint, says what to check, and unwraps to the
// cause. It does not name a sink: a sink reports it inside a *sink.Error,
// which does, so the name is stated once. It unwraps to the cause, so errors.Is(err, syscall.ECONNREFUSED) and errors.Is(err,
// net.ErrClosed) work; a timeout matches both context.DeadlineExceeded and
// os.ErrDeadlineExceeded.
type OpError struct {
	Op       string // "dial", "write", "read" or "shutdown"
	Endpoint string // the endpoint in canonical form (Endpoint.String)
	// Relay says that the endpoint is a relay's, as a relay service's is
	// (SPEC section 6): the hints then ask about the relay. Otherwise they
	// ask about "the server", whatever listens there. A dial cannot know
	// which: a Dialer copies its own Relay, which whoever knows (a relay
	// sink, a config) sets, into its dial errors.
	Relay bool
	// Err is the cause: a *os.SyscallError (which unwraps to a syscall.Errno),
	// context.DeadlineExceeded or context.Canceled for a dial, net.ErrClosed after
	// Close, os.ErrDeadlineExceeded after a deadline, ErrUnsupportedScheme, or
	// another net error.
	Err error
}

func (e *OpError) Error() string {
	var b strings.Builder
	b.WriteString("transport: ")
	b.WriteString(e.Op)
	b.WriteByte(' ')
	b.WriteString(e.Endpoint)
	if e.Err != nil {
		b.WriteString(": ")
		b.WriteString(e.Err.Error())
	}
	if h := e.hint(); h != "" {
		b.WriteString(" (")
		b.WriteString(h)
		b.WriteByte(')')
	}
	return b.String()
}

// Unwrap returns the cause.
func (e *OpError) Unwrap() error { return e.Err }

// Is makes a timeout match both context.DeadlineExceeded and
// os.ErrDeadlineExceeded: a dial that times out fails with either, depending on
// whether the context or the socket's deadline is seen first.
func (e *OpError) Is(target error) bool {
	return (target == context.DeadlineExceeded || target == os.ErrDeadlineExceeded) && e.timeout()
}

func (e *OpError) timeout() bool {
	return errors.Is(e.Err, context.DeadlineExceeded) || errors.Is(e.Err, os.ErrDeadlineExceeded)
}

// hint tells the user what to check, for the causes that have a usual reason.
func (e *OpError) hint() string {
	err := e.Err
	unixSock := strings.HasPrefix(e.Endpoint, "unix://")
	peer := "server"
	if e.Relay {
		peer = "relay"
	}
	var dnsErr *net.DNSError
	var certErr *tls.CertificateVerificationError
	switch {
	case err == nil:
		return ""
	case errors.As(err, &certErr):
		return "the server's certificate did not verify: trust its CA (tls_ca_file in services.toml, " +
			"Dialer.TLS in code), or check that the endpoint names the host the certificate is for"
	case errors.Is(err, ErrUnsupportedScheme):
		return "use a unix:// or tcp:// endpoint"
	case errors.Is(err, net.ErrClosed):
		return "the connection was closed by Close"
	case e.timeout():
		switch e.Op {
		case "dial":
			return "the connect timed out: is the host reachable, and is the " + peer + " accepting connections?"
		case "shutdown":
			return "the peer did not close its side within the close timeout: what it had not read may be lost"
		}
		return "the deadline passed: is the peer reading?"
	case errors.Is(err, syscall.ECONNREFUSED):
		return "is the " + peer + " running and listening there?"
	case errors.Is(err, syscall.ENOENT) && unixSock:
		return "no socket at that path: is the " + peer + " running, and is the path right?"
	case errors.Is(err, syscall.EAGAIN) && unixSock && e.Op == "dial":
		return "the " + peer + "'s accept queue is full: is it accepting connections?"
	case errors.Is(err, syscall.EACCES), errors.Is(err, syscall.EPERM):
		if unixSock {
			return "check the permissions of the socket and its directory"
		}
		return "a firewall or security policy refused the connection"
	case errors.As(err, &dnsErr):
		return "check the host name"
	case errors.Is(err, syscall.EHOSTUNREACH), errors.Is(err, syscall.ENETUNREACH):
		return "check the address and the route to it"
	case errors.Is(err, syscall.EPIPE), errors.Is(err, syscall.ECONNRESET), errors.Is(err, io.EOF):
		return "the peer closed the connection"
	}
	return ""
}
