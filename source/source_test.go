package source_test

import (
	"context"
	"errors"
	"net"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/msgsink/msgsink/internal/testnet"
	"github.com/msgsink/msgsink/lazy"
	"github.com/msgsink/msgsink/relay"
	"github.com/msgsink/msgsink/relay/relaytest"
	"github.com/msgsink/msgsink/sink"
	"github.com/msgsink/msgsink/source"
	"github.com/msgsink/msgsink/tlv"
	"github.com/msgsink/msgsink/transport"
)

// New never dials: a Source for a relay that does not exist is made
// without error, holds no descriptor, and says idle.
func TestNewNeverDials(t *testing.T) {
	before := openFDs(t)
	s := newSource(t, source.Config{Endpoint: unixEndpoint(testnet.SocketPath(t))})
	if i := s.Info(); i.State != sink.StateIdle || i.ConnectAttempts != 0 {
		t.Fatalf("a new Source: %+v", i)
	}
	if fds := newFDs(t, before); len(fds) != 0 {
		t.Fatalf("New opened %v", fds)
	}
}

func TestConfigErrors(t *testing.T) {
	e := unixEndpoint("/tmp/x.sock")
	for name, cfg := range map[string]source.Config{
		"no endpoint":  {},
		"ws":           {Endpoint: transport.Endpoint{Scheme: "ws", Addr: "127.0.0.1:80", Path: "/"}},
		"timeout":      {Endpoint: e, ConnectTimeout: -time.Second},
		"multiplier":   {Endpoint: e, Retry: lazy.Retry{Multiplier: 0.5}},
		"initial>max":  {Endpoint: e, Retry: lazy.Retry{Initial: time.Second, Max: time.Millisecond}},
		"level":        {Endpoint: e, Validator: tlv.Validator{Level: 9}},
		"domain":       {Endpoint: e, Validator: tlv.Validator{Domain: 9}},
		"max attempts": {Endpoint: e, Retry: lazy.Retry{MaxAttempts: -1}},
	} {
		_, err := source.New(cfg)
		var se *source.Error
		if !errors.Is(err, sink.ErrInvalidConfig) || !errors.As(err, &se) || se.Op != "new" {
			t.Errorf("%s: %v, want a *source.Error matching sink.ErrInvalidConfig", name, err)
		}
	}
}

// Frames arrive whole, in order, counted in Info; Info's per-producer
// counts and totals agree with what Next returned.
func TestNextAndInfo(t *testing.T) {
	r := relaytest.Serve(t, relay.Config{})
	s := newSource(t, source.Config{Name: "md", Endpoint: relaytest.Endpoint(r), Retry: fastRetry})
	rd := read(s)
	waitFor(t, "the subscription", func() bool { return r.Stats().Consumers == 1 })
	p := produce(t, relaytest.Endpoint(r), 7, 64, 0)
	waitFor(t, "10000 frames", func() bool { return rd.frames.Load() >= 10_000 })
	p.close()
	if err := rd.stop(); err != nil {
		t.Fatal(err)
	}
	i := s.Info()
	if i.State != sink.StateClosed || i.Frames != rd.frames.Load() || i.Bytes != 64*i.Frames ||
		i.PerSource[7].Frames != i.Frames || i.Duplicates != 0 || i.Invalid != 0 || i.Reconnects != 0 {
		t.Fatalf("info %+v after %d frames", i, rd.frames.Load())
	}
	if m := rd.missed(); i.Gaps != m[7] || i.PerSource[7].Gaps != m[7] {
		t.Fatalf("gaps %d (per source %d), the reader missed %d", i.Gaps, i.PerSource[7].Gaps, m[7])
	}
}

// A frame that fails the Source's validator is counted, never returned,
// and the connection is dropped and made again; frames go on after it.
func TestValidatorFailure(t *testing.T) {
	r := relaytest.Serve(t, relay.Config{})
	s := newSource(t, source.Config{Endpoint: relaytest.Endpoint(r), Retry: fastRetry,
		Validator: tlv.Validator{Level: tlv.LevelAudit}})
	rd := read(s)
	waitFor(t, "the subscription", func() bool { return r.Stats().Consumers == 1 })
	// A Trade with a zero price passes the relay's standard level and
	// fails audit.
	bad := tlv.NewBuilder(tlv.DomainMarketData, 9)
	bad.AppendTrade(&tlv.Trade{Instrument: 1, Volume: 1, ExchangeTS: 1})
	m, err := bad.Finish()
	if err != nil {
		t.Fatal(err)
	}
	c, err := net.Dial("unix", relaytest.Endpoint(r).Addr)
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	_, err = c.Write(m.Bytes())
	m.Release()
	if err != nil {
		t.Fatal(err)
	}
	waitFor(t, "the invalid frame counted", func() bool { return s.Info().Invalid == 1 })
	p := produce(t, relaytest.Endpoint(r), 7, 64, 0)
	waitFor(t, "frames after the reconnect", func() bool { return rd.frames.Load() >= 1000 })
	p.close()
	if err := rd.stop(); err != nil {
		t.Fatal(err)
	}
	i := s.Info()
	if i.Invalid != 1 || i.Reconnects != 1 || i.ConnectAttempts != 2 || i.PerSource[9].Frames != 0 ||
		!errors.Is(i.LastError, tlv.ErrMalformed) {
		t.Fatalf("info %+v, last error %v", i, i.LastError)
	}
}

