package relay

import (
	"context"
	"errors"
	"net"
	"os"
	"sync"
	"sync/atomic"
	"syscall"
	"time"

	"github.com/msgsink/msgsink/internal/inbound"
)

// Relay is one domain relay: a listener, a goroutine per connection, and a
// writer goroutine per consumer. Make one with Listen, run it with Serve, and
// stop it with Close. Its methods are safe for concurrent use.
type Relay struct {
	cfg      settings
	ln       net.Listener
	addr     net.Addr    // what Addr reports: the socket's final path, not where it was bound
	endpoint string      // canonical, with the port chosen for tcp://host:0
	sock     *socketFile // nil for tcp
	epoch    time.Time   // origin of the relay's clock, see now

	// subs is the list of subscribed consumers, replaced whole (copy on
	// write, under mu) when one comes or goes, so that a producer reads it
	// with one atomic load per read.
	subs  atomic.Pointer[[]*consumer]
	count counters
	dups  dedupe // acked producers' (source, sequence)

	mu     sync.Mutex
	conns  map[*conn]struct{}
	full   bool // at MaxConns: logged once per spell
	nextID uint64
	closed bool
	done   chan struct{} // closed by Close
	wg     sync.WaitGroup

	closeOnce sync.Once
	closeErr  error
}

// conn is one accepted connection, producer or consumer.
type conn struct {
	id uint64
	nc net.Conn
	k  *consumer // set under Relay.mu when the connection subscribes
}

// Listen checks cfg, binds its endpoint and returns the relay, which queues
// connections in the listen backlog until Serve accepts them. For a unix
// endpoint it creates the socket's directory (mode 0700) when missing,
// replaces a stale socket file and refuses a live one (ErrInUse) or a file
// that is not a socket (ErrNotSocket). Errors are *ConfigError or
// *ListenError.
func Listen(cfg Config) (*Relay, error) {
	s, err := cfg.settings()
	if err != nil {
		return nil, err
	}
	r := &Relay{
		cfg:      s,
		endpoint: s.endpoint.String(),
		epoch:    time.Now(),
		conns:    make(map[*conn]struct{}),
		done:     make(chan struct{}),
	}
	r.subs.Store(&[]*consumer{})
	replaced := false
	switch s.endpoint.Scheme {
	case "unix":
		r.ln, r.sock, replaced, err = listenUnix(s.endpoint.Addr, s.mode)
		if err == nil {
			r.addr = &net.UnixAddr{Name: s.endpoint.Addr, Net: "unix"}
		}
	case "tcp":
		if r.ln, err = net.Listen("tcp", loopbackUnlessTold(s.endpoint.Addr)); err == nil {
			r.addr = r.ln.Addr()
			r.endpoint = "tcp://" + r.addr.String()
		} else if errors.Is(err, syscall.EADDRINUSE) {
			err = ErrInUse
		}
	}
	if err != nil {
		var oe *net.OpError
		if errors.As(err, &oe) {
			err = oe.Err
		}
		return nil, &ListenError{Endpoint: r.endpoint, Err: err}
	}
	if replaced {
		r.cfg.log.Info("relay: replaced a stale socket file", "endpoint", r.endpoint)
	}
	if a, ok := r.addr.(*net.TCPAddr); ok && !a.IP.IsLoopback() {
		r.cfg.log.Warn("relay: listening on "+a.IP.String()+", not loopback: any host that reaches it may send frames and subscribe",
			"endpoint", r.endpoint)
	}
	r.cfg.log.Info("relay: listening", "endpoint", r.endpoint, "domain", s.domain.String(),
		"validation", s.validator.Level.String(), "precision", s.validator.Precision.String(),
		"max_frame", s.validator.MaxSize, "consumer_queue", s.queue, "consumer_queue_bytes", s.queueBytes,
		"max_lag", s.maxLag, "max_conns", s.maxConns, "partial_timeout", s.partial, "queue_budget", s.budget)
	return r, nil
}

// loopbackUnlessTold returns addr, host:port, with an empty host made
// 127.0.0.1: a relay takes frames from anyone who reaches it, so it listens on
// all interfaces only when the endpoint says so (0.0.0.0 or [::]).
func loopbackUnlessTold(addr string) string {
	if host, port, err := net.SplitHostPort(addr); err == nil && host == "" {
		return net.JoinHostPort("127.0.0.1", port)
	}
	return addr
}

// Addr returns the listener's address: the socket path, or the TCP address
// with the port the system chose for port 0.
func (r *Relay) Addr() net.Addr { return r.addr }

