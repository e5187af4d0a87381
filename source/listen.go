package source

import (
	"errors"
	"fmt"
	"log/slog"
	"net"
	"net/http"
	"path/filepath"
	"strconv"
	"sync"
	"sync/atomic"
	"syscall"
	"time"

	"github.com/gobwas/ws"

	"github.com/msgsink/msgsink/internal/inbound"
	"github.com/msgsink/msgsink/sink"
	"github.com/msgsink/msgsink/tlv"
	"github.com/msgsink/msgsink/transport"
)

// DefaultListenQueue is how many runs of frames (spans, each the frames of
// one read: up to 64 KiB, up to 1 MiB while frames larger than 64 KiB arrive)
// may wait for Next before the connections' readers stop reading, which
// pushes back on the producers through their sockets.
const DefaultListenQueue = 64

// DefaultHandshakeTimeout bounds a WebSocket client's upgrade request.
const DefaultHandshakeTimeout = 10 * time.Second

// ListenConfig configures a Listener. Its zero value with an Endpoint works.
type ListenConfig struct {
	// Name is shown in errors and logs.
	Name string
	// Endpoint is where producers connect: unix:///path.sock, tcp://host:port
	// (port 0 picks a free one; see Listener.Addr) or ws://host:port/path,
	// whose path is the only one upgraded. A TCP or WebSocket endpoint
	// listens on the interface its host names: 127.0.0.1 or localhost for
	// loopback only, 0.0.0.0 for every interface.
	Endpoint transport.Endpoint
	// Validator checks every frame a producer sends: its Level, Precision,
	// Domain (when non-zero, the only relay domain accepted) and MaxSize
	// (0 means tlv.MaxMessageSize). A frame that fails closes that
	// producer's connection, counted in ListenerInfo.Rejected.
	Validator tlv.Validator
	// Queue is how many spans may wait for Next; 0 means DefaultListenQueue.
	Queue int
	// HandshakeTimeout bounds a WebSocket upgrade; 0 means
	// DefaultHandshakeTimeout.
	HandshakeTimeout time.Duration
	// Logger receives state changes (listening, connections, rejections),
	// never one line per frame. Nil discards.
	Logger *slog.Logger
	// HTTPOnly, with a ws:// Endpoint, binds nothing: producers arrive only
	// through the Listener's ServeHTTP, mounted on the application's own
	// HTTP server at the Endpoint's path, so that WebSocket producers and
	// the application's pages share one port. The Endpoint's host and port
	// are then only what Endpoint reports.
	HTTPOnly bool
}

// Listener accepts producer connections (direct sinks, type = "direct",
// pointing at it) and returns their frames one at a time. Make one with
// Listen; it accepts at once.
//
// Each connection has a reader goroutine that reads into a pooled chunk (4
// KiB at first, so a quiet producer costs a page; 64 KiB once it sends more;
// larger only while the bytes of a larger frame arrive, and back at the next
// frame boundary), validates every whole frame in it (on a WebSocket, unmasks
// each binary message in place, one frame per message) and hands the run of
// frames to Next in one piece: nothing happens per frame but validation and
// Next's bookkeeping, and frames of one producer keep their order. When
// Next falls behind, the readers stop reading and the producers' sockets
// push back. A frame that fails the Validator closes only its producer's
// connection, counted by reason. A producer whose first frame is
// Subscribe{role: tlv.RoleProducer} (delivery = "acked") gets Ack frames,
// cumulative per source, for what Next has returned (SPEC section 3).
//
// Next belongs to one goroutine (the checked build, -tags msgsink_checked,
// panics on a second); Info, Addr, Endpoint and Close may be called from
// any. A chunk belongs to the reader that reads into it and to Next while
// Next returns frames from it, by reference count: the bytes of a frame
// Next returned are not written again before the next call to Next.
type Listener struct {
	name      string
	endpoint  string // canonical, with the port chosen for port 0
	ws        bool
	wsPath    string
	validator tlv.Validator // its MaxSize is the largest frame accepted, the default filled in
	handshake time.Duration
	log       *slog.Logger
	ln        net.Listener

	spans   chan span
	done    chan struct{} // closed by Close
	closed  atomic.Bool
	nexting atomic.Bool // in a Next, in the checked build

	mu     sync.Mutex
	conns  map[*lconn]struct{}
	nextID uint64
	wg     sync.WaitGroup

	closeOnce sync.Once
	closeErr  error

	count listenCounters
	nx    nextState // Next's own
}

