package main

import (
	"context"
	"errors"
	"fmt"
	"io"
	"math/rand/v2"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"github.com/msgsink/msgsink/cmd/msgsink/internal/dashboard"
	"github.com/msgsink/msgsink/config"
	natssink "github.com/msgsink/msgsink/contrib/nats"
	"github.com/msgsink/msgsink/examples"
	"github.com/msgsink/msgsink/factory"
	"github.com/msgsink/msgsink/internal/hist"
	"github.com/msgsink/msgsink/relay"
	"github.com/msgsink/msgsink/sink"
	"github.com/msgsink/msgsink/source"
	"github.com/msgsink/msgsink/tlv"
	"github.com/msgsink/msgsink/transport"
)

type demoOptions struct {
	duration   time.Duration
	rate       int
	relayDelay time.Duration
	configPath string
	sinkName   string
	relayName  string
	dashboard  string // listen address; "" = none
	dashName   string // the direct service that leads to the dashboard
}

func runDemo(ctx context.Context, args []string, stdout, stderr io.Writer) int {
	fs := flags("demo", "[flags]",
		"Demo runs the main job on embedded defaults: a synthetic market-data adapter\n"+
			"that sends trades and quotes only through factory.Sink(NAME) as configured by\n"+
			"examples/services.toml, an embedded market-data relay on a temporary socket\n"+
			"(the relay service's endpoint is moved there), and a consumer subscribed to the\n"+
			"relay. The adapter starts first, then the consumer, then the relay: the sink\n"+
			"queues until the relay answers. Every second it prints the rates, the latency\n"+
			"from the header timestamp to the consumer, drops by reason and each sink's\n"+
			"state; at the end, a summary whose counters must add up (exit 0) or not (exit 1).\n"+
			"The dashboard (msgsink dashboard) runs beside the relay and prints its URL; the\n"+
			"default sink, broadcast_all, sends every message to both.", stderr)
	var o demoOptions
	fs.DurationVar(&o.duration, "duration", 10*time.Second, "how long the adapter sends")
	fs.IntVar(&o.rate, "rate", 200_000, "messages per second the adapter offers; 0 = as fast as the sink takes them")
	fs.DurationVar(&o.relayDelay, "relay-delay", 200*time.Millisecond, "how long after the adapter the relay starts")
	fs.StringVar(&o.configPath, "config", "", "services.toml to use instead of the embedded examples/services.toml")
	fs.StringVar(&o.sinkName, "sink", "broadcast_all", "the service the adapter sends to")
	fs.StringVar(&o.relayName, "relay-service", "market_data_relay", "the relay service whose endpoint the embedded relay takes over")
	fs.StringVar(&o.dashboard, "dashboard", "127.0.0.1:8080", "where the dashboard listens (another free port if taken); \"\" for none, with -sink market_data_relay")
	fs.StringVar(&o.dashName, "dashboard-service", "dashboard", "the direct service whose endpoint the dashboard's /ws takes over")
	pos, code := parse(fs, args)
	if code >= 0 {
		return code
	}
	if len(pos) != 0 || o.duration <= 0 || o.rate < 0 {
		fs.Usage()
		return 2
	}
	if err := demo(ctx, o, stdout); err != nil {
		fmt.Fprintln(stderr, "msgsink demo:", err)
		return 1
	}
	return 0
}

// relocated resolves names through a file but moves some services to other
// endpoints: the demo's relay lives on a temporary socket and its dashboard
// on whatever port was free, not where the example file says. It is also a
// small proof of the factory's promise: anything with a Resolve method can
// stand where the file stood.
type relocated struct {
	file *config.File
	to   map[string]transport.Endpoint // by service name
}

func (r relocated) Resolve(name string) (config.Service, error) {
	s, err := r.file.Resolve(name)
	if to, ok := r.to[name]; err == nil && ok {
		s.Endpoint = to
	}
	return s, err
}

