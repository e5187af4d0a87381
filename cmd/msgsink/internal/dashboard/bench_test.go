package dashboard

import (
	"bufio"
	"context"
	"io"
	"net"
	"net/http/httptest"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/gobwas/ws"
	"github.com/gobwas/ws/wsutil"

	"github.com/msgsink/msgsink/source"
	"github.com/msgsink/msgsink/tlv"
	"github.com/msgsink/msgsink/transport"
)

// benchFrames are 4096 market-data frames over 10,000 instruments, half
// trades and half quotes, as one stream of masked WebSocket frames (what a
// direct WebSocket sink writes) and as the plain frames.
func benchFrames(b testing.TB) (stream []byte, frames []tlv.Frame) {
	bl := tlv.NewBuilder(tlv.DomainMarketData, 1)
	mask := [4]byte{1, 2, 3, 4}
	for i := range 4096 {
		id := uint64(i*7919) % 10_000
		if i%2 == 0 {
			bl.AppendTrade(&tlv.Trade{Instrument: id, Price: 6_500_000_000_000, Volume: 25_000_000, ExchangeTS: 1, Venue: 1})
		} else {
			bl.AppendQuote(&tlv.Quote{Instrument: id, BidPrice: 1, BidSize: 1, AskPrice: 2, AskSize: 1, QuoteTS: 1, Venue: 1})
		}
		m, err := bl.Finish()
		if err != nil {
			b.Fatal(err)
		}
		p := m.Bytes()
		frames = append(frames, tlv.Frame(slices.Clone(p)))
		stream = append(stream, 0x82, 0x80|byte(len(p))) // every frame here is under 126 bytes
		stream = append(stream, mask[:]...)
		start := len(stream)
		stream = append(stream, p...)
		ws.Cipher(stream[start:], mask, 0)
		m.Release()
	}
	return stream, frames
}

