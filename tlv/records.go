package tlv

import (
	"encoding/binary"
	"math/big"
	"strconv"
)

var le = binary.LittleEndian

// Value sizes of the fixed-size records (SPEC section 2). An OrderBook value is
// OrderBookHeaderSize plus BookLevelSize per level.
const (
	TradeSize           = 40
	QuoteSize           = 56
	OrderBookHeaderSize = 32
	BookLevelSize       = 24
	MaxBookLevels       = 50 // per side
	PoolSwapSize        = 168
	GasPriceSize        = 32
	SignalIdentitySize  = 16
	EconomicsSize       = 32
	OrderRequestSize    = 40
	FillSize            = 40
	HeartbeatSize       = 16
	TraceContextSize    = 32
	SubscribeSize       = 8
	AckSize             = 16
	DisconnectSize      = 16
)

// PriceScale is the fixed-point scale of exchange prices and sizes: 8 decimals.
const PriceScale = 100_000_000

// fixedSize returns the exact value size of a fixed-size type, or 0.
func fixedSize(t Type) int {
	switch t {
	case TypeTrade:
		return TradeSize
	case TypeQuote:
		return QuoteSize
	case TypePoolSwap:
		return PoolSwapSize
	case TypeGasPrice:
		return GasPriceSize
	case TypeSignalIdentity:
		return SignalIdentitySize
	case TypeEconomics:
		return EconomicsSize
	case TypeOrderRequest:
		return OrderRequestSize
	case TypeFill:
		return FillSize
	case TypeHeartbeat:
		return HeartbeatSize
	case TypeTraceContext:
		return TraceContextSize
	case TypeSubscribe:
		return SubscribeSize
	case TypeAck:
		return AckSize
	case TypeDisconnect:
		return DisconnectSize
	}
	return 0
}

// view checks that a value is long enough for the typed view of t. Views need
// at least the fixed size; exact sizes are LevelAudit's business.
func view(t Type, v []byte, size int) error {
	if len(v) < size {
		return malformed(0, t.String()+" value length", uint64(len(v)), "at least "+strconv.Itoa(size)+" bytes")
	}
	return nil
}

// Uint128 is an unsigned 128-bit DEX amount, little-endian on the wire.
type Uint128 struct{ Hi, Lo uint64 }

func getU128(b []byte) Uint128    { return Uint128{Hi: le.Uint64(b[8:]), Lo: le.Uint64(b)} }
func putU128(b []byte, u Uint128) { le.PutUint64(b, u.Lo); le.PutUint64(b[8:], u.Hi) }

// Big returns u as a big.Int (allocates; for display and tests).
func (u Uint128) Big() *big.Int {
	x := new(big.Int).SetUint64(u.Hi)
	return x.Lsh(x, 64).Or(x, new(big.Int).SetUint64(u.Lo))
}

func (u Uint128) String() string { return u.Big().String() }

// Side of a trade or order.
const (
	SideBuy  = 0
	SideSell = 1
)

// Trade is an exchange trade (TLV 1). Price and Volume are fixed point ×1e8.
type Trade struct {
	Instrument uint64
	Price      int64
	Volume     int64
	ExchangeTS uint64
	Venue      uint16
	AssetType  uint8
	Side       uint8 // SideBuy or SideSell
}

// TradeView reads a Trade value in place.
type TradeView []byte

// AsTrade views v as a Trade.
func AsTrade(v []byte) (TradeView, error) { return TradeView(v), view(TypeTrade, v, TradeSize) }

func (v TradeView) Instrument() uint64 { return le.Uint64(v[0:]) }
func (v TradeView) Price() int64       { return int64(le.Uint64(v[8:])) }
func (v TradeView) Volume() int64      { return int64(le.Uint64(v[16:])) }
func (v TradeView) ExchangeTS() uint64 { return le.Uint64(v[24:]) }
func (v TradeView) Venue() uint16      { return le.Uint16(v[32:]) }
func (v TradeView) AssetType() uint8   { return v[34] }
func (v TradeView) Side() uint8        { return v[36] }

// Trade copies the fields out.
func (v TradeView) Trade() Trade {
	return Trade{v.Instrument(), v.Price(), v.Volume(), v.ExchangeTS(), v.Venue(), v.AssetType(), v.Side()}
}

