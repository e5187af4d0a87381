package dashboard

import (
	"context"
	"encoding/json"
	"errors"
	"io"
	"net/http/httptest"
	"strings"
	"testing"
	"time"

	"github.com/gobwas/ws"
	"github.com/gobwas/ws/wsutil"

	"github.com/msgsink/msgsink/cmd/msgsink/internal/decimal"
	"github.com/msgsink/msgsink/internal/testnet"
	"github.com/msgsink/msgsink/lazy"
	"github.com/msgsink/msgsink/sink"
	"github.com/msgsink/msgsink/source"
	"github.com/msgsink/msgsink/tlv"
	"github.com/msgsink/msgsink/transport"
)

// serve runs a dashboard behind a real HTTP server on loopback; both stop
// with the test.
func serve(t *testing.T, cfg Config) (*Dashboard, string) {
	t.Helper()
	d, err := New(cfg)
	if err != nil {
		t.Fatal(err)
	}
	srv := httptest.NewServer(d)
	t.Cleanup(func() {
		if err := d.Close(); err != nil {
			t.Error(err)
		}
		srv.Close()
	})
	return d, strings.TrimPrefix(srv.URL, "http://")
}

// wsSink is a direct WebSocket sink to the dashboard's /ws, as
// [services.dashboard] makes one.
func wsSink(t *testing.T, addr string) *lazy.Sink {
	t.Helper()
	e, err := transport.ParseEndpoint("ws://" + addr + "/ws")
	if err != nil {
		t.Fatal(err)
	}
	s, err := lazy.New(lazy.Config{Name: "dashboard", Kind: sink.KindDirect, Endpoint: e})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = s.Close() })
	return s
}

// feeder builds the test's market data: trades and quotes of instruments
// 101 to 105, each with its own exact price.
type feeder struct {
	b *tlv.Builder
	n uint64
}

func newFeeder(source uint8) *feeder { return &feeder{b: tlv.NewBuilder(tlv.DomainMarketData, source)} }

// price is instrument id's price: 65000.12345678 for 101, and so on.
func price(id uint64) int64 { return int64(65_000+id-101)*tlv.PriceScale + 12_345_678 }

// next builds the next message; the Builder fails only on a bug in the
// test, so the error is a panic's, safe in any goroutine.
func (f *feeder) next() *tlv.Message {
	id := 101 + f.n%5
	if f.n%2 == 0 {
		f.b.AppendTrade(&tlv.Trade{Instrument: id, Price: price(id), Volume: 25_000_000, ExchangeTS: 1, Venue: 1, Side: uint8(id % 2)})
	} else {
		f.b.AppendQuote(&tlv.Quote{Instrument: id, BidPrice: price(id) - tlv.PriceScale, BidSize: tlv.PriceScale,
			AskPrice: price(id) + tlv.PriceScale, AskSize: 2 * tlv.PriceScale, QuoteTS: 1, Venue: 1})
	}
	f.n++
	m, err := f.b.Finish()
	if err != nil {
		panic(err)
	}
	return m
}

// send sends n messages, waiting for room rather than losing any.
func (f *feeder) send(t testing.TB, s *lazy.Sink, n int) {
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	for range n {
		if err := s.SendWait(ctx, f.next()); err != nil {
			t.Fatal(err)
		}
	}
}

// liveClient reads /live as a browser does and hands over every message.
type liveClient struct {
	msgs chan []byte
	conn interface{ Close() error }
}

func dialLive(t *testing.T, addr string) *liveClient {
	t.Helper()
	conn, br, _, err := ws.Dial(context.Background(), "ws://"+addr+"/live")
	if err != nil {
		t.Fatal(err)
	}
	// What the server sent right behind its handshake may sit in br.
	rw := struct {
		io.Reader
		io.Writer
	}{conn, conn}
	if br != nil {
		rw.Reader = io.MultiReader(br, conn)
	}
	c := &liveClient{msgs: make(chan []byte, 1024), conn: conn}
	done := make(chan struct{})
	go func() {
		defer close(done)
		defer close(c.msgs)
		for {
			p, err := wsutil.ReadServerText(rw)
			if err != nil {
				return
			}
			c.msgs <- p
		}
	}()
	t.Cleanup(func() { _ = conn.Close(); <-done })
	return c
}

// await returns the first update that ok accepts, failing the test after
// timeout; it counts the updates it read.
func (c *liveClient) await(t *testing.T, what string, timeout time.Duration, ok func(*update) bool) (*update, int) {
	t.Helper()
	deadline := time.After(timeout)
	var last []byte
	for n := 1; ; n++ {
		select {
		case p, open := <-c.msgs:
			if !open {
				t.Fatalf("waiting for %s: /live closed", what)
			}
			var u update
			if err := json.Unmarshal(p, &u); err != nil {
				t.Fatalf("waiting for %s: %v in %s", what, err, p)
			}
			last = p
			if u.Type == "update" && ok(&u) {
				return &u, n
			}
		case <-deadline:
			t.Fatalf("no update with %s within %v; the last was %s", what, timeout, last)
		}
	}
}

