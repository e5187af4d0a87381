package factory_test

import (
	"context"
	"errors"
	"fmt"
	"io"
	"net"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/msgsink/msgsink/config"
	"github.com/msgsink/msgsink/factory"
	"github.com/msgsink/msgsink/lazy"
	"github.com/msgsink/msgsink/sink"
	"github.com/msgsink/msgsink/tlv"
	"github.com/msgsink/msgsink/transport"
)

// receiver is a real Unix listener that counts whole frames and checks that
// each source's sequence numbers arrive in order.
type receiver struct {
	ln      net.Listener
	mu      sync.Mutex
	frames  int
	accepts int
	err     error
	wg      sync.WaitGroup
	conns   []net.Conn
}

func listenUnix(t *testing.T, path string) *receiver {
	t.Helper()
	ln, err := net.Listen("unix", path)
	if err != nil {
		t.Fatal(err)
	}
	r := &receiver{ln: ln}
	r.wg.Add(1)
	go r.accept()
	t.Cleanup(r.close)
	return r
}

func (r *receiver) accept() {
	defer r.wg.Done()
	for {
		c, err := r.ln.Accept()
		if err != nil {
			return
		}
		r.mu.Lock()
		r.accepts++
		r.conns = append(r.conns, c)
		r.mu.Unlock()
		r.wg.Add(1)
		go r.read(c)
	}
}

func (r *receiver) read(c net.Conn) {
	defer r.wg.Done()
	var v tlv.Validator
	last := map[uint8]uint64{}
	buf := make([]byte, 0, 1<<16)
	tmp := make([]byte, 1<<16)
	for {
		n, err := c.Read(tmp)
		buf = append(buf, tmp[:n]...)
		for len(buf) >= tlv.HeaderSize {
			size, ferr := v.FrameSize(buf)
			if ferr != nil {
				r.fail(ferr)
				return
			}
			if len(buf) < size {
				break
			}
			f, perr := v.Parse(buf[:size])
			if perr != nil {
				r.fail(perr)
				return
			}
			h := f.Header()
			if seq := h.Sequence(); seq != last[h.Source()]+1 {
				r.fail(fmt.Errorf("source %d: sequence %d after %d", h.Source(), seq, last[h.Source()]))
			} else {
				last[h.Source()] = seq
			}
			r.mu.Lock()
			r.frames++
			r.mu.Unlock()
			buf = buf[size:]
		}
		if err != nil {
			if err != io.EOF && !errors.Is(err, net.ErrClosed) {
				r.fail(err)
			}
			return
		}
	}
}

func (r *receiver) fail(err error) {
	r.mu.Lock()
	if r.err == nil {
		r.err = err
	}
	r.mu.Unlock()
}

func (r *receiver) counts() (frames, accepts int, err error) {
	r.mu.Lock()
	defer r.mu.Unlock()
	return r.frames, r.accepts, r.err
}

func (r *receiver) close() {
	_ = r.ln.Close()
	r.mu.Lock()
	for _, c := range r.conns {
		_ = c.Close()
	}
	r.mu.Unlock()
	r.wg.Wait()
}

func waitFor(t *testing.T, what string, cond func() bool) {
	t.Helper()
	deadline := time.Now().Add(10 * time.Second)
	for !cond() {
		if time.Now().After(deadline) {
			t.Fatalf("timed out waiting for %s", what)
		}
		time.Sleep(2 * time.Millisecond)
	}
}

// publish is the calling code of a service: it knows names, nothing else.
// The same function runs over a TOML file and over an in-memory resolver.
func publish(t *testing.T, f *factory.Factory, name string, n int) {
	t.Helper()
	s, err := f.Sink(name)
	if err != nil {
		t.Fatal(err)
	}
	b := tlv.NewBuilder(tlv.DomainMarketData, 7)
	for i := range n {
		b.AppendTrade(&tlv.Trade{Instrument: uint64(i%5 + 1), Price: 6_500_000_000_000, Volume: 1_000_000})
		m, err := b.Finish()
		if err != nil {
			t.Fatal(err)
		}
		for {
			err = s.Send(m)
			if !errors.Is(err, sink.ErrBufferFull) {
				break
			}
			time.Sleep(100 * time.Microsecond)
		}
		if err != nil {
			m.Release()
			t.Fatalf("send %d: %v", i, err)
		}
	}
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	if err := s.Flush(ctx); err != nil {
		t.Fatal(err)
	}
}