// AppendTrade adds a Trade record.
func (b *Builder) AppendTrade(t *Trade) {
	d := b.record(TypeTrade, TradeSize)
	if d == nil {
		return
	}
	le.PutUint64(d[0:], t.Instrument)
	le.PutUint64(d[8:], uint64(t.Price))
	le.PutUint64(d[16:], uint64(t.Volume))
	le.PutUint64(d[24:], t.ExchangeTS)
	le.PutUint16(d[32:], t.Venue)
	d[34], d[35], d[36] = t.AssetType, 0, t.Side
	clear(d[37:TradeSize])
}

// Quote is a top-of-book quote (TLV 2). Prices and sizes are fixed point ×1e8.
type Quote struct {
	Instrument uint64
	BidPrice   int64
	BidSize    int64
	AskPrice   int64
	AskSize    int64
	QuoteTS    uint64
	Venue      uint16
	AssetType  uint8
}

// QuoteView reads a Quote value in place.
type QuoteView []byte

// AsQuote views v as a Quote.
func AsQuote(v []byte) (QuoteView, error) { return QuoteView(v), view(TypeQuote, v, QuoteSize) }

func (v QuoteView) Instrument() uint64 { return le.Uint64(v[0:]) }
func (v QuoteView) BidPrice() int64    { return int64(le.Uint64(v[8:])) }
func (v QuoteView) BidSize() int64     { return int64(le.Uint64(v[16:])) }
func (v QuoteView) AskPrice() int64    { return int64(le.Uint64(v[24:])) }
func (v QuoteView) AskSize() int64     { return int64(le.Uint64(v[32:])) }
func (v QuoteView) QuoteTS() uint64    { return le.Uint64(v[40:]) }
func (v QuoteView) Venue() uint16      { return le.Uint16(v[48:]) }
func (v QuoteView) AssetType() uint8   { return v[50] }

// Quote copies the fields out.
func (v QuoteView) Quote() Quote {
	return Quote{v.Instrument(), v.BidPrice(), v.BidSize(), v.AskPrice(), v.AskSize(), v.QuoteTS(), v.Venue(), v.AssetType()}
}

// AppendQuote adds a Quote record.
func (b *Builder) AppendQuote(q *Quote) {
	d := b.record(TypeQuote, QuoteSize)
	if d == nil {
		return
	}
	le.PutUint64(d[0:], q.Instrument)
	le.PutUint64(d[8:], uint64(q.BidPrice))
	le.PutUint64(d[16:], uint64(q.BidSize))
	le.PutUint64(d[24:], uint64(q.AskPrice))
	le.PutUint64(d[32:], uint64(q.AskSize))
	le.PutUint64(d[40:], q.QuoteTS)
	le.PutUint16(d[48:], q.Venue)
	d[50], d[51] = q.AssetType, 0
	clear(d[52:QuoteSize])
}

// OrderBook is the fixed part of an order book snapshot (TLV 3); its levels
// are passed beside it to AppendOrderBook.
type OrderBook struct {
	SnapshotTS uint64
	BookSeq    uint64
	Instrument uint64
	Venue      uint16
	AssetType  uint8
}

// BookLevel is one price level of an order book. Price and Size are fixed point ×1e8.
type BookLevel struct {
	Price      int64
	Size       int64
	OrderCount uint32
}

// OrderBookView reads an OrderBook value in place.
type OrderBookView []byte

// AsOrderBook views v as an OrderBook whose level counts fit in v.
func AsOrderBook(v []byte) (OrderBookView, error) {
	if err := view(TypeOrderBook, v, OrderBookHeaderSize); err != nil {
		return nil, err
	}
	ob := OrderBookView(v)
	if n := OrderBookHeaderSize + BookLevelSize*(int(ob.BidCount())+int(ob.AskCount())); len(v) < n {
		return nil, malformed(0, "OrderBook value length", uint64(len(v)),
			strconv.Itoa(n)+" bytes for its bid_count + ask_count levels")
	}
	return ob, nil
}

func (v OrderBookView) SnapshotTS() uint64 { return le.Uint64(v[0:]) }
func (v OrderBookView) BookSeq() uint64    { return le.Uint64(v[8:]) }
func (v OrderBookView) Instrument() uint64 { return le.Uint64(v[16:]) }
func (v OrderBookView) Venue() uint16      { return le.Uint16(v[24:]) }
func (v OrderBookView) AssetType() uint8   { return v[26] }
func (v OrderBookView) BidCount() uint16   { return le.Uint16(v[28:]) }
func (v OrderBookView) AskCount() uint16   { return le.Uint16(v[30:]) }

