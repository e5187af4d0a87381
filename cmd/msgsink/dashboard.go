package main

import (
	"context"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net"
	"net/http"
	"syscall"
	"time"

	"github.com/msgsink/msgsink/cmd/msgsink/internal/dashboard"
	"github.com/msgsink/msgsink/config"
	"github.com/msgsink/msgsink/factory"
	"github.com/msgsink/msgsink/sink"
	"github.com/msgsink/msgsink/source"
	"github.com/msgsink/msgsink/transport"
)

func runDashboard(ctx context.Context, args []string, stdout, stderr io.Writer) int {
	fs := flags("dashboard", "[-listen HOST:PORT] [-relay unix:///PATH]",
		"Dashboard serves a live page of the market data it receives: msgs/s per domain\n"+
			"and source, latency from the header timestamp, sequence gaps, connected\n"+
			"producers and the busiest instruments. Direct WebSocket sinks send to\n"+
			"ws://HOST:PORT/ws (the seed's [services.dashboard]); -relay also subscribes to\n"+
			"a relay. The page is at http://HOST:PORT/; it runs until interrupted.", stderr)
	listen := fs.String("listen", "127.0.0.1:8080", "the address to serve the page and /ws on")
	relayURL := fs.String("relay", "", "a relay to subscribe to as well (unix:// or tcp://)")
	stale := fs.Duration("stale", dashboard.DefaultStaleAfter, "a source silent this long shows as stale")
	pos, code := parse(fs, args)
	if code >= 0 {
		return code
	}
	if len(pos) != 0 || *stale <= 0 {
		fs.Usage()
		return 2
	}
	log := slog.New(slog.NewTextHandler(stderr, nil))
	d, addr, stop, err := startDashboard(*listen, dashboard.Config{StaleAfter: *stale, Logger: log})
	if err != nil {
		fmt.Fprintln(stderr, "msgsink dashboard:", err)
		return 1
	}
	defer stop()
	if *relayURL != "" {
		e, err := transport.ParseEndpoint(*relayURL)
		if err != nil {
			fmt.Fprintln(stderr, "msgsink dashboard:", err)
			return 2
		}
		f, err := relayFeed(ctx, e)
		if err != nil {
			fmt.Fprintln(stderr, "msgsink dashboard:", err)
			return 1
		}
		if err := d.Attach("relay", e.String(), f); err != nil {
			fmt.Fprintln(stderr, "msgsink dashboard:", err)
			return 1
		}
	}
	fmt.Fprintf(stdout, "dashboard: http://%s/ (producers send to ws://%s/ws)\n", addr, addr)
	<-ctx.Done()
	return 0
}

// relayFeed subscribes the dashboard to the relay at e through a
// source.Source. The first subscription is made here, within
// relayConnectTimeout, so that a mistyped -relay fails at start; after
// that the Source reconnects on its own whenever the relay goes away.
func relayFeed(ctx context.Context, e transport.Endpoint) (dashboard.Feed, error) {
	src, err := source.New(source.Config{Name: "dashboard", Endpoint: e})
	if err != nil {
		return nil, err
	}
	ctx, cancel := context.WithTimeout(ctx, relayConnectTimeout)
	defer cancel()
	if err := src.Connect(ctx); err != nil {
		if last := src.Info().LastError; last != nil {
			err = fmt.Errorf("no relay at %s within %v: %w", e, relayConnectTimeout, last)
		}
		_ = src.Close()
		return nil, err
	}
	return src, nil
}

// relayConnectTimeout bounds the dashboard's first subscription to -relay.
const relayConnectTimeout = 5 * time.Second