// Listen checks cfg, binds its endpoint and starts accepting producers.
// Errors match sink.ErrInvalidConfig for a bad cfg (a *sink.Error naming the
// field) or are the bind error, a *net.OpError.
func Listen(cfg ListenConfig) (*Listener, error) {
	l := &Listener{
		name:      cfg.Name,
		validator: cfg.Validator,
		handshake: cfg.HandshakeTimeout,
		log:       cfg.Logger,
		done:      make(chan struct{}),
		conns:     make(map[*lconn]struct{}),
	}
	bad := func(field, reason string) (*Listener, error) {
		return nil, &sink.Error{Sink: cfg.Name, Op: "listen",
			Err: fmt.Errorf("%w: %s: %s", sink.ErrInvalidConfig, field, reason)}
	}
	if m := cfg.Validator.MaxSize; m == 0 || m > tlv.MaxMessageSize {
		l.validator.MaxSize = tlv.MaxMessageSize
	}
	if l.validator.MaxSize < tlv.HeaderSize {
		return bad("Validator.MaxSize", strconv.Itoa(cfg.Validator.MaxSize)+
			": use 0 for the protocol's limit, or at least "+strconv.Itoa(tlv.HeaderSize))
	}
	if d := cfg.Validator.Domain; d != 0 && !d.Valid() {
		return bad("Validator.Domain", strconv.Itoa(int(d))+": use 0 for any, or one of the tlv.Domain constants")
	}
	q := cfg.Queue
	switch {
	case q == 0:
		q = DefaultListenQueue
	case q < 0:
		return bad("Queue", strconv.Itoa(q)+": use 0 for the default, or a positive count of spans")
	}
	l.spans = make(chan span, q)
	if l.handshake == 0 {
		l.handshake = DefaultHandshakeTimeout
	} else if l.handshake < 0 {
		return bad("HandshakeTimeout", l.handshake.String()+": use 0 for the default, or a positive duration")
	}
	if l.log == nil {
		l.log = slog.New(slog.DiscardHandler)
	}
	if cfg.HTTPOnly && cfg.Endpoint.Scheme != "ws" {
		return bad("HTTPOnly", "an HTTP server hands over WebSocket producers only: use a ws:// Endpoint, or leave HTTPOnly out")
	}
	var err error
	switch e := cfg.Endpoint; e.Scheme {
	case "unix":
		if !filepath.IsAbs(e.Addr) {
			return bad("Endpoint", strconv.Quote(e.String())+": the socket path must be absolute: unix:///path/to.sock")
		}
		l.ln, err = listenUnix(e.Addr)
	case "tcp":
		l.ln, err = net.Listen("tcp", e.Addr)
	case "ws":
		l.ws, l.wsPath = true, e.Path
		if l.wsPath == "" {
			l.wsPath = "/" // as transport.ParseEndpoint writes a ws:// endpoint without one
		}
		// The largest frame travels with a WebSocket header in one chunk.
		l.validator.MaxSize = min(l.validator.MaxSize, inbound.MaxChunkSize-maxWSHeader)
		if !cfg.HTTPOnly {
			l.ln, err = net.Listen("tcp", e.Addr)
		}
	case "":
		return bad("Endpoint", `"": set it, e.g. with transport.ParseEndpoint("unix:///tmp/my.sock")`)
	default:
		return bad("Endpoint", strconv.Quote(e.String())+": a Listener listens on unix://, tcp:// or ws:// (terminate TLS in front of it for wss)")
	}
	if err != nil {
		return nil, err
	}
	l.endpoint = cfg.Endpoint.String()
	if l.ln == nil {
		l.nx.init(cfg.Name)
		l.log.Info("source: taking WebSocket producers from an HTTP server", "name", l.name, "path", pathOf(l.wsPath),
			"validation", l.validator.Level.String(), "max_frame", l.validator.MaxSize)
		return l, nil
	}
	if cfg.Endpoint.Scheme != "unix" {
		l.endpoint = cfg.Endpoint.Scheme + "://" + l.ln.Addr().String() + l.wsPath
	}
	l.nx.init(cfg.Name)
	if a, ok := l.ln.Addr().(*net.TCPAddr); ok && a.IP.IsUnspecified() {
		l.log.Warn("source: listening on all interfaces: any host that reaches this one can send frames; "+
			"use 127.0.0.1 in the endpoint for this host only", "name", l.name, "endpoint", l.endpoint)
	}
	l.log.Info("source: listening", "name", l.name, "endpoint", l.endpoint,
		"validation", l.validator.Level.String(), "max_frame", l.validator.MaxSize)
	l.wg.Add(1)
	go l.accept()
	return l, nil
}

// listenUnix listens at path. A socket file that nobody answers on, left by
// a process that died, is replaced; a live one (EADDRINUSE) or a file that
// is not a socket is left alone, and the bind's error returned.
func listenUnix(path string) (net.Listener, error) {
	ln, err := net.Listen("unix", path)
	if !errors.Is(err, syscall.EADDRINUSE) {
		return ln, err
	}
	if _, cerr := inbound.ClearStale(path); cerr != nil {
		return nil, err
	}
	return net.Listen("unix", path)
}

// Addr returns the listener's address: the socket path, or the TCP address
// with the port the system chose for port 0.
func (l *Listener) Addr() net.Addr {
	if l.ln == nil {
		return nil // HTTPOnly: the application's HTTP server has the address
	}
	return l.ln.Addr()
}