// Bid returns bid level i, 0 ≤ i < BidCount.
func (v OrderBookView) Bid(i int) BookLevel { return v.level(i) }

// Ask returns ask level i, 0 ≤ i < AskCount.
func (v OrderBookView) Ask(i int) BookLevel { return v.level(int(v.BidCount()) + i) }

func (v OrderBookView) level(i int) BookLevel {
	l := v[OrderBookHeaderSize+BookLevelSize*i:]
	return BookLevel{Price: int64(le.Uint64(l)), Size: int64(le.Uint64(l[8:])), OrderCount: le.Uint32(l[16:])}
}

// OrderBook copies the fixed fields out.
func (v OrderBookView) OrderBook() OrderBook {
	return OrderBook{v.SnapshotTS(), v.BookSeq(), v.Instrument(), v.Venue(), v.AssetType()}
}

// AppendOrderBook adds an OrderBook record with the given levels (at most
// MaxBookLevels each side), in the extended form when it exceeds 255 bytes.
func (b *Builder) AppendOrderBook(ob *OrderBook, bids, asks []BookLevel) {
	if len(bids) > MaxBookLevels || len(asks) > MaxBookLevels {
		if b.err == nil {
			b.err = malformed(0, "OrderBook levels", uint64(max(len(bids), len(asks))), "at most 50 levels per side")
		}
		return
	}
	d := b.record(TypeOrderBook, OrderBookHeaderSize+BookLevelSize*(len(bids)+len(asks)))
	if d == nil {
		return
	}
	le.PutUint64(d[0:], ob.SnapshotTS)
	le.PutUint64(d[8:], ob.BookSeq)
	le.PutUint64(d[16:], ob.Instrument)
	le.PutUint16(d[24:], ob.Venue)
	d[26], d[27] = ob.AssetType, 0
	le.PutUint16(d[28:], uint16(len(bids)))
	le.PutUint16(d[30:], uint16(len(asks)))
	l := d[OrderBookHeaderSize:]
	for _, side := range [2][]BookLevel{bids, asks} {
		for _, lv := range side {
			le.PutUint64(l, uint64(lv.Price))
			le.PutUint64(l[8:], uint64(lv.Size))
			le.PutUint32(l[16:], lv.OrderCount)
			le.PutUint32(l[20:], 0)
			l = l[BookLevelSize:]
		}
	}
}

// PoolSwap is a DEX pool swap (TLV 11); amounts stay in each token's native
// precision, with their decimals beside them.
type PoolSwap struct {
	AmountIn, AmountOut, LiquidityAfter Uint128
	TS                                  uint64
	Block                               uint64
	TickAfter                           int32
	Venue                               uint16
	AmountInDecimals, AmountOutDecimals uint8
	Pool, TokenIn, TokenOut             [20]byte
	SqrtPriceX96After                   [32]byte
}

// PoolSwapView reads a PoolSwap value in place.
type PoolSwapView []byte

// AsPoolSwap views v as a PoolSwap.
func AsPoolSwap(v []byte) (PoolSwapView, error) {
	return PoolSwapView(v), view(TypePoolSwap, v, PoolSwapSize)
}

func (v PoolSwapView) AmountIn() Uint128        { return getU128(v[0:]) }
func (v PoolSwapView) AmountOut() Uint128       { return getU128(v[16:]) }
func (v PoolSwapView) LiquidityAfter() Uint128  { return getU128(v[32:]) }
func (v PoolSwapView) TS() uint64               { return le.Uint64(v[48:]) }
func (v PoolSwapView) Block() uint64            { return le.Uint64(v[56:]) }
func (v PoolSwapView) TickAfter() int32         { return int32(le.Uint32(v[64:])) }
func (v PoolSwapView) Venue() uint16            { return le.Uint16(v[68:]) }
func (v PoolSwapView) AmountInDecimals() uint8  { return v[70] }
func (v PoolSwapView) AmountOutDecimals() uint8 { return v[71] }

// Pool returns the pool address, a view into the value.
func (v PoolSwapView) Pool() []byte { return v[72:92:92] }

