package natssink

import (
	"context"
	"crypto/tls"
	"errors"
	"fmt"
	"net"
	"slices"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"github.com/nats-io/nats.go"

	"github.com/msgsink/msgsink/tlv"
	"github.com/msgsink/msgsink/transport"
)

// dialer is the lazy sink's Dialer: each dial is a new connection, a
// wireConn for core NATS, a nats.Conn for JetStream (with nats.go's own
// reconnect and reconnect buffer off), so that the sink's retry schedule
// and backlog policy are the only ones and no message is queued twice. It
// keeps what outlives a connection: the servers learnt from the cluster,
// the subject cache, and JetStream's unacked messages.
type dialer struct {
	name       string
	urls       []string
	endpoint   string // "nats://host:port,host:port", for errors and Info
	subj       *subjects
	ackTimeout time.Duration
	js         *inflight   // nil for core NATS
	tls        *tls.Config // Config.TLS
	maxFrame   int         // Config.MaxFrame: a server's max_payload must take it

	mu         sync.Mutex
	discovered []string // servers the last connection's cluster announced

	refused atomic.Pointer[error] // the last publish the server's permissions refused (core)
}

// DialContext connects to one of the servers; ctx bounds the connect. The
// endpoint is the sink's, for its Info; the servers are the dialer's.
func (d *dialer) DialContext(ctx context.Context, _ transport.Endpoint) (transport.Conn, error) {
	if d.js == nil {
		return d.dialWire(ctx)
	}
	c := &conn{d: d, done: make(chan struct{})}
	timeout := time.Duration(0)
	if dl, ok := ctx.Deadline(); ok {
		timeout = time.Until(dl)
	}
	opts := []nats.Option{
		nats.Name(d.name),
		nats.NoReconnect(),
		nats.ReconnectBufSize(-1),
		nats.SetCustomDialer(ctxDialer{ctx}),
		nats.SkipSubjectValidation(), // the template was checked once, at New
		nats.ClosedHandler(func(*nats.Conn) { c.markDone() }),
		nats.DisconnectErrHandler(func(*nats.Conn, error) { c.markDone() }),
	}
	if timeout > 0 {
		opts = append(opts, nats.Timeout(timeout))
	}
	if d.tls != nil {
		opts = append(opts, nats.Secure(d.tls))
	}
	nc, err := nats.Connect(strings.Join(d.servers(), ","), opts...)
	if err != nil {
		return nil, &transport.OpError{Op: "dial", Endpoint: d.endpoint, Err: err}
	}
	if mp := nc.MaxPayload(); mp > 0 && mp < int64(d.maxFrame) {
		nc.Close()
		return nil, &transport.OpError{Op: "dial", Endpoint: nc.ConnectedUrlRedacted(), Err: d.payloadTooSmall(mp)}
	}
	c.nc = nc
	d.mu.Lock()
	d.discovered = nc.DiscoveredServers()
	d.mu.Unlock()
	if err := d.js.attach(c); err != nil {
		nc.Close()
		return nil, &transport.OpError{Op: "dial", Endpoint: nc.ConnectedUrl(), Err: err}
	}
	return c, nil
}

// payloadTooSmall is why a server whose max_payload is below the sink's
// max_frame is refused.
func (d *dialer) payloadTooSmall(maxPayload int64) error {
	return fmt.Errorf("natssink: the server's max_payload is %d bytes, below the sink's max_frame of %d: "+
		"set max_frame = %d (Config.MaxFrame) so that Send refuses the frames the server would, or raise max_payload on the server",
		maxPayload, d.maxFrame, maxPayload)
}

// servers returns the configured servers, then those the cluster announced
// on the last connection: a failover may reach a server the configuration
// does not name.
func (d *dialer) servers() []string {
	d.mu.Lock()
	defer d.mu.Unlock()
	out := slices.Clone(d.urls)
	for _, s := range d.discovered {
		if !slices.Contains(out, s) {
			out = append(out, s)
		}
	}
	return out
}

