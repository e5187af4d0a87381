package main

import (
	"context"
	"errors"
	"fmt"
	"io"
	"strings"
	"sync"

	"github.com/msgsink/msgsink/config"
	natssink "github.com/msgsink/msgsink/contrib/nats"
	"github.com/msgsink/msgsink/lazy"
	"github.com/msgsink/msgsink/sink"
	"github.com/msgsink/msgsink/transport"
)

func runCheck(ctx context.Context, args []string, stdout, stderr io.Writer) int {
	fs := flags("check", "FILE [-probe]",
		"Check validates a services.toml and prints every problem in it, each with its\n"+
			"file, line, service and what to change. It exits 0 when the file is valid\n"+
			"(and, with -probe, every endpoint answered), 1 otherwise. Loading never\n"+
			"dials; -probe connects to each relay and direct endpoint once and hangs up.", stderr)
	probe := fs.Bool("probe", false, "also connect to every relay and direct endpoint, each within its connect_timeout")
	pos, code := parse(fs, args)
	if code >= 0 {
		return code
	}
	if len(pos) != 1 {
		fs.Usage()
		return 2
	}
	file, err := load(ctx, pos[0])
	if ctx.Err() != nil {
		fmt.Fprintln(stderr, "msgsink check: interrupted")
		return 1
	}
	if err != nil {
		fmt.Fprintln(stderr, err)
		var es config.Errors
		if errors.As(err, &es) {
			fmt.Fprintf(stderr, "%s: %d problems\n", pos[0], len(es))
		}
		return 1
	}
	fmt.Fprintf(stdout, "%s: valid, %d services\n", file.Path, len(file.Services))
	for _, name := range file.Names() {
		s := file.Services[name]
		where := s.Endpoint.String()
		if c, ok := s.Ext.(natssink.Config); ok {
			where = c.Endpoint
		}
		if s.Type == sink.KindComposite {
			where = string(s.Pattern) + " -> " + strings.Join(s.Targets, ", ")
		}
		fmt.Fprintf(stdout, "  %-24s %-9s %s\n", name, s.Type, where)
	}
	if !*probe {
		return 0
	}
	return probeAll(ctx, file, stdout)
}

// load is config.Load that returns when ctx ends (Ctrl-C), whatever Load is
// doing. Load refuses named pipes and devices without blocking on them, but
// a read from a stalled file system (a hung network mount) can still block,
// and the user must be able to stop the command.
func load(ctx context.Context, path string) (*config.File, error) {
	if err := ctx.Err(); err != nil {
		return nil, err
	}
	type loaded struct {
		file *config.File
		err  error
	}
	done := make(chan loaded, 1)
	go func() {
		f, err := config.Load(path, natssink.Extension())
		done <- loaded{f, err}
	}()
	select {
	case l := <-done:
		return l.file, l.err
	case <-ctx.Done():
		return nil, ctx.Err()
	}
}

// probeAll dials every relay and direct endpoint at once, so that the probe
// takes one connect_timeout however many are down, and reports them in name
// order. Its status is 1 when any did not answer.
func probeAll(ctx context.Context, file *config.File, stdout io.Writer) int {
	names := file.Names()
	errs := make([]error, len(names))
	var wg sync.WaitGroup
	for i, name := range names {
		s := file.Services[name]
		if s.Type == sink.KindComposite {
			continue
		}
		wg.Go(func() { errs[i] = probeOne(ctx, s) })
	}
	wg.Wait()
	status := 0
	fmt.Fprintln(stdout, "probe:")
	for i, name := range names {
		s := file.Services[name]
		switch {
		case s.Type == sink.KindComposite:
			continue
		case errs[i] != nil:
			status = 1
			fmt.Fprintf(stdout, "  %-24s unreachable: %v\n", name, errs[i])
		default:
			fmt.Fprintf(stdout, "  %-24s reachable\n", name)
		}
	}
	return status
}

func probeOne(ctx context.Context, s config.Service) error {
	if s.Type == natssink.Kind {
		return probeNATS(ctx, s)
	}
	// A relay's dialer says so in its errors' hints, as the sink's does.
	var d lazy.Dialer = &transport.Dialer{Relay: s.Type == sink.KindRelay}
	if s.Sink.Dialer != nil {
		d = s.Sink.Dialer // a wss:// service's TLS settings
	}
	ctx, cancel := context.WithTimeout(ctx, s.Sink.ConnectTimeout)
	defer cancel()
	c, err := d.DialContext(ctx, s.Endpoint)
	if err != nil {
		return err
	}
	return c.Close()
}

// probeNATS connects a nats service's sink, as its first Send would, and
// closes it.
func probeNATS(ctx context.Context, s config.Service) error {
	cfg, _ := s.Ext.(natssink.Config)
	cfg.Sink = s.LazyConfig()
	sk, err := natssink.New(cfg)
	if err != nil {
		return err
	}
	ctx, cancel := context.WithTimeout(ctx, s.Sink.ConnectTimeout)
	defer cancel()
	err = sk.Connect(ctx)
	if cerr := sk.Close(); err == nil {
		err = cerr
	}
	return err
}