// TokenIn returns the input token address, a view into the value.
func (v PoolSwapView) TokenIn() []byte { return v[92:112:112] }

// TokenOut returns the output token address, a view into the value.
func (v PoolSwapView) TokenOut() []byte { return v[112:132:132] }

// SqrtPriceX96After returns the pool price after the swap, a view into the value.
func (v PoolSwapView) SqrtPriceX96After() []byte { return v[132:164:164] }

// PoolSwap copies the fields out.
func (v PoolSwapView) PoolSwap() PoolSwap {
	s := PoolSwap{AmountIn: v.AmountIn(), AmountOut: v.AmountOut(), LiquidityAfter: v.LiquidityAfter(),
		TS: v.TS(), Block: v.Block(), TickAfter: v.TickAfter(), Venue: v.Venue(),
		AmountInDecimals: v.AmountInDecimals(), AmountOutDecimals: v.AmountOutDecimals()}
	copy(s.Pool[:], v.Pool())
	copy(s.TokenIn[:], v.TokenIn())
	copy(s.TokenOut[:], v.TokenOut())
	copy(s.SqrtPriceX96After[:], v.SqrtPriceX96After())
	return s
}

// AppendPoolSwap adds a PoolSwap record.
func (b *Builder) AppendPoolSwap(s *PoolSwap) {
	d := b.record(TypePoolSwap, PoolSwapSize)
	if d == nil {
		return
	}
	putU128(d[0:], s.AmountIn)
	putU128(d[16:], s.AmountOut)
	putU128(d[32:], s.LiquidityAfter)
	le.PutUint64(d[48:], s.TS)
	le.PutUint64(d[56:], s.Block)
	le.PutUint32(d[64:], uint32(s.TickAfter))
	le.PutUint16(d[68:], s.Venue)
	d[70], d[71] = s.AmountInDecimals, s.AmountOutDecimals
	copy(d[72:], s.Pool[:])
	copy(d[92:], s.TokenIn[:])
	copy(d[112:], s.TokenOut[:])
	copy(d[132:], s.SqrtPriceX96After[:])
	clear(d[164:PoolSwapSize])
}

// GasPrice is a network gas price sample (TLV 18).
type GasPrice struct {
	Block           uint64
	TS              uint64
	GasPriceGwei    uint32
	BaseFeeGwei     uint32
	PriorityFeeGwei uint32
	Network         uint16
}

// GasPriceView reads a GasPrice value in place.
type GasPriceView []byte

// AsGasPrice views v as a GasPrice.
func AsGasPrice(v []byte) (GasPriceView, error) {
	return GasPriceView(v), view(TypeGasPrice, v, GasPriceSize)
}

func (v GasPriceView) Block() uint64           { return le.Uint64(v[0:]) }
func (v GasPriceView) TS() uint64              { return le.Uint64(v[8:]) }
func (v GasPriceView) GasPriceGwei() uint32    { return le.Uint32(v[16:]) }
func (v GasPriceView) BaseFeeGwei() uint32     { return le.Uint32(v[20:]) }
func (v GasPriceView) PriorityFeeGwei() uint32 { return le.Uint32(v[24:]) }
func (v GasPriceView) Network() uint16         { return le.Uint16(v[28:]) }

// GasPrice copies the fields out.
func (v GasPriceView) GasPrice() GasPrice {
	return GasPrice{v.Block(), v.TS(), v.GasPriceGwei(), v.BaseFeeGwei(), v.PriorityFeeGwei(), v.Network()}
}

// AppendGasPrice adds a GasPrice record.
func (b *Builder) AppendGasPrice(g *GasPrice) {
	d := b.record(TypeGasPrice, GasPriceSize)
	if d == nil {
		return
	}
	le.PutUint64(d[0:], g.Block)
	le.PutUint64(d[8:], g.TS)
	le.PutUint32(d[16:], g.GasPriceGwei)
	le.PutUint32(d[20:], g.BaseFeeGwei)
	le.PutUint32(d[24:], g.PriorityFeeGwei)
	le.PutUint16(d[28:], g.Network)
	le.PutUint16(d[30:], 0)
}

// SignalIdentity identifies a strategy signal (TLV 20).
type SignalIdentity struct {
	StrategyID uint16
	Confidence uint8 // 0–100
	Nonce      uint32
	SignalID   uint64
}