// writeConfig writes a services.toml with a relay, a direct sink and a fanout
// over both, all on Unix sockets in a temporary directory.
func writeConfig(t *testing.T) (path, relaySock, directSock string) {
	t.Helper()
	dir := t.TempDir()
	relaySock = filepath.Join(dir, "relay.sock")
	directSock = filepath.Join(dir, "direct.sock")
	path = filepath.Join(dir, "services.toml")
	toml := fmt.Sprintf(`
[defaults]
buffer_size = 1024

[services.market_data_relay]
type = "relay"
endpoint = "unix://%s"
domain = "market_data"

[services.archive]
type = "direct"
endpoint = "unix://%s"

[services.broadcast_all]
type = "composite"
pattern = "fanout"
targets = ["market_data_relay", "archive"]
`, relaySock, directSock)
	if err := os.WriteFile(path, []byte(toml), 0o600); err != nil {
		t.Fatal(err)
	}
	return path, relaySock, directSock
}

func newFromFile(t *testing.T, path string) *factory.Factory {
	t.Helper()
	f, err := factory.FromFile(path)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = f.Close() })
	return f
}

func TestFromFileSendsThroughNames(t *testing.T) {
	path, relaySock, directSock := writeConfig(t)
	relay, direct := listenUnix(t, relaySock), listenUnix(t, directSock)
	f := newFromFile(t, path)

	publish(t, f, "market_data_relay", 1000)
	waitFor(t, "1000 frames at the relay", func() bool { n, _, _ := relay.counts(); return n == 1000 })

	// The fanout shares the relay's sink: the relay's connection carries both
	// streams (the builder numbers each from 1 again, so a second connection
	// is not needed to tell them apart: the relay checks order per source).
	publish(t, f, "archive", 10)
	waitFor(t, "10 frames at the direct peer", func() bool { n, _, _ := direct.counts(); return n == 10 })

	for _, r := range []*receiver{relay, direct} {
		if _, accepts, err := r.counts(); err != nil || accepts != 1 {
			t.Fatalf("accepts %d, err %v: want one connection and no bad frame", accepts, err)
		}
	}
	s, _ := f.Sink("market_data_relay")
	if in := s.Info(); in.Written != 1000 || !in.Balanced() || in.Kind != "relay" {
		t.Fatalf("relay sink info: %+v", in)
	}
}

func TestOneSinkPerName(t *testing.T) {
	path, relaySock, directSock := writeConfig(t)
	listenUnix(t, relaySock)
	listenUnix(t, directSock)
	f := newFromFile(t, path)

	const callers = 32
	got := make([]sink.Sink, callers)
	var wg sync.WaitGroup
	for i := range callers {
		name := []string{"market_data_relay", "broadcast_all"}[i%2]
		wg.Go(func() {
			s, err := f.Sink(name)
			if err != nil {
				t.Error(err)
			}
			got[i] = s
		})
	}
	wg.Wait()
	for i := 2; i < callers; i++ {
		if got[i] != got[i%2] {
			t.Fatalf("caller %d got a different sink for the same name", i)
		}
	}
	if got[0] == got[1] {
		t.Fatal("two names share one sink")
	}
	// The composite's target is the shared sink of that name, not a copy.
	fan, ok := got[1].(*sink.Fanout)
	if !ok {
		t.Fatalf("broadcast_all is %T, want *sink.Fanout", got[1])
	}
	before := got[0].Info().Enqueued
	m := trade(t)
	if err := fan.Send(m); err != nil {
		m.Release()
		t.Fatal(err)
	}
	if after := got[0].Info().Enqueued; after != before+1 {
		t.Fatalf("the relay sink saw %d messages from the fanout, want 1", after-before)
	}
}

func trade(t *testing.T) *tlv.Message {
	t.Helper()
	b := tlv.NewBuilder(tlv.DomainMarketData, 1)
	b.AppendTrade(&tlv.Trade{Instrument: 1, Price: 100 * tlv.PriceScale, Volume: tlv.PriceScale})
	m, err := b.Finish()
	if err != nil {
		t.Fatal(err)
	}
	return m
}

func TestCreatingNeverDials(t *testing.T) {
	path, relaySock, directSock := writeConfig(t)
	relay, direct := listenUnix(t, relaySock), listenUnix(t, directSock)
	f := newFromFile(t, path)
	for _, name := range []string{"broadcast_all", "market_data_relay", "archive"} {
		s, err := f.Sink(name)
		if err != nil {
			t.Fatal(err)
		}
		if st := s.Info().State; st != sink.StateIdle {
			t.Fatalf("%s is %v before any Send, want idle", name, st)
		}
	}
	// Give a wrongly eager dial time to land before looking.
	time.Sleep(50 * time.Millisecond)
	for _, r := range []*receiver{relay, direct} {
		if _, accepts, _ := r.counts(); accepts != 0 {
			t.Fatalf("%d connections before the first Send", accepts)
		}
	}
}

