package natssink_test

import (
	"context"
	"errors"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/msgsink/msgsink/config"
	natssink "github.com/msgsink/msgsink/contrib/nats"
	"github.com/msgsink/msgsink/factory"
	"github.com/msgsink/msgsink/sink"
	"github.com/msgsink/msgsink/sink/sinktest"
)

func writeFile(t *testing.T, body string) string {
	t.Helper()
	path := filepath.Join(t.TempDir(), "services.toml")
	if err := os.WriteFile(path, []byte(body), 0o600); err != nil {
		t.Fatal(err)
	}
	return path
}

// A fanout to a local relay and to NATS, from services.toml: the nats
// service takes the common keys and [defaults], and both targets get
// every frame.
func TestOptionFanout(t *testing.T) {
	srv := startServer(t, false)
	got := subscribe(t, srv.URL(), "md.>")
	peer := sinktest.ListenStream(t, "unix")
	path := writeFile(t, `[defaults]
buffer_size = 256
[defaults.retry]
initial = "5ms"

[services.relay]
type = "relay"
endpoint = "`+peer.Endpoint().String()+`"

[services.cloud]
type = "nats"
endpoint = "`+srv.URL()+`"
subject = "md.{name}.{source}"
max_inflight = 64
domain = "market_data"
[services.cloud.metadata]
owner = "md-team"

[services.both]
type = "composite"
pattern = "fanout"
targets = ["relay", "cloud"]
`)
	f, err := factory.FromFile(path, natssink.Option())
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	s, err := f.Sink("both")
	if err != nil {
		t.Fatal(err)
	}
	p := newProducer(9, 32)
	const n = 100
	for range n {
		if err := s.Send(p.next()); err != nil {
			t.Fatal(err)
		}
	}
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	if err := s.Flush(ctx); err != nil {
		t.Fatal(err)
	}
	waitFor(t, "every frame at the subscriber", func() bool { return got.len() == n })
	waitFor(t, "every frame at the relay", func() bool {
		r := peer.Received()
		return len(r) == 1 && len(r[0]) == n
	})
	cloud, _ := f.Sink("cloud")
	in := cloud.Info()
	if in.Kind != natssink.Kind || in.BufferSize != 256 || in.Metadata["owner"] != "md-team" || in.Written != n || got.subj[0] != "md.cloud.9" {
		t.Fatalf("nats service info %+v, subject %q", in, got.subj[0])
	}
	if err := f.Close(); err != nil {
		t.Fatal(err)
	}
	if st := cloud.Info().State; st != sink.StateClosed {
		t.Fatalf("after the factory's Close the nats sink is %v", st)
	}
}

// Its keys are checked at load like every other: lines, suggestions, every
// problem at once.
func TestOptionValidation(t *testing.T) {
	path := writeFile(t, `[services.cloud]
type = "nats"
endpoint = "tcp://127.0.0.1:4222"
subjet = "x.{source}"
max_inflight = 0
jetstream = "yes"
subject = "x.{sorce}"
tls_ca_file = "ca.pem"
delivery = "at_most_once"
max_frame = 10
`)
	_, err := factory.FromFile(path, natssink.Option())
	if !errors.Is(err, sink.ErrInvalidConfig) {
		t.Fatalf("err %v", err)
	}
	for _, want := range []string{
		`:3: [services.cloud] bad endpoint "tcp://127.0.0.1:4222"`,
		`:4: [services.cloud] unknown key "subjet"; did you mean "subject"?`,
		`:5: [services.cloud] max_inflight 0 is out of range`,
		`:6: [services.cloud] jetstream must be a boolean`,
		`:7: [services.cloud] bad subject: subject "x.{sorce}": unknown placeholder {sorce}`,
		`:8: [services.cloud] key "tls_ca_file" does not belong to a nats service`,
		`:9: [services.cloud] a nats service's delivery follows jetstream`,
		`:10: [services.cloud] max_frame 10 is out of range`,
	} {
		if !strings.Contains(err.Error(), want) {
			t.Errorf("missing %q in:\n%v", want, err)
		}
	}
	// The same file without the option names the module to add.
	_, err = factory.FromFile(path)
	if err == nil || !strings.Contains(err.Error(), `type "nats" needs github.com/msgsink/msgsink/contrib/nats; pass natssink.Option()`) {
		t.Fatalf("without the option: %v", err)
	}
	if _, err := config.Load(path, natssink.Extension()); !errors.Is(err, config.ErrInvalidConfig) {
		t.Fatalf("config.Load: %v", err)
	}
}

func TestParseEndpoint(t *testing.T) {
	for _, c := range []struct {
		in   string
		want string
		err  string
	}{
		{in: "nats://127.0.0.1:4222", want: "nats://127.0.0.1:4222"},
		{in: "nats://a.example:1,b.example", want: "nats://a.example:1,nats://b.example:4222"},
		{in: "nats://[::1]:5,10.0.0.1:6", want: "nats://[::1]:5,nats://10.0.0.1:6"},
		{in: "", err: "empty endpoint"},
		{in: "tcp://x:1", err: "want nats://host:port"},
		{in: "nats://a:1,,b:2", err: "empty server between commas"},
		{in: "nats://a:99999", err: "port"},
	} {
		urls, err := natssink.ParseEndpoint(c.in)
		switch {
		case c.err != "" && (err == nil || !strings.Contains(err.Error(), c.err)):
			t.Errorf("ParseEndpoint(%q) = %v, %v; want an error with %q", c.in, urls, err, c.err)
		case c.err == "" && (err != nil || strings.Join(urls, ",") != c.want):
			t.Errorf("ParseEndpoint(%q) = %v, %v; want %s", c.in, urls, err, c.want)
		}
	}
	if _, err := natssink.New(natssink.Config{Endpoint: "nats://a:1", Subject: "x.*"}); !errors.Is(err, sink.ErrInvalidConfig) {
		t.Errorf("a wildcard subject: %v", err)
	}
	if _, err := natssink.New(natssink.Config{Endpoint: "nats://a:1", MaxFrame: 2 << 20}); !errors.Is(err, sink.ErrInvalidConfig) ||
		!strings.Contains(err.Error(), "max_frame 2097152 out of range") {
		t.Errorf("a max_frame over tlv.MaxMessageSize: %v", err)
	}
}