// ctxDialer makes nats.go's dial obey the lazy sink's context, which Close
// cancels at its deadline.
type ctxDialer struct{ ctx context.Context }

func (c ctxDialer) Dial(network, address string) (net.Conn, error) {
	var d net.Dialer
	return d.DialContext(c.ctx, network, address)
}

// conn is a JetStream connection, a nats.Conn as a transport.Conn:
// WriteBatch publishes one NATS message per frame, whole (a frame is never
// split or joined with another), through the in-flight ring, which holds a
// copy of each until its ack. Core NATS uses wireConn instead.
type conn struct {
	d        *dialer
	nc       *nats.Conn
	done     chan struct{}
	doneOnce sync.Once
	stop     chan struct{} // ends JetStream's resender
	wg       sync.WaitGroup

	// The inbox its acks come to, and the message reused for every
	// publish (its header map holds the one Nats-Msg-Id value).
	inbox string
	sub   *nats.Subscription
	msg   nats.Msg
	msgID []string

	closeOnce sync.Once
	writing   atomic.Bool // a WriteBatch is in progress: a Close then is an abort
}

func (c *conn) markDone() { c.doneOnce.Do(func() { close(c.done) }) }

// Done is closed when the connection is gone: the server closed it, or Close.
func (c *conn) Done() <-chan struct{} { return c.done }

// WriteBatch publishes the frames of a then b; each one published (and
// copied, until its ack) counts as written.
func (c *conn) WriteBatch(a, b []*tlv.Message) (int, error) {
	c.writing.Store(true)
	defer c.writing.Store(false)
	return c.d.js.publish(c, a, b)
}

// at returns the i-th message of a then b.
func at(a, b []*tlv.Message, i int) *tlv.Message {
	if i < len(a) {
		return a[i]
	}
	return b[i-len(a)]
}

// Err returns nil while Done is open, then why the connection ended: the
// error nats.go saw last (a server that went away, a protocol error), or
// net.ErrClosed after Close.
func (c *conn) Err() error {
	select {
	case <-c.done:
	default:
		return nil
	}
	if err := c.nc.LastError(); err != nil {
		return &transport.OpError{Op: "read", Endpoint: c.nc.ConnectedUrlRedacted(), Err: err}
	}
	return net.ErrClosed
}

// Shutdown is Close, which is already graceful (nats.go's buffer flushed,
// JetStream's acks awaited), bounded by ctx: when ctx ends first the
// connection is closed at once and the error's cause is ctx's.
func (c *conn) Shutdown(ctx context.Context) error {
	stop := context.AfterFunc(ctx, c.nc.Close)
	defer stop()
	_ = c.Close()
	if err := ctx.Err(); err != nil {
		return &transport.OpError{Op: "shutdown", Endpoint: c.nc.ConnectedUrlRedacted(), Err: err}
	}
	return nil
}

// Close ends the connection cleanly: what nats.go holds is flushed to the
// server first, and the acks of what is in flight are waited for (up to the ack timeout), so that a Close after a Flush loses nothing
// still on its way. Unacked messages stay with the sink, to be published
// again on its next connection. A Close while a WriteBatch is in progress
// (the sink's Close giving up at its deadline) closes at once instead, and
// that WriteBatch returns an error. Idempotent.
func (c *conn) Close() error {
	c.closeOnce.Do(func() {
		if c.writing.Load() {
			c.nc.Close()
			c.markDone()
		}
		if c.stop != nil {
			close(c.stop)
			c.wg.Wait()
		}
		if !c.nc.IsClosed() {
			c.d.js.settle(c)
			_ = c.nc.FlushTimeout(c.d.ackTimeout)
		}
		c.nc.Close()
		c.markDone()
	})
	return nil
}

// errNotConnected ends a WriteBatch that waited for room in the in-flight
// ring on a connection that went away meanwhile.
var errNotConnected = errors.New("natssink: connection lost while waiting for the server to confirm")
