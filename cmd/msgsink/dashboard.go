package main

import (
	"context"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net"
	"net/http"
	"time"

	"github.com/msgsink/msgsink/internal/dashboard"
	"github.com/msgsink/msgsink/relay"
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
		f, err := relayFrames(ctx, e)
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

// relayFrames subscribes the dashboard to the relay at e: the one place
// that says how, so that the lazy, reconnecting source.Source can take the
// Subscriber's place without touching anything else.
func relayFrames(ctx context.Context, e transport.Endpoint) (dashboard.Frames, error) {
	return relay.Subscribe(ctx, e)
}

// startDashboard serves a dashboard on addr ("127.0.0.1:0" picks a port)
// and returns it, the address it listens on, and the function that stops
// both the HTTP server and the dashboard.
func startDashboard(addr string, cfg dashboard.Config) (*dashboard.Dashboard, net.Addr, func(), error) {
	ln, err := net.Listen("tcp", addr)
	if err != nil {
		return nil, nil, nil, err
	}
	d := dashboard.New(cfg)
	srv := &http.Server{Handler: d, ReadHeaderTimeout: 10 * time.Second}
	served := make(chan struct{})
	go func() {
		defer close(served)
		if err := srv.Serve(ln); err != nil && !errors.Is(err, http.ErrServerClosed) {
			cfg.Logger.Error("dashboard: serving HTTP", "err", err)
		}
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