// Serve accepts connections until ctx is done or Close is called, and then
// returns nil; when ctx ends it, the relay is closed as by Close before Serve
// returns. Serve after Close returns ErrClosed.
//
// Accept failures that a pause may cure (out of file descriptors, above
// all) are counted in Stats.AcceptErrors and retried after a pause that
// doubles up to a second, never in a spin. Out of descriptors, the
// connections waiting in the listen backlog would hang there with their
// clients none the wiser: Serve keeps one descriptor spare, and gives it up
// to accept each waiting connection and close it at once (counted in
// Stats.ConnsRefused), so that the client sees the relay hang up and
// reconnects later.
func (r *Relay) Serve(ctx context.Context) error {
	select {
	case <-r.done:
		return ErrClosed
	default:
	}
	stop := context.AfterFunc(ctx, func() { _ = r.Close() })
	defer func() {
		if !stop() {
			_ = r.Close() // ctx's Close is running: wait for it
		}
	}()
	spare := openSpare()
	defer func() {
		if spare != nil {
			_ = spare.Close()
		}
	}()
	var pause time.Duration
	shed, shedding := false, false // shed: the next connection accepted is closed at once
	for {
		nc, err := r.ln.Accept()
		if err != nil {
			select {
			case <-r.done:
				return nil
			default:
			}
			// The cause alone: the listener's own address is where a unix
			// socket was bound, a private directory gone since.
			var oe *net.OpError
			if errors.As(err, &oe) {
				err = oe.Err
			}
			if !inbound.Temporary(err) {
				return &ListenError{Endpoint: r.endpoint, Err: err}
			}
			r.count.acceptErrors.Add(1)
			if spare != nil && outOfFiles(err) {
				if !shedding {
					r.cfg.log.Warn("relay: out of file descriptors; closing new connections at once until some are free",
						"endpoint", r.endpoint, "err", err)
					shedding = true
				}
				_ = spare.Close()
				spare, shed = nil, true
				continue
			}
			pause = inbound.AcceptPause(pause)
			r.cfg.log.Warn("relay: accept failed; retrying", "endpoint", r.endpoint, "err", err, "pause", pause)
			select {
			case <-time.After(pause):
			case <-r.done:
				return nil
			}
			if spare == nil {
				spare = openSpare()
			}
			continue
		}
		pause = 0
		if shed {
			r.count.refused.Add(1) // before the close that a client may see
			_ = nc.Close()
			spare, shed = openSpare(), false
			continue
		}
		if shedding && spare != nil {
			r.cfg.log.Info("relay: file descriptors available again; accepting connections")
			shedding = false
		}
		r.start(nc)
	}
}

// openSpare opens the descriptor Serve keeps in reserve, or returns nil
// when there is none to spare: Serve then only pauses.
func openSpare() *os.File {
	f, err := os.Open(os.DevNull)
	if err != nil {
		return nil
	}
	return f
}

// outOfFiles reports accept errors that a free descriptor cures.
func outOfFiles(err error) bool {
	return errors.Is(err, syscall.EMFILE) || errors.Is(err, syscall.ENFILE)
}

// start registers an accepted connection and starts its goroutine.
func (r *Relay) start(nc net.Conn) {
	r.mu.Lock()
	if r.closed {
		r.mu.Unlock()
		_ = nc.Close()
		return
	}
	if len(r.conns) >= r.cfg.maxConns {
		full := r.full
		r.full = true
		r.mu.Unlock()
		// Counted before the close: a client that sees its connection
		// closed finds it counted in Stats.
		r.count.refused.Add(1)
		_ = nc.Close()
		if !full {
			r.cfg.log.Warn("relay: at max_conns; closing new connections at once until some leave", "max_conns", r.cfg.maxConns)
		}
		return
	}
	r.full = false
	r.nextID++
	cn := &conn{id: r.nextID, nc: nc}
	r.conns[cn] = struct{}{}
	r.wg.Add(1)
	r.mu.Unlock()
	go r.handle(cn)
}

// forget unregisters a connection whose goroutine is returning.
func (r *Relay) forget(cn *conn) {
	r.mu.Lock()
	delete(r.conns, cn)
	r.mu.Unlock()
}

// Close stops the relay at once: it closes the listener and every connection
// (frames still queued for consumers are discarded and counted), waits for
// every goroutine the relay started, removes the socket file if it is still
// this relay's, and logs the final counters. It is idempotent: later calls
// wait for the first to finish and return its result.
func (r *Relay) Close() error {
	r.closeOnce.Do(func() {
		r.mu.Lock()
		r.closed = true
		var producers []net.Conn
		var consumers []*consumer
		for cn := range r.conns {
			if cn.k != nil {
				consumers = append(consumers, cn.k)
			} else {
				producers = append(producers, cn.nc)
			}
		}
		r.mu.Unlock()
		close(r.done)
		if err := r.ln.Close(); err != nil && !errors.Is(err, net.ErrClosed) {
			r.closeErr = err
		}
		for _, nc := range producers {
			_ = nc.Close()
		}
		for _, k := range consumers {
			k.shutdown(endRelayClosed)
		}
		r.wg.Wait()
		if r.sock != nil {
			r.sock.remove()
		}
		r.cfg.log.Info("relay: closed", "endpoint", r.endpoint, "stats", r.Stats().String())
	})
	return r.closeErr
}

// now is the relay's clock: monotonic nanoseconds since Listen, cheap enough
// to read once per read syscall and once per consumer batch.
func (r *Relay) now() int64 { return int64(time.Since(r.epoch)) }

// reject counts and logs a connection closed for what it sent.
func (r *Relay) reject(cn *conn, role string, why inbound.Reason, err error) {
	r.count.rejected[why].Add(1)
	r.cfg.log.Warn("relay: "+role+" rejected; closing its connection", "conn", cn.id, "reason", why.String(), "err", err)
}