// BenchmarkIntake is the dashboard's intake: frames arriving and aggregated
// (rates, gaps, latency, the board of busiest instruments). path=memory
// aggregates frames already in memory; the transport=ws cases read real
// loopback connections carrying WebSocket frames: reader=listener is
// source.Listener's Next and the aggregation in one loop, reader=dashboard
// the whole intake (/ws handed to the Listener, the intake goroutine; one
// op is 4096 frames, timed until all are counted), beside what
// one would write with gobwas's helpers and a map over a bufio.Reader (a
// message allocated per frame, a map that grows with every instrument).
func BenchmarkIntake(b *testing.B) {
	stream, frames := benchFrames(b)
	b.Run("path=memory", func(b *testing.B) {
		ta := newTally(DefaultBoardSize)
		b.ReportAllocs()
		b.SetBytes(int64(len(frames[0])))
		i := 0
		start := time.Now()
		for b.Loop() {
			ta.observe(frames[i%len(frames)], 1)
			i++
		}
		b.ReportMetric(float64(i)/time.Since(start).Seconds(), "frames/s")
	})
	b.Run("transport=ws/reader=listener", func(b *testing.B) {
		l, err := source.Listen(source.ListenConfig{Endpoint: transport.Endpoint{Scheme: "ws", Addr: "127.0.0.1:0", Path: "/ws"}})
		if err != nil {
			b.Fatal(err)
		}
		defer l.Close()
		wsProducer(b, l.Addr().String(), stream)
		ta := newTally(DefaultBoardSize)
		b.ReportAllocs()
		b.SetBytes(int64(len(frames[0])))
		n := 0
		start := time.Now()
		for b.Loop() {
			fr, err := l.Next()
			if err != nil {
				b.Fatal(err)
			}
			ta.observe(fr, time.Now().UnixNano())
			n++
		}
		b.ReportMetric(float64(n)/time.Since(start).Seconds(), "frames/s")
	})
	b.Run("transport=ws/reader=dashboard", func(b *testing.B) {
		// The whole intake: /ws handed to the Listener, the intake's
		// goroutine; b.N rounds of the frames sent, timed until counted.
		d, err := New(Config{})
		if err != nil {
			b.Fatal(err)
		}
		srv := httptest.NewServer(d)
		defer func() { _ = d.Close(); srv.Close() }()
		b.ReportAllocs()
		b.SetBytes(int64(len(stream)))
		b.ResetTimer()
		start := time.Now()
		wsProducerN(b, strings.TrimPrefix(srv.URL, "http://"), stream, b.N)
		want := uint64(b.N * len(frames))
		for d.Frames() < want {
			time.Sleep(100 * time.Microsecond)
		}
		elapsed := time.Since(start)
		b.StopTimer()
		b.ReportMetric(float64(want)/elapsed.Seconds(), "frames/s")
	})
	b.Run("transport=ws/reader=wsutil+map", func(b *testing.B) {
		// Buffered as the Listener's own reads are (and as
		// source.BenchmarkListen's impl=conn): unbuffered, ReadClientBinary
		// costs a read syscall per header part and payload.
		nc := streamConn(b, stream)
		conn := struct {
			io.Reader
			io.Writer
		}{bufio.NewReaderSize(nc, 64<<10), nc}
		type last struct {
			count      uint64
			price, bid int64
		}
		seen := map[uint64]*last{}
		b.ReportAllocs()
		b.SetBytes(int64(len(frames[0])))
		n := 0
		start := time.Now()
		for b.Loop() {
			p, err := wsutil.ReadClientBinary(conn)
			if err != nil {
				b.Fatal(err)
			}
			fr, err := tlv.Parse(p)
			if err != nil {
				b.Fatal(err)
			}
			for it := fr.Records(); it.Next(); {
				switch it.Type() {
				case tlv.TypeTrade:
					tr, _ := tlv.AsTrade(it.Value())
					e := seen[tr.Instrument()]
					if e == nil {
						e = &last{}
						seen[tr.Instrument()] = e
					}
					e.count++
					e.price = tr.Price()
				case tlv.TypeQuote:
					q, _ := tlv.AsQuote(it.Value())
					e := seen[q.Instrument()]
					if e == nil {
						e = &last{}
						seen[q.Instrument()] = e
					}
					e.count++
					e.bid = q.BidPrice()
				}
			}
			n++
		}
		b.ReportMetric(float64(n)/time.Since(start).Seconds(), "frames/s")
	})
}

// wsProducer connects to a WebSocket endpoint at addr (path /ws) and
// writes stream over and over until the benchmark ends.
func wsProducer(b testing.TB, addr string, stream []byte) {
	wsProducerN(b, addr, stream, -1)
}

// wsProducerN writes stream rounds times (forever if negative) in the
// background, from a WebSocket client connection to ws://addr/ws.
func wsProducerN(b testing.TB, addr string, stream []byte, rounds int) {
	conn, _, _, err := ws.Dial(context.Background(), "ws://"+addr+"/ws")
	if err != nil {
		b.Fatal(err)
	}
	done := make(chan struct{})
	go func() {
		defer close(done)
		for i := 0; rounds < 0 || i < rounds; i++ {
			if _, err := conn.Write(stream); err != nil {
				return // closed, by the cleanup below
			}
		}
	}()
	b.Cleanup(func() {
		_ = conn.Close()
		<-done
	})
}

// streamConn returns the reading end of a loopback TCP connection whose
// other end writes stream over and over until the benchmark ends.
func streamConn(b *testing.B, stream []byte) net.Conn {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		b.Fatal(err)
	}
	defer ln.Close()
	w, err := net.Dial("tcp", ln.Addr().String())
	if err != nil {
		b.Fatal(err)
	}
	r, err := ln.Accept()
	if err != nil {
		b.Fatal(err)
	}
	done := make(chan struct{})
	go func() {
		defer close(done)
		for {
			if _, err := w.Write(stream); err != nil {
				return // closed, by the cleanup below
			}
		}
	}()
	b.Cleanup(func() {
		_ = r.Close()
		_ = w.Close()
		<-done
	})
	return r
}
