package config_test

import (
	"errors"
	"fmt"
	"path/filepath"

	"github.com/msgsink/msgsink/config"
	"github.com/msgsink/msgsink/sink"
)

func ExampleLoad() {
	f, err := config.Load(filepath.Join("testdata", "seed.toml"))
	if err != nil {
		fmt.Println(err)
		return
	}
	for _, name := range f.Names() {
		s := f.Services[name]
		switch s.Type {
		case sink.KindComposite:
			fmt.Println(name, s.Type, s.Pattern, s.Targets)
		default:
			fmt.Println(name, s.Type, s.Endpoint.Scheme, s.Endpoint.Addr, "buffer_size", s.Sink.BufferSize)
		}
	}
	// Output:
	// broadcast_all composite fanout [market_data_relay dashboard]
	// dashboard direct ws 127.0.0.1:8080 buffer_size 8192
	// market_data_relay relay unix /tmp/market_data_relay.sock buffer_size 10000
}

func ExampleParse() {
	_, err := config.Parse("services.toml", []byte(`
[services.feed]
type = "relay"
endpoint = "ws://127.0.0.1:8080/feed"
BUFFER_SIZE = 4096
`))
	fmt.Println(errors.Is(err, config.ErrInvalidConfig))
	fmt.Println(err)
	// Output:
	// true
	// services.toml:4: [services.feed] a relay endpoint must be unix:// or tcp://, not ws://; use a unix:// or tcp:// endpoint, or set type = "direct" for a ws peer
	// services.toml:5: [services.feed] unknown key "BUFFER_SIZE"; did you mean "buffer_size"?
}
