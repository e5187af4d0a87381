package tlv_test

import (
	"bytes"
	"errors"
	"strings"
	"testing"

	"github.com/msgsink/msgsink/tlv"
)

func addr(b byte) (a [20]byte) {
	for i := range a {
		a[i] = b + byte(i)
	}
	return a
}

// Every typed record written through the Builder reads back identically
// through its view, at the audit level, and the bytes sit at the offsets of
// SPEC section 2 (checked on a few fields independently of the views).
func TestRecordsRoundTrip(t *testing.T) {
	trade := tlv.Trade{Instrument: 1 << 40, Price: 6_512_345_000_000, Volume: 25_000_000, ExchangeTS: 1_700_000_000_000_000_001, Venue: 3, AssetType: 1, Side: tlv.SideSell}
	quote := tlv.Quote{Instrument: 9, BidPrice: 100_00000000, BidSize: 5, AskPrice: 100_01000000, AskSize: 7, QuoteTS: 11, Venue: 2, AssetType: 4}
	book := tlv.OrderBook{SnapshotTS: 5, BookSeq: 6, Instrument: 7, Venue: 8, AssetType: 9}
	bids := []tlv.BookLevel{{Price: 10, Size: 1, OrderCount: 2}, {Price: 9, Size: 3, OrderCount: 4}}
	asks := []tlv.BookLevel{{Price: 11, Size: 5, OrderCount: 6}}
	swap := tlv.PoolSwap{AmountIn: tlv.Uint128{Hi: 1, Lo: 2}, AmountOut: tlv.Uint128{Lo: 3}, LiquidityAfter: tlv.Uint128{Hi: ^uint64(0), Lo: ^uint64(0)},
		TS: 12, Block: 13, TickAfter: -887272, Venue: 14, AmountInDecimals: 18, AmountOutDecimals: 6,
		Pool: addr(1), TokenIn: addr(2), TokenOut: addr(3)}
	swap.SqrtPriceX96After[31] = 0x80
	gas := tlv.GasPrice{Block: 1, TS: 2, GasPriceGwei: 3, BaseFeeGwei: 4, PriorityFeeGwei: 5, Network: 6}
	sig := tlv.SignalIdentity{StrategyID: 7, Confidence: 99, Nonce: 8, SignalID: 9}
	eco := tlv.Economics{ExpectedProfit: -1, RequiredCapital: 2, GasCost: 3, ValidUntilTS: 4}
	order := tlv.OrderRequest{OrderID: 1, Instrument: 2, Price: 3, Quantity: 4, Venue: 5, Side: 1, OrderType: 2, TimeInForce: 3}
	fill := tlv.Fill{OrderID: 1, Instrument: 2, Price: 3, Quantity: 4, FillTS: 5}
	hb := tlv.Heartbeat{TS: 1, UptimeNS: 2}
	tc := tlv.TraceContext{TraceID: [8]byte{1, 2, 3, 4, 5, 6, 7, 8}, StartTS: 1, CurrentTS: 2, Source: 3, SpanDepth: 4, StageFlags: tlv.StageRelayed}

	build := func(d tlv.Domain, flags tlv.Flags, add func(b *tlv.Builder)) tlv.Frame {
		t.Helper()
		b := tlv.NewBuilder(d, 5)
		b.Flags = flags
		add(b)
		m, err := b.Finish()
		if err != nil {
			t.Fatal(err)
		}
		t.Cleanup(m.Release)
		f, err := (tlv.Validator{Level: tlv.LevelAudit}).Parse(m.Bytes())
		if err != nil {
			t.Fatal(err)
		}
		return f
	}
	values := func(f tlv.Frame) (vals [][]byte) {
		it := f.Records()
		for it.Next() {
			vals = append(vals, it.Value())
		}
		return vals
	}

	md := values(build(tlv.DomainMarketData, 0, func(b *tlv.Builder) {
		b.AppendTrade(&trade)
		b.AppendQuote(&quote)
		b.AppendOrderBook(&book, bids, asks)
		b.AppendPoolSwap(&swap)
		b.AppendGasPrice(&gas)
	}))
	if v := must(tlv.AsTrade(md[0])); v.Trade() != trade || readI64(md[0], 8) != trade.Price || md[0][36] != 1 {
		t.Errorf("trade %+v", v.Trade())
	}
	if v := must(tlv.AsQuote(md[1])); v.Quote() != quote || readI64(md[1], 24) != quote.AskPrice {
		t.Errorf("quote %+v", v.Quote())
	}
	ob := must(tlv.AsOrderBook(md[2]))
	if ob.OrderBook() != book || ob.BidCount() != 2 || ob.AskCount() != 1 || ob.Bid(1) != bids[1] || ob.Ask(0) != asks[0] {
		t.Errorf("order book %+v", ob.OrderBook())
	}
	if v := must(tlv.AsPoolSwap(md[3])); v.PoolSwap() != swap || md[3][70] != 18 || v.AmountIn().String() != "18446744073709551618" {
		t.Errorf("pool swap %+v", v.PoolSwap())
	}
	if v := must(tlv.AsGasPrice(md[4])); v.GasPrice() != gas {
		t.Errorf("gas %+v", v.GasPrice())
	}

	sg := values(build(tlv.DomainSignal, 0, func(b *tlv.Builder) { b.AppendSignalIdentity(&sig); b.AppendEconomics(&eco) }))
	if v := must(tlv.AsSignalIdentity(sg[0])); v.SignalIdentity() != sig {
		t.Errorf("signal %+v", v.SignalIdentity())
	}
	if v := must(tlv.AsEconomics(sg[1])); v.Economics() != eco {
		t.Errorf("economics %+v", v.Economics())
	}
	ex := values(build(tlv.DomainExecution, 0, func(b *tlv.Builder) { b.AppendOrderRequest(&order); b.AppendFill(&fill) }))
	if v := must(tlv.AsOrderRequest(ex[0])); v.OrderRequest() != order {
		t.Errorf("order %+v", v.OrderRequest())
	}
	if v := must(tlv.AsFill(ex[1])); v.Fill() != fill {
		t.Errorf("fill %+v", v.Fill())
	}
	sy := values(build(tlv.DomainSystem, tlv.FlagTrace, func(b *tlv.Builder) {
		b.AppendHeartbeat(&hb)
		b.AppendTraceContext(&tc)
		b.AppendSubscribe(tlv.RoleConsumer)
	}))
	if v := must(tlv.AsHeartbeat(sy[0])); v.Heartbeat() != hb {
		t.Errorf("heartbeat %+v", v.Heartbeat())
	}
	if v := must(tlv.AsTraceContext(sy[1])); v.TraceContext() != tc {
		t.Errorf("trace %+v", v.TraceContext())
	}
	if v := must(tlv.AsSubscribe(sy[2])); v.Role() != tlv.RoleConsumer || !bytes.Equal(sy[2][1:], make([]byte, 7)) {
		t.Errorf("subscribe % x", sy[2])
	}
}

