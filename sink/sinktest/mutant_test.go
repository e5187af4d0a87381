package sinktest_test

import (
	"context"
	"errors"
	"net"
	"os"
	"os/exec"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/msgsink/msgsink/lazy"
	"github.com/msgsink/msgsink/sink"
	"github.com/msgsink/msgsink/sink/sinktest"
	"github.com/msgsink/msgsink/tlv"
	"github.com/msgsink/msgsink/transport"
)

// The suite is only as good as the bugs it catches. Each mutant is a lazy
// sink broken in one way; the suite must fail it, in the check named, with
// the complaint expected. A failing check fails its test, so each mutant
// runs in a child process (the test binary again, running TestMutant).
func TestSuiteCatchesMutants(t *testing.T) {
	if testing.Short() {
		t.Skip("runs the suite in child processes")
	}
	for _, c := range []struct{ mutant, check, complaint string }{
		{"releases_refused", "closed", "no longer the caller's"},
		{"keeps_a_reference", "ownership", "the sink kept references"},
		{"hides_full", "buffer_full", "never ErrBufferFull"},
		{"miscounts", "order", "Info.Enqueued"},
		{"swaps_pairs", "flush", "arrived after its frame"},
		{"close_twice_fails", "closed", "second Close"},
		{"tears_frames", "order", "not a whole frame"},
		{"hides_malformed", "bad_calls", "want ErrMalformed"},
		{"wakes_on_empty", "bad_calls", "an empty SendBatch woke an idle sink"},
	} {
		t.Run(c.mutant, func(t *testing.T) {
			cmd := exec.Command(os.Args[0], "-test.run=^TestMutant$/^"+c.check+"$", "-test.v")
			cmd.Env = append(os.Environ(), "SINKTEST_MUTANT="+c.mutant)
			out, err := cmd.CombinedOutput()
			var exit *exec.ExitError
			if !errors.As(err, &exit) {
				t.Fatalf("the suite passed a sink that %s (%v):\n%s", c.mutant, err, out)
			}
			if !strings.Contains(string(out), "--- FAIL: TestMutant/"+c.check) || !strings.Contains(string(out), c.complaint) {
				t.Fatalf("want check %s to fail saying %q:\n%s", c.check, c.complaint, out)
			}
		})
	}
}

// TestMutant runs the suite against the mutant named by SINKTEST_MUTANT; it
// is TestSuiteCatchesMutants's child.
func TestMutant(t *testing.T) {
	name := os.Getenv("SINKTEST_MUTANT")
	if name == "" {
		t.Skip("run by TestSuiteCatchesMutants")
	}
	sinktest.Run(t, sinktest.Harness{New: func(t *testing.T, o sinktest.Options) sinktest.Setup {
		p := sinktest.ListenStream(t, "unix")
		cfg := lazy.Config{Endpoint: p.Endpoint(), BufferSize: o.BufferSize,
			Validator: tlv.Validator{Domain: o.Domain}, CloseTimeout: time.Second,
			Retry: lazy.Retry{Initial: time.Millisecond, Max: 10 * time.Millisecond}}
		if name == "tears_frames" {
			cfg.Dialer = tearingDialer{}
		}
		l, err := lazy.New(cfg)
		if err != nil {
			t.Fatal(err)
		}
		t.Cleanup(func() { _ = l.Close() })
		m := &mutant{Sink: l, name: name}
		return sinktest.Setup{Sink: m, Groups: []sinktest.Group{{Peers: []sinktest.Peer{p}}},
			Leaves: []sink.Sink{l}, Capacity: o.BufferSize}
	}})
}

// mutant wraps a lazy sink and breaks the contract the way its name says.
type mutant struct {
	sink.Sink
	name string

	mu     sync.Mutex
	held   *tlv.Message // swaps_pairs: the first of a pair
	closed bool
}

func (s *mutant) Send(m *tlv.Message) error {
	switch s.name {
	case "releases_refused":
		err := s.Sink.Send(m)
		if err != nil {
			m.Release()
		}
		return err
	case "keeps_a_reference":
		m.Retain()
		err := s.Sink.Send(m)
		if err != nil {
			m.Release()
		}
		return err
	case "hides_full":
		err := s.Sink.Send(m)
		if errors.Is(err, sink.ErrBufferFull) {
			m.Release()
			return nil
		}
		return err
	case "hides_malformed":
		if err := s.Sink.Send(m); !errors.Is(err, sink.ErrMalformed) {
			return err
		}
		return nil
	case "swaps_pairs":
		s.mu.Lock()
		defer s.mu.Unlock()
		if s.held == nil {
			s.held = m
			return nil
		}
		first := s.held
		s.held = nil
		if err := s.Sink.Send(m); err != nil {
			return err
		}
		return s.Sink.Send(first)
	}
	return s.Sink.Send(m)
}

func (s *mutant) SendBatch(ms []*tlv.Message) (int, error) {
	if s.name == "wakes_on_empty" && len(ms) == 0 {
		// What a sink that kicks its writer after any batch does.
		ctx, cancel := context.WithCancel(context.Background())
		cancel()
		_ = s.Sink.Connect(ctx)
	}
	for i, m := range ms {
		if err := s.Send(m); err != nil {
			return i, err
		}
	}
	return len(ms), nil
}

func (s *mutant) Flush(ctx context.Context) error {
	s.mu.Lock()
	if s.held != nil {
		if err := s.Sink.Send(s.held); err != nil {
			s.mu.Unlock()
			return err
		}
		s.held = nil
	}
	s.mu.Unlock()
	return s.Sink.Flush(ctx)
}

func (s *mutant) Close() error {
	if s.name == "close_twice_fails" {
		s.mu.Lock()
		defer s.mu.Unlock()
		if s.closed {
			return errors.New("already closed")
		}
		s.closed = true
	}
	return s.Sink.Close()
}

func (s *mutant) Info() sink.Info {
	i := s.Sink.Info()
	if s.name == "miscounts" && i.Enqueued > 0 {
		i.Enqueued--
		i.Written--
	}
	return i
}

// tearingDialer connects as transport.Dial does, but the first batch on each
// connection is preceded by the first bytes of its first frame: what a
// writer that resumed a cut frame where it stopped would produce.
type tearingDialer struct{}

func (tearingDialer) DialContext(ctx context.Context, e transport.Endpoint) (transport.Conn, error) {
	var d net.Dialer
	nc, err := d.DialContext(ctx, e.Scheme, e.Addr)
	if err != nil {
		return nil, err
	}
	c, err := transport.NewStreamConn(nc)
	if err != nil {
		_ = nc.Close()
		return nil, err
	}
	return &tearing{StreamConn: c, nc: nc}, nil
}

type tearing struct {
	*transport.StreamConn
	nc   net.Conn
	done bool
}

func (c *tearing) WriteBatch(a, b []*tlv.Message) (int, error) {
	if !c.done && len(a) > 0 {
		c.done = true
		if _, err := c.nc.Write(a[0].Bytes()[:tlv.HeaderSize/2]); err != nil {
			return 0, err
		}
	}
	return c.StreamConn.WriteBatch(a, b)
}
