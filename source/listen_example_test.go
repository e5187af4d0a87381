package source_test

import (
	"errors"
	"fmt"
	"net"
	"os"
	"path/filepath"

	"github.com/msgsink/msgsink/lazy"
	"github.com/msgsink/msgsink/sink"
	"github.com/msgsink/msgsink/source"
	"github.com/msgsink/msgsink/tlv"
	"github.com/msgsink/msgsink/transport"
)

// A service receives from a direct sink: it listens where the sink's
// endpoint points and reads frames with Next.
func ExampleListen() {
	dir, _ := os.MkdirTemp("", "msgsink")
	defer os.RemoveAll(dir)
	ep, err := transport.ParseEndpoint("unix://" + filepath.Join(dir, "strategy.sock"))
	if err != nil {
		panic(err)
	}
	l, err := source.Listen(source.ListenConfig{Name: "strategy", Endpoint: ep,
		Validator: tlv.Validator{Domain: tlv.DomainMarketData}})
	if err != nil {
		panic(err)
	}
	defer l.Close()

	// The producer side: a lazy direct sink, dialing on its first Send.
	s, err := lazy.New(lazy.Config{Name: "strategy", Kind: sink.KindDirect, Endpoint: ep})
	if err != nil {
		panic(err)
	}
	defer s.Close()
	b := tlv.NewBuilder(tlv.DomainMarketData, 1)
	for i := range 3 {
		b.AppendTrade(&tlv.Trade{Instrument: 42, Price: int64(100+i) * tlv.PriceScale, Volume: tlv.PriceScale})
		m, _ := b.Finish()
		if err := s.Send(m); err != nil {
			m.Release()
		}
	}

	for range 3 {
		f, err := l.Next() // a view, valid until the next call
		if err != nil {
			panic(err)
		}
		it := f.Records()
		for it.Next() {
			if t, err := tlv.AsTrade(it.Value()); err == nil {
				fmt.Println("source", f.Header().Source(), "seq", f.Header().Sequence(), "price", t.Price()/tlv.PriceScale)
			}
		}
	}
	fmt.Println("frames:", l.Info().Frames)
	// Output:
	// source 1 seq 1 price 100
	// source 1 seq 2 price 101
	// source 1 seq 3 price 102
	// frames: 3
}

// A dashboard takes frames from WebSocket sinks: each binary message is one
// frame.
func ExampleListen_webSocket() {
	// Port 0: the system picks one, which Endpoint reports.
	ep := transport.Endpoint{Scheme: "ws", Addr: "127.0.0.1:0", Path: "/feed"}
	l, err := source.Listen(source.ListenConfig{Name: "dashboard", Endpoint: ep})
	if err != nil {
		panic(err)
	}
	defer l.Close()

	// The sink dials the port the system chose.
	sinkEP, _ := transport.ParseEndpoint(l.Endpoint())
	s, _ := lazy.New(lazy.Config{Name: "dashboard", Kind: sink.KindDirect, Endpoint: sinkEP})
	defer s.Close()
	b := tlv.NewBuilder(tlv.DomainSystem, 61)
	b.AppendHeartbeat(&tlv.Heartbeat{TS: 1, UptimeNS: 2})
	m, _ := b.Finish()
	if err := s.Send(m); err != nil {
		m.Release()
	}

	f, err := l.Next()
	if err != nil {
		panic(err)
	}
	fmt.Println(f.Header().Domain(), "frame from source", f.Header().Source(), "of", len(f), "bytes")
	// Output:
	// system frame from source 61 of 50 bytes
}

// Close ends a Next that waits, from another goroutine; the error matches
// sink.ErrClosed.
func ExampleListener_Close() {
	ep := transport.Endpoint{Scheme: "tcp", Addr: "127.0.0.1:0"}
	l, err := source.Listen(source.ListenConfig{Endpoint: ep})
	if err != nil {
		panic(err)
	}
	done := make(chan error)
	go func() {
		_, err := l.Next() // no producer: waits
		done <- err
	}()
	_ = l.Close()
	err = <-done
	fmt.Println(errors.Is(err, sink.ErrClosed))
	_, err = l.Next()
	fmt.Println(errors.Is(err, sink.ErrClosed))
	// Output:
	// true
	// true
}

// Info counts what Next returned, per producer: a resent frame is dropped
// as a duplicate, a skipped sequence counted as a gap.
func ExampleListener_Info() {
	l, err := source.Listen(source.ListenConfig{Endpoint: transport.Endpoint{Scheme: "tcp", Addr: "127.0.0.1:0"}})
	if err != nil {
		panic(err)
	}
	defer l.Close()

	// A producer that resends sequence 2 and skips 3.
	c, err := net.Dial("tcp", l.Addr().String())
	if err != nil {
		panic(err)
	}
	defer c.Close()
	b := tlv.NewBuilder(tlv.DomainMarketData, 7)
	for _, seq := range []uint64{1, 2, 2, 4} {
		b.SetSequence(seq)
		b.AppendTrade(&tlv.Trade{Instrument: 42, Price: tlv.PriceScale, Volume: tlv.PriceScale})
		m, _ := b.Finish()
		_, _ = c.Write(m.Bytes())
		m.Release()
	}

	for range 3 {
		f, err := l.Next()
		if err != nil {
			panic(err)
		}
		fmt.Println("seq", f.Header().Sequence())
	}
	i := l.Info()
	fmt.Printf("frames %d, duplicates %d, gaps %d; producer 7: %+v\n", i.Frames, i.Duplicates, i.Gaps, i.PerSource[7])
	// Output:
	// seq 1
	// seq 2
	// seq 4
	// frames 3, duplicates 1, gaps 1; producer 7: {Frames:3 Gaps:1 Duplicates:1 Restarts:0}
}
