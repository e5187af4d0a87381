package tlv_test

import (
	"errors"
	"fmt"

	"github.com/msgsink/msgsink/tlv"
)

func ExampleBuilder() {
	b := tlv.NewBuilder(tlv.DomainMarketData, 1) // one Builder per producing source
	b.AppendTrade(&tlv.Trade{
		Instrument: 42,
		Price:      65_123_45000000, // 65,123.45 at 8 decimals
		Volume:     25_000000,       // 0.25
		Side:       tlv.SideBuy,
	})
	m, err := b.FinishAt(1_700_000_000_000_000_000)
	if err != nil {
		panic(err)
	}
	defer m.Release() // or hand m to a sink, which takes the reference

	h := m.Header()
	fmt.Println(h.Domain(), "seq", h.Sequence(), "bytes", m.Len())
	// Output: market_data seq 1 bytes 74
}

func ExampleParse() {
	b := tlv.NewBuilder(tlv.DomainMarketData, 1)
	b.AppendTrade(&tlv.Trade{Instrument: 7, Price: 1_00000000, Volume: 3_00000000})
	m, _ := b.FinishAt(1)
	defer m.Release()
	wire := m.Bytes() // as a receiver would read it from a socket

	f, err := tlv.Parse(wire)
	if err != nil {
		panic(err)
	}
	it := f.Records()
	for it.Next() {
		if it.Type() == tlv.TypeTrade {
			t, _ := tlv.AsTrade(it.Value())
			fmt.Printf("instrument %d price %.2f volume %.2f\n", t.Instrument(),
				float64(t.Price())/tlv.PriceScale, float64(t.Volume())/tlv.PriceScale)
		}
	}
	if err := it.Err(); err != nil {
		panic(err)
	}
	// Output: instrument 7 price 1.00 volume 3.00
}

func ExampleParse_errors() {
	_, err := tlv.Parse([]byte("not a message, but 32 bytes long"))
	var me *tlv.MalformedError
	fmt.Println(errors.Is(err, tlv.ErrMalformed), errors.As(err, &me) && me.Field == "magic")
	fmt.Println(err)
	// Output:
	// true true
	// tlv: malformed message: magic at offset 0 is 544501614 (0x20746f6e); want 0xDEADBEEF (bytes EF BE AD DE)
}

func ExampleValidator() {
	b := tlv.NewBuilder(tlv.DomainMarketData, 1)
	b.AppendPoolSwap(&tlv.PoolSwap{TS: 1, AmountInDecimals: 18, AmountOutDecimals: 6})
	m, _ := b.FinishAt(1)
	defer m.Release()

	exchangeOnly := tlv.Validator{Domain: tlv.DomainMarketData, Precision: tlv.PrecisionExchange}
	err := exchangeOnly.Check(m)
	fmt.Println(errors.Is(err, tlv.ErrPrecision), errors.Is(err, tlv.ErrDomain))
	// Output: true true
}

func ExampleValidator_FrameSize() {
	b := tlv.NewBuilder(tlv.DomainSystem, 60)
	var stream []byte
	for i := range 3 {
		b.AppendHeartbeat(&tlv.Heartbeat{TS: uint64(i + 1)})
		m, _ := b.FinishAt(uint64(i + 1))
		stream = append(stream, m.Bytes()...)
		m.Release()
	}
	var v tlv.Validator
	for len(stream) >= tlv.HeaderSize {
		n, err := v.FrameSize(stream)
		if err != nil || n > len(stream) {
			break // bad stream, or wait for more bytes
		}
		f, err := v.Parse(stream[:n])
		if err != nil {
			panic(err)
		}
		fmt.Println("frame", f.Header().Sequence(), "of", n, "bytes")
		stream = stream[n:]
	}
	// Output:
	// frame 1 of 50 bytes
	// frame 2 of 50 bytes
	// frame 3 of 50 bytes
}

func ExampleMessage_Retain() {
	b := tlv.NewBuilder(tlv.DomainMarketData, 1)
	m, _ := b.FinishAt(1)
	// Fan-out to two holders: one extra reference, no copy.
	m.Retain()
	m.Release() // first holder done
	fmt.Println(m.Len())
	m.Release() // last holder: the buffer goes back to the builder
	// Output: 32
}

func ExampleMessage_RetainN() {
	b := tlv.NewBuilder(tlv.DomainMarketData, 1)
	m, _ := b.FinishAt(1)
	// Fan-out to three holders: two extra references in one atomic add.
	m.RetainN(2)
	m.Release()
	m.Release()
	fmt.Println(m.Len()) // the third reference still holds it
	m.Release()          // last holder: the buffer goes back to the builder
	// Output: 32
}

func ExampleMessage_CheckLive() {
	b := tlv.NewBuilder(tlv.DomainMarketData, 1)
	m, _ := b.FinishAt(1)
	fmt.Println(m.CheckLive())
	m.Release() // a sink's Send would have taken this reference
	// Sending it again is a bug that Check (every sink's Send) refuses.
	err := tlv.Validator{}.Check(m)
	fmt.Println(errors.Is(err, tlv.ErrMalformed))
	var nilMsg *tlv.Message
	fmt.Println(nilMsg.CheckLive())
	// Output:
	// <nil>
	// true
	// tlv: malformed message: message at offset 0 is 0 (0x0); want a *Message from a Builder or Validator.Copy, not nil
}

func ExampleAsOrderBook() {
	b := tlv.NewBuilder(tlv.DomainMarketData, 1)
	b.AppendOrderBook(&tlv.OrderBook{Instrument: 9, SnapshotTS: 1},
		[]tlv.BookLevel{{Price: 100_00000000, Size: 2_00000000, OrderCount: 3}},
		[]tlv.BookLevel{{Price: 101_00000000, Size: 1_00000000, OrderCount: 1}})
	m, _ := b.FinishAt(1)
	defer m.Release()
	it := m.Frame().Records()
	it.Next()
	ob, err := tlv.AsOrderBook(it.Value())
	if err != nil {
		panic(err)
	}
	fmt.Println(ob.BidCount(), ob.AskCount(), ob.Bid(0).Price/tlv.PriceScale, ob.Ask(0).Price/tlv.PriceScale)
	// Output: 1 1 100 101
}