func loadDemoConfig(path string) (*config.File, error) {
	if path == "" {
		return config.Parse("examples/services.toml (embedded)", examples.ServicesTOML, natssink.Extension())
	}
	return config.Load(path, natssink.Extension())
}

func demo(ctx context.Context, o demoOptions, out io.Writer) error {
	file, err := loadDemoConfig(o.configPath)
	if err != nil {
		return err
	}
	relaySvc, err := file.Resolve(o.relayName)
	if err != nil {
		return err
	}
	if relaySvc.Type != sink.KindRelay {
		return fmt.Errorf("-relay-service %s is a %s service; name a relay", o.relayName, relaySvc.Type)
	}
	dir, err := os.MkdirTemp("", "msgsink-demo-")
	if err != nil {
		return err
	}
	defer os.RemoveAll(dir)
	endpoint, err := transport.ParseEndpoint("unix://" + filepath.Join(dir, "market_data.sock"))
	if err != nil {
		return err
	}

	start := time.Now()
	var outMu sync.Mutex // the sinks' state changes arrive from their own goroutine
	say := func(format string, args ...any) {
		outMu.Lock()
		defer outMu.Unlock()
		fmt.Fprintf(out, "%6.3fs  %s\n", time.Since(start).Seconds(), fmt.Sprintf(format, args...))
	}
	moves := map[string]transport.Endpoint{o.relayName: endpoint}
	var dash *dashboard.Dashboard
	if o.dashboard != "" {
		d, wsEndpoint, stop, err := demoDashboard(file, o)
		if err != nil {
			return err
		}
		defer stop()
		dash, moves[o.dashName] = d, wsEndpoint
		say("dashboard: http://%s/ (service %s -> %s)", wsEndpoint.Addr, o.dashName, wsEndpoint)
	}
	f := factory.New(relocated{file: file, to: moves}, factory.WithStateChange(stateReporter(say)), natssink.Option())
	defer f.Close()
	s, err := f.Sink(o.sinkName)
	if err != nil {
		return err
	}
	say("services from %s; %s -> %s", file.Path, o.relayName, endpoint)

	ctx, cancel := context.WithCancel(ctx)
	defer cancel()
	var wg sync.WaitGroup
	defer wg.Wait()

	// 1. The adapter: it has a sink name and nothing else.
	a := &adapter{sink: s, rate: o.rate}
	adapterCtx, stopAdapter := context.WithTimeout(ctx, o.duration)
	defer stopAdapter()
	wg.Go(func() { a.run(adapterCtx) })
	say("adapter started: sending to %q (%s); no relay yet, the sink queues", o.sinkName, s.Info().Kind)

	// 2. The consumer: subscribes as soon as the relay answers.
	src, err := f.Source(o.relayName) // the relay service, read from the other side
	if err != nil {
		return err
	}
	c := &consumer{src: src}
	wg.Go(c.run)
	say("consumer started: waiting for the relay")

	// 3. The relay, last.
	select {
	case <-time.After(o.relayDelay):
	case <-ctx.Done():
		return ctx.Err()
	}
	domain := tlv.DomainMarketData
	if relaySvc.Sink.Validator.Domain != 0 {
		domain = relaySvc.Sink.Validator.Domain
	}
	r, err := relay.Listen(relay.Config{Endpoint: endpoint, Domain: domain})
	if err != nil {
		return err
	}
	defer r.Close()
	wg.Go(func() { _ = r.Serve(ctx) })
	say("relay up (%s domain); the sink connects on its next retry", domain)

	// Live lines until the adapter stops.
	tick := time.NewTicker(time.Second)
	defer tick.Stop()
	prev := sample(a, c, r, f)
	for adapterCtx.Err() == nil {
		select {
		case <-tick.C:
		case <-adapterCtx.Done():
			continue
		}
		now := sample(a, c, r, f)
		say("%s", now.line(prev))
		prev = now
	}
	if ctx.Err() != nil {
		return ctx.Err()
	}

	// Drain: the sink writes what it holds, the relay forwards it, the
	// consumer reads it; then everything closes and the counters must agree.
	flushCtx, cancelFlush := context.WithTimeout(ctx, 5*time.Second)
	defer cancelFlush()
	if err := s.Flush(flushCtx); err != nil {
		return fmt.Errorf("flushing %s: %w", o.sinkName, err)
	}
	relayIn := infoOf(f, o.relayName) // what the relay's own sink took: s may be a fanout
	for flushCtx.Err() == nil && (!c.caughtUp(relayIn.Written, r.Stats()) || !dashCaughtUp(dash, f, o.dashName)) {
		time.Sleep(5 * time.Millisecond)
		relayIn = infoOf(f, o.relayName)
	}
	end := sample(a, c, r, f)
	wait := time.Since(start)
	if err := f.Close(); err != nil {
		return err
	}
	cancel() // f.Close closed the Source: the consumer's Next returned
	wg.Wait()
	if err := r.Close(); err != nil {
		return err
	}
	return summary(out, wait, end, relayIn, r.Stats(), func(w io.Writer) []string {
		return dashSummary(w, dash, end.offered, infoOf(f, o.dashName))
	})
}

