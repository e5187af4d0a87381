package factory_test

import (
	"context"
	"errors"
	"fmt"
	"io"
	"net"
	"os"
	"path/filepath"
	"syscall"

	"github.com/msgsink/msgsink/config"
	"github.com/msgsink/msgsink/factory"
	"github.com/msgsink/msgsink/sink"
	"github.com/msgsink/msgsink/tlv"
	"github.com/msgsink/msgsink/transport"
)

// A service sends by name; services.toml says where the name leads.
func ExampleFromFile() {
	dir, _ := os.MkdirTemp("", "msgsink-example")
	defer os.RemoveAll(dir)
	sock := filepath.Join(dir, "md.sock")

	// A stand-in for the relay: count the bytes it receives.
	ln, _ := net.Listen("unix", sock)
	got := make(chan int64)
	go func() {
		c, err := ln.Accept()
		if err != nil {
			fmt.Println("accept:", err)
			got <- 0
			return
		}
		n, _ := io.Copy(io.Discard, c)
		got <- n
	}()

	path := filepath.Join(dir, "services.toml")
	_ = os.WriteFile(path, []byte(`
[services.market_data_relay]
type = "relay"
endpoint = "unix://`+sock+`"
domain = "market_data"
`), 0o600)

	f, err := factory.FromFile(path)
	if err != nil {
		fmt.Println(err)
		return
	}
	md, _ := f.Sink("market_data_relay") // no connection yet

	b := tlv.NewBuilder(tlv.DomainMarketData, 1)
	b.AppendTrade(&tlv.Trade{Instrument: 42, Price: 65_123 * tlv.PriceScale, Volume: tlv.PriceScale / 4})
	m, _ := b.Finish()
	if err := md.Send(m); err != nil { // wakes the connection
		m.Release() // a refused message stays ours
	}
	_ = md.Flush(context.Background())
	fmt.Println(md.Info().State, md.Info().Written, "written")

	_ = f.Close() // closes every sink the factory made
	fmt.Println(<-got, "bytes received")
	ln.Close()
	// Output:
	// connected 1 written
	// 74 bytes received
}

// registry stands in for a service-discovery runtime: anything with a
// Resolve method can replace the file, and the code that calls Sink does not
// change.
type registry map[string]string

func (r registry) Resolve(name string) (config.Service, error) {
	addr, ok := r[name]
	if !ok {
		return config.Service{}, fmt.Errorf("%w %q", config.ErrUnknownService, name)
	}
	e, err := transport.ParseEndpoint(addr)
	if err != nil {
		return config.Service{}, err
	}
	return config.Service{Name: name, Type: sink.KindRelay, Endpoint: e}, nil
}

func ExampleNew() {
	f := factory.New(registry{"market_data_relay": "tcp://127.0.0.1:9000"})
	defer f.Close()

	s, err := f.Sink("market_data_relay")
	fmt.Println(s.Info().Name, s.Info().Endpoint, s.Info().State, err)

	_, err = f.Sink("signals")
	fmt.Println(err)
	// Output:
	// market_data_relay tcp://127.0.0.1:9000 idle <nil>
	// sink "signals": resolve: config: unknown service "signals"
}

// An operator watches every sink's connection life through one observer,
// called off the sinks' writer goroutines.
func ExampleWithStateChange() {
	dir, _ := os.MkdirTemp("", "msgsink-example")
	defer os.RemoveAll(dir)
	path := filepath.Join(dir, "services.toml")
	_ = os.WriteFile(path, []byte(`
[services.market_data_relay]
type = "relay"
endpoint = "unix://`+filepath.Join(dir, "nobody-listens.sock")+`"
retry = { max_attempts = 1 }
`), 0o600)

	resting := make(chan struct{}, 1)
	f, err := factory.FromFile(path, factory.WithStateChange(func(c sink.StateChange) {
		fmt.Println(c.Sink+":", c.From, "->", c.To, errors.Is(c.Err, syscall.ENOENT))
		if c.To == sink.StateIdle {
			select {
			case resting <- struct{}{}:
			default:
			}
		}
	}))
	if err != nil {
		fmt.Println(err)
		return
	}
	md, _ := f.Sink("market_data_relay")
	b := tlv.NewBuilder(tlv.DomainMarketData, 1)
	b.AppendTrade(&tlv.Trade{Instrument: 42, Price: 65_123 * tlv.PriceScale, Volume: tlv.PriceScale})
	m, _ := b.Finish()
	if err := md.Send(m); err != nil {
		m.Release()
	}
	err = md.Flush(context.Background()) // the one dial fails: the message is dropped, counted
	<-resting                            // the writer gives up and the sink rests until the next Send
	_ = f.Close()                        // returns once the observer has seen every change
	fmt.Println(errors.Is(err, syscall.ENOENT), md.Info().Dropped.ConnectFailed)
	// Output:
	// market_data_relay: idle -> connecting false
	// market_data_relay: connecting -> idle true
	// market_data_relay: idle -> closed false
	// true 1
}