// SignalIdentityView reads a SignalIdentity value in place.
type SignalIdentityView []byte

// AsSignalIdentity views v as a SignalIdentity.
func AsSignalIdentity(v []byte) (SignalIdentityView, error) {
	return SignalIdentityView(v), view(TypeSignalIdentity, v, SignalIdentitySize)
}

func (v SignalIdentityView) StrategyID() uint16 { return le.Uint16(v[0:]) }
func (v SignalIdentityView) Confidence() uint8  { return v[2] }
func (v SignalIdentityView) Nonce() uint32      { return le.Uint32(v[4:]) }
func (v SignalIdentityView) SignalID() uint64   { return le.Uint64(v[8:]) }

// SignalIdentity copies the fields out.
func (v SignalIdentityView) SignalIdentity() SignalIdentity {
	return SignalIdentity{v.StrategyID(), v.Confidence(), v.Nonce(), v.SignalID()}
}

// AppendSignalIdentity adds a SignalIdentity record.
func (b *Builder) AppendSignalIdentity(s *SignalIdentity) {
	d := b.record(TypeSignalIdentity, SignalIdentitySize)
	if d == nil {
		return
	}
	le.PutUint16(d[0:], s.StrategyID)
	d[2], d[3] = s.Confidence, 0
	le.PutUint32(d[4:], s.Nonce)
	le.PutUint64(d[8:], s.SignalID)
}

// Economics is a signal's expected economics (TLV 22), fixed point ×1e8.
type Economics struct {
	ExpectedProfit  int64
	RequiredCapital int64
	GasCost         int64
	ValidUntilTS    uint64
}

// EconomicsView reads an Economics value in place.
type EconomicsView []byte

// AsEconomics views v as an Economics.
func AsEconomics(v []byte) (EconomicsView, error) {
	return EconomicsView(v), view(TypeEconomics, v, EconomicsSize)
}

func (v EconomicsView) ExpectedProfit() int64  { return int64(le.Uint64(v[0:])) }
func (v EconomicsView) RequiredCapital() int64 { return int64(le.Uint64(v[8:])) }
func (v EconomicsView) GasCost() int64         { return int64(le.Uint64(v[16:])) }
func (v EconomicsView) ValidUntilTS() uint64   { return le.Uint64(v[24:]) }

// Economics copies the fields out.
func (v EconomicsView) Economics() Economics {
	return Economics{v.ExpectedProfit(), v.RequiredCapital(), v.GasCost(), v.ValidUntilTS()}
}

// AppendEconomics adds an Economics record.
func (b *Builder) AppendEconomics(e *Economics) {
	d := b.record(TypeEconomics, EconomicsSize)
	if d == nil {
		return
	}
	le.PutUint64(d[0:], uint64(e.ExpectedProfit))
	le.PutUint64(d[8:], uint64(e.RequiredCapital))
	le.PutUint64(d[16:], uint64(e.GasCost))
	le.PutUint64(d[24:], e.ValidUntilTS)
}

// OrderRequest is an order to execute (TLV 40). Price and Quantity are ×1e8.
type OrderRequest struct {
	OrderID     uint64
	Instrument  uint64
	Price       int64
	Quantity    int64
	Venue       uint16
	Side        uint8
	OrderType   uint8
	TimeInForce uint8
}

// OrderRequestView reads an OrderRequest value in place.
type OrderRequestView []byte

// AsOrderRequest views v as an OrderRequest.
func AsOrderRequest(v []byte) (OrderRequestView, error) {
	return OrderRequestView(v), view(TypeOrderRequest, v, OrderRequestSize)
}

func (v OrderRequestView) OrderID() uint64    { return le.Uint64(v[0:]) }
func (v OrderRequestView) Instrument() uint64 { return le.Uint64(v[8:]) }
func (v OrderRequestView) Price() int64       { return int64(le.Uint64(v[16:])) }
func (v OrderRequestView) Quantity() int64    { return int64(le.Uint64(v[24:])) }
func (v OrderRequestView) Venue() uint16      { return le.Uint16(v[32:]) }
func (v OrderRequestView) Side() uint8        { return v[34] }
func (v OrderRequestView) OrderType() uint8   { return v[35] }
func (v OrderRequestView) TimeInForce() uint8 { return v[36] }