// Next after Close fails at once with an error matching sink.ErrClosed,
// and Close is idempotent.
func TestNextAfterClose(t *testing.T) {
	before := openFDs(t)
	r := relaytest.Serve(t, relay.Config{})
	s, err := source.New(source.Config{Endpoint: relaytest.Endpoint(r)})
	if err != nil {
		t.Fatal(err)
	}
	p := produce(t, relaytest.Endpoint(r), 7, 64, 0)
	if _, err := s.Next(); err != nil {
		t.Fatal(err)
	}
	if err := s.Close(); err != nil {
		t.Fatal(err)
	}
	if err := s.Close(); err != nil {
		t.Fatalf("second Close: %v", err)
	}
	for range 3 {
		start := time.Now()
		f, err := s.Next()
		if f != nil || !errors.Is(err, sink.ErrClosed) || !strings.Contains(err.Error(), "closed") {
			t.Fatalf("Next after Close: %v, %v", f, err)
		}
		if d := time.Since(start); d > time.Second {
			t.Fatalf("Next after Close took %v", d)
		}
	}
	p.close()
	waitFor(t, "the relay to see both connections go", func() bool {
		st := r.Stats()
		return st.Consumers == 0 && st.Producers == 0
	})
	if fds := newFDs(t, before); len(fds) > 2 { // the relay's listener and the descriptor it keeps spare for EMFILE
		t.Fatalf("descriptors left open: %v", fds)
	}
	if s.Info().State != sink.StateClosed {
		t.Fatalf("state %v", s.Info().State)
	}
}

// Close from another goroutine ends a Next blocked in a read, in a dial,
// or in a backoff sleep.
func TestCloseEndsBlockedNext(t *testing.T) {
	cases := map[string]func(t *testing.T) source.Config{
		"read": func(t *testing.T) source.Config {
			r := relaytest.Serve(t, relay.Config{}) // no producer: Next waits for a frame
			return source.Config{Endpoint: relaytest.Endpoint(r)}
		},
		"dial": func(t *testing.T) source.Config {
			e, err := transport.ParseEndpoint("tcp://" + testnet.Blackhole(t))
			if err != nil {
				t.Fatal(err)
			}
			return source.Config{Endpoint: e, ConnectTimeout: time.Hour}
		},
		"backoff": func(t *testing.T) source.Config {
			return source.Config{Endpoint: unixEndpoint(testnet.SocketPath(t)),
				Retry: lazy.Retry{Initial: time.Hour, Max: time.Hour}}
		},
	}
	for name, cfg := range cases {
		t.Run(name, func(t *testing.T) {
			s := newSource(t, cfg(t))
			want := map[string]sink.State{"read": sink.StateConnected, "dial": sink.StateConnecting, "backoff": sink.StateBackoff}[name]
			ended := make(chan error, 1)
			go func() {
				_, err := s.Next()
				ended <- err
			}()
			waitFor(t, "Next to block in "+name, func() bool { return s.Info().State == want })
			select {
			case err := <-ended:
				t.Fatalf("Next returned before Close: %v", err)
			case <-time.After(20 * time.Millisecond):
			}
			if err := s.Close(); err != nil {
				t.Fatal(err)
			}
			select {
			case err := <-ended:
				var se *source.Error
				if !errors.Is(err, sink.ErrClosed) || !errors.As(err, &se) {
					t.Fatalf("blocked Next ended with %v, want a *source.Error matching sink.ErrClosed", err)
				}
			case <-time.After(10 * time.Second):
				t.Fatal("Close did not end the blocked Next")
			}
		})
	}
}

// With MaxAttempts, Next gives up and says why; the next Next tries again.
func TestConnectAttemptsExhausted(t *testing.T) {
	path := testnet.SocketPath(t)
	s := newSource(t, source.Config{Endpoint: unixEndpoint(path),
		Retry: lazy.Retry{Initial: time.Millisecond, Max: time.Millisecond, MaxAttempts: 3}})
	_, err := s.Next()
	if !errors.Is(err, sink.ErrConnectFailed) || !errors.Is(err, syscall.ENOENT) {
		t.Fatalf("Next without a relay: %v", err)
	}
	if i := s.Info(); i.ConnectAttempts != 3 || i.State != sink.StateIdle || i.LastError == nil {
		t.Fatalf("info %+v", i)
	}
	r := relaytest.Serve(t, relay.Config{Endpoint: unixEndpoint(path)})
	p := produce(t, relaytest.Endpoint(r), 7, 64, 0)
	if _, err := s.Next(); err != nil {
		t.Fatalf("Next once the relay is up: %v", err)
	}
	p.close()
}