// startDashboard serves a dashboard on addr ("127.0.0.1:0" picks a port)
// and returns it, the address it listens on, and the function that stops
// both the HTTP server and the dashboard.
func startDashboard(addr string, cfg dashboard.Config) (*dashboard.Dashboard, net.Addr, func(), error) {
	ln, err := net.Listen("tcp", addr)
	if err != nil {
		return nil, nil, nil, err
	}
	d, err := dashboard.New(cfg)
	if err != nil {
		_ = ln.Close()
		return nil, nil, nil, err
	}
	srv := &http.Server{Handler: d, ReadHeaderTimeout: 10 * time.Second}
	served := make(chan struct{})
	go func() {
		defer close(served)
		_ = srv.Serve(ln) // ErrServerClosed, after Shutdown
	}()
	stop := func() {
		// Shutdown leaves hijacked connections (/ws, /live) to the
		// dashboard, whose Close ends them.
		ctx, cancel := context.WithTimeout(context.Background(), 2*time.Second)
		defer cancel()
		_ = srv.Shutdown(ctx)
		<-served
		_ = d.Close()
	}
	return d, ln.Addr(), stop, nil
}

// demoDashboard starts the demo's dashboard on o.dashboard, or on another
// free port when that one is taken (a dashboard already running, a test in
// parallel), and returns the endpoint o.dashName's sink must send to.
func demoDashboard(file *config.File, o demoOptions) (*dashboard.Dashboard, transport.Endpoint, func(), error) {
	if _, err := file.Resolve(o.dashName); err != nil {
		return nil, transport.Endpoint{}, nil, fmt.Errorf("-dashboard-service: %w", err)
	}
	d, addr, stop, err := startDashboard(o.dashboard, dashboard.Config{})
	if errors.Is(err, syscall.EADDRINUSE) {
		d, addr, stop, err = startDashboard("127.0.0.1:0", dashboard.Config{})
	}
	if err != nil {
		return nil, transport.Endpoint{}, nil, err
	}
	e, err := transport.ParseEndpoint("ws://" + addr.String() + "/ws")
	if err != nil {
		stop()
		return nil, transport.Endpoint{}, nil, err
	}
	return d, e, stop, nil
}

// infoOf returns the Info of the factory's sink called name, or a zero Info
// when the factory made none (the adapter's sink does not lead there).
func infoOf(f *factory.Factory, name string) sink.Info {
	for _, in := range f.Infos() {
		if in.Name == name {
			return in
		}
	}
	return sink.Info{}
}

// dashCaughtUp reports whether the dashboard has aggregated every frame its
// sink wrote; with no dashboard, or no sink to it, there is nothing to wait for.
func dashCaughtUp(d *dashboard.Dashboard, f *factory.Factory, name string) bool {
	return d == nil || d.Frames() >= infoOf(f, name).Written
}

// dashSummary prints the dashboard's line of the demo's summary and returns
// what does not add up: the dashboard's sink was offered every message (a
// fanout offers each to every target), and the dashboard aggregated exactly
// what that sink wrote.
func dashSummary(out io.Writer, d *dashboard.Dashboard, offered uint64, in sink.Info) []string {
	if d == nil {
		return nil
	}
	if in.Name == "" {
		fmt.Fprintln(out, "  dashboard nothing: the adapter's sink does not lead to it")
		return nil
	}
	got := d.Frames()
	fmt.Fprintf(out, "  dashboard aggregated %d frames; its sink %s wrote %d (enqueued %d, refused %d, dropped %d)\n",
		got, in.Name, in.Written, in.Enqueued, in.Refused.Total(), in.Dropped.Total())
	var problems []string
	if offered != in.Enqueued+in.Refused.Total() {
		problems = append(problems, fmt.Sprintf("offered %d != dashboard sink enqueued %d + refused %d", offered, in.Enqueued, in.Refused.Total()))
	}
	if !in.Balanced() || in.Pending != 0 {
		problems = append(problems, fmt.Sprintf("dashboard sink counters do not add up: %+v", in))
	}
	if got != in.Written {
		problems = append(problems, fmt.Sprintf("the dashboard aggregated %d frames, its sink wrote %d", got, in.Written))
	}
	return problems
}
