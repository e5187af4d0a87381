package dashboard

import (
	"errors"
	"fmt"
	"log/slog"
	"net/http"
	"sync"
	"time"

	"github.com/msgsink/msgsink/internal/hist"
	"github.com/msgsink/msgsink/sink"
	"github.com/msgsink/msgsink/source"
	"github.com/msgsink/msgsink/tlv"
	"github.com/msgsink/msgsink/transport"
)

// Defaults for Config's zero fields.
const (
	// DefaultStaleAfter is how long a source may send nothing before the
	// page shows it (and, when every source is, the feed) as stale.
	DefaultStaleAfter = 2 * time.Second
	// DefaultBoardSize is how many instruments each intake counts (the k
	// of its space-saving board): what bounds memory, whatever the number
	// of distinct instruments.
	DefaultBoardSize = 1024
	// DefaultBoardRows is how many of the busiest instruments the page shows.
	DefaultBoardRows = 20
	// DefaultMaxProducers bounds the producer connections /ws takes at once.
	DefaultMaxProducers = 64
	// DefaultMaxViewers bounds the browsers served at once.
	DefaultMaxViewers = 64
)

// UpdateInterval is the period of the updates browsers get: at most ten a
// second, whatever the input rate, since a page redrawn faster shows nothing
// more.
const UpdateInterval = 100 * time.Millisecond

// Errors of Attach and of the HTTP endpoints.
var (
	// ErrClosed is sink.ErrClosed: the dashboard was closed.
	ErrClosed = sink.ErrClosed
	// ErrTooMany is the reason /ws and /live answer 503 when
	// Config.MaxProducers or MaxViewers connections are open.
	ErrTooMany = errors.New("dashboard: too many connections (raise Config.MaxProducers or MaxViewers)")
)

// Feed is where an intake's frames come from: source.Source (a relay's
// consumer) or source.Listener (producers connecting directly). Next
// returns a view valid until the next call; Close must end a Next blocked
// in another goroutine.
type Feed interface {
	Next() (tlv.Frame, error)
	Close() error
}

// Config configures a Dashboard. Its zero value works.
type Config struct {
	StaleAfter   time.Duration // default DefaultStaleAfter
	BoardSize    int           // default DefaultBoardSize
	BoardRows    int           // default DefaultBoardRows
	MaxProducers int           // default DefaultMaxProducers
	MaxViewers   int           // default DefaultMaxViewers
	Logger       *slog.Logger  // connections coming and going; default: discard
}

func (c Config) withDefaults() Config {
	set := func(v *int, d int) {
		if *v <= 0 {
			*v = d
		}
	}
	set(&c.BoardSize, DefaultBoardSize)
	set(&c.BoardRows, DefaultBoardRows)
	set(&c.MaxProducers, DefaultMaxProducers)
	set(&c.MaxViewers, DefaultMaxViewers)
	if c.StaleAfter <= 0 {
		c.StaleAfter = DefaultStaleAfter
	}
	if c.Logger == nil {
		c.Logger = slog.New(slog.DiscardHandler)
	}
	return c
}

// Dashboard aggregates the frames of its intakes and serves the page, its
// live updates and the producers' WebSocket endpoint (see ServeHTTP). New
// starts its ticker and its /ws intake; Close stops everything it started.
type Dashboard struct {
	cfg Config
	ws  *source.Listener // /ws's producers, handed over by ServeHTTP

	mu      sync.Mutex
	closed  bool
	intakes map[*intake]struct{}
	viewers map[*viewer]struct{}
	retired counts        // what intakes that ended had counted
	retLat  hist.Snapshot // and their latencies
	retB    board         // and their boards
	history []point       // one point a second, the last historyLen
	wg      sync.WaitGroup
	done    chan struct{}
}

// intake is one running source of frames.
type intake struct {
	kind, name string
	since      time.Time
	src        Feed
	t          *tally
	conns      func() int // producer connections behind it, for the page
}