// A relay that drops the Source for lagging says so; Next returns a
// *LaggedError once, then subscribes again and goes on.
func TestDroppedForLagging(t *testing.T) {
	r := relaytest.Serve(t, relay.Config{MaxLag: 20 * time.Millisecond, ConsumerQueue: 1 << 10})
	s := newSource(t, source.Config{Endpoint: relaytest.Endpoint(r), Retry: fastRetry})
	p := produce(t, relaytest.Endpoint(r), 7, 256, 0)
	var lagErr error
	returned := uint64(0)
	deadline := time.Now().Add(30 * time.Second)
	for n := 0; lagErr == nil; n++ {
		if time.Now().After(deadline) {
			t.Fatalf("not dropped for lagging after 30s: %+v, relay %v", s.Info(), r.Stats())
		}
		_, err := s.Next()
		if err == nil {
			returned++
		}
		switch {
		case errors.Is(err, source.ErrLagged):
			lagErr = err
		case err != nil:
			t.Fatal(err)
		case n%64 == 0:
			// Slower than the producer, yet reading: the relay's notice
			// reaches a consumer that still reads.
			time.Sleep(time.Millisecond)
		}
	}
	var le *source.LaggedError
	if !errors.As(lagErr, &le) || !strings.Contains(lagErr.Error(), "lagging") {
		t.Fatalf("lag error %v", lagErr)
	}
	if _, err := s.Next(); err != nil {
		t.Fatalf("Next after the lag: %v", err)
	}
	returned++
	p.close()
	checkLagAccounting(t, r, s, le, returned)
}

// A Source that stops reading for longer than max_lag, then reads again, is
// dropped by a relay whose write to it was blocked when the lag deadline
// cut it, as a rule in the middle of a frame: the relay finishes that frame
// before the Disconnect, and counts it written.
func TestDroppedForLaggingAfterStall(t *testing.T) {
	r := relaytest.Serve(t, relay.Config{MaxLag: 100 * time.Millisecond})
	s := newSource(t, source.Config{Endpoint: relaytest.Endpoint(r), Retry: fastRetry})
	p := produce(t, relaytest.Endpoint(r), 7, 200, 0)
	var lagErr error
	returned := uint64(0)
	// A machine too loaded to read within the second the relay gives its
	// notice loses it (the Source then only sees the connection end and
	// reconnects): stall again.
	for attempt := 0; lagErr == nil; attempt++ {
		if attempt == 10 {
			t.Fatalf("10 stalls and no notice of a drop for lagging: %+v, relay %v", s.Info(), r.Stats())
		}
		for range 1000 {
			if _, err := s.Next(); err != nil {
				t.Fatal(err)
			}
			returned++
		}
		reconnects := s.Info().Reconnects
		time.Sleep(300 * time.Millisecond) // the stall: not synchronisation
		deadline := time.Now().Add(30 * time.Second)
		for lagErr == nil && s.Info().Reconnects == reconnects {
			if time.Now().After(deadline) {
				t.Fatalf("a 300ms stall and no drop by a relay with a max_lag of 100ms: %+v, relay %v", s.Info(), r.Stats())
			}
			_, err := s.Next()
			switch {
			case errors.Is(err, source.ErrLagged):
				lagErr = err
			case err != nil:
				t.Fatal(err)
			default:
				returned++
			}
		}
	}
	var le *source.LaggedError
	if !errors.As(lagErr, &le) {
		t.Fatalf("lag error %v", lagErr)
	}
	p.close()
	checkLagAccounting(t, r, s, le, returned)
}