// OrderRequest copies the fields out.
func (v OrderRequestView) OrderRequest() OrderRequest {
	return OrderRequest{v.OrderID(), v.Instrument(), v.Price(), v.Quantity(), v.Venue(), v.Side(), v.OrderType(), v.TimeInForce()}
}

// AppendOrderRequest adds an OrderRequest record.
func (b *Builder) AppendOrderRequest(o *OrderRequest) {
	d := b.record(TypeOrderRequest, OrderRequestSize)
	if d == nil {
		return
	}
	le.PutUint64(d[0:], o.OrderID)
	le.PutUint64(d[8:], o.Instrument)
	le.PutUint64(d[16:], uint64(o.Price))
	le.PutUint64(d[24:], uint64(o.Quantity))
	le.PutUint16(d[32:], o.Venue)
	d[34], d[35], d[36] = o.Side, o.OrderType, o.TimeInForce
	clear(d[37:OrderRequestSize])
}

// Fill is an execution of an order (TLV 42). Price and Quantity are ×1e8.
type Fill struct {
	OrderID    uint64
	Instrument uint64
	Price      int64
	Quantity   int64
	FillTS     uint64
}

// FillView reads a Fill value in place.
type FillView []byte

// AsFill views v as a Fill.
func AsFill(v []byte) (FillView, error) { return FillView(v), view(TypeFill, v, FillSize) }

func (v FillView) OrderID() uint64    { return le.Uint64(v[0:]) }
func (v FillView) Instrument() uint64 { return le.Uint64(v[8:]) }
func (v FillView) Price() int64       { return int64(le.Uint64(v[16:])) }
func (v FillView) Quantity() int64    { return int64(le.Uint64(v[24:])) }
func (v FillView) FillTS() uint64     { return le.Uint64(v[32:]) }

// Fill copies the fields out.
func (v FillView) Fill() Fill {
	return Fill{v.OrderID(), v.Instrument(), v.Price(), v.Quantity(), v.FillTS()}
}

// AppendFill adds a Fill record.
func (b *Builder) AppendFill(f *Fill) {
	d := b.record(TypeFill, FillSize)
	if d == nil {
		return
	}
	le.PutUint64(d[0:], f.OrderID)
	le.PutUint64(d[8:], f.Instrument)
	le.PutUint64(d[16:], uint64(f.Price))
	le.PutUint64(d[24:], uint64(f.Quantity))
	le.PutUint64(d[32:], f.FillTS)
}

// Heartbeat is a liveness beacon (TLV 100).
type Heartbeat struct {
	TS       uint64
	UptimeNS uint64
}

// HeartbeatView reads a Heartbeat value in place.
type HeartbeatView []byte

// AsHeartbeat views v as a Heartbeat.
func AsHeartbeat(v []byte) (HeartbeatView, error) {
	return HeartbeatView(v), view(TypeHeartbeat, v, HeartbeatSize)
}

func (v HeartbeatView) TS() uint64       { return le.Uint64(v[0:]) }
func (v HeartbeatView) UptimeNS() uint64 { return le.Uint64(v[8:]) }

// Heartbeat copies the fields out.
func (v HeartbeatView) Heartbeat() Heartbeat { return Heartbeat{v.TS(), v.UptimeNS()} }

// AppendHeartbeat adds a Heartbeat record.
func (b *Builder) AppendHeartbeat(h *Heartbeat) {
	d := b.record(TypeHeartbeat, HeartbeatSize)
	if d == nil {
		return
	}
	le.PutUint64(d[0:], h.TS)
	le.PutUint64(d[8:], h.UptimeNS)
}

// Trace stage flags of a TraceContext.
const (
	StageCollected = 0x01
	StageRelayed   = 0x02
	StageProcessed = 0x04
	StageExecuted  = 0x08
)

// TraceContext follows a message through the pipeline (TLV 108); its presence
// is announced by FlagTrace in the header.
type TraceContext struct {
	TraceID    [8]byte
	StartTS    uint64
	CurrentTS  uint64
	Source     uint8
	SpanDepth  uint8
	StageFlags uint8
}

// TraceContextView reads a TraceContext value in place.
type TraceContextView []byte

// AsTraceContext views v as a TraceContext.
func AsTraceContext(v []byte) (TraceContextView, error) {
	return TraceContextView(v), view(TypeTraceContext, v, TraceContextSize)
}

