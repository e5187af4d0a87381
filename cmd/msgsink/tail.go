package main

import (
	"bufio"
	"context"
	"errors"
	"fmt"
	"io"

	"github.com/msgsink/msgsink/lazy"
	"github.com/msgsink/msgsink/relay"
	"github.com/msgsink/msgsink/sink"
	"github.com/msgsink/msgsink/source"
	"github.com/msgsink/msgsink/tlv"
	"github.com/msgsink/msgsink/transport"
)

func runTail(ctx context.Context, args []string, stdout, stderr io.Writer) int {
	fs := flags("tail", "-endpoint unix:///PATH [flags]",
		"Tail subscribes to a relay as a consumer and prints every message it forwards:\n"+
			"the header fields and each TLV, prices and sizes in decimal (fixed point with\n"+
			"8 decimals on the wire), one message per line; -json prints JSON lines.\n"+
			"When the relay drops it for lagging, tail says so and subscribes again; when the\n"+
			"relay goes away, tail tries once more after a short pause, then exits.", stderr)
	endpoint := fs.String("endpoint", "unix://"+relay.DefaultEndpoint(tlv.DomainMarketData).Addr, "the relay to subscribe to (unix:// or tcp://)")
	asJSON := fs.Bool("json", false, "print one JSON object per message")
	count := fs.Int("n", 0, "exit after this many messages; 0 = until interrupted or the relay goes away")
	connectTimeout := fs.Duration("connect-timeout", lazy.DefaultConnectTimeout, "give up a connect (and the subscription) that takes longer than this")
	pos, code := parse(fs, args)
	if code >= 0 {
		return code
	}
	if len(pos) != 0 || *count < 0 {
		fs.Usage()
		return 2
	}
	if *connectTimeout <= 0 {
		fmt.Fprintf(stderr, "msgsink tail: -connect-timeout %v: use a positive duration, such as 2s\n", *connectTimeout)
		return 2
	}
	e, err := transport.ParseEndpoint(*endpoint)
	if err != nil {
		fmt.Fprintln(stderr, "msgsink tail:", err)
		return 2
	}
	// One dial per connect: a relay that is not there ends tail, after one
	// more try (the schedule's first step) when it went away mid-stream.
	src, err := source.New(source.Config{Name: "tail", Endpoint: e, ConnectTimeout: *connectTimeout,
		Retry: lazy.Retry{MaxAttempts: 1}})
	if err != nil {
		fmt.Fprintln(stderr, "msgsink tail:", err)
		return 2
	}
	// Closing the Source is how an interrupt ends a blocked Next.
	stop := context.AfterFunc(ctx, func() { _ = src.Close() })
	defer stop()
	defer src.Close()

	w := bufio.NewWriter(stdout)
	defer w.Flush()
	for n := 0; *count == 0 || n < *count; n++ {
		f, err := src.Next()
		if err != nil {
			w.Flush()
			var lagged *source.LaggedError
			switch {
			case ctx.Err() != nil || errors.Is(err, sink.ErrClosed):
				return 0
			case errors.As(err, &lagged):
				fmt.Fprintf(stderr, "msgsink tail: dropped for lagging: the relay dropped %d frames for tail and closed its connection; subscribing again\n", lagged.Dropped)
				n--
				continue
			case src.Info().Reconnects > 0:
				fmt.Fprintln(stderr, "msgsink tail: the relay went away (stopped or crashed) and did not come back:", err)
			default:
				fmt.Fprintln(stderr, "msgsink tail:", err)
			}
			return 1
		}
		if err := printFrame(w, f, *asJSON); err != nil {
			w.Flush()
			fmt.Fprintln(stderr, "msgsink tail:", err)
			return 1
		}
		// Flush per message when a person is watching a slow stream; the
		// buffer only batches what arrived together.
		if src.Buffered() == 0 {
			w.Flush()
		}
	}
	return 0
}

// printFrame writes f as one line of text or JSON.
func printFrame(w io.Writer, f tlv.Frame, asJSON bool) error {
	recs, err := decode(f)
	if err != nil {
		return fmt.Errorf("frame seq %d: %w", f.Header().Sequence(), err)
	}
	if !asJSON {
		_, err = fmt.Fprintln(w, formatText(f, recs))
		return err
	}
	b, err := formatJSON(f, recs)
	if err != nil {
		return err
	}
	_, err = w.Write(append(b, '\n'))
	return err
}
