package sink_test

import (
	"context"
	"fmt"
	"io"
	"net"
	"os"
	"path/filepath"

	"github.com/msgsink/msgsink/lazy"
	"github.com/msgsink/msgsink/sink"
	"github.com/msgsink/msgsink/tlv"
	"github.com/msgsink/msgsink/transport"
)

// exampleRelay is a relay stand-in on a Unix socket that reads everything. Its
// sink is returned too; stop closes the sink, then reports the bytes read.
func exampleRelay(dir, name string) (s *lazy.Sink, stop func() int64) {
	path := filepath.Join(dir, name+".sock")
	ln, err := net.Listen("unix", path)
	if err != nil {
		panic(err)
	}
	received := make(chan int64, 1)
	go func() {
		c, err := ln.Accept()
		if err != nil {
			received <- 0
			return
		}
		n, _ := io.Copy(io.Discard, c)
		received <- n
	}()
	ep, err := transport.ParseEndpoint("unix://" + path)
	if err != nil {
		panic(err)
	}
	s, err = lazy.New(lazy.Config{Name: name, Kind: "relay", Endpoint: ep})
	if err != nil {
		panic(err)
	}
	return s, func() int64 {
		_ = s.Close()
		if s.Info().ConnectAttempts == 0 {
			_ = ln.Close() // never dialed: stop waiting for it
			return <-received
		}
		// Closing the listener first could discard the accepted connection
		// before the reader took it.
		n := <-received
		_ = ln.Close()
		return n
	}
}

// sendTrades sends n trades through s, releasing any it refuses.
func sendTrades(s sink.Sink, n int) {
	b := tlv.NewBuilder(tlv.DomainMarketData, 1)
	for i := range n {
		b.AppendTrade(&tlv.Trade{Instrument: 42, Price: int64(100+i) * tlv.PriceScale, Volume: tlv.PriceScale})
		m, err := b.Finish()
		if err != nil {
			panic(err)
		}
		if err := s.Send(m); err != nil { // only on error is m still ours
			m.Release()
		}
	}
}

func ExampleNewFanout() {
	dir, _ := os.MkdirTemp("", "msgsink")
	defer os.RemoveAll(dir)
	a, stopA := exampleRelay(dir, "archive")
	b, stopB := exampleRelay(dir, "strategy")

	f, err := sink.NewFanout("market_data", a, b)
	if err != nil {
		panic(err)
	}
	sendTrades(f, 3)
	if err := f.Flush(context.Background()); err != nil {
		panic(err)
	}
	_ = f.Close() // the targets stay open: they are not the fanout's
	for _, st := range f.TargetStats() {
		fmt.Println(st.Name, "accepted", st.Accepted, "refused", st.Refused)
	}
	fmt.Println("archive read", stopA(), "bytes; strategy read", stopB(), "bytes")
	// Output:
	// archive accepted 3 refused 0
	// strategy accepted 3 refused 0
	// archive read 222 bytes; strategy read 222 bytes
}

func ExampleNewRoundRobin() {
	dir, _ := os.MkdirTemp("", "msgsink")
	defer os.RemoveAll(dir)
	a, stopA := exampleRelay(dir, "worker1")
	b, stopB := exampleRelay(dir, "worker2")

	r, err := sink.NewRoundRobin("work", a, b)
	if err != nil {
		panic(err)
	}
	sendTrades(r, 4)
	if err := r.Flush(context.Background()); err != nil {
		panic(err)
	}
	info := r.Info()
	fmt.Println(info.Kind, "enqueued", info.Enqueued, "targets", info.Metadata["targets"])
	fmt.Println("worker1 read", stopA(), "bytes; worker2 read", stopB(), "bytes")
	// Output:
	// round_robin enqueued 4 targets worker1,worker2
	// worker1 read 148 bytes; worker2 read 148 bytes
}

func ExampleNewFailover() {
	dir, _ := os.MkdirTemp("", "msgsink")
	defer os.RemoveAll(dir)
	primary, stopPrimary := exampleRelay(dir, "primary")
	backup, stopBackup := exampleRelay(dir, "backup")

	f, err := sink.NewFailover("execution", primary, backup)
	if err != nil {
		panic(err)
	}
	sendTrades(f, 3)
	if err := f.Flush(context.Background()); err != nil {
		panic(err)
	}
	info := f.Info()
	fmt.Println("active", info.Metadata["active"], "switches", f.Switches())
	fmt.Println("primary read", stopPrimary(), "bytes; backup read", stopBackup(), "bytes")
	// Output:
	// active primary switches 0
	// primary read 222 bytes; backup read 0 bytes
}
