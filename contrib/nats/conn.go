package natssink

import (
	"context"
	"errors"
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

// dialer is the lazy sink's Dialer: each dial is a new nats.Conn, with
// nats.go's own reconnect and reconnect buffer off, so that the sink's
// retry schedule and backlog policy are the only ones and no message is
// queued twice. It keeps what outlives a connection: the servers learnt
// from the cluster, the subject cache, and JetStream's unacked messages.
type dialer struct {
	name       string
	urls       []string
	subj       *subjects
	ackTimeout time.Duration
	js         *inflight // nil for core NATS

	mu         sync.Mutex
	discovered []string // servers the last connection's cluster announced
}

// DialContext connects to one of the servers; ctx bounds the connect. The
// endpoint is the sink's, for its Info; the servers are the dialer's.
func (d *dialer) DialContext(ctx context.Context, _ transport.Endpoint) (transport.Conn, error) {
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
	nc, err := nats.Connect(strings.Join(d.servers(), ","), opts...)
	if err != nil {
		return nil, &transport.OpError{Op: "dial", Endpoint: "nats://" + strings.Join(d.urls, ","), Err: err}
	}
	c.nc = nc
	d.mu.Lock()
	d.discovered = nc.DiscoveredServers()
	d.mu.Unlock()
	if d.js != nil {
		if err := d.js.attach(c); err != nil {
			nc.Close()
			return nil, &transport.OpError{Op: "dial", Endpoint: nc.ConnectedUrl(), Err: err}
		}
	} else {
		c.startConfirmer()
	}
	return c, nil
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

// conn is one NATS connection, a transport.Conn: WriteBatch publishes one
// NATS message per frame, whole (a frame is never split or joined with
// another), and counts a frame written once the server has confirmed it.
type conn struct {
	d        *dialer
	nc       *nats.Conn
	done     chan struct{}
	doneOnce sync.Once
	stop     chan struct{} // ends the confirmer, or JetStream's resender
	wg       sync.WaitGroup

	// Core: the frames at the head of the sink's ring that are published
	// and not yet returned as written (the writer's), and the totals the
	// confirmer works with: published on this connection, confirmed by a
	// PONG, and returned to the writer.
	pub                int
	pubTotal, retTotal uint64 // the writer's; pubTotal is also in published
	published          atomic.Uint64
	confirmed          atomic.Uint64
	kick, conf         chan struct{} // capacity 1: writer -> confirmer, confirmer -> writer
	confErr            atomic.Pointer[error]

	// JetStream: the inbox its acks come to, and the message reused for
	// every publish (its header map holds the one Nats-Msg-Id value).
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

// startConfirmer starts the goroutine that confirms core publishes.
func (c *conn) startConfirmer() {
	c.kick, c.conf = make(chan struct{}, 1), make(chan struct{}, 1)
	c.stop = make(chan struct{})
	c.wg.Add(1)
	go c.confirm()
}

// confirm waits for the server's PONG after what the writer has published,
// one flush at a time, and tells the writer how far the server has
// processed: the writer goes on publishing meanwhile, so a round trip to
// the server never stalls it.
func (c *conn) confirm() {
	defer c.wg.Done()
	for {
		select {
		case <-c.kick:
		case <-c.stop:
			return
		case <-c.done:
			return
		}
		target := c.published.Load()
		if err := c.nc.FlushTimeout(c.d.ackTimeout); err != nil {
			c.confErr.Store(&err)
			c.markDone() // the writer's wait ends with the error
			return
		}
		c.confirmed.Store(target)
		select {
		case c.conf <- struct{}{}:
		default:
		}
	}
}

// WriteBatch publishes the frames of a then b in order.
//
// Core NATS: it publishes those it has not published yet (the first
// c.pub of a then b were, by an earlier call) and returns how many from
// the start the server has confirmed (its PONG came after them). That may
// be fewer than were passed, with a nil error: the sink's writer calls
// again with the rest and what came since, and this call waits for a
// confirmation only when it had nothing new to publish, so it neither
// spins nor holds up new frames for a round trip. When the connection
// breaks, the frames not confirmed stay in the sink's ring, and the sink
// publishes them again, whole, on its next connection: a frame the server
// had routed may then reach a subscriber twice, which a receiver drops by
// (source, sequence), as Reader does. Nothing the sink took is lost
// without being counted as dropped.
//
// JetStream: each frame published (and copied, until its ack) counts as
// written.
func (c *conn) WriteBatch(a, b []*tlv.Message) (int, error) {
	c.writing.Store(true)
	defer c.writing.Store(false)
	if c.d.js != nil {
		return c.d.js.publish(c, a, b)
	}
	total := len(a) + len(b)
	fresh := c.pub < total
	for i := c.pub; i < total; i++ {
		m := at(a, b, i)
		if err := c.nc.Publish(c.d.subj.of(m.Header()), m.Bytes()); err != nil {
			return 0, err
		}
	}
	if fresh {
		c.pubTotal += uint64(total - c.pub)
		c.pub = total
		c.published.Store(c.pubTotal)
	}
	for {
		if n := int(min(c.confirmed.Load()-c.retTotal, uint64(total))); n > 0 {
			c.retTotal += uint64(n)
			c.pub -= n
			return n, nil
		}
		if total == 0 || (fresh && c.pub < confirmEvery) {
			return 0, nil
		}
		select { // a round trip for many frames under load, or for what waits when the writer has nothing new
		case c.kick <- struct{}{}:
		default:
		}
		if fresh {
			return 0, nil
		}
		select {
		case <-c.conf:
		case <-c.done:
			if p := c.confErr.Load(); p != nil {
				return 0, *p
			}
			return 0, errNotConnected
		}
	}
}

// confirmEvery is how many unconfirmed frames make the writer ask for a
// confirmation while it still has new frames to publish: one round trip
// (and one allocation in nats.go's flush) per that many frames under load.
// A writer with nothing new asks at once, so a quiet sink confirms its last
// frames without delay.
const confirmEvery = 256

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
// server first, and for JetStream the acks of what is in flight are waited
// for (up to the ack timeout), so that a Close after a Flush loses nothing
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
			if c.d.js != nil {
				c.d.js.settle(c)
			}
			_ = c.nc.FlushTimeout(c.d.ackTimeout)
		}
		c.nc.Close()
		c.markDone()
	})
	return nil
}

// errNotConnected ends a WriteBatch that waited for the server's word on a
// connection that went away meanwhile.
var errNotConnected = errors.New("natssink: connection lost while waiting for the server to confirm")
