package main

import (
	"encoding/hex"
	"encoding/json"
	"fmt"
	"math/big"
	"reflect"
	"strconv"
	"strings"
	"time"
	"unicode"

	"github.com/msgsink/msgsink/cmd/msgsink/internal/decimal"
	"github.com/msgsink/msgsink/tlv"
)

// field is one named value of a decoded record, in wire order.
type field struct {
	Name  string
	Value any // uint64, int64, string (decimals, hex, names), or []level
}

// record is one decoded TLV.
type record struct {
	Type   tlv.Type
	Offset int
	Fields []field
}

// level is one order book level.
type level struct {
	Price  string `json:"price"`
	Size   string `json:"size"`
	Orders uint32 `json:"orders"`
}

// views turns the value of each fixed-size type into its build struct, which
// lists the fields in wire order. Everything else is shown as hex.
var views = map[tlv.Type]func(v []byte) (any, error){
	tlv.TypeTrade:          func(v []byte) (any, error) { w, err := tlv.AsTrade(v); return call(err, w.Trade) },
	tlv.TypeQuote:          func(v []byte) (any, error) { w, err := tlv.AsQuote(v); return call(err, w.Quote) },
	tlv.TypePoolSwap:       func(v []byte) (any, error) { w, err := tlv.AsPoolSwap(v); return call(err, w.PoolSwap) },
	tlv.TypeGasPrice:       func(v []byte) (any, error) { w, err := tlv.AsGasPrice(v); return call(err, w.GasPrice) },
	tlv.TypeSignalIdentity: func(v []byte) (any, error) { w, err := tlv.AsSignalIdentity(v); return call(err, w.SignalIdentity) },
	tlv.TypeEconomics:      func(v []byte) (any, error) { w, err := tlv.AsEconomics(v); return call(err, w.Economics) },
	tlv.TypeOrderRequest:   func(v []byte) (any, error) { w, err := tlv.AsOrderRequest(v); return call(err, w.OrderRequest) },
	tlv.TypeFill:           func(v []byte) (any, error) { w, err := tlv.AsFill(v); return call(err, w.Fill) },
	tlv.TypeHeartbeat:      func(v []byte) (any, error) { w, err := tlv.AsHeartbeat(v); return call(err, w.Heartbeat) },
	tlv.TypeTraceContext:   func(v []byte) (any, error) { w, err := tlv.AsTraceContext(v); return call(err, w.TraceContext) },
	tlv.TypeSubscribe: func(v []byte) (any, error) {
		w, err := tlv.AsSubscribe(v)
		if err != nil {
			return nil, err
		}
		return struct{ Role uint8 }{w.Role()}, nil
	},
	tlv.TypeDisconnect: func(v []byte) (any, error) {
		w, err := tlv.AsDisconnect(v)
		if err != nil {
			return nil, err
		}
		return struct {
			Reason  uint8
			Dropped uint64
		}{w.Reason(), w.Dropped()}, nil
	},
}

// call returns get() unless the view could not be made.
func call[T any](err error, get func() T) (any, error) {
	if err != nil {
		return nil, err
	}
	return get(), nil
}

// decode reads every record of f. A record whose value does not fit its
// type's view is shown as hex with the reason, never dropped.
func decode(f tlv.Frame) ([]record, error) {
	var recs []record
	it := f.Records()
	for it.Next() {
		r := record{Type: it.Type(), Offset: it.Offset()}
		v := it.Value()
		switch {
		case it.Type() == tlv.TypeOrderBook:
			r.Fields = orderBookFields(v)
		case views[it.Type()] != nil:
			s, err := views[it.Type()](v)
			if err != nil {
				r.Fields = []field{{"raw", hex.EncodeToString(v)}, {"error", err.Error()}}
			} else {
				r.Fields = structFields(reflect.ValueOf(s))
			}
		default:
			r.Fields = []field{{"raw", hex.EncodeToString(v)}}
		}
		recs = append(recs, r)
	}
	return recs, it.Err()
}

func orderBookFields(v []byte) []field {
	w, err := tlv.AsOrderBook(v)
	if err != nil {
		return []field{{"raw", hex.EncodeToString(v)}, {"error", err.Error()}}
	}
	fs := structFields(reflect.ValueOf(w.OrderBook()))
	side := func(n int, at func(int) tlv.BookLevel) []level {
		ls := make([]level, n)
		for i := range ls {
			l := at(i)
			ls[i] = level{decimal.String(l.Price, decimal.Places), decimal.String(l.Size, decimal.Places), l.OrderCount}
		}
		return ls
	}
	return append(fs,
		field{"bids", side(int(w.BidCount()), w.Bid)},
		field{"asks", side(int(w.AskCount()), w.Ask)})
}