// stateReporter prints the moments a sink's story changes: the first failed
// dial of a run of them, connected, idle, closed. The dial-and-wait loop
// while a peer is down would only repeat itself.
func stateReporter(say func(string, ...any)) func(sink.StateChange) {
	var mu sync.Mutex
	waiting := map[string]bool{}
	return func(c sink.StateChange) {
		mu.Lock()
		defer mu.Unlock()
		switch c.To {
		case sink.StateConnecting:
			return
		case sink.StateBackoff:
			if waiting[c.Sink] {
				return
			}
			waiting[c.Sink] = true
			say("sink %s: backoff after %v", c.Sink, c.Err) // the error names connect or write
			return
		}
		waiting[c.Sink] = false
		say("sink %s: %s", c.Sink, c.To)
	}
}

// point is everything the live line shows, at one instant.
type point struct {
	at        time.Time
	offered   uint64
	received  uint64
	missed    uint64
	reordered uint64
	lat       *hist.Snapshot
	sent      sink.Info   // the adapter's sink: a composite's counts are per message, not per target
	info      []sink.Info // every sink, composites' targets included
	relay     relay.Stats
}

func sample(a *adapter, c *consumer, r *relay.Relay, f *factory.Factory) point {
	ci := c.src.Info()
	return point{sent: a.sink.Info(),
		at: time.Now(), offered: a.offered.Load(), received: c.received.Load(), missed: ci.Gaps,
		reordered: ci.Duplicates,
		lat:       c.lat.Snapshot(), info: f.Infos(), relay: r.Stats(),
	}
}

func (p point) line(prev point) string {
	secs := p.at.Sub(prev.at).Seconds()
	var b strings.Builder
	enq, prevEnq, full := p.sent.Enqueued, prev.sent.Enqueued, p.sent.Refused.BufferFull
	var dropped uint64
	for _, in := range p.info {
		dropped += in.Dropped.Total() // only connections drop: a composite holds no queue
	}
	lat := p.lat.Since(prev.lat)
	fmt.Fprintf(&b, "sent %7.0f/s  recv %7.0f/s  p50 %-8s p99 %-8s drops: buffer_full=%d sink=%d relay_rejected=%d consumer=%d  |",
		float64(enq-prevEnq)/secs, float64(p.received-prev.received)/secs, lat.Format(0.50), lat.Format(0.99),
		full, dropped, p.relay.Rejected.Total(), p.relay.ConsumerDrops)
	for _, in := range p.info {
		fmt.Fprintf(&b, " %s=%s", in.Name, in.State)
	}
	return b.String()
}

