package main

import (
	"bufio"
	"context"
	"errors"
	"fmt"
	"io"
	"net"

	"github.com/msgsink/msgsink/relay"
	"github.com/msgsink/msgsink/tlv"
	"github.com/msgsink/msgsink/transport"
)

func runTail(ctx context.Context, args []string, stdout, stderr io.Writer) int {
	fs := flags("tail", "-endpoint unix:///PATH [flags]",
		"Tail subscribes to a relay as a consumer and prints every message it forwards:\n"+
			"the header fields and each TLV, prices and sizes in decimal (fixed point with\n"+
			"8 decimals on the wire), one message per line; -json prints JSON lines.", stderr)
	endpoint := fs.String("endpoint", "unix://"+relay.DefaultEndpoint(tlv.DomainMarketData).Addr, "the relay to subscribe to (unix:// or tcp://)")
	asJSON := fs.Bool("json", false, "print one JSON object per message")
	count := fs.Int("n", 0, "exit after this many messages; 0 = until interrupted or the relay goes away")
	pos, code := parse(fs, args)
	if code >= 0 {
		return code
	}
	if len(pos) != 0 || *count < 0 {
		fs.Usage()
		return 2
	}
	e, err := transport.ParseEndpoint(*endpoint)
	if err != nil {
		fmt.Fprintln(stderr, "msgsink tail:", err)
		return 2
	}
	sub, err := relay.Subscribe(ctx, e)
	if err != nil {
		fmt.Fprintln(stderr, "msgsink tail:", err)
		return 1
	}
	// Closing the subscription is how an interrupt ends a blocked Next.
	stop := context.AfterFunc(ctx, func() { _ = sub.Close() })
	defer stop()
	defer sub.Close()

	w := bufio.NewWriter(stdout)
	defer w.Flush()
	for n := 0; *count == 0 || n < *count; n++ {
		f, err := sub.Next()
		if err != nil {
			if ctx.Err() != nil || errors.Is(err, io.EOF) || errors.Is(err, net.ErrClosed) {
				return 0
			}
			w.Flush()
			if errors.Is(err, io.ErrUnexpectedEOF) {
				fmt.Fprintln(stderr, "msgsink tail: the relay went away in the middle of a frame (stopped or crashed); that partial frame was not printed")
				return 1
			}
			fmt.Fprintln(stderr, "msgsink tail:", err)
			return 1
		}
		if err := printFrame(w, f, *asJSON); err != nil {
			w.Flush()
			fmt.Fprintln(stderr, "msgsink tail:", err)
			return 1
		}
		// Flush per message when a person is watching a slow stream; the
		// buffer only batches what arrived together.
		if sub.Buffered() == 0 {
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
