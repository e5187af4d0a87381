package factory_test

import (
	"errors"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"testing"

	"github.com/msgsink/msgsink/config"
	"github.com/msgsink/msgsink/factory"
	"github.com/msgsink/msgsink/lazy"
	"github.com/msgsink/msgsink/sink"
	"github.com/msgsink/msgsink/transport"
)

// tcpKind is a service type added from outside the library: "tcpx", a lazy
// sink whose own key "address" names a host:port. Its New builds the sink
// from the common settings the factory resolved.
var tcpKind = factory.Kind{
	Config: config.Extension{
		Type: "tcpx",
		Keys: []string{"address"},
		Check: func(c *config.Checker, m map[string]any) any {
			a, ok := c.String(m, "address", "127.0.0.1:9")
			if _, present := m["address"]; !present {
				c.Missing("address", `add address = "host:port"`)
			} else if ok {
				if _, err := transport.ParseEndpoint("tcp://" + a); err != nil {
					c.Errorf("address", "write host:port", "bad address %q", a)
				}
			}
			return a
		},
	},
	New: func(svc config.Service) (sink.Sink, error) {
		e, err := transport.ParseEndpoint("tcp://" + svc.Ext.(string))
		if err != nil {
			return nil, err
		}
		cfg := svc.LazyConfig()
		cfg.Endpoint = e
		return lazy.New(cfg)
	},
}

func writeFile(t *testing.T, body string) string {
	t.Helper()
	path := filepath.Join(t.TempDir(), "services.toml")
	if err := os.WriteFile(path, []byte(body), 0o600); err != nil {
		t.Fatal(err)
	}
	return path
}

func TestWithKind(t *testing.T) {
	path := writeFile(t, `[services.x]
type = "tcpx"
address = "127.0.0.1:9"
buffer_size = 16

[services.both]
type = "composite"
pattern = "fanout"
targets = ["x", "y"]

[services.y]
type = "relay"
endpoint = "tcp://127.0.0.1:9"
`)
	if _, err := factory.FromFile(path); err == nil || !strings.Contains(err.Error(), `type "tcpx"`) {
		t.Fatalf("without the kind: err %v, want an unknown type", err)
	}
	var mu sync.Mutex
	var changes []sink.StateChange // of x
	f, err := factory.FromFile(path, factory.WithKind(tcpKind), factory.WithStateChange(func(c sink.StateChange) {
		mu.Lock()
		defer mu.Unlock()
		if c.Sink == "x" {
			changes = append(changes, c)
		}
	}))
	if err != nil {
		t.Fatal(err)
	}
	x, err := f.Sink("x")
	if err != nil {
		t.Fatal(err)
	}
	if in := x.Info(); in.Name != "x" || in.Kind != "tcpx" || in.BufferSize != 16 || in.Endpoint != "tcp://127.0.0.1:9" {
		t.Fatalf("info %+v", in)
	}
	both, err := f.Sink("both")
	if err != nil {
		t.Fatal(err)
	}
	if in := both.Info(); in.Kind != sink.KindFanout {
		t.Fatalf("composite info %+v", in)
	}
	if err := f.Close(); err != nil {
		t.Fatal(err)
	}
	if st := x.Info().State; st != sink.StateClosed {
		t.Fatalf("after Close the extension sink is %v", st)
	}
	mu.Lock()
	defer mu.Unlock()
	if len(changes) == 0 || changes[len(changes)-1].To != sink.StateClosed {
		t.Fatalf("the factory's state callback did not reach the extension sink: %v", changes)
	}
}

func TestWithKindErrors(t *testing.T) {
	path := writeFile(t, `[services.x]
type = "tcpx"
adress = "127.0.0.1:9"
`)
	_, err := factory.FromFile(path, factory.WithKind(tcpKind))
	if !errors.Is(err, sink.ErrInvalidConfig) {
		t.Fatalf("err %v", err)
	}
	for _, want := range []string{`:1: [services.x] missing required key "address"`, `:3: [services.x] unknown key "adress"; did you mean "address"?`} {
		if !strings.Contains(err.Error(), want) {
			t.Errorf("missing %q in %v", want, err)
		}
	}
}

// A resolver that is not a file may hand the factory a service of a type
// that a contrib module provides: Sink says which module.
func TestExtensionTypeNotAdded(t *testing.T) {
	f := factory.New(resolverFunc(func(name string) (config.Service, error) {
		return config.Service{Name: name, Type: "nats"}, nil
	}))
	defer f.Close()
	_, err := f.Sink("n")
	if !errors.Is(err, sink.ErrInvalidConfig) || !strings.Contains(err.Error(), "github.com/msgsink/msgsink/contrib/nats: pass natssink.Option()") {
		t.Fatalf("err %v", err)
	}
}

type resolverFunc func(string) (config.Service, error)

func (r resolverFunc) Resolve(name string) (config.Service, error) { return r(name) }