func must[V any](v V, err error) V {
	if err != nil {
		panic(err)
	}
	return v
}

func readI64(b []byte, off int) int64 {
	var x int64
	for i := 7; i >= 0; i-- {
		x = x<<8 | int64(b[off+i])
	}
	return x
}

func TestViewsRefuseShortValues(t *testing.T) {
	short := make([]byte, 7)
	for name, err := range map[string]error{
		"trade": second(tlv.AsTrade(short)), "quote": second(tlv.AsQuote(short)),
		"book": second(tlv.AsOrderBook(short)), "swap": second(tlv.AsPoolSwap(short)),
		"gas": second(tlv.AsGasPrice(short)), "signal": second(tlv.AsSignalIdentity(short)),
		"economics": second(tlv.AsEconomics(short)), "order": second(tlv.AsOrderRequest(short)),
		"fill": second(tlv.AsFill(short)), "heartbeat": second(tlv.AsHeartbeat(short)),
		"trace": second(tlv.AsTraceContext(short)), "subscribe": second(tlv.AsSubscribe(short)),
		"disconnect": second(tlv.AsDisconnect(short)),
	} {
		if !errors.Is(err, tlv.ErrMalformed) {
			t.Errorf("%s: %v", name, err)
		}
	}
	// An order book header that announces more levels than its value holds.
	v := make([]byte, 32+24)
	v[28] = 2
	if _, err := tlv.AsOrderBook(v); !errors.Is(err, tlv.ErrMalformed) {
		t.Errorf("book with missing levels: %v", err)
	}
}