// TraceID returns the trace id, a view into the value.
func (v TraceContextView) TraceID() []byte   { return v[0:8:8] }
func (v TraceContextView) StartTS() uint64   { return le.Uint64(v[8:]) }
func (v TraceContextView) CurrentTS() uint64 { return le.Uint64(v[16:]) }
func (v TraceContextView) Source() uint8     { return v[24] }
func (v TraceContextView) SpanDepth() uint8  { return v[25] }
func (v TraceContextView) StageFlags() uint8 { return v[26] }

// TraceContext copies the fields out.
func (v TraceContextView) TraceContext() TraceContext {
	t := TraceContext{StartTS: v.StartTS(), CurrentTS: v.CurrentTS(), Source: v.Source(), SpanDepth: v.SpanDepth(), StageFlags: v.StageFlags()}
	copy(t.TraceID[:], v.TraceID())
	return t
}

// AppendTraceContext adds a TraceContext record. Set FlagTrace on the Builder
// for messages that carry one.
func (b *Builder) AppendTraceContext(t *TraceContext) {
	d := b.record(TypeTraceContext, TraceContextSize)
	if d == nil {
		return
	}
	copy(d[0:8], t.TraceID[:])
	le.PutUint64(d[8:], t.StartTS)
	le.PutUint64(d[16:], t.CurrentTS)
	d[24], d[25], d[26] = t.Source, t.SpanDepth, t.StageFlags
	clear(d[27:TraceContextSize])
}

// The Subscribe roles of SPEC section 2: the first frame a connection sends
// to say what it is.
const (
	// RoleConsumer is a relay consumer: it receives what the relay forwards.
	RoleConsumer = 1
	// RoleProducer is a producer asking for Ack frames (delivery = "acked").
	RoleProducer = 2
)

// SubscribeSource is the header source of a Subscribe frame, whoever sends
// it (a relay consumer, an acked producer): the first system service type
// (SPEC section 1, system 60–79). It is never a producer's own source, so a
// Subscribe takes no sequence number from a producer's count.
const SubscribeSource = 60

// SubscribeView reads a Subscribe value in place (TLV 109, relay control).
type SubscribeView []byte

// AsSubscribe views v as a Subscribe.
func AsSubscribe(v []byte) (SubscribeView, error) {
	return SubscribeView(v), view(TypeSubscribe, v, SubscribeSize)
}

// Role returns the subscriber's role (RoleConsumer or RoleProducer).
func (v SubscribeView) Role() uint8 { return v[0] }

// AppendSubscribe adds a Subscribe record with the given role; a relay consumer
// sends a system-domain message holding one as its first frame.
func (b *Builder) AppendSubscribe(role uint8) {
	d := b.record(TypeSubscribe, SubscribeSize)
	if d == nil {
		return
	}
	d[0] = role
	clear(d[1:SubscribeSize])
}

// AckView reads an Ack value in place (TLV 110): every message of Source up
// to Sequence arrived whole at the peer that sent it.
type AckView []byte

// AsAck views v as an Ack.
func AsAck(v []byte) (AckView, error) { return AckView(v), view(TypeAck, v, AckSize) }

// Sequence returns the highest sequence acknowledged, cumulatively.
func (v AckView) Sequence() uint64 { return le.Uint64(v[0:]) }

// Source returns the producer (header source) the Ack is for.
func (v AckView) Source() uint8 { return v[8] }

// AppendAck adds an Ack record: every message of source up to seq arrived.
// A peer sends it back to a producer that subscribed with RoleProducer.
func (b *Builder) AppendAck(source uint8, seq uint64) {
	d := b.record(TypeAck, AckSize)
	if d == nil {
		return
	}
	le.PutUint64(d[0:], seq)
	d[8] = source
	clear(d[9:AckSize])
}

// DisconnectLagged is the Disconnect reason of a consumer that fell
// behind: its oldest queued frame got older than the relay's max_lag.
const DisconnectLagged = 1

// DisconnectView reads a Disconnect value in place (TLV 111, relay
// control): a relay's last frame to a consumer it is about to close, saying
// why, so that the consumer can tell "dropped" from "the relay went away".
// Layout: reason u8 (0), pad 7 (1), dropped u64 (8).
type DisconnectView []byte