func TestServicesStartInAnyOrder(t *testing.T) {
	path, relaySock, _ := writeConfig(t)
	f := newFromFile(t, path)
	s, err := f.Sink("market_data_relay")
	if err != nil {
		t.Fatal(err)
	}
	// Sent before the relay exists: queued, dialled with backoff.
	for range 5 {
		if err := s.Send(trade(t)); err != nil {
			t.Fatal(err)
		}
	}
	relay := listenUnix(t, relaySock)
	waitFor(t, "the queued frames after the relay started", func() bool { n, _, _ := relay.counts(); return n == 5 })
}

func TestUnknownName(t *testing.T) {
	path, _, _ := writeConfig(t)
	f := newFromFile(t, path)
	_, err := f.Sink("market_data_rely")
	if !errors.Is(err, factory.ErrUnknownService) {
		t.Fatalf("err = %v, want ErrUnknownService", err)
	}
	var se *sink.Error
	if !errors.As(err, &se) || se.Sink != "market_data_rely" || se.Op != "resolve" {
		t.Fatalf("err = %#v, want a *sink.Error naming the sink", err)
	}
	if !strings.Contains(err.Error(), `did you mean "market_data_relay"?`) {
		t.Fatalf("err = %q, want a suggestion", err)
	}
}

func TestFromFileInvalid(t *testing.T) {
	path := filepath.Join(t.TempDir(), "bad.toml")
	if err := os.WriteFile(path, []byte("[services.x]\ntype = \"relay\"\nendpoint = \"unix:///tmp/x.sock\"\nbufer_size = 1\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	_, err := factory.FromFile(path)
	if !errors.Is(err, config.ErrInvalidConfig) || !errors.Is(err, sink.ErrInvalidConfig) ||
		!strings.Contains(err.Error(), `did you mean "buffer_size"?`) {
		t.Fatalf("err = %v, want ErrInvalidConfig with a suggestion", err)
	}
}

func TestCloseIsFinalAndIdempotent(t *testing.T) {
	path, relaySock, _ := writeConfig(t)
	relay := listenUnix(t, relaySock)
	f, err := factory.FromFile(path)
	if err != nil {
		t.Fatal(err)
	}
	fan, err := f.Sink("broadcast_all")
	if err != nil {
		t.Fatal(err)
	}
	rs, _ := f.Sink("market_data_relay")
	for range 100 {
		if err := rs.Send(trade(t)); err != nil {
			t.Fatal(err)
		}
	}
	if err := f.Close(); err != nil {
		t.Fatal(err)
	}
	// Close flushed the relay sink: everything it held was written.
	if in := rs.Info(); in.Written != 100 || in.Pending != 0 || !in.Balanced() {
		t.Fatalf("after Close: %+v", in)
	}
	waitFor(t, "100 frames", func() bool { n, _, _ := relay.counts(); return n == 100 })
	if err := f.Close(); err != nil {
		t.Fatalf("second Close: %v", err)
	}
	m := trade(t)
	defer m.Release() // refused: still ours
	for _, s := range []sink.Sink{fan, rs} {
		if err := s.Send(m); !errors.Is(err, sink.ErrClosed) {
			t.Fatalf("Send after Close: %v, want ErrClosed", err)
		}
	}
	if _, err := f.Sink("archive"); !errors.Is(err, sink.ErrClosed) {
		t.Fatalf("Sink after Close: %v, want ErrClosed", err)
	}
}

// memory is a resolver that is not a file: it stands in for a service
// discovery runtime, built from plain values.
type memory map[string]config.Service

func (m memory) Resolve(name string) (config.Service, error) {
	s, ok := m[name]
	if !ok {
		return config.Service{}, fmt.Errorf("%w %q", config.ErrUnknownService, name)
	}
	return s, nil
}

func mustEndpoint(t *testing.T, s string) transport.Endpoint {
	t.Helper()
	e, err := transport.ParseEndpoint(s)
	if err != nil {
		t.Fatal(err)
	}
	return e
}

func TestNonFileResolverDrivesTheSameCode(t *testing.T) {
	dir := t.TempDir()
	a, b := filepath.Join(dir, "a.sock"), filepath.Join(dir, "b.sock")
	ra, rb := listenUnix(t, a), listenUnix(t, b)
	f := factory.New(memory{
		"venue_a": {Type: sink.KindRelay, Endpoint: mustEndpoint(t, "unix://"+a)},
		"venue_b": {Type: sink.KindDirect, Endpoint: mustEndpoint(t, "unix://"+b),
			Sink: lazy.Config{BufferSize: 64, Idle: lazy.IdlePark}},
		"market_data_relay": {Type: sink.KindComposite, Pattern: sink.KindFanout, Targets: []string{"venue_a", "venue_b"}},
	})
	defer func() {
		if err := f.Close(); err != nil {
			t.Error(err)
		}
	}()

	publish(t, f, "market_data_relay", 50) // the code TestFromFileSendsThroughNames runs
	waitFor(t, "50 frames at both venues", func() bool {
		na, _, _ := ra.counts()
		nb, _, _ := rb.counts()
		return na == 50 && nb == 50
	})
	for _, r := range []*receiver{ra, rb} {
		if _, _, err := r.counts(); err != nil {
			t.Fatal(err)
		}
	}
	vb, _ := f.Sink("venue_b")
	if in := vb.Info(); in.Name != "venue_b" || in.Kind != "direct" || in.BufferSize != 64 {
		t.Fatalf("venue_b info: %+v", in)
	}
	names := []string{}
	for _, in := range f.Infos() {
		names = append(names, in.Name)
	}
	if got := strings.Join(names, ","); got != "market_data_relay,venue_a,venue_b" {
		t.Fatalf("Infos names %s", got)
	}
}

func TestResolverCycleAndBadDefinitions(t *testing.T) {
	e := mustEndpoint(t, "unix:///tmp/msgsink-never-dialled.sock")
	f := factory.New(memory{
		"a":        {Type: sink.KindComposite, Pattern: sink.KindFanout, Targets: []string{"leaf", "b"}},
		"b":        {Type: sink.KindComposite, Pattern: sink.KindRoundRobin, Targets: []string{"a"}},
		"leaf":     {Type: sink.KindRelay, Endpoint: e},
		"odd":      {Type: "queue", Endpoint: e},
		"pattern":  {Type: sink.KindComposite, Pattern: "broadcast", Targets: []string{"leaf"}},
		"badsize":  {Type: sink.KindRelay, Endpoint: e, Sink: lazy.Config{MaxBatch: 5000}},
		"missing":  {Type: sink.KindComposite, Pattern: sink.KindFanout, Targets: []string{"leaf", "nowhere"}},
		"failover": {Type: sink.KindComposite, Pattern: sink.KindFailover, Targets: []string{"leaf"}},
	})
	defer f.Close()
	for _, tc := range []struct {
		name, want string
		is         error
	}{
		{"a", "composite cycle a -> b -> a", sink.ErrInvalidConfig},
		{"odd", `service type "queue"`, sink.ErrInvalidConfig},
		{"pattern", `composite pattern "broadcast"`, sink.ErrInvalidConfig},
		{"badsize", "max", sink.ErrInvalidConfig},
		{"missing", `"nowhere"`, config.ErrUnknownService},
		{"failover", "at least 2", sink.ErrInvalidConfig},
	} {
		_, err := f.Sink(tc.name)
		if !errors.Is(err, tc.is) || !strings.Contains(err.Error(), tc.want) {
			t.Errorf("Sink(%q) = %v, want %v containing %q", tc.name, err, tc.is, tc.want)
		}
		// The check factory's doc promises, whichever layer refused it.
		if tc.is == sink.ErrInvalidConfig && !errors.Is(err, config.ErrInvalidConfig) {
			t.Errorf("Sink(%q) = %v, which does not match config.ErrInvalidConfig", tc.name, err)
		}
	}
	// A failed composite leaves nothing half-made behind: the cycle's members
	// are not registered, the leaf that was fine is.
	if got := len(f.Infos()); got != 1 {
		t.Fatalf("%d sinks made, want 1 (leaf)", got)
	}
}

// WithStateChange reaches every leaf sink the factory makes: the changes of
// a relay sink that wakes on data, waits for its relay and connects.
func TestWithStateChange(t *testing.T) {
	path, relaySock, _ := writeConfig(t)
	var mu sync.Mutex
	seen := map[string][]string{}
	f, err := factory.FromFile(path, factory.WithStateChange(func(c sink.StateChange) {
		mu.Lock()
		defer mu.Unlock()
		seen[c.Sink] = append(seen[c.Sink], c.To.String())
	}))
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	s, err := f.Sink("market_data_relay")
	if err != nil {
		t.Fatal(err)
	}
	if err := s.Send(trade(t)); err != nil {
		t.Fatal(err)
	}
	relay := listenUnix(t, relaySock)
	waitFor(t, "the frame after the relay started", func() bool { n, _, _ := relay.counts(); return n == 1 })
	if err := f.Close(); err != nil {
		t.Fatal(err)
	}
	mu.Lock()
	defer mu.Unlock()
	got := strings.Join(seen["market_data_relay"], " ")
	if !strings.HasPrefix(got, "connecting") || !strings.Contains(got, "connected") || !strings.HasSuffix(got, "closed") {
		t.Fatalf("market_data_relay went through %q: want connecting ... connected ... closed", got)
	}
	if len(seen) != 1 {
		t.Fatalf("changes from sinks never used: %v", seen)
	}
}
