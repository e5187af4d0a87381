package source_test

import (
	"context"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"time"

	"github.com/msgsink/msgsink/lazy"
	"github.com/msgsink/msgsink/relay"
	"github.com/msgsink/msgsink/sink"
	"github.com/msgsink/msgsink/source"
	"github.com/msgsink/msgsink/tlv"
	"github.com/msgsink/msgsink/transport"
)

// exampleRelay starts a market-data relay in this process (in production,
// `msgsink relay`) and returns its endpoint and a function that stops it.
func exampleRelay() (transport.Endpoint, *relay.Relay, func()) {
	dir, _ := os.MkdirTemp("", "source-example")
	e := transport.Endpoint{Scheme: "unix", Addr: filepath.Join(dir, "md.sock")}
	r, err := relay.Listen(relay.Config{Endpoint: e, Domain: tlv.DomainMarketData})
	if err != nil {
		panic(err)
	}
	served := make(chan error, 1)
	go func() { served <- r.Serve(context.Background()) }()
	return e, r, func() {
		_ = r.Close()
		<-served
		_ = os.RemoveAll(dir)
	}
}

// sendTrades sends n trades to e through a lazy sink, as a producer does.
func sendTrades(e transport.Endpoint, n int) {
	s, err := lazy.New(lazy.Config{Name: "md", Kind: sink.KindRelay, Endpoint: e})
	if err != nil {
		panic(err)
	}
	defer s.Close()
	b := tlv.NewBuilder(tlv.DomainMarketData, 1)
	for i := range n {
		b.AppendTrade(&tlv.Trade{Instrument: 42, Price: int64(100+i) * tlv.PriceScale, Volume: tlv.PriceScale, ExchangeTS: 1})
		m, err := b.Finish()
		if err != nil {
			panic(err)
		}
		if err := s.Send(m); err != nil {
			m.Release()
		}
	}
	_ = s.Flush(context.Background())
}

// A consumer reads the relay its producers send to.
func ExampleNew() {
	e, _, stop := exampleRelay()
	defer stop()

	src, err := source.New(source.Config{Name: "md", Endpoint: e}) // never dials
	if err != nil {
		fmt.Println(err)
		return
	}
	defer src.Close()
	fmt.Println(src.Info().State)
	// Output:
	// idle
}

func ExampleSource_Next() {
	e, r, stop := exampleRelay()
	defer stop()
	src, _ := source.New(source.Config{Name: "md", Endpoint: e})
	defer src.Close()
	// Subscribe before the producer starts, so that the relay forwards its
	// first trade too; without Connect, the first Next subscribes.
	if err := src.Connect(context.Background()); err != nil {
		fmt.Println(err)
		return
	}
	for r.Stats().Consumers == 0 { // the relay reads the Subscribe frame
		time.Sleep(time.Millisecond)
	}
	go sendTrades(e, 3)

	for range 3 {
		f, err := src.Next() // a view into src's buffer, valid until the next Next
		if err != nil {
			fmt.Println(err)
			return
		}
		it := f.Records()
		it.Next()
		trade, _ := tlv.AsTrade(it.Value())
		fmt.Printf("seq %d: instrument %d at %d\n", f.Header().Sequence(), trade.Instrument(), trade.Price()/tlv.PriceScale)
	}
	// Output:
	// seq 1: instrument 42 at 100
	// seq 2: instrument 42 at 101
	// seq 3: instrument 42 at 102
}

// Close, from any goroutine, ends a Next that waits for frames.
func ExampleSource_Close() {
	e, r, stop := exampleRelay()
	defer stop()
	src, _ := source.New(source.Config{Name: "md", Endpoint: e})
	ended := make(chan error)
	go func() {
		_, err := src.Next() // no producer: waits
		ended <- err
	}()
	for r.Stats().Consumers == 0 {
		time.Sleep(time.Millisecond)
	}
	_ = src.Close()
	err := <-ended
	fmt.Println(errors.Is(err, sink.ErrClosed))
	_, err = src.Next() // at once, from now on
	fmt.Println(err)
	// Output:
	// true
	// source "md": next: sink: closed
}

// Info counts what Next returned, and what it never saw.
func ExampleSource_Info() {
	e, r, stop := exampleRelay()
	defer stop()
	src, _ := source.New(source.Config{Name: "md", Endpoint: e})
	defer src.Close()
	_ = src.Connect(context.Background())
	for r.Stats().Consumers == 0 {
		time.Sleep(time.Millisecond)
	}
	go sendTrades(e, 5)
	for range 5 {
		if _, err := src.Next(); err != nil {
			fmt.Println(err)
			return
		}
	}
	i := src.Info()
	fmt.Println(i.State, i.Frames, "frames,", i.Gaps, "gaps,", i.PerSource[1].Frames, "from producer 1")
	// Output:
	// connected 5 frames, 0 gaps, 5 from producer 1
}

// A consumer that batches its own output flushes it when Next has returned
// everything read so far: what follows has not arrived yet.
func ExampleSource_Buffered() {
	e, r, stop := exampleRelay()
	defer stop()
	src, _ := source.New(source.Config{Name: "md", Endpoint: e})
	defer src.Close()
	_ = src.Connect(context.Background()) // subscribe now, before the first Next
	for r.Stats().Consumers == 0 {
		time.Sleep(time.Millisecond)
	}
	sendTrades(e, 4) // flushed: on the consumer's socket by the time Next reads
	for r.Stats().Pending != 0 || r.Stats().FramesOut < 4 {
		time.Sleep(time.Millisecond)
	}
	var out []uint64
	flushes := 0
	for len(out) < 4 {
		f, err := src.Next()
		if err != nil {
			fmt.Println(err)
			return
		}
		out = append(out, f.Header().Sequence())
		if src.Buffered() == 0 {
			flushes++ // e.g. bufio.Writer.Flush
		}
	}
	fmt.Println(out, flushes > 0)
	// Output:
	// [1 2 3 4] true
}