// summary prints the counters and checks that they add up; more prints the
// lines of parts beside the relay path (the dashboard) and returns their
// problems.
func summary(out io.Writer, wall time.Duration, end point, in sink.Info, rs relay.Stats, more func(io.Writer) []string) error {
	lat := end.lat
	fmt.Fprintf(out, "\nsummary after %.1fs\n", wall.Seconds())
	fmt.Fprintf(out, "  adapter   offered %d: sink took %d, refused %d (buffer_full %d, other %d)\n",
		end.offered, in.Enqueued, in.Refused.Total(), in.Refused.BufferFull, in.Refused.Total()-in.Refused.BufferFull)
	fmt.Fprintf(out, "  sink      %s: written %d (%d bytes; %d by Send itself, the writer asleep), dropped %d (connect_failed %d, stale %d, closed %d), pending %d, connect attempts %d, reconnects %d\n",
		in.Name, in.Written, in.WrittenBytes, in.WrittenThrough, in.Dropped.Total(), in.Dropped.ConnectFailed, in.Dropped.Stale, in.Dropped.Closed,
		in.Pending, in.ConnectAttempts, in.Reconnects)
	fmt.Fprintf(out, "  relay     %s\n", rs)
	fmt.Fprintf(out, "  consumer  received %d, missed %d (sequence gaps after its first frame: refused by the sink or dropped by the relay), out of order %d\n",
		end.received, end.missed, end.reordered)
	fmt.Fprintf(out, "  latency   p50 %s  p99 %s  p99.9 %s  max %s (header timestamp to consumer)\n",
		lat.Format(0.5), lat.Format(0.99), lat.Format(0.999), lat.Format(1))
	problems := more(out)

	check := func(ok bool, format string, args ...any) {
		if !ok {
			problems = append(problems, fmt.Sprintf(format, args...))
		}
	}
	check(end.offered == in.Enqueued+in.Refused.Total(), "offered %d != enqueued %d + refused %d", end.offered, in.Enqueued, in.Refused.Total())
	check(in.Balanced() && in.Pending == 0, "sink counters do not add up: %+v", in)
	check(rs.FramesIn == in.Written, "relay received %d frames, the sink wrote %d", rs.FramesIn, in.Written)
	check(rs.Balanced() && rs.Pending == 0, "relay counters do not add up: %s", rs)
	check(rs.Rejected.Total() == 0 && rs.Truncated == 0, "the relay rejected frames from the sink: %s", rs)
	check(end.received == rs.FramesOut, "the consumer received %d frames, the relay wrote %d to it", end.received, rs.FramesOut)
	check(end.reordered == 0, "the consumer saw %d frames out of sequence order", end.reordered)
	// Whatever the adapter offered and the consumer did not receive is a
	// refusal or drop counted by the sink, or a frame the relay took
	// before the consumer subscribed or dropped for it.
	lost := in.Refused.Total() + in.Dropped.Total() + (rs.FramesIn - rs.Offered) + rs.ConsumerDrops + rs.ConsumerDiscards
	check(end.offered == end.received+lost, "offered %d != received %d + counted losses %d", end.offered, end.received, lost)
	check(end.missed <= lost, "the consumer saw %d sequence gaps, more than the %d losses counted", end.missed, lost)
	check(end.received > 0, "the consumer received nothing")
	if len(problems) > 0 {
		return errors.New("accounting does not add up:\n  " + strings.Join(problems, "\n  "))
	}
	fmt.Fprintln(out, "  accounting: adds up. Every message offered reached the consumer or is counted by reason (sink refusals and drops, relay drops); no frame out of order")
	return nil
}

// instrument is one synthetic market: a price that walks randomly.
type instrument struct {
	id     uint64
	price  int64 // fixed point ×1e8
	spread int64
}

// adapter is a synthetic exchange adapter. It knows a sink and nothing of
// where the sink leads.
type adapter struct {
	sink    sink.Sink
	rate    int
	offered atomic.Uint64
}