// Endpoint returns the endpoint producers connect to, with the port the
// system chose for port 0: what a direct sink's endpoint names.
func (l *Listener) Endpoint() string { return l.endpoint }

// accept runs until Close, starting a goroutine per connection.
func (l *Listener) accept() {
	defer l.wg.Done()
	var pause time.Duration
	for {
		nc, err := l.ln.Accept()
		if err != nil {
			if l.closed.Load() {
				return
			}
			// Out of descriptors and the like: pause rather than spin, and
			// keep listening; anything else ends the listener's accepting.
			if !inbound.Temporary(err) {
				l.log.Error("source: accept failed; no more producers are accepted", "err", err)
				return
			}
			pause = inbound.AcceptPause(pause)
			l.count.acceptErrors.Add(1)
			l.log.Warn("source: accept failed; retrying", "err", err, "pause", pause)
			select {
			case <-time.After(pause):
			case <-l.done:
				return
			}
			continue
		}
		pause = 0
		l.count.accepted.Add(1)
		l.start(nc)
	}
}

// ServeHTTP takes a WebSocket producer's upgrade request from the
// application's HTTP server (see ListenConfig.HTTPOnly; it works on any ws://
// Listener) and reads its frames like those of a connection the Listener
// accepted itself. A request for another path gets 404; a request that is
// not a WebSocket upgrade gets the handshake's error status, counted as a
// handshake rejection. A client may not send before it has the 101
// response (RFC 6455 section 4.1): one that did is refused.
func (l *Listener) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	switch {
	case !l.ws:
		http.Error(w, "source: this Listener takes "+l.endpoint+" producers, not WebSocket ones", http.StatusNotImplemented)
		return
	case r.URL.Path != pathOf(l.wsPath):
		http.Error(w, "no WebSocket endpoint at "+strconv.Quote(r.URL.Path)+": this one is "+strconv.Quote(pathOf(l.wsPath)), http.StatusNotFound)
		return
	}
	l.count.accepted.Add(1)
	nc, rw, _, err := ws.UpgradeHTTP(r, w)
	if err != nil {
		l.count.rejected[reasonHandshake].Add(1) // UpgradeHTTP wrote the status
		return
	}
	if rw.Reader.Buffered() > 0 {
		l.count.rejected[reasonHandshake].Add(1)
		_ = nc.Close()
		return
	}
	l.startConn(nc, true)
}

// start registers an accepted connection and starts its reader.
func (l *Listener) start(nc net.Conn) { l.startConn(nc, false) }

// startConn registers a connection and starts its reader; upgraded says a
// WebSocket handshake is done (ServeHTTP's).
func (l *Listener) startConn(nc net.Conn, upgraded bool) {
	l.mu.Lock()
	if l.closed.Load() {
		l.mu.Unlock()
		_ = nc.Close()
		return
	}
	l.nextID++
	cn := &lconn{l: l, id: l.nextID, nc: nc, ws: l.ws, upgraded: upgraded, gone: make(chan struct{})}
	l.conns[cn] = struct{}{}
	l.wg.Add(1)
	l.mu.Unlock()
	go cn.run()
}

// forget unregisters a connection whose reader is returning.
func (l *Listener) forget(cn *lconn) {
	l.mu.Lock()
	delete(l.conns, cn)
	l.mu.Unlock()
}

// Close stops accepting, closes every producer connection (a WebSocket
// producer first gets a Close frame, 1001 going away), ends a blocked Next,
// which returns an error matching sink.ErrClosed, and waits for every
// goroutine the Listener started. Frames not yet returned by Next are
// discarded. It is idempotent: later calls return the first one's result.
func (l *Listener) Close() error {
	l.closeOnce.Do(func() {
		l.mu.Lock()
		l.closed.Store(true)
		conns := make([]*lconn, 0, len(l.conns))
		for cn := range l.conns {
			conns = append(conns, cn)
		}
		l.mu.Unlock()
		close(l.done)
		if l.ln != nil {
			if err := l.ln.Close(); err != nil && !errors.Is(err, net.ErrClosed) {
				l.closeErr = err
			}
		}
		for _, cn := range conns {
			cn.shutdown()
		}
		l.wg.Wait()
		// The readers are gone: what they queued is nobody's now. A Next
		// running at the same time may take some of it; it releases what
		// it takes.
		for {
			select {
			case sp := <-l.spans:
				sp.c.Release()
				continue
			default:
			}
			break
		}
		i := l.Info()
		l.log.Info("source: closed", "name", l.name, "endpoint", l.endpoint,
			"frames", i.Frames, "bytes", i.Bytes, "accepted", i.Accepted,
			"gaps", i.Gaps, "duplicates", i.Duplicates, "rejected", i.Rejected.Total())
	})
	return l.closeErr
}
