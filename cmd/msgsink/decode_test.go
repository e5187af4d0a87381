package main

import (
	"strings"
	"testing"

	"github.com/msgsink/msgsink/tlv"
)

// frameOf builds one frame with the records add appends.
func frameOf(t *testing.T, d tlv.Domain, add func(b *tlv.Builder)) tlv.Frame {
	t.Helper()
	b := tlv.NewBuilder(d, 7)
	add(b)
	m, err := b.Finish()
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(m.Release)
	f, err := tlv.Parse(m.Bytes())
	if err != nil {
		t.Fatal(err)
	}
	return f
}

// records formats f both ways and returns the text after the header fields
// and the JSON records array.
func records(t *testing.T, f tlv.Frame) (text, js string) {
	t.Helper()
	recs, err := decode(f)
	if err != nil {
		t.Fatal(err)
	}
	line := formatText(f, recs)
	_, text, _ = strings.Cut(line, "B ") // after "<size>B "
	b, err := formatJSON(f, recs)
	if err != nil {
		t.Fatal(err)
	}
	_, js, _ = strings.Cut(string(b), `"records":`)
	return text, js
}

func TestDecodeTrade(t *testing.T) {
	f := frameOf(t, tlv.DomainMarketData, func(b *tlv.Builder) {
		b.AppendTrade(&tlv.Trade{Instrument: 42, Price: 65_123_45000000, Volume: 25_000000,
			ExchangeTS: 1700000000000000000, Venue: 3, Side: tlv.SideSell})
	})
	text, js := records(t, f)
	if want := "Trade{instrument=42 price=65123.45000000 volume=0.25000000 exchange_ts=1700000000000000000 venue=3 asset_type=0 side=sell}"; text != want {
		t.Errorf("text\n got %s\nwant %s", text, want)
	}
	if want := `[{"type":"Trade","type_id":1,"offset":32,"instrument":42,"price":"65123.45000000","volume":"0.25000000","exchange_ts":1700000000000000000,"venue":3,"asset_type":0,"side":"sell"}]}`; js != want {
		t.Errorf("json\n got %s\nwant %s", js, want)
	}
}

func TestDecodeOrderBookAndNegativePrices(t *testing.T) {
	f := frameOf(t, tlv.DomainMarketData, func(b *tlv.Builder) {
		b.AppendOrderBook(&tlv.OrderBook{Instrument: 9, BookSeq: 5},
			[]tlv.BookLevel{{Price: -1_50000000, Size: 1, OrderCount: 2}},
			[]tlv.BookLevel{{Price: 3, Size: 10_00000000, OrderCount: 1}})
	})
	_, js := records(t, f)
	for _, want := range []string{
		`"book_seq":5`, `"instrument":9`,
		`"bids":[{"price":"-1.50000000","size":"0.00000001","orders":2}]`,
		`"asks":[{"price":"0.00000003","size":"10.00000000","orders":1}]`,
	} {
		if !strings.Contains(js, want) {
			t.Errorf("json lacks %s:\n%s", want, js)
		}
	}
}

// A u128 amount is scaled by the decimals field beside it; addresses are hex.
func TestDecodePoolSwap(t *testing.T) {
	f := frameOf(t, tlv.DomainMarketData, func(b *tlv.Builder) {
		s := tlv.PoolSwap{AmountIn: tlv.Uint128{Lo: 1_500000}, AmountInDecimals: 6,
			AmountOut: tlv.Uint128{Hi: 1}, AmountOutDecimals: 18}
		s.Pool[19] = 0xab
		b.AppendPoolSwap(&s)
	})
	text, _ := records(t, f)
	for _, want := range []string{
		"amount_in=1.500000 ", "amount_out=18.446744073709551616 ",
		"pool=00000000000000000000000000000000000000ab ",
	} {
		if !strings.Contains(text, want) {
			t.Errorf("text lacks %q:\n%s", want, text)
		}
	}
}

// A record the command has no view for is shown as hex, never dropped.
func TestDecodeUnknownTypeAsHex(t *testing.T) {
	f := frameOf(t, tlv.DomainMarketData, func(b *tlv.Builder) {
		b.Append(tlv.Type(19), []byte{0xde, 0xad}) // in the market-data range, unassigned
	})
	text, _ := records(t, f)
	if !strings.Contains(text, "{raw=dead}") {
		t.Errorf("text %q lacks the raw value", text)
	}
}

func TestDecodeDisconnect(t *testing.T) {
	f := frameOf(t, tlv.DomainSystem, func(b *tlv.Builder) { b.AppendDisconnect(tlv.DisconnectLagged, 12) })
	text, js := records(t, f)
	if want := "Disconnect{reason=1 dropped=12}"; text != want {
		t.Errorf("text\n got %s\nwant %s", text, want)
	}
	if want := `[{"type":"Disconnect","type_id":111,"offset":32,"reason":1,"dropped":12}]}`; js != want {
		t.Errorf("json\n got %s\nwant %s", js, want)
	}
}