// AsDisconnect views v as a Disconnect.
func AsDisconnect(v []byte) (DisconnectView, error) {
	return DisconnectView(v), view(TypeDisconnect, v, DisconnectSize)
}

// Reason returns why the relay closed the connection (DisconnectLagged).
func (v DisconnectView) Reason() uint8 { return v[0] }

// Dropped returns how many frames the relay dropped for this consumer
// (its queue was full) before it closed the connection.
func (v DisconnectView) Dropped() uint64 { return le.Uint64(v[8:]) }

// AppendDisconnect adds a Disconnect record; a relay sends a system-domain
// message holding one before it closes a consumer.
func (b *Builder) AppendDisconnect(reason uint8, dropped uint64) {
	d := b.record(TypeDisconnect, DisconnectSize)
	if d == nil {
		return
	}
	d[0] = reason
	clear(d[1:8])
	le.PutUint64(d[8:], dropped)
}

// auditRecord applies LevelAudit's per-type checks to a value starting at
// offset off of the message.
func auditRecord(t Type, off int, v []byte) error {
	if t == TypeOrderBook {
		return auditOrderBook(off, v)
	}
	if n := fixedSize(t); n != 0 && len(v) != n {
		return malformed(off, t.String()+" value length", uint64(len(v)), "exactly "+strconv.Itoa(n)+" bytes")
	}
	switch t {
	case TypeTrade:
		tr := TradeView(v)
		switch {
		case tr.Price() <= 0:
			return malformed(off+8, "Trade price", uint64(tr.Price()), "> 0")
		case tr.Side() > SideSell:
			return malformed(off+36, "Trade side", uint64(tr.Side()), "0 (buy) or 1 (sell)")
		}
		return nonZeroTS(off+24, "Trade exchange_ts", tr.ExchangeTS())
	case TypeQuote:
		q := QuoteView(v)
		for i, x := range [4]int64{q.BidPrice(), q.BidSize(), q.AskPrice(), q.AskSize()} {
			if x < 0 {
				return malformed(off+8+8*i, "Quote price or size", uint64(x), ">= 0")
			}
		}
		return nonZeroTS(off+40, "Quote quote_ts", q.QuoteTS())
	case TypePoolSwap:
		s := PoolSwapView(v)
		if d := max(s.AmountInDecimals(), s.AmountOutDecimals()); d > 38 {
			return malformed(off+70, "PoolSwap decimals", uint64(d), "at most 38")
		}
		return nonZeroTS(off+48, "PoolSwap ts", s.TS())
	case TypeGasPrice:
		return nonZeroTS(off+8, "GasPrice ts", GasPriceView(v).TS())
	case TypeSignalIdentity:
		if c := SignalIdentityView(v).Confidence(); c > 100 {
			return malformed(off+2, "SignalIdentity confidence", uint64(c), "0–100")
		}
	case TypeFill:
		return nonZeroTS(off+32, "Fill fill_ts", FillView(v).FillTS())
	case TypeHeartbeat:
		return nonZeroTS(off, "Heartbeat ts", HeartbeatView(v).TS())
	case TypeTraceContext:
		tc := TraceContextView(v)
		if err := nonZeroTS(off+8, "TraceContext start_ts", tc.StartTS()); err != nil {
			return err
		}
		return nonZeroTS(off+16, "TraceContext current_ts", tc.CurrentTS())
	}
	return nil
}

func auditOrderBook(off int, v []byte) error {
	if len(v) < OrderBookHeaderSize {
		return malformed(off, "OrderBook value length", uint64(len(v)), "at least 32 bytes")
	}
	ob := OrderBookView(v)
	if c := max(ob.BidCount(), ob.AskCount()); c > MaxBookLevels {
		return malformed(off+28, "OrderBook level count", uint64(c), "at most 50 per side")
	}
	if n := OrderBookHeaderSize + BookLevelSize*(int(ob.BidCount())+int(ob.AskCount())); len(v) != n {
		return malformed(off, "OrderBook value length", uint64(len(v)), "exactly "+strconv.Itoa(n)+" bytes for its levels")
	}
	return nonZeroTS(off, "OrderBook snapshot_ts", ob.SnapshotTS())
}

func nonZeroTS(off int, field string, ts uint64) error {
	if ts == 0 {
		return malformed(off, field, 0, "a non-zero timestamp (ns since the Unix epoch)")
	}
	return nil
}
