package relay_test

import (
	"context"
	"errors"
	"fmt"
	"net"
	"os"
	"path/filepath"
	"strings"
	"time"

	"github.com/msgsink/msgsink/relay"
	"github.com/msgsink/msgsink/source"
	"github.com/msgsink/msgsink/tlv"
	"github.com/msgsink/msgsink/transport"
)

// A relay, a consumer and a producer in one process.
func Example() {
	dir, _ := os.MkdirTemp("", "relay-example")
	defer os.RemoveAll(dir)
	e := transport.Endpoint{Scheme: "unix", Addr: filepath.Join(dir, "md.sock")} // or relay.DefaultEndpoint
	r, err := relay.Listen(relay.Config{Endpoint: e, Domain: tlv.DomainMarketData})
	if err != nil {
		panic(err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	served := make(chan error, 1)
	go func() { served <- r.Serve(ctx) }()

	// The consumer: a source.Source, which reconnects and subscribes again
	// whenever the relay goes away. Connect subscribes before the first Next.
	sub, err := source.New(source.Config{Name: "md", Endpoint: e})
	if err != nil {
		panic(err)
	}
	defer sub.Close()
	if err := sub.Connect(ctx); err != nil {
		panic(err)
	}
	// The relay forwards what arrives once it has read the Subscribe frame.
	for r.Stats().Consumers == 0 {
		time.Sleep(time.Millisecond)
	}

	// A producer; in a service, the relay sink that the factory returns.
	conn, err := net.Dial("unix", e.Addr)
	if err != nil {
		panic(err)
	}
	b := tlv.NewBuilder(tlv.DomainMarketData, 1)
	for i := range 3 {
		b.AppendTrade(&tlv.Trade{Instrument: 42, Price: (100 + int64(i)) * tlv.PriceScale, Volume: tlv.PriceScale})
		m, err := b.Finish()
		if err != nil {
			panic(err)
		}
		_, _ = conn.Write(m.Bytes())
		m.Release()
	}
	_ = conn.Close()

	for range 3 {
		f, err := sub.Next() // a view into sub's buffer, valid until the next call
		if err != nil {
			panic(err)
		}
		it := f.Records()
		it.Next()
		trade, _ := tlv.AsTrade(it.Value())
		fmt.Printf("seq %d: instrument %d at %d\n", f.Header().Sequence(), trade.Instrument(), trade.Price()/tlv.PriceScale)
	}
	cancel() // Serve closes the relay and returns
	if err := <-served; err != nil {
		panic(err)
	}
	s := r.Stats()
	fmt.Printf("in %d, out %d, balanced %v\n", s.FramesIn, s.FramesOut, s.Balanced())
	// Output:
	// seq 1: instrument 42 at 100
	// seq 2: instrument 42 at 101
	// seq 3: instrument 42 at 102
	// in 3, out 3, balanced true
}

// A second relay on a socket that a live one answers on is refused.
func ExampleListen_inUse() {
	dir, _ := os.MkdirTemp("", "relay-example")
	defer os.RemoveAll(dir)
	cfg := relay.Config{
		Endpoint: transport.Endpoint{Scheme: "unix", Addr: filepath.Join(dir, "md.sock")},
		Domain:   tlv.DomainMarketData,
	}
	first, err := relay.Listen(cfg)
	if err != nil {
		panic(err)
	}
	defer first.Close()
	_, err = relay.Listen(cfg)
	var le *relay.ListenError
	fmt.Println(errors.Is(err, relay.ErrInUse), errors.As(err, &le))
	// Output:
	// true true
}

// A socket directory that others may write into is refused, with what to
// change: whoever can write it could replace the socket with their own.
func ExampleDirError() {
	dir, _ := os.MkdirTemp("", "relay-example")
	defer os.RemoveAll(dir)
	_ = os.Chmod(dir, 0o777)
	_, err := relay.Listen(relay.Config{
		Endpoint: transport.Endpoint{Scheme: "unix", Addr: filepath.Join(dir, "md.sock")},
		Domain:   tlv.DomainMarketData,
	})
	var de *relay.DirError
	fmt.Println(errors.Is(err, relay.ErrUnsafeDir), errors.As(err, &de) && de.Dir == dir)
	fmt.Println(strings.ReplaceAll(de.Reason, dir, "DIR"))
	// Output:
	// true true
	// is writable by group or others (mode 0777), who could replace the socket: run chmod go-w DIR, or choose a directory only this user can write
}

func ExampleDefaultEndpoint() {
	for _, d := range []tlv.Domain{tlv.DomainMarketData, tlv.DomainSignal, tlv.DomainExecution, tlv.DomainSystem} {
		fmt.Printf("%s: %s\n", d, relay.DefaultEndpoint(d))
	}
	// Output:
	// market_data: unix:///tmp/torq/market_data.sock
	// signal: unix:///tmp/torq/signals.sock
	// execution: unix:///tmp/torq/execution.sock
	// system: unix:///tmp/torq/system.sock
}

// Stats print as key=value pairs, for logs and scripts.
func ExampleStats_String() {
	s := relay.Stats{FramesIn: 10, BytesIn: 740, Forwarded: 8, Unsubscribed: 2, Offered: 16, FramesOut: 14, BytesOut: 1036,
		ConsumerDrops: 2, Producers: 1, ProducersTotal: 1, Consumers: 2, ConsumersTotal: 2,
		Rejected: relay.Rejected{Domain: 1}}
	fmt.Println(s.Balanced())
	fmt.Println(s)
	// Output:
	// true
	// frames_in=10 bytes_in=740 forwarded=8 unsubscribed=2 offered=16 frames_out=14 bytes_out=1036 pending=0 consumer_drops=2 consumer_discards=0 producers=1 producers_total=1 consumers=2 consumers_total=2 consumers_lagged=0 rejected=1 rejected_malformed=0 rejected_checksum=0 rejected_domain=1 rejected_precision=0 rejected_oversize=0 rejected_protocol=0 truncated=0 partial_timeouts=0 partial_bytes=0 conns_refused=0 accept_errors=0 queue_bytes=0 budget_drops=0 acked_producers=0 acks=0 duplicates=0
}

// A config mistake names the field and what to write instead.
func ExampleConfigError() {
	_, err := relay.Listen(relay.Config{Endpoint: relay.DefaultEndpoint(tlv.DomainSignal), Domain: tlv.DomainSignal, MaxFrame: 16})
	fmt.Println(errors.Is(err, relay.ErrInvalidConfig))
	fmt.Println(err)
	// Output:
	// true
	// relay: invalid configuration: MaxFrame = 16: use 0 for the protocol's limit, or a size from 42 to 1048576 bytes
}