var uint128Type = reflect.TypeFor[tlv.Uint128]()

// names spells out the enumerated fields; a value outside the list is shown
// as its number.
var names = map[string][]string{
	"Side": {tlv.SideBuy: "buy", tlv.SideSell: "sell"},
}

// structFields lists the fields of a build struct with the protocol's units
// made readable: every i64 is a fixed-point price or size with 8 decimals,
// a u128 amount is scaled by the decimals field beside it, byte arrays are
// hex.
func structFields(s reflect.Value) []field {
	t := s.Type()
	fs := make([]field, 0, t.NumField())
	for i := range t.NumField() {
		name, v := t.Field(i).Name, s.Field(i)
		var out any
		switch {
		case v.Type() == uint128Type:
			decimals := 0
			if d := s.FieldByName(name + "Decimals"); d.IsValid() {
				decimals = int(d.Uint())
			}
			out = scaled(v.Interface().(tlv.Uint128).Big(), decimals)
		case v.Kind() == reflect.Int64:
			out = decimal.String(v.Int(), decimal.Places)
		case v.Kind() == reflect.Array:
			b := make([]byte, v.Len())
			reflect.Copy(reflect.ValueOf(b), v)
			out = hex.EncodeToString(b)
		case v.CanInt():
			out = v.Int()
		case names[name] != nil && v.Uint() < uint64(len(names[name])):
			out = names[name][v.Uint()]
		default:
			out = v.Uint()
		}
		fs = append(fs, field{snake(name), out})
	}
	return fs
}

// scaled formats n / 10^decimals exactly, without floating point.
func scaled(n *big.Int, decimals int) string {
	s := new(big.Int).Abs(n).String()
	if decimals > 0 {
		if len(s) <= decimals {
			s = strings.Repeat("0", decimals-len(s)+1) + s
		}
		s = s[:len(s)-decimals] + "." + s[len(s)-decimals:]
	}
	if n.Sign() < 0 {
		s = "-" + s
	}
	return s
}

// snake turns a Go field name into the SPEC's name: ExchangeTS → exchange_ts.
func snake(s string) string {
	var b strings.Builder
	rs := []rune(s)
	for i, r := range rs {
		if unicode.IsUpper(r) && i > 0 && (unicode.IsLower(rs[i-1]) || i+1 < len(rs) && unicode.IsLower(rs[i+1])) {
			b.WriteByte('_')
		}
		b.WriteRune(unicode.ToLower(r))
	}
	return b.String()
}

// formatText writes one frame as one human-readable line.
func formatText(f tlv.Frame, recs []record) string {
	h := f.Header()
	var b strings.Builder
	fmt.Fprintf(&b, "%s seq=%d src=%d %s %dB", time.Unix(0, int64(h.Timestamp())).UTC().Format("15:04:05.000000000"),
		h.Sequence(), h.Source(), h.Domain(), len(f))
	for _, r := range recs {
		fmt.Fprintf(&b, " %s{", r.Type)
		for i, fl := range r.Fields {
			if i > 0 {
				b.WriteByte(' ')
			}
			fmt.Fprintf(&b, "%s=%v", fl.Name, fl.Value)
		}
		b.WriteByte('}')
	}
	return b.String()
}

// formatJSON writes one frame as one JSON object, fields in wire order.
func formatJSON(f tlv.Frame, recs []record) ([]byte, error) {
	h := f.Header()
	b := []byte(`{"sequence":` + strconv.FormatUint(h.Sequence(), 10) +
		`,"source":` + strconv.Itoa(int(h.Source())) +
		`,"domain":` + strconv.Quote(h.Domain().String()) +
		`,"timestamp_ns":` + strconv.FormatUint(h.Timestamp(), 10) +
		`,"size":` + strconv.Itoa(len(f)) + `,"records":[`)
	for i, r := range recs {
		if i > 0 {
			b = append(b, ',')
		}
		b = append(b, `{"type":`+strconv.Quote(r.Type.String())+`,"type_id":`+strconv.Itoa(int(r.Type))+`,"offset":`+strconv.Itoa(r.Offset)...)
		for _, fl := range r.Fields {
			v, err := json.Marshal(fl.Value)
			if err != nil {
				return nil, err
			}
			b = append(b, ',')
			b = strconv.AppendQuote(b, fl.Name)
			b = append(b, ':')
			b = append(b, v...)
		}
		b = append(b, '}')
	}
	return append(b, "]}"...), nil
}
