package transport

import (
	"context"
	"crypto/tls"
	"net"
	"time"
)

// Dialer holds the settings of a dial, as net.Dialer does: data that a
// configuration loader fills field by field and a sink keeps, instead of a
// closure built around them. Its zero value dials every scheme with the
// defaults: the system's root certificates for wss, and no time limit but
// the context's. A Dialer is safe for concurrent use and is not modified
// by a dial.
type Dialer struct {
	// TLS configures wss:// connections. Nil means the system's root
	// certificates; a config without ServerName gets the endpoint's host.
	// Certificates are verified unless the config says InsecureSkipVerify.
	// The dial uses a copy, so the config may be shared.
	TLS *tls.Config
	// Timeout bounds the connect and, for ws and wss, the handshake; 0 means
	// only ctx bounds them. It never bounds the connection's life.
	Timeout time.Duration
	// Relay says that the endpoints it dials are relays (SPEC section 6), as
	// a relay service's are: its dial errors then say so (OpError.Relay),
	// and their hints ask about the relay instead of "the server".
	Relay bool
}

// Dial connects to an endpoint with the zero Dialer's settings.
func Dial(ctx context.Context, e Endpoint) (Conn, error) {
	var d Dialer
	return d.DialContext(ctx, e)
}

// DialContext connects to an endpoint; ctx bounds the connect and, for ws
// and wss, the handshake (the connect timeout) but not the connection's
// life. TCP connections have TCP_NODELAY on. Errors are *OpError with Op
// "dial", unwrapping to the cause: errors.Is(err, syscall.ECONNREFUSED),
// errors.Is(err, context.DeadlineExceeded), errors.As(err, &*HandshakeError)
// and so on.
//
// The Conn returned is a *StreamConn for unix and tcp, a *WebSocketConn
// (DialWebSocket) for ws and wss.
func (d *Dialer) DialContext(ctx context.Context, e Endpoint) (Conn, error) {
	switch e.Scheme {
	case "unix", "tcp":
	case "ws", "wss":
		c, err := d.DialWebSocket(ctx, e)
		if err != nil {
			return nil, err // not a typed nil in the interface
		}
		return c, nil
	default:
		return nil, d.dialError(e, &EndpointError{
			Endpoint: e.String(), Reason: "not a parsed endpoint: make it with ParseEndpoint"})
	}
	ctx, cancel := d.bound(ctx)
	defer cancel()
	var nd net.Dialer
	nc, err := nd.DialContext(ctx, e.Scheme, e.Addr)
	if err != nil {
		return nil, d.dialError(e, unwrapNetOpError(err))
	}
	c, err := newStreamConn(nc, e.String())
	if err != nil {
		nc.Close()
		return nil, d.dialError(e, err)
	}
	return c, nil
}

// dialError is the error of a failed dial of e.
func (d *Dialer) dialError(e Endpoint, err error) *OpError {
	return &OpError{Op: "dial", Endpoint: e.String(), Relay: d.Relay, Err: err}
}

// bound applies Timeout to ctx.
func (d *Dialer) bound(ctx context.Context) (context.Context, context.CancelFunc) {
	if d.Timeout > 0 {
		return context.WithTimeout(ctx, d.Timeout)
	}
	return ctx, func() {}
}
