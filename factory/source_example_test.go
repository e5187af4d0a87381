package factory_test

import (
	"context"
	"fmt"
	"os"
	"path/filepath"
	"time"

	"github.com/msgsink/msgsink/factory"
	"github.com/msgsink/msgsink/relay"
	"github.com/msgsink/msgsink/tlv"
	"github.com/msgsink/msgsink/transport"
)

// A consumer service reads a relay by the name its producers send to.
func ExampleFactory_Source() {
	dir, _ := os.MkdirTemp("", "msgsink-example")
	defer os.RemoveAll(dir)
	sock := filepath.Join(dir, "md.sock")

	// The relay, embedded here; in production, `msgsink relay`.
	r, err := relay.Listen(relay.Config{Endpoint: transport.Endpoint{Scheme: "unix", Addr: sock}, Domain: tlv.DomainMarketData})
	if err != nil {
		fmt.Println(err)
		return
	}
	go func() { _ = r.Serve(context.Background()) }()
	defer r.Close()

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
	defer f.Close() // closes the Source too

	src, _ := f.Source("market_data_relay") // no connection yet
	frames := make(chan uint64)
	go func() { // the one goroutine that reads src
		for {
			fr, err := src.Next() // the first Next connects and subscribes
			if err != nil {
				close(frames) // f.Close ended it
				return
			}
			frames <- fr.Header().Sequence()
		}
	}()
	for r.Stats().Consumers == 0 { // wait for the subscription, or the trade goes nowhere
		time.Sleep(time.Millisecond)
	}

	md, _ := f.Sink("market_data_relay")
	b := tlv.NewBuilder(tlv.DomainMarketData, 1)
	b.AppendTrade(&tlv.Trade{Instrument: 42, Price: 65_123 * tlv.PriceScale, Volume: tlv.PriceScale})
	m, _ := b.Finish()
	if err := md.Send(m); err != nil {
		m.Release()
	}
	fmt.Println("received sequence", <-frames)
	fmt.Println(src.Info().Frames, "frame,", src.Info().Gaps, "gaps")
	// Output:
	// received sequence 1
	// 1 frame, 0 gaps
}
