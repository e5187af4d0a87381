package relay_test

import (
	"context"
	"errors"
	"io"
	"io/fs"
	"net"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/msgsink/msgsink/internal/testnet"
	"github.com/msgsink/msgsink/relay"
	"github.com/msgsink/msgsink/relay/relaytest"
	"github.com/msgsink/msgsink/sink"
	"github.com/msgsink/msgsink/tlv"
	"github.com/msgsink/msgsink/transport"
)

// roundTrip checks that r forwards a frame from a producer to a consumer.
func roundTrip(t *testing.T, r *relay.Relay) {
	t.Helper()
	sub := subscribe(t, r, r.Stats().Consumers+1)
	f := testFrame(t, tlv.NewBuilder(tlv.DomainMarketData, 1), 64)
	if _, err := dial(t, r).Write(f); err != nil {
		t.Fatal(err)
	}
	got, err := sub.Next()
	if err != nil {
		t.Fatal(err)
	}
	if string(got) != string(f) {
		t.Fatal("the frame came out changed")
	}
}

func TestStaleSocketReplaced(t *testing.T) {
	path := testnet.SocketPath(t)
	// A relay that died leaves its socket file behind, with no one listening.
	l, err := net.ListenUnix("unix", &net.UnixAddr{Name: path, Net: "unix"})
	if err != nil {
		t.Fatal(err)
	}
	l.SetUnlinkOnClose(false)
	_ = l.Close()
	if fi, err := os.Lstat(path); err != nil || fi.Mode().Type() != fs.ModeSocket {
		t.Fatalf("no stale socket to test with: %v", err)
	}
	roundTrip(t, relaytest.Serve(t, relay.Config{Endpoint: unixEndpoint(path)}))
}