// checkLagAccounting: every frame the relay counts as written reached Next
// whole, the frame the lag deadline cut (finished before the Disconnect)
// too, and nothing more.
func checkLagAccounting(t *testing.T, r *relay.Relay, s *source.Source, le *source.LaggedError, returned uint64) {
	t.Helper()
	var st relay.Stats
	waitFor(t, "the relay to go quiet", func() bool {
		st = r.Stats()
		return st.Producers == 0 && st.Pending == 0 && st.Balanced()
	})
	stop := time.AfterFunc(30*time.Second, func() { _ = s.Close() })
	defer stop.Stop()
	for returned < st.FramesOut {
		_, err := s.Next()
		if err != nil && !errors.Is(err, source.ErrLagged) {
			t.Fatalf("reading what the relay wrote: %v after %d of %d frames", err, returned, st.FramesOut)
		}
		if err == nil {
			returned++
		}
	}
	// And nothing more: a Next now finds no frame before Close ends it.
	stop.Stop()
	time.AfterFunc(200*time.Millisecond, func() { _ = s.Close() })
	// A second drop for lagging, on a loaded machine, leaves its notice
	// behind the last frame: it is no frame.
	f, err := s.Next()
	for errors.Is(err, source.ErrLagged) {
		f, err = s.Next()
	}
	if !errors.Is(err, sink.ErrClosed) {
		if f != nil {
			t.Fatalf("a frame beyond the %d the relay counts as written: seq %d", st.FramesOut, f.Header().Sequence())
		}
		t.Fatalf("after the %d frames the relay counts as written: %v, want ErrClosed", st.FramesOut, err)
	}
	i := s.Info()
	if i.Frames != st.FramesOut || returned != st.FramesOut || i.Duplicates != 0 || i.Invalid != 0 {
		t.Fatalf("Next returned %d frames (info %+v), the relay wrote %d", i.Frames, i, st.FramesOut)
	}
	if i.Lagged < 1 || i.Reconnects < 1 || st.ConsumersLagged < 1 || i.RelayDropped < le.Dropped {
		t.Fatalf("info %+v, relay %v", i, st)
	}
}

// Connect subscribes before the first Next; it gives up when its ctx ends
// and fails at once after Close.
func TestConnect(t *testing.T) {
	r := relaytest.Serve(t, relay.Config{})
	s := newSource(t, source.Config{Endpoint: relaytest.Endpoint(r)})
	if err := s.Connect(context.Background()); err != nil {
		t.Fatal(err)
	}
	if st := s.Info().State; st != sink.StateConnected {
		t.Fatalf("state after Connect: %v", st)
	}
	waitFor(t, "the relay to count the subscription", func() bool { return r.Stats().Consumers == 1 })
	if err := s.Connect(context.Background()); err != nil || s.Info().ConnectAttempts != 1 {
		t.Fatalf("Connect when connected: %v, %d attempts", err, s.Info().ConnectAttempts)
	}
	p := produce(t, relaytest.Endpoint(r), 7, 64, 0)
	if _, err := s.Next(); err != nil {
		t.Fatal(err)
	}
	p.close()

	none := newSource(t, source.Config{Endpoint: unixEndpoint(testnet.SocketPath(t)),
		Retry: lazy.Retry{Initial: time.Hour, Max: time.Hour}})
	ctx, cancel := context.WithTimeout(context.Background(), 50*time.Millisecond)
	defer cancel()
	if err := none.Connect(ctx); !errors.Is(err, context.DeadlineExceeded) {
		t.Fatalf("Connect to nothing within 50ms: %v", err)
	}
	if st := none.Info().State; st != sink.StateIdle {
		t.Fatalf("state after a Connect that gave up: %v", st)
	}
	_ = none.Close()
	if err := none.Connect(context.Background()); !errors.Is(err, sink.ErrClosed) {
		t.Fatalf("Connect after Close: %v", err)
	}
}

// A Validator that refuses every frame (here, the wrong domain) makes each
// new connection wait a step of the schedule: the Source does not hammer
// the relay with connects.
func TestInvalidFramesBackOff(t *testing.T) {
	r := relaytest.Serve(t, relay.Config{})
	retry := lazy.Retry{Initial: 50 * time.Millisecond, Max: 50 * time.Millisecond, Jitter: -1}
	s := newSource(t, source.Config{Endpoint: relaytest.Endpoint(r), Retry: retry,
		Validator: tlv.Validator{Domain: tlv.DomainSignal}})
	p := produce(t, relaytest.Endpoint(r), 7, 64, 0)
	ended := make(chan error, 1)
	start := time.Now()
	go func() {
		_, err := s.Next() // never returns a frame: every one is refused
		ended <- err
	}()
	waitFor(t, "5 refused frames", func() bool { return s.Info().Invalid >= 5 })
	_ = s.Close()
	if err := <-ended; !errors.Is(err, sink.ErrClosed) {
		t.Fatalf("Next: %v", err)
	}
	elapsed := time.Since(start)
	p.close()
	i := s.Info()
	// Each connection after the first waited a 50ms step: no more than
	// this many fit in the time it took.
	if most := uint64(elapsed/retry.Initial) + 1; i.ConnectAttempts > most {
		t.Fatalf("%d connects in %v, at most %d with a 50ms step", i.ConnectAttempts, elapsed, most)
	}
	if i.Frames != 0 || !errors.Is(i.LastError, tlv.ErrDomain) {
		t.Fatalf("info %+v, last error %v", i, i.LastError)
	}
}
