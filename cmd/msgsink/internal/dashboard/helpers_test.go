package dashboard

import (
	"encoding/binary"
	"slices"
	"testing"

	"github.com/msgsink/msgsink/tlv"
)

// testFrames are one frame of each kind the board reads, built by tlv's
// Builder and copied out of their pooled buffers.
type testFrames struct {
	trade, quote, book tlv.Frame
}

func newFrames(tb testing.TB, source uint8, ts uint64) testFrames {
	tb.Helper()
	b := tlv.NewBuilder(tlv.DomainMarketData, source)
	build := func(add func()) tlv.Frame {
		add()
		m, err := b.FinishAt(max(ts, 1))
		if err != nil {
			tb.Fatal(err)
		}
		defer m.Release()
		return tlv.Frame(slices.Clone(m.Bytes()))
	}
	return testFrames{
		trade: build(func() {
			b.AppendTrade(&tlv.Trade{Instrument: 1, Price: 6_500_012_345_678, Volume: 25_000_000, ExchangeTS: 1, Venue: 1, Side: 1})
		}),
		quote: build(func() {
			b.AppendQuote(&tlv.Quote{Instrument: 1, BidPrice: 6_500_000_000_000, BidSize: 100_000_000,
				AskPrice: 6_500_100_000_000, AskSize: 200_000_000, QuoteTS: 1, Venue: 1})
		}),
		book: build(func() {
			b.AppendOrderBook(&tlv.OrderBook{SnapshotTS: 1, BookSeq: 1, Instrument: 2, Venue: 1},
				[]tlv.BookLevel{{Price: 99 * tlv.PriceScale, Size: tlv.PriceScale}},
				[]tlv.BookLevel{{Price: 101 * tlv.PriceScale, Size: tlv.PriceScale}})
		}),
	}
}

// setInstrument rewrites the instrument of a frame holding one Trade or
// Quote in the standard TLV form (the instrument is the value's first field).
func setInstrument(f tlv.Frame, id uint64) {
	binary.LittleEndian.PutUint64(f[tlv.HeaderSize+2:], id)
}

// setSequence rewrites the header's sequence.
func setSequence(f tlv.Frame, seq uint64) { f.Header().SetSequence(seq) }