func second[V any](_ V, err error) error { return err }

func TestBuilderHeaderAndSequence(t *testing.T) {
	b := tlv.NewBuilder(tlv.DomainMarketData, 3)
	b.Flags = tlv.FlagHighPriority
	b.SetSequence(41)
	for want := uint64(41); want < 44; want++ {
		b.Append(5, []byte("opaque"))
		m, err := b.FinishAt(want * 10)
		if err != nil {
			t.Fatal(err)
		}
		h := m.Header()
		if h.Sequence() != want || h.Timestamp() != want*10 || h.Source() != 3 || h.Flags() != tlv.FlagHighPriority ||
			h.Domain() != tlv.DomainMarketData || h.Checksum() != 0 || int(h.PayloadSize()) != 8 {
			t.Fatalf("header % x", []byte(h))
		}
		m.Release()
	}
	if b.Sequence() != 44 {
		t.Fatalf("next sequence %d", b.Sequence())
	}
}

func TestBuilderChecksumAndExtended(t *testing.T) {
	b := tlv.NewBuilder(tlv.DomainMarketData, 3)
	b.Checksum = true
	long := bytes.Repeat([]byte{7}, 1000)
	b.Append(5, long)
	b.Append(6, long[:255])
	m, err := b.Finish()
	if err != nil {
		t.Fatal(err)
	}
	defer m.Release()
	if got, want := m.Header().Checksum(), crc32IEEE(m.Bytes()); got != want || got == 0 {
		t.Fatalf("checksum %#x, want %#x", got, want)
	}
	f := m.Frame()
	if f[32] != 255 || f[33] != 0 || f[34] != 5 || f[35] != 0xE8 || f[36] != 0x03 {
		t.Fatalf("extended head % x", f[32:37])
	}
	if f[37+1000] != 6 || f[38+1000] != 255 {
		t.Fatal("a 255-byte value must use the standard form")
	}
	if m.Len() != 32+5+1000+2+255 {
		t.Fatalf("len %d", m.Len())
	}
	if _, err := tlv.Parse(m.Bytes()); err != nil {
		t.Fatal(err)
	}
}

func TestBuilderStickyErrors(t *testing.T) {
	cases := []struct {
		name string
		b    *tlv.Builder
		add  func(b *tlv.Builder)
		want error
		text string
	}{
		{"wrong domain", tlv.NewBuilder(tlv.DomainMarketData, 1), func(b *tlv.Builder) {
			b.AppendFill(&tlv.Fill{})
			b.AppendTrade(&tlv.Trade{})
		}, tlv.ErrDomain, "Fill (type 42)"},
		{"reserved type", tlv.NewBuilder(tlv.DomainMarketData, 1), func(b *tlv.Builder) { b.Append(150, nil) }, tlv.ErrDomain, "reserved"},
		{"domain unset", &tlv.Builder{Source: 1}, func(b *tlv.Builder) { b.AppendTrade(&tlv.Trade{}) }, tlv.ErrMalformed, "Builder.Domain"},
		{"source unset", &tlv.Builder{Domain: tlv.DomainSystem}, func(b *tlv.Builder) {}, tlv.ErrMalformed, "Builder.Source"},
		{"bad flags", &tlv.Builder{Domain: tlv.DomainSystem, Source: 1, Flags: 0x80}, func(b *tlv.Builder) {}, tlv.ErrMalformed, "flags"},
		{"value too long", tlv.NewBuilder(tlv.DomainMarketData, 1), func(b *tlv.Builder) { b.Append(5, make([]byte, 70000)) }, tlv.ErrMalformed, "65535"},
		{"message too long", &tlv.Builder{Domain: tlv.DomainMarketData, Source: 1, MaxSize: 100}, func(b *tlv.Builder) {
			b.AppendTrade(&tlv.Trade{})
			b.AppendTrade(&tlv.Trade{})
		}, tlv.ErrMalformed, "at most 100 bytes"},
		{"too many levels", tlv.NewBuilder(tlv.DomainMarketData, 1), func(b *tlv.Builder) {
			b.AppendOrderBook(&tlv.OrderBook{}, make([]tlv.BookLevel, 51), nil)
		}, tlv.ErrMalformed, "50 levels"},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			seq := c.b.Sequence()
			c.add(c.b)
			m, err := c.b.Finish()
			if m != nil || !errors.Is(err, c.want) || !strings.Contains(err.Error(), c.text) {
				t.Fatalf("got %v, %v; want %v containing %q", m, err, c.want, c.text)
			}
			if c.b.Sequence() != seq {
				t.Fatal("a failed build used up a sequence number")
			}
			// The error is gone with the failed message: the builder works again.
			if c.b.Err() != nil {
				t.Fatal("error survived Finish")
			}
		})
	}
}

