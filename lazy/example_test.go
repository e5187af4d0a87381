package lazy_test

import (
	"context"
	"fmt"
	"io"
	"net"
	"os"
	"path/filepath"

	"github.com/msgsink/msgsink/lazy"
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