// New returns a running dashboard whose one intake is /ws: a
// source.Listener that binds nothing and takes the producers ServeHTTP
// hands it. Attach adds more.
func New(cfg Config) (*Dashboard, error) {
	cfg = cfg.withDefaults()
	ln, err := source.Listen(source.ListenConfig{
		Name:     "dashboard /ws",
		Endpoint: transport.Endpoint{Scheme: "ws", Path: "/ws"},
		Logger:   cfg.Logger,
		HTTPOnly: true, // producers come through ServeHTTP, on the page's port
	})
	if err != nil {
		return nil, fmt.Errorf("dashboard: the /ws intake: %w", err)
	}
	d := &Dashboard{
		cfg:     cfg,
		ws:      ln,
		intakes: map[*intake]struct{}{},
		viewers: map[*viewer]struct{}{},
		retB:    newBoard(cfg.BoardSize),
		done:    make(chan struct{}),
	}
	d.attach("ws", "/ws", ln, func() int { return ln.Info().Producers })
	d.wg.Go(d.tick)
	return d, nil
}

// Attach starts an intake that aggregates every frame f returns until Next
// fails; then it closes f. kind and name label it on the page ("relay",
// "unix:///tmp/md.sock"). The dashboard owns f from here on, also when
// Attach fails (it closes f then): it fails only after Close, with an error
// matching ErrClosed.
func (d *Dashboard) Attach(kind, name string, f Feed) error {
	if !d.attach(kind, name, f, func() int { return 1 }) {
		_ = f.Close()
		return fmt.Errorf("dashboard: attach %s %s: %w", kind, name, ErrClosed)
	}
	d.cfg.Logger.Info("dashboard: intake attached", "kind", kind, "name", name)
	return nil
}

func (d *Dashboard) attach(kind, name string, f Feed, conns func() int) bool {
	in := &intake{kind: kind, name: name, since: time.Now(), src: f, t: newTally(d.cfg.BoardSize), conns: conns}
	d.mu.Lock()
	defer d.mu.Unlock()
	if d.closed {
		return false
	}
	d.intakes[in] = struct{}{}
	d.wg.Go(func() { d.consume(in) })
	return true
}

// consume is an intake's goroutine.
func (d *Dashboard) consume(in *intake) {
	var err error
	for {
		var f tlv.Frame
		if f, err = in.src.Next(); errors.Is(err, source.ErrLagged) {
			continue // a relay dropped a slow intake; its Source subscribes again
		} else if err != nil {
			break
		}
		in.t.observe(f, time.Now().UnixNano())
	}
	_ = in.src.Close()
	d.mu.Lock()
	delete(d.intakes, in)
	in.t.read(&d.retired, &d.retB)
	addLat(&d.retLat, in.t.lat.Snapshot())
	d.mu.Unlock()
	d.cfg.Logger.Info("dashboard: intake ended", "kind", in.kind, "name", in.name, "err", err)
}

func addLat(dst, src *hist.Snapshot) {
	for i := range dst {
		dst[i] += src[i]
	}
}

// Frames returns how many frames the intakes have aggregated.
func (d *Dashboard) Frames() uint64 {
	d.mu.Lock()
	defer d.mu.Unlock()
	n := d.retired.frames
	for in := range d.intakes {
		in.t.mu.Lock()
		n += in.t.c.frames
		in.t.mu.Unlock()
	}
	return n
}

// Close stops the ticker, every producer and browser connection and every
// intake (closing its Feed, the /ws Listener included), and waits for
// their goroutines. It is idempotent.
func (d *Dashboard) Close() error {
	d.mu.Lock()
	if d.closed {
		d.mu.Unlock()
		return nil
	}
	d.closed = true
	close(d.done)
	for v := range d.viewers {
		v.close()
	}
	intakes := make([]*intake, 0, len(d.intakes))
	for in := range d.intakes {
		intakes = append(intakes, in)
	}
	d.mu.Unlock()
	// Outside mu: the Listener's Close waits for its readers, and an
	// ending intake takes mu.
	for _, in := range intakes {
		_ = in.src.Close()
	}
	d.wg.Wait()
	return nil
}

// ServeHTTP serves the page at "/" (and its files under /static/), the
// live updates as a WebSocket at /live, and frames from direct WebSocket
// sinks at /ws (the endpoint of the seed's [services.dashboard]).
func (d *Dashboard) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	switch r.URL.Path {
	case "/ws":
		if d.ws.Info().Producers >= d.cfg.MaxProducers {
			http.Error(w, ErrTooMany.Error(), http.StatusServiceUnavailable)
			return
		}
		d.ws.ServeHTTP(w, r)
	case "/live":
		d.serveLive(w, r)
	default:
		serveStatic(w, r)
	}
}