func TestBuilderReset(t *testing.T) {
	b := tlv.NewBuilder(tlv.DomainMarketData, 1)
	b.AppendTrade(&tlv.Trade{Price: 1})
	b.Reset()
	m, err := b.Finish()
	if err != nil {
		t.Fatal(err)
	}
	defer m.Release()
	if m.Len() != tlv.HeaderSize {
		t.Fatalf("Reset kept %d bytes", m.Len()-tlv.HeaderSize)
	}
}

func TestMessageReferences(t *testing.T) {
	b := tlv.NewBuilder(tlv.DomainMarketData, 1)
	b.AppendTrade(&tlv.Trade{Price: 1})
	m, _ := b.Finish()
	m.Retain()
	m.Retain()
	m.Release()
	m.Release()
	if _, err := tlv.Parse(m.Bytes()); err != nil {
		t.Fatalf("message recycled while a reference was held: %v", err)
	}
	m.Release()

	defer func() {
		if r := recover(); r == nil || !strings.Contains(r.(string), "released more times") {
			t.Fatalf("double release: recovered %v", r)
		}
	}()
	m2, _ := tlv.NewBuilder(tlv.DomainSystem, 1).Finish()
	m2.Release()
	m2.Release()
}

// RetainN(k) is k Retains in one: the message survives every Release but the
// last, and the last sends it back to its builder.
func TestMessageRetainN(t *testing.T) {
	b := tlv.NewBuilder(tlv.DomainMarketData, 1)
	b.AppendTrade(&tlv.Trade{Price: 1})
	m, _ := b.Finish()
	m.RetainN(0)
	m.RetainN(2)
	for range 2 {
		m.Release()
		if _, err := tlv.Parse(m.Bytes()); err != nil {
			t.Fatalf("message recycled while a reference was held: %v", err)
		}
	}
	m.Release()
	b.AppendTrade(&tlv.Trade{Price: 1})
	m2, _ := b.Finish()
	defer m2.Release()
	if m2 != m {
		t.Fatal("three references, three Releases, and the message did not go back to its builder")
	}

	defer func() {
		if r := recover(); r == nil || !strings.Contains(r.(string), "negative") {
			t.Fatalf("RetainN(-1): recovered %v", r)
		}
	}()
	m2.RetainN(-1)
}