func (a *adapter) run(ctx context.Context) {
	instruments := []instrument{
		{1, 65_000 * tlv.PriceScale, 50 * tlv.PriceScale / 10},    // BTC-USD
		{2, 3_400 * tlv.PriceScale, 5 * tlv.PriceScale / 100},     // ETH-USD
		{3, 150 * tlv.PriceScale, tlv.PriceScale / 100},           // SOL-USD
		{4, 58 * tlv.PriceScale / 100, tlv.PriceScale / 10_000},   // XRP-USD
		{5, 236 * tlv.PriceScale, tlv.PriceScale / 100},           // AAPL
		{6, 4_700 * tlv.PriceScale, 25 * tlv.PriceScale / 100},    // ES future
		{7, 108 * tlv.PriceScale / 100, tlv.PriceScale / 100_000}, // EUR-USD
		{8, 2_650 * tlv.PriceScale, 10 * tlv.PriceScale / 100},    // XAU-USD
	}
	rng := rand.New(rand.NewPCG(1, 2))
	b := tlv.NewBuilder(tlv.DomainMarketData, 1)
	start := time.Now()
	var sent uint64
	for ctx.Err() == nil {
		// Pace in bursts against the clock: cheap, and it catches up after a
		// stall instead of drifting.
		due := uint64(time.Since(start).Seconds() * float64(a.rate))
		if a.rate == 0 {
			due = sent + 256
		}
		for ; sent < due && ctx.Err() == nil; sent++ {
			in := &instruments[rng.IntN(len(instruments))]
			// A random walk of a few ticks, never below one tick.
			in.price = max(in.price+(rng.Int64N(5)-2)*in.spread, in.spread)
			if rng.IntN(4) == 0 {
				side := uint8(rng.IntN(2))
				b.AppendTrade(&tlv.Trade{Instrument: in.id, Price: in.price, Volume: (1 + rng.Int64N(100)) * tlv.PriceScale / 100,
					ExchangeTS: uint64(time.Now().UnixNano()), Venue: 1, Side: side})
			} else {
				b.AppendQuote(&tlv.Quote{Instrument: in.id, BidPrice: in.price - in.spread, BidSize: (1 + rng.Int64N(50)) * tlv.PriceScale,
					AskPrice: in.price + in.spread, AskSize: (1 + rng.Int64N(50)) * tlv.PriceScale, QuoteTS: uint64(time.Now().UnixNano()), Venue: 1})
			}
			m, err := b.Finish()
			if err != nil {
				panic(err) // the adapter's own messages are valid by construction
			}
			a.offered.Add(1)
			if a.sink.Send(m) != nil {
				// Refused (counted by the sink, by reason): still ours. A
				// market-data adapter drops rather than waits.
				m.Release()
			}
		}
		time.Sleep(200 * time.Microsecond)
	}
}

// consumer reads the relay service through its source.Source and
// measures what arrives; the Source counts gaps and duplicates.
type consumer struct {
	src      *source.Source
	received atomic.Uint64
	lat      hist.Histogram
}

func (c *consumer) run() {
	for {
		f, err := c.src.Next()
		if errors.Is(err, source.ErrLagged) {
			continue // counted by the Source; it subscribes again
		}
		if err != nil {
			return // closed
		}
		c.lat.Record(time.Duration(time.Now().UnixNano() - int64(f.Header().Timestamp())))
		c.received.Add(1)
	}
}

// caughtUp reports whether the stream has drained: the relay has read every
// frame the sink wrote (they may still sit in the socket after Flush), none
// is queued for the consumer, and the consumer has read all the relay wrote.
func (c *consumer) caughtUp(written uint64, rs relay.Stats) bool {
	return rs.FramesIn >= written && rs.Pending == 0 && c.received.Load() >= rs.FramesOut
}
