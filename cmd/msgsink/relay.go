package main

import (
	"context"
	"fmt"
	"io"
	"log/slog"
	"net"
	"os"
	"os/signal"
	"strconv"
	"syscall"
	"time"

	"github.com/msgsink/msgsink/relay"
	"github.com/msgsink/msgsink/tlv"
	"github.com/msgsink/msgsink/transport"
)

func runRelay(ctx context.Context, args []string, stdout, stderr io.Writer) int {
	fs := flags("relay", "[flags]",
		"Relay runs one domain relay (SPEC section 9). Producers connect and send frames;\n"+
			"consumers connect and send a Subscribe frame first, then receive every valid\n"+
			"frame, whole and in order per producer. A bad frame closes only its sender's\n"+
			"connection; a slow consumer loses frames (counted), never stalls a producer.\n"+
			"SIGUSR1 prints the counters; they are printed at exit too (SIGINT, SIGTERM).", stderr)
	domainName := fs.String("domain", "market_data", "the relay's domain: market_data, signal, execution or system")
	endpoint := fs.String("endpoint", "", "unix:///PATH or tcp://HOST:PORT (default: the domain's path under /tmp/torq)")
	level := fs.String("validation", "standard", "frame checks: performance, standard or audit")
	precision := fs.String("precision", "mixed", "price types accepted: exchange, dex or mixed")
	mode := fs.String("mode", "", fmt.Sprintf("permissions of the Unix socket file, octal (default %#o); not for tcp, which has no file", relay.DefaultSocketMode))
	maxFrame := fs.Int("max-frame", 0, "largest frame accepted, bytes (0 = the protocol's limit)")
	queue := fs.Int("consumer-queue", 0, "frames queued per consumer before it loses some (0 = default, 131072)")
	queueBytes := fs.Int("consumer-queue-bytes", 0, "bytes queued per consumer before it loses frames (0 = default, 64 MiB; at least 1 MiB)")
	maxLag := fs.Duration("max-lag", 0, "disconnect a consumer whose oldest queued frame is older than this (0 = default, 2s)")
	maxConns := fs.Int("max-conns", 0, fmt.Sprintf("connections held at once; more are closed at once (0 = default, %d)", relay.DefaultMaxConns))
	partial := fs.Duration("partial-timeout", 0, fmt.Sprintf("close a connection that holds a partial frame this long (0 = default, %v)", relay.DefaultPartialTimeout))
	budget := fs.Int("queue-budget", 0, fmt.Sprintf("bytes of all consumer queues together (0 = default, %d MiB)", relay.DefaultQueueBudget>>20))
	statsEvery := fs.Duration("stats", 0, "also print the counters at this interval (0 = only on SIGUSR1 and at exit)")
	verbose := fs.Bool("v", false, "log connections and disconnections")
	pos, code := parse(fs, args)
	if code >= 0 {
		return code
	}
	if len(pos) != 0 {
		fs.Usage()
		return 2
	}
	fail := func(format string, args ...any) int {
		fmt.Fprintf(stderr, "msgsink relay: "+format+"\n", args...)
		return 2
	}
	domain, ok := tlv.ParseDomain(*domainName)
	if !ok {
		return fail("unknown -domain %q; use market_data, signal, execution or system", *domainName)
	}
	e := relay.DefaultEndpoint(domain)
	if *endpoint != "" {
		var err error
		if e, err = transport.ParseEndpoint(*endpoint); err != nil {
			return fail("%v", err)
		}
	}
	lvl, ok := tlv.ParseLevel(*level)
	if !ok {
		return fail("unknown -validation %q; use performance, standard or audit", *level)
	}
	prec, ok := tlv.ParsePrecision(*precision)
	if !ok {
		return fail("unknown -precision %q; use exchange, dex or mixed", *precision)
	}
	if *statsEvery < 0 {
		return fail("-stats %v is negative; give an interval such as 10s, or 0 to print the counters only on SIGUSR1 and at exit", *statsEvery)
	}
	var perm uint64
	if *mode != "" {
		if e.Scheme != "unix" {
			return fail("-mode sets the permissions of a unix socket file; a %s relay has none: leave -mode out, "+
				"and keep the endpoint on 127.0.0.1 (the default for an empty host) to keep other hosts out", e.Scheme)
		}
		var err error
		if perm, err = strconv.ParseUint(*mode, 8, 32); err != nil || perm > 0o777 {
			return fail("bad -mode %q; write the permissions in octal, like 0600", *mode)
		}
	}
	logger := slog.New(slog.DiscardHandler)
	if *verbose {
		logger = slog.New(slog.NewTextHandler(stderr, nil))
	}

	r, err := relay.Listen(relay.Config{
		Endpoint:           e,
		Domain:             domain,
		Validator:          tlv.Validator{Level: lvl, Precision: prec},
		SocketMode:         os.FileMode(perm),
		MaxFrame:           *maxFrame,
		ConsumerQueue:      *queue,
		ConsumerQueueBytes: *queueBytes,
		MaxLag:             *maxLag,
		MaxConns:           *maxConns,
		PartialTimeout:     *partial,
		QueueBudget:        *budget,
		Logger:             logger,
	})
	if err != nil {
		fmt.Fprintln(stderr, "msgsink relay:", err)
		return 1
	}
	where := e.String()
	a, isTCP := r.Addr().(*net.TCPAddr)
	if isTCP {
		where = "tcp://" + a.String() // the address bound: loopback for an empty host
	}
	fmt.Fprintf(stderr, "msgsink relay: %s domain on %s\n", domain, where)
	if isTCP && !a.IP.IsLoopback() {
		fmt.Fprintf(stderr, "msgsink relay: warning: listening on %v, not loopback: any host that reaches it may send frames and subscribe\n", a.IP)
	}

	usr1 := make(chan os.Signal, 1)
	signal.Notify(usr1, syscall.SIGUSR1)
	defer signal.Stop(usr1)
	var tick <-chan time.Time
	if *statsEvery > 0 {
		t := time.NewTicker(*statsEvery)
		defer t.Stop()
		tick = t.C
	}
	served := make(chan error, 1)
	go func() { served <- r.Serve(ctx) }()
	for {
		select {
		case <-usr1:
			fmt.Fprintln(stderr, "relay stats:", r.Stats())
		case <-tick:
			fmt.Fprintln(stderr, "relay stats:", r.Stats())
		case err := <-served:
			cerr := r.Close()
			fmt.Fprintln(stderr, "relay stats:", r.Stats())
			if err == nil {
				err = cerr
			}
			if err != nil {
				fmt.Fprintln(stderr, "msgsink relay:", err)
				return 1
			}
			return 0
		}
	}
}