func TestValidatorCheckAndCopy(t *testing.T) {
	b := tlv.NewBuilder(tlv.DomainMarketData, 1)
	b.AppendTrade(&tlv.Trade{Price: 1, ExchangeTS: 1})
	m, _ := b.Finish()
	defer m.Release()
	if err := (tlv.Validator{Domain: tlv.DomainMarketData}).Check(m); err != nil {
		t.Fatal(err)
	}
	if err := (tlv.Validator{Domain: tlv.DomainExecution}).Check(m); !errors.Is(err, tlv.ErrDomain) {
		t.Fatalf("wrong sink domain: %v", err)
	}
	if err := (tlv.Validator{Precision: tlv.PrecisionDEX}).Check(m); !errors.Is(err, tlv.ErrPrecision) {
		t.Fatalf("dex precision with a Trade: %v", err)
	}
	// A built message over MaxSize is refused: what a sink whose endpoint
	// takes smaller frames (a NATS server's max_payload) sets.
	if err := (tlv.Validator{MaxSize: m.Len()}).Check(m); err != nil {
		t.Fatalf("a message of exactly MaxSize: %v", err)
	}
	var me *tlv.MalformedError
	if err := (tlv.Validator{MaxSize: m.Len() - 1}).Check(m); !errors.Is(err, tlv.ErrMalformed) || !errors.As(err, &me) || me.Field != "payload_size" {
		t.Fatalf("a message over MaxSize: %v", err)
	}

	c, err := (tlv.Validator{}).Copy(m.Bytes())
	if err != nil {
		t.Fatal(err)
	}
	defer c.Release()
	if !bytes.Equal(c.Bytes(), m.Bytes()) || &c.Bytes()[0] == &m.Bytes()[0] {
		t.Fatal("Copy must copy")
	}
	// A copied message was not built here, so Check parses it.
	if err := (tlv.Validator{Level: tlv.LevelAudit}).Check(c); err != nil {
		t.Fatalf("audit refused a valid copy: %v", err)
	}
	// The builder proves standard validity only: audit still parses, and
	// refuses a Trade with price 0 that standard accepts.
	b.AppendTrade(&tlv.Trade{ExchangeTS: 1})
	zero, _ := b.Finish()
	defer zero.Release()
	if err := (tlv.Validator{}).Check(zero); err != nil {
		t.Fatal(err)
	}
	if err := (tlv.Validator{Level: tlv.LevelAudit}).Check(zero); !errors.Is(err, tlv.ErrMalformed) {
		t.Fatalf("audit accepted a zero price: %v", err)
	}
	if _, err := (tlv.Validator{}).Copy(m.Bytes()[:40]); !errors.Is(err, tlv.ErrMalformed) {
		t.Fatalf("Copy of a truncated frame: %v", err)
	}
}

func TestAck(t *testing.T) {
	b := tlv.NewBuilder(tlv.DomainSystem, 80)
	b.AppendAck(7, 1<<40+3)
	m, err := b.Finish()
	if err != nil {
		t.Fatal(err)
	}
	defer m.Release()
	if _, err := (tlv.Validator{Level: tlv.LevelAudit}).Parse(m.Bytes()); err != nil {
		t.Fatalf("an Ack fails audit: %v", err)
	}
	it := tlv.Frame(m.Bytes()).Records()
	if !it.Next() || it.Type() != tlv.TypeAck {
		t.Fatalf("first record is not an Ack")
	}
	v, err := tlv.AsAck(it.Value())
	if err != nil {
		t.Fatal(err)
	}
	if v.Source() != 7 || v.Sequence() != 1<<40+3 || !bytes.Equal(it.Value()[9:], make([]byte, 7)) {
		t.Fatalf("Ack reads source %d sequence %d, padding %x", v.Source(), v.Sequence(), it.Value()[9:])
	}
	if _, err := tlv.AsAck(make([]byte, 15)); !errors.Is(err, tlv.ErrMalformed) {
		t.Fatalf("AsAck of 15 bytes: %v, want ErrMalformed", err)
	}
}

func TestDisconnect(t *testing.T) {
	b := tlv.NewBuilder(tlv.DomainSystem, 80)
	b.AppendDisconnect(tlv.DisconnectLagged, 1<<33+5)
	m, err := b.Finish()
	if err != nil {
		t.Fatal(err)
	}
	defer m.Release()
	if _, err := (tlv.Validator{Level: tlv.LevelAudit, Domain: tlv.DomainSystem}).Parse(m.Bytes()); err != nil {
		t.Fatalf("a Disconnect fails audit: %v", err)
	}
	it := tlv.Frame(m.Bytes()).Records()
	if !it.Next() || it.Type() != tlv.TypeDisconnect || it.Type().String() != "Disconnect" {
		t.Fatalf("first record is not a Disconnect")
	}
	v, err := tlv.AsDisconnect(it.Value())
	if err != nil {
		t.Fatal(err)
	}
	if v.Reason() != tlv.DisconnectLagged || v.Dropped() != 1<<33+5 || !bytes.Equal(it.Value()[1:8], make([]byte, 7)) {
		t.Fatalf("Disconnect reads reason %d dropped %d, padding %x", v.Reason(), v.Dropped(), it.Value()[1:8])
	}
}