func TestDashboardLive(t *testing.T) {
	_, addr := serve(t, Config{StaleAfter: 500 * time.Millisecond})
	live := dialLive(t, addr)
	if first := <-live.msgs; !strings.Contains(string(first), `"type":"history"`) {
		t.Fatalf("first message %s: want the history", first)
	}
	s := wsSink(t, addr)
	f := newFeeder(9)
	f.send(t, s, 1000)
	f.b.SetSequence(f.b.Sequence() + 5) // five messages lost on the way
	f.send(t, s, 1000)

	u, _ := live.await(t, "2000 frames, 5 gaps, 5 instruments", 20*time.Second, func(u *update) bool {
		return u.Frames == 2000 && u.Gaps == 5 && len(u.Board) == 5
	})
	if u.State != "live" || len(u.Sources) != 1 || u.Sources[0].ID != 9 || u.Sources[0].Gaps != 5 {
		t.Errorf("state %q, sources %+v: want live, source 9 with 5 gaps", u.State, u.Sources)
	}
	if len(u.Domains) != 1 || u.Domains[0].Name != "market_data" || u.Domains[0].Frames != 2000 {
		t.Errorf("domains %+v: want market_data with 2000 frames", u.Domains)
	}
	if len(u.Producers) != 1 || u.Producers[0].Kind != "ws" || u.Producers[0].Conns != 1 || u.Conns != 1 {
		t.Errorf("producers %+v, connections %d: want the one WebSocket sink on /ws", u.Producers, u.Conns)
	}
	if u.P50 == "-" || u.P99 == "-" {
		t.Errorf("latency p50 %s p99 %s: want figures (%+v)", u.P50, u.P99, u)
	}
	for _, row := range u.Board {
		id := uint64(0)
		for _, c := range row.ID {
			id = id*10 + uint64(c-'0')
		}
		want := decimal.String(price(id), 2)
		if row.Count != 400 || row.Price != want || row.Size != "0.25" || row.Bid != decimal.String(price(id)-tlv.PriceScale, 2) ||
			row.Ask != decimal.String(price(id)+tlv.PriceScale, 2) || row.Side != map[bool]string{true: "sell", false: "buy"}[id%2 == 1] {
			t.Errorf("board row %+v: want 400 messages, last %s × 0.25, bid and ask one unit around it", row, want)
		}
	}

	// The feed stops: stale. It resumes: live again.
	live.await(t, "state stale", 10*time.Second, func(u *update) bool { return u.State == "stale" })
	f.send(t, s, 1)
	live.await(t, "state live again", 10*time.Second, func(u *update) bool { return u.State == "live" && u.Frames == 2001 })
}

// Browsers get ten updates a second at most, however fast frames come.
func TestDashboardUpdateRate(t *testing.T) {
	_, addr := serve(t, Config{})
	live := dialLive(t, addr)
	s := wsSink(t, addr)
	stop := make(chan struct{})
	fed := make(chan struct{})
	go func() {
		defer close(fed)
		f := newFeeder(1)
		for {
			select {
			case <-stop:
				return
			default:
			}
			m := f.next()
			if s.Send(m) != nil {
				m.Release()
			}
		}
	}()
	defer func() { close(stop); <-fed }()
	live.await(t, "frames", 10*time.Second, func(u *update) bool { return u.Frames > 0 })
	// The updates' own timestamps (taken by the server as it builds each
	// one) over two seconds of them: how fast the client reads does not
	// matter.
	var first, last int64
	n := 0
	live.await(t, "two seconds of updates", 20*time.Second, func(u *update) bool {
		if n == 0 {
			first = u.Point.T
		}
		last = u.Point.T
		n++
		return last-first >= 2000
	})
	// Ten a second at most (SPEC 9c), less 10% for the ticker's jitter.
	if minSpan := int64(n-1) * 90; last-first < minSpan {
		t.Errorf("%d updates in %d ms: more than ten a second", n, last-first)
	}
	if n < 5 {
		t.Errorf("%d updates in %d ms: the page is not updated live", n, last-first)
	}
}

func TestDashboardLimitsAndClose(t *testing.T) {
	d, addr := serve(t, Config{MaxProducers: 1, MaxViewers: 1})
	s := wsSink(t, addr)
	newFeeder(1).send(t, s, 1)
	live := dialLive(t, addr)
	live.await(t, "a producer", 10*time.Second, func(u *update) bool { return u.Conns == 1 })

	for _, path := range []string{"/ws", "/live"} {
		_, _, _, err := ws.Dial(context.Background(), "ws://"+addr+path)
		if se, ok := errors.AsType[ws.StatusError](err); !ok || int(se) != 503 {
			t.Errorf("a second connection to %s: %v, want HTTP 503", path, err)
		}
	}
	if err := d.Close(); err != nil {
		t.Fatal(err)
	}
	if err := d.Close(); err != nil {
		t.Errorf("second Close: %v", err)
	}
	e, err := transport.ParseEndpoint("unix://" + testnet.SocketPath(t))
	if err != nil {
		t.Fatal(err)
	}
	l, err := source.Listen(source.ListenConfig{Endpoint: e})
	if err != nil {
		t.Fatal(err)
	}
	err = d.Attach("test", e.String(), l)
	if !errors.Is(err, ErrClosed) || !errors.Is(err, sink.ErrClosed) {
		t.Errorf("Attach after Close: %v, want ErrClosed", err)
	}
	if !l.Info().Closed {
		t.Error("Attach after Close left the intake open: it owns what it refuses and closes it")
	}
}
