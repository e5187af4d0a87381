package lazy_test

import (
	"context"
	"fmt"
	"io"
	"net"
	"os"
	"path/filepath"
	"time"

	"github.com/msgsink/msgsink/lazy"
	"github.com/msgsink/msgsink/relay"
	"github.com/msgsink/msgsink/tlv"
	"github.com/msgsink/msgsink/transport"
)

func ExampleNew() {
	dir, _ := os.MkdirTemp("", "msgsink")
	defer os.RemoveAll(dir)
	path := filepath.Join(dir, "relay.sock")

	// A relay stand-in that reads everything.
	ln, _ := net.Listen("unix", path)
	defer ln.Close()
	received := make(chan int64)
	go func() {
		c, err := ln.Accept()
		if err != nil {
			return
		}
		n, _ := io.Copy(io.Discard, c)
		received <- n
	}()

	ep, err := transport.ParseEndpoint("unix://" + path)
	if err != nil {
		panic(err)
	}
	s, err := lazy.New(lazy.Config{Name: "market_data_relay", Kind: "relay", Endpoint: ep,
		Validator: tlv.Validator{Domain: tlv.DomainMarketData}})
	if err != nil {
		panic(err)
	}
	fmt.Println("before the first Send:", s.Info().State)

	b := tlv.NewBuilder(tlv.DomainMarketData, 1)
	for i := range 3 {
		b.AppendTrade(&tlv.Trade{Instrument: 42, Price: int64(100+i) * tlv.PriceScale, Volume: tlv.PriceScale})
		m, _ := b.Finish()
		if err := s.Send(m); err != nil { // the sink now owns m
			m.Release()
		}
	}
	if err := s.Flush(context.Background()); err != nil {
		panic(err)
	}
	info := s.Info()
	fmt.Println("after Flush:", info.State, "written", info.Written, "bytes", info.WrittenBytes)
	_ = s.Close()
	fmt.Println("relay read", <-received, "bytes; balanced:", s.Info().Balanced())
	// Output:
	// before the first Send: idle
	// after Flush: connected written 3 bytes 222
	// relay read 222 bytes; balanced: true
}

// An adapter's feed loop: one goroutine builds every message and sends it,
// so the sink is a SingleProducer. SendWait waits (asleep) while the ring is
// full instead of refusing; a loop that must never wait would call Send and
// drop the message on ErrBufferFull, which the sink counts.
func ExampleSink_SendWait() {
	dir, _ := os.MkdirTemp("", "msgsink")
	defer os.RemoveAll(dir)
	path := filepath.Join(dir, "relay.sock")
	ln, _ := net.Listen("unix", path)
	defer ln.Close()
	received := make(chan int64)
	go func() {
		c, err := ln.Accept()
		if err != nil {
			return
		}
		n, _ := io.Copy(io.Discard, c)
		received <- n
	}()

	ep, _ := transport.ParseEndpoint("unix://" + path)
	s, err := lazy.New(lazy.Config{Name: "md_feed", Endpoint: ep, BufferSize: 64, SingleProducer: true})
	if err != nil {
		panic(err)
	}
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	b := tlv.NewBuilder(tlv.DomainMarketData, 1)
	for i := range 1000 { // far more than the 64 slots of the ring
		b.AppendTrade(&tlv.Trade{Instrument: 42, Price: int64(100+i) * tlv.PriceScale, Volume: tlv.PriceScale})
		m, _ := b.Finish()
		if err := s.SendWait(ctx, m); err != nil { // ctx ended, or the sink closed
			m.Release()
			break
		}
	}
	_ = s.Close() // flushes
	info := s.Info()
	fmt.Println("written", info.Written, "refused", info.Refused.BufferFull, "relay read", <-received, "bytes")
	// Output:
	// written 1000 refused 0 relay read 74000 bytes
}

// Acked delivery to a relay: Flush returns once the relay has
// acknowledged every message, and the sink kept each one until then, to
// send it again on a new connection had the relay gone away.
func ExampleDelivery() {
	dir, _ := os.MkdirTemp("", "msgsink")
	defer os.RemoveAll(dir)
	ep := transport.Endpoint{Scheme: "unix", Addr: filepath.Join(dir, "execution.sock")}
	r, err := relay.Listen(relay.Config{Endpoint: ep, Domain: tlv.DomainExecution})
	if err != nil {
		panic(err)
	}
	served := make(chan error, 1)
	go func() { served <- r.Serve(context.Background()) }()
	defer func() { _ = r.Close(); <-served }()

	d, _ := lazy.ParseDelivery("acked") // services.toml: delivery = "acked"
	s, err := lazy.New(lazy.Config{Name: "execution_relay", Kind: "relay", Endpoint: ep, Delivery: d})
	if err != nil {
		panic(err)
	}
	b := tlv.NewBuilder(tlv.DomainExecution, 40)
	for i := range 3 {
		b.AppendOrderRequest(&tlv.OrderRequest{OrderID: uint64(i + 1), Instrument: 42, Price: tlv.PriceScale, Quantity: tlv.PriceScale})
		m, _ := b.Finish()
		if err := s.Send(m); err != nil {
			m.Release()
		}
	}
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	if err := s.Flush(ctx); err != nil {
		panic(err)
	}
	info := s.Info()
	fmt.Println(d, "acked", info.Acked, "unacked", info.Unacked, "balanced", info.Balanced())
	_ = s.Close()
	fmt.Println("the relay took", r.Stats().FramesIn, "from", r.Stats().AckedProducers, "acked producer")
	// Output:
	// acked acked 3 unacked 0 balanced true
	// the relay took 3 from 1 acked producer
}
