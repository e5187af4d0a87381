package tlv_test

import "github.com/msgsink/msgsink/tlv"

// The benchmark message: a Trade, a Quote and an opaque 16-byte market-data
// record (type 5, valid at every level), 150
// bytes in all (the "3-TLV message of about 150 bytes" of the targets).
var (
	fxTrade = tlv.Trade{Instrument: 42, Price: 6_512_345_000_000, Volume: 25_000_000,
		ExchangeTS: 1_700_000_000_000_000_000, Venue: 1, AssetType: 1, Side: tlv.SideBuy}
	fxQuote = tlv.Quote{Instrument: 42, BidPrice: 6_512_300_000_000, BidSize: 1_00000000,
		AskPrice: 6_512_400_000_000, AskSize: 2_00000000, QuoteTS: 1_700_000_000_000_000_000, Venue: 1, AssetType: 1}
	fxOpaque = make([]byte, 16)
)

func build3(b *tlv.Builder) {
	b.AppendTrade(&fxTrade)
	b.AppendQuote(&fxQuote)
	b.Append(5, fxOpaque)
}

// message150 returns the benchmark message's bytes, with or without checksum.
func message150(checksum bool) []byte {
	b := tlv.NewBuilder(tlv.DomainMarketData, 1)
	b.Checksum = checksum
	build3(b)
	m, err := b.FinishAt(1_700_000_000_000_000_000)
	if err != nil {
		panic(err)
	}
	out := append([]byte(nil), m.Bytes()...)
	m.Release()
	if len(out) != 150 {
		panic("fixture is not 150 bytes")
	}
	return out
}

// everyRecord is a frame of each domain with every typed record, and a
// function reading every field of every view in it.
func everyRecordFrames() []tlv.Frame {
	var frames []tlv.Frame
	for _, d := range []struct {
		dom   tlv.Domain
		flags tlv.Flags
		add   func(b *tlv.Builder)
	}{
		{tlv.DomainMarketData, 0, func(b *tlv.Builder) {
			b.AppendTrade(&fxTrade)
			b.AppendQuote(&fxQuote)
			b.AppendOrderBook(&tlv.OrderBook{SnapshotTS: 1}, make([]tlv.BookLevel, 10), make([]tlv.BookLevel, 10))
			b.AppendPoolSwap(&tlv.PoolSwap{TS: 1})
			b.AppendGasPrice(&tlv.GasPrice{TS: 1})
		}},
		{tlv.DomainSignal, 0, func(b *tlv.Builder) {
			b.AppendSignalIdentity(&tlv.SignalIdentity{Confidence: 50})
			b.AppendEconomics(&tlv.Economics{})
		}},
		{tlv.DomainExecution, 0, func(b *tlv.Builder) {
			b.AppendOrderRequest(&tlv.OrderRequest{})
			b.AppendFill(&tlv.Fill{FillTS: 1})
		}},
		{tlv.DomainSystem, tlv.FlagTrace, func(b *tlv.Builder) {
			b.AppendHeartbeat(&tlv.Heartbeat{TS: 1})
			b.AppendTraceContext(&tlv.TraceContext{StartTS: 1, CurrentTS: 1})
			b.AppendSubscribe(tlv.RoleConsumer)
		}},
	} {
		b := tlv.NewBuilder(d.dom, 1)
		b.Flags = d.flags
		d.add(b)
		m, err := b.Finish()
		if err != nil {
			panic(err)
		}
		frames = append(frames, tlv.Frame(append([]byte(nil), m.Bytes()...)))
		m.Release()
	}
	return frames
}

var sinkU64 uint64

// readAll reads every field of every typed view in f through the views.
func readAll(f tlv.Frame) uint64 {
	var s uint64
	it := f.Records()
	for it.Next() {
		v := it.Value()
		switch it.Type() {
		case tlv.TypeTrade:
			x, _ := tlv.AsTrade(v)
			s += x.Instrument() + uint64(x.Price()) + uint64(x.Volume()) + x.ExchangeTS() + uint64(x.Venue()) + uint64(x.AssetType()) + uint64(x.Side())
		case tlv.TypeQuote:
			x, _ := tlv.AsQuote(v)
			s += x.Instrument() + uint64(x.BidPrice()) + uint64(x.BidSize()) + uint64(x.AskPrice()) + uint64(x.AskSize()) + x.QuoteTS() + uint64(x.Venue()) + uint64(x.AssetType())
		case tlv.TypeOrderBook:
			x, _ := tlv.AsOrderBook(v)
			s += x.SnapshotTS() + x.BookSeq() + x.Instrument() + uint64(x.Venue()) + uint64(x.AssetType())
			for i := range int(x.BidCount()) {
				s += uint64(x.Bid(i).Price)
			}
			for i := range int(x.AskCount()) {
				s += uint64(x.Ask(i).Size)
			}
		case tlv.TypePoolSwap:
			x, _ := tlv.AsPoolSwap(v)
			s += x.AmountIn().Lo + x.AmountOut().Hi + x.LiquidityAfter().Lo + x.TS() + x.Block() + uint64(x.TickAfter()) +
				uint64(x.Venue()) + uint64(x.AmountInDecimals()+x.AmountOutDecimals()) +
				uint64(x.Pool()[0]+x.TokenIn()[0]+x.TokenOut()[0]+x.SqrtPriceX96After()[0])
		case tlv.TypeGasPrice:
			x, _ := tlv.AsGasPrice(v)
			s += x.Block() + x.TS() + uint64(x.GasPriceGwei()+x.BaseFeeGwei()+x.PriorityFeeGwei()) + uint64(x.Network())
		case tlv.TypeSignalIdentity:
			x, _ := tlv.AsSignalIdentity(v)
			s += uint64(x.StrategyID()) + uint64(x.Confidence()) + uint64(x.Nonce()) + x.SignalID()
		case tlv.TypeEconomics:
			x, _ := tlv.AsEconomics(v)
			s += uint64(x.ExpectedProfit()+x.RequiredCapital()+x.GasCost()) + x.ValidUntilTS()
		case tlv.TypeOrderRequest:
			x, _ := tlv.AsOrderRequest(v)
			s += x.OrderID() + x.Instrument() + uint64(x.Price()+x.Quantity()) + uint64(x.Venue()) + uint64(x.Side()+x.OrderType()+x.TimeInForce())
		case tlv.TypeFill:
			x, _ := tlv.AsFill(v)
			s += x.OrderID() + x.Instrument() + uint64(x.Price()+x.Quantity()) + x.FillTS()
		case tlv.TypeHeartbeat:
			x, _ := tlv.AsHeartbeat(v)
			s += x.TS() + x.UptimeNS()
		case tlv.TypeTraceContext:
			x, _ := tlv.AsTraceContext(v)
			s += uint64(x.TraceID()[0]) + x.StartTS() + x.CurrentTS() + uint64(x.Source()+x.SpanDepth()+x.StageFlags())
		case tlv.TypeSubscribe:
			x, _ := tlv.AsSubscribe(v)
			s += uint64(x.Role())
		}
	}
	return s
}
