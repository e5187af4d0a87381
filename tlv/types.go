package tlv

import "strconv"

// Type is a TLV record type (SPEC section 2).
type Type uint8

// The types this package has typed views for. Other types inside the defined
// ranges are carried opaquely.
const (
	TypeTrade          Type = 1
	TypeQuote          Type = 2
	TypeOrderBook      Type = 3
	TypePoolSwap       Type = 11
	TypeGasPrice       Type = 18
	TypeSignalIdentity Type = 20
	TypeEconomics      Type = 22
	TypeOrderRequest   Type = 40
	TypeFill           Type = 42
	TypeHeartbeat      Type = 100
	TypeTraceContext   Type = 108
	TypeSubscribe      Type = 109
	TypeAck            Type = 110
	TypeDisconnect     Type = 111
)

// The type ranges of SPEC section 2, in one place: everything else is derived
// from this table.
var typeRanges = [...]struct {
	first, last Type
	class       uint8
}{
	{1, 19, uint8(DomainMarketData)},
	{20, 39, uint8(DomainSignal)},
	{40, 79, uint8(DomainExecution)},
	{80, 119, uint8(DomainSystem)},
	{200, 254, classVendor},
}

// classVendor marks vendor/private types; class 0 is reserved or invalid.
const classVendor = 5

// dexPoolFirst..dexPoolLast are the DEX pool event types refused under
// PrecisionExchange.
const (
	dexPoolFirst Type = 10
	dexPoolLast  Type = 16
)

// typeClass maps a type byte to its domain (1..4), classVendor, or 0 when the
// type is invalid or reserved. One table load per record keeps validation cheap.
var typeClass = func() (t [256]uint8) {
	for _, r := range typeRanges {
		for x := int(r.first); x <= int(r.last); x++ {
			t[x] = r.class
		}
	}
	return t
}()

var typeNames = map[Type]string{
	TypeTrade: "Trade", TypeQuote: "Quote", TypeOrderBook: "OrderBook",
	TypePoolSwap: "PoolSwap", TypeGasPrice: "GasPrice",
	TypeSignalIdentity: "SignalIdentity", TypeEconomics: "Economics",
	TypeOrderRequest: "OrderRequest", TypeFill: "Fill",
	TypeHeartbeat: "Heartbeat", TypeTraceContext: "TraceContext",
	TypeSubscribe: "Subscribe", TypeAck: "Ack", TypeDisconnect: "Disconnect",
}

// String returns the registry name of t, or "type(N)".
func (t Type) String() string {
	if n, ok := typeNames[t]; ok {
		return n
	}
	return "type(" + strconv.Itoa(int(t)) + ")"
}

// Domain returns the relay domain t belongs to, or 0 for vendor, reserved and
// invalid types.
func (t Type) Domain() Domain {
	if c := typeClass[t]; c != classVendor {
		return Domain(c)
	}
	return 0
}

// Vendor reports whether t is a vendor/private type (200–254), accepted in
// every domain except under LevelAudit.
func (t Type) Vendor() bool { return typeClass[t] == classVendor }

// Reserved reports whether t may never appear on the wire: 0, 120–199, and 255
// as an inner type.
func (t Type) Reserved() bool { return typeClass[t] == 0 }