func TestLiveSocketRefused(t *testing.T) {
	path := testnet.SocketPath(t)
	first, err := relay.Listen(relay.Config{Endpoint: unixEndpoint(path), Domain: tlv.DomainMarketData})
	if err != nil {
		t.Fatal(err)
	}
	defer first.Close()
	// Listening is enough to be live: the backlog answers before Serve.
	_, err = relay.Listen(relay.Config{Endpoint: unixEndpoint(path), Domain: tlv.DomainSignal})
	var le *relay.ListenError
	if !errors.Is(err, relay.ErrInUse) || !errors.As(err, &le) {
		t.Fatalf("second Listen: %v, want a *ListenError matching ErrInUse", err)
	}
	if !strings.Contains(err.Error(), path) || !strings.Contains(err.Error(), "stop it") {
		t.Errorf("the error does not say where and what to do: %v", err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	served := make(chan error, 1)
	go func() { served <- first.Serve(ctx) }()
	roundTrip(t, first)
	cancel()
	if err := <-served; err != nil {
		t.Fatal(err)
	}
}

func TestNotASocketRefused(t *testing.T) {
	path := testnet.SocketPath(t)
	if err := os.WriteFile(path, []byte("keep me"), 0o600); err != nil {
		t.Fatal(err)
	}
	_, err := relay.Listen(relay.Config{Endpoint: unixEndpoint(path), Domain: tlv.DomainMarketData})
	if !errors.Is(err, relay.ErrNotSocket) {
		t.Fatalf("Listen: %v, want ErrNotSocket", err)
	}
	if b, err := os.ReadFile(path); err != nil || string(b) != "keep me" {
		t.Errorf("the file was touched: %q, %v", b, err)
	}
}

func TestSocketMode(t *testing.T) {
	for _, tc := range []struct {
		mode, want os.FileMode
	}{{0, 0o600}, {0o660, 0o660}, {0o666, 0o666}} {
		path := testnet.SocketPath(t)
		r, err := relay.Listen(relay.Config{Endpoint: unixEndpoint(path), Domain: tlv.DomainMarketData, SocketMode: tc.mode})
		if err != nil {
			t.Fatal(err)
		}
		fi, err := os.Lstat(path)
		if err != nil {
			t.Fatal(err)
		}
		if got := fi.Mode().Perm(); got != tc.want {
			t.Errorf("SocketMode %#o: the socket has mode %#o, want %#o", tc.mode, got, tc.want)
		}
		if err := r.Close(); err != nil {
			t.Fatal(err)
		}
	}
}

func TestSocketDirCreated(t *testing.T) {
	dir := filepath.Dir(testnet.SocketPath(t))
	path := filepath.Join(dir, "a", "b", "r.sock")
	r, err := relay.Listen(relay.Config{Endpoint: unixEndpoint(path), Domain: tlv.DomainMarketData})
	if err != nil {
		t.Fatal(err)
	}
	defer r.Close()
	for _, d := range []string{filepath.Join(dir, "a"), filepath.Join(dir, "a", "b")} {
		fi, err := os.Stat(d)
		if err != nil {
			t.Fatal(err)
		}
		if fi.Mode().Perm()&0o077 != 0 {
			t.Errorf("%s has mode %#o, want no access for group and others", d, fi.Mode().Perm())
		}
	}
}

func TestCloseIdempotentRemovesSocket(t *testing.T) {
	path := testnet.SocketPath(t)
	r, err := relay.Listen(relay.Config{Endpoint: unixEndpoint(path), Domain: tlv.DomainMarketData})
	if err != nil {
		t.Fatal(err)
	}
	served := make(chan error, 1)
	go func() { served <- r.Serve(context.Background()) }()
	sub := subscribe(t, r, 1)
	for range 3 {
		if err := r.Close(); err != nil {
			t.Fatal(err)
		}
	}
	if err := <-served; err != nil {
		t.Errorf("Serve returned %v after Close, want nil", err)
	}
	if _, err := os.Lstat(path); !errors.Is(err, fs.ErrNotExist) {
		t.Errorf("the socket file is still there: %v", err)
	}
	// The consumer sees the relay go, and its one dial after that fails.
	if _, err := sub.Next(); !errors.Is(err, sink.ErrConnectFailed) || sub.Info().Reconnects != 1 {
		t.Errorf("consumer's Next after Close: %v (%+v), want a failed reconnect", err, sub.Info())
	}
	if err := r.Serve(context.Background()); !errors.Is(err, relay.ErrClosed) {
		t.Errorf("Serve after Close: %v, want ErrClosed", err)
	}
	if s := r.Stats(); s.Consumers != 0 || s.ConsumersTotal != 1 {
		t.Errorf("stats after Close: %v", s)
	}
}

// TestCloseLeavesAnotherRelaysSocket: a relay whose file was replaced by a
// newer relay's must not delete the newer one's.
func TestCloseLeavesAnotherRelaysSocket(t *testing.T) {
	path := testnet.SocketPath(t)
	old, err := relay.Listen(relay.Config{Endpoint: unixEndpoint(path), Domain: tlv.DomainMarketData})
	if err != nil {
		t.Fatal(err)
	}
	if err := os.Remove(path); err != nil {
		t.Fatal(err)
	}
	newer := relaytest.Serve(t, relay.Config{Endpoint: unixEndpoint(path)})
	if err := old.Close(); err != nil {
		t.Fatal(err)
	}
	roundTrip(t, newer)
}

func TestServeStopsWithContext(t *testing.T) {
	path := testnet.SocketPath(t)
	r, err := relay.Listen(relay.Config{Endpoint: unixEndpoint(path), Domain: tlv.DomainMarketData})
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	served := make(chan error, 1)
	go func() { served <- r.Serve(ctx) }()
	producer := dial(t, r)
	if _, err := producer.Write(testFrame(t, tlv.NewBuilder(tlv.DomainMarketData, 1), 64)); err != nil {
		t.Fatal(err)
	}
	waitFor(t, "the producer", func() bool { return r.Stats().Producers == 1 })
	cancel()
	if err := <-served; err != nil {
		t.Fatalf("Serve: %v, want nil", err)
	}
	// Serve returned after the relay closed: the producer's connection is
	// closed, the socket is gone, and Close has nothing left to do.
	_ = producer.SetReadDeadline(time.Now().Add(5 * time.Second))
	if _, err := producer.Read(make([]byte, 1)); !errors.Is(err, io.EOF) {
		t.Errorf("producer read after the relay stopped: %v, want EOF", err)
	}
	if _, err := os.Lstat(path); !errors.Is(err, fs.ErrNotExist) {
		t.Errorf("the socket file is still there: %v", err)
	}
	if s := r.Stats(); s.Producers != 0 || s.FramesIn != 1 {
		t.Errorf("stats %v", s)
	}
	if err := r.Close(); err != nil {
		t.Fatal(err)
	}
}

func TestTCP(t *testing.T) {
	r := relaytest.Serve(t, relay.Config{Endpoint: transport.Endpoint{Scheme: "tcp", Addr: "127.0.0.1:0"}})
	if a := r.Addr().(*net.TCPAddr); a.Port == 0 {
		t.Fatalf("Addr %v has no port", a)
	}
	roundTrip(t, r)
	_, err := relay.Listen(relay.Config{Endpoint: transport.Endpoint{Scheme: "tcp", Addr: r.Addr().String()}, Domain: tlv.DomainMarketData})
	if !errors.Is(err, relay.ErrInUse) {
		t.Errorf("second Listen on %s: %v, want ErrInUse", r.Addr(), err)
	}
}

func TestDefaultEndpoint(t *testing.T) {
	for d, want := range map[tlv.Domain]string{
		tlv.DomainMarketData: "unix:///tmp/torq/market_data.sock",
		tlv.DomainSignal:     "unix:///tmp/torq/signals.sock",
		tlv.DomainExecution:  "unix:///tmp/torq/execution.sock",
		tlv.DomainSystem:     "unix:///tmp/torq/system.sock",
		0:                    "",
	} {
		e := relay.DefaultEndpoint(d)
		if e.String() != want {
			t.Errorf("DefaultEndpoint(%v) = %q, want %q", d, e, want)
		}
		if want == "" {
			continue
		}
		if p, err := transport.ParseEndpoint(want); err != nil || p != e {
			t.Errorf("DefaultEndpoint(%v) = %+v, ParseEndpoint gives %+v, %v", d, e, p, err)
		}
	}
}

func TestConfigErrors(t *testing.T) {
	ok := relay.Config{Endpoint: unixEndpoint("/tmp/torq-test/never.sock"), Domain: tlv.DomainMarketData}
	cases := []struct {
		field string
		edit  func(*relay.Config)
	}{
		{"Endpoint", func(c *relay.Config) { c.Endpoint = transport.Endpoint{} }},
		{"Endpoint", func(c *relay.Config) { c.Endpoint = transport.Endpoint{Scheme: "ws", Addr: "h:80", Path: "/"} }},
		{"Endpoint", func(c *relay.Config) { c.Endpoint.Addr = "relative.sock" }},
		{"Endpoint", func(c *relay.Config) { c.Endpoint.Addr = "/" + strings.Repeat("x", 200) }},
		{"Domain", func(c *relay.Config) { c.Domain = 0 }},
		{"Domain", func(c *relay.Config) { c.Domain = 5 }},
		{"Validator.Domain", func(c *relay.Config) { c.Validator.Domain = tlv.DomainSignal }},
		{"Validator.MaxSize", func(c *relay.Config) { c.Validator.MaxSize = 4096 }},
		{"MaxFrame", func(c *relay.Config) { c.MaxFrame = 40 }},
		{"MaxFrame", func(c *relay.Config) { c.MaxFrame = tlv.MaxMessageSize + 1 }},
		{"MaxFrame", func(c *relay.Config) { c.MaxFrame = -1 }},
		{"SocketMode", func(c *relay.Config) { c.SocketMode = os.ModeSetuid | 0o600 }},
		{"ConsumerQueue", func(c *relay.Config) { c.ConsumerQueue = -1 }},
		{"ConsumerQueue", func(c *relay.Config) { c.ConsumerQueue = 1 << 30 }},
		{"ConsumerQueueBytes", func(c *relay.Config) { c.ConsumerQueueBytes = 1000 }},
		{"MaxLag", func(c *relay.Config) { c.MaxLag = -time.Second }},
		{"MaxConns", func(c *relay.Config) { c.MaxConns = -1 }},
		{"PartialTimeout", func(c *relay.Config) { c.PartialTimeout = -time.Second }},
		{"QueueBudget", func(c *relay.Config) { c.QueueBudget = 1000 }},
		{"QueueBudget", func(c *relay.Config) { c.QueueBudget = -1 }},
		{"SocketMode", func(c *relay.Config) {
			c.Endpoint = transport.Endpoint{Scheme: "tcp", Addr: "127.0.0.1:0"}
			c.SocketMode = 0o600
		}},
		// The private directory the socket is bound in first must fit too.
		{"Endpoint", func(c *relay.Config) { c.Endpoint.Addr = "/" + strings.Repeat("x", 90) + "/s.sock" }},
	}
	for _, tc := range cases {
		cfg := ok
		tc.edit(&cfg)
		_, err := relay.Listen(cfg)
		var ce *relay.ConfigError
		if !errors.Is(err, relay.ErrInvalidConfig) || !errors.As(err, &ce) || ce.Field != tc.field {
			t.Errorf("%s: Listen = %v, want a *ConfigError for %s", tc.field, err, tc.field)
			continue
		}
		t.Logf("%v", err)
	}
	if _, err := os.Stat("/tmp/torq-test"); !errors.Is(err, fs.ErrNotExist) {
		t.Errorf("a refused Config created its directory: %v", err)
	}
	// What agrees with Domain and MaxFrame is accepted.
	cfg := ok
	cfg.Endpoint = unixEndpoint(testnet.SocketPath(t))
	cfg.Validator = tlv.Validator{Domain: tlv.DomainMarketData, MaxSize: 4096, Level: tlv.LevelAudit}
	cfg.MaxFrame = 4096
	r, err := relay.Listen(cfg)
	if err != nil {
		t.Fatal(err)
	}
	_ = r.Close()
}
