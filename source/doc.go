// Package source is the receive side of msgsink (SPEC section 9a): the
// consumer's mirror of a lazy sink.
//
// A Source reads the frames a relay forwards. New never dials; the first
// Next connects and subscribes, and returns frames one at a time as
// zero-copy tlv.Frame views into the Source's read buffer. When the relay
// goes away, Next blocks while the Source reconnects with the sinks' backoff
// (lazy.Retry, the same schedule and defaults) and subscribes again; the
// frame a broken connection cut short is never returned.
//
// Every frame carries its producer's (source, sequence): a Source tracks
// the sequence of every producer it hears from and counts what it never
// saw (gaps) and what it saw twice (duplicates, dropped, never returned).
// A relay that drops a Source for lagging says so first (a system-domain
// Disconnect frame, tlv.TypeDisconnect): Next then returns a *LaggedError
// once, and the next call subscribes again.
//
// # Concurrency and ownership
//
// Next belongs to one goroutine at a time (the checked build, -tags
// msgsink_checked, panics on a second one); the frame it returns is a view
// into the Source's buffer and is valid until the next call: copy what must
// outlive it (tlv.Validator.Copy). Close and Info are safe from any
// goroutine: Close ends a Next blocked in a read, a dial or a backoff, which
// returns an error matching sink.ErrClosed. The reader publishes its
// counters for Info once per read from the socket, not once per frame.
//
// A Source holds no goroutine of its own: Next reads on its caller's. It
// holds one socket while connected, and none after Close.
//
// # Use
//
//	e, _ := transport.ParseEndpoint("unix:///tmp/torq/market_data.sock")
//	src, err := source.New(source.Config{Name: "md", Endpoint: e})
//	...
//	defer src.Close()
//	for {
//		f, err := src.Next()
//		if errors.Is(err, source.ErrLagged) {
//			continue // gaps are counted; Next subscribes again
//		}
//		if err != nil {
//			return err // closed, or connect attempts exhausted
//		}
//		handle(f) // f is valid until the next Next
//	}
//
// factory.Source(name) makes the Source of a relay service in
// services.toml: the same name its producers send to.
package source
