package factory_test

import (
	"fmt"
	"os"
	"path/filepath"

	"github.com/msgsink/msgsink/config"
	"github.com/msgsink/msgsink/factory"
	"github.com/msgsink/msgsink/lazy"
	"github.com/msgsink/msgsink/sink"
	"github.com/msgsink/msgsink/transport"
)

// A module adds a service type: its keys, and how to make its sink from
// the settings every sink shares. contrib/nats's natssink.Option is one.
func ExampleWithKind() {
	tcpx := factory.Kind{
		Config: config.Extension{Type: "tcpx", Keys: []string{"address"},
			Check: func(c *config.Checker, m map[string]any) any { a, _ := c.String(m, "address", "host:port"); return a }},
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
	dir, _ := os.MkdirTemp("", "msgsink-example")
	defer os.RemoveAll(dir)
	path := filepath.Join(dir, "services.toml")
	os.WriteFile(path, []byte(`
[services.x]
type = "tcpx"
address = "127.0.0.1:9"
buffer_size = 16
`), 0o600)

	f, err := factory.FromFile(path, factory.WithKind(tcpx))
	if err != nil {
		fmt.Println(err)
		return
	}
	defer f.Close()
	s, _ := f.Sink("x") // never dials
	in := s.Info()
	fmt.Println(in.Kind, in.Endpoint, in.BufferSize, in.State)
	// Output: tcpx tcp://127.0.0.1:9 16 idle
}
