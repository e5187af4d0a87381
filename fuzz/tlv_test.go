package fuzz

import (
	"bytes"
	"encoding/binary"
	"errors"
	"hash/crc32"
	"runtime"
	"testing"

	"github.com/msgsink/msgsink/tlv"
)

var levels = []tlv.Level{tlv.LevelPerformance, tlv.LevelStandard, tlv.LevelAudit}

// FuzzParse: Parse never panics at any level, returns a view of its input
// (never a copy), allocates a bounded amount whatever lengths the input
// claims, and whatever it accepts re-encodes through the Builder to the same
// bytes.
func FuzzParse(f *testing.F) {
	for _, s := range parseSeeds() {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, data []byte) {
		for _, lvl := range levels {
			v := tlv.Validator{Level: lvl}
			fr, err := v.Parse(data)
			if err != nil {
				if fr != nil {
					t.Fatalf("%s: frame returned with error %v", lvl, err)
				}
				if !errors.Is(err, tlv.ErrMalformed) && !errors.Is(err, tlv.ErrDomain) && !errors.Is(err, tlv.ErrChecksum) {
					t.Fatalf("%s: untyped error %v", lvl, err)
				}
				continue
			}
			if len(fr) != len(data) || (len(data) > 0 && &fr[0] != &data[0]) {
				t.Fatalf("%s: Parse copied its input", lvl)
			}
			readEveryView(t, fr)
			if lvl == tlv.LevelStandard {
				reencode(t, fr)
			}
		}
		if sampled(data) {
			boundedAllocs(t, data)
		}
	})
}

// readEveryView walks an accepted frame and reads every field of every view
// the records allow; none of it may panic.
func readEveryView(t *testing.T, fr tlv.Frame) {
	it := fr.Records()
	for it.Next() {
		v := it.Value()
		switch it.Type() {
		case tlv.TypeTrade:
			if x, err := tlv.AsTrade(v); err == nil {
				_ = x.Trade()
			}
		case tlv.TypeQuote:
			if x, err := tlv.AsQuote(v); err == nil {
				_ = x.Quote()
			}
		case tlv.TypeOrderBook:
			if x, err := tlv.AsOrderBook(v); err == nil {
				_ = x.OrderBook()
				for i := range int(x.BidCount()) {
					_ = x.Bid(i)
				}
				for i := range int(x.AskCount()) {
					_ = x.Ask(i)
				}
			}
		case tlv.TypePoolSwap:
			if x, err := tlv.AsPoolSwap(v); err == nil {
				_ = x.PoolSwap()
			}
		case tlv.TypeGasPrice:
			if x, err := tlv.AsGasPrice(v); err == nil {
				_ = x.GasPrice()
			}
		case tlv.TypeSignalIdentity:
			if x, err := tlv.AsSignalIdentity(v); err == nil {
				_ = x.SignalIdentity()
			}
		case tlv.TypeEconomics:
			if x, err := tlv.AsEconomics(v); err == nil {
				_ = x.Economics()
			}
		case tlv.TypeOrderRequest:
			if x, err := tlv.AsOrderRequest(v); err == nil {
				_ = x.OrderRequest()
			}
		case tlv.TypeFill:
			if x, err := tlv.AsFill(v); err == nil {
				_ = x.Fill()
			}
		case tlv.TypeHeartbeat:
			if x, err := tlv.AsHeartbeat(v); err == nil {
				_ = x.Heartbeat()
			}
		case tlv.TypeTraceContext:
			if x, err := tlv.AsTraceContext(v); err == nil {
				_ = x.TraceContext()
			}
		case tlv.TypeSubscribe:
			if x, err := tlv.AsSubscribe(v); err == nil {
				_ = x.Role()
			}
		}
	}
	if err := it.Err(); err != nil {
		t.Fatalf("Parse accepted a frame the iterator refuses: %v", err)
	}
}

// reencode rebuilds an accepted frame from its header fields and records and
// expects the same bytes: the wire format has one encoding per message.
func reencode(t *testing.T, fr tlv.Frame) {
	h := fr.Header()
	b := &tlv.Builder{Domain: h.Domain(), Source: h.Source(), Flags: h.Flags(), Checksum: h.Flags()&tlv.FlagChecksummed != 0}
	b.SetSequence(h.Sequence())
	it := fr.Records()
	for it.Next() {
		b.Append(it.Type(), it.Value())
	}
	m, err := b.FinishAt(h.Timestamp())
	if err != nil {
		t.Fatalf("Builder refused what Parse accepted: %v", err)
	}
	defer m.Release()
	if !bytes.Equal(m.Bytes(), fr) {
		t.Fatalf("re-encoding differs:\n got % x\nwant % x", m.Bytes(), []byte(fr))
	}
}

// sampled picks about one input in 32 for the allocation check, which stops
// the world twice and would otherwise slow fuzzing tenfold.
func sampled(data []byte) bool { return !raceEnabled && crc32.ChecksumIEEE(data)%32 == 0 }

// boundedAllocs checks that parsing allocates a small constant (an error
// value) and nothing in proportion to any length the input claims.
func boundedAllocs(t *testing.T, data []byte) {
	defer runtime.GOMAXPROCS(runtime.GOMAXPROCS(1))
	var before, after runtime.MemStats
	runtime.ReadMemStats(&before)
	for _, lvl := range levels {
		_, _ = tlv.Validator{Level: lvl}.Parse(data)
	}
	runtime.ReadMemStats(&after)
	if n, bytes := after.Mallocs-before.Mallocs, after.TotalAlloc-before.TotalAlloc; n > 12 || bytes > 2048 {
		t.Fatalf("parsing %d input bytes at three levels allocated %d objects, %d bytes", len(data), n, bytes)
	}
}

func parseSeeds() [][]byte {
	build := func(d tlv.Domain, flags tlv.Flags, checksum bool, add func(b *tlv.Builder)) []byte {
		b := &tlv.Builder{Domain: d, Source: 1, Flags: flags, Checksum: checksum}
		add(b)
		m, err := b.FinishAt(1_700_000_000_000_000_000)
		if err != nil {
			panic(err)
		}
		defer m.Release()
		return bytes.Clone(m.Bytes())
	}
	trade := build(tlv.DomainMarketData, 0, false, func(b *tlv.Builder) {
		b.AppendTrade(&tlv.Trade{Instrument: 1, Price: 1, ExchangeTS: 1})
	})
	seeds := [][]byte{
		nil,
		trade,
		trade[:40],
		build(tlv.DomainMarketData, 0, true, func(b *tlv.Builder) {
			b.AppendQuote(&tlv.Quote{QuoteTS: 1})
			b.AppendOrderBook(&tlv.OrderBook{SnapshotTS: 1}, make([]tlv.BookLevel, 12), make([]tlv.BookLevel, 3))
			b.AppendPoolSwap(&tlv.PoolSwap{TS: 1})
			b.Append(200, []byte("vendor"))
		}),
		build(tlv.DomainSignal, 0, false, func(b *tlv.Builder) {
			b.AppendSignalIdentity(&tlv.SignalIdentity{})
			b.AppendEconomics(&tlv.Economics{})
		}),
		build(tlv.DomainExecution, tlv.FlagRequiresAck, true, func(b *tlv.Builder) {
			b.AppendOrderRequest(&tlv.OrderRequest{})
			b.AppendFill(&tlv.Fill{FillTS: 1})
		}),
		build(tlv.DomainSystem, tlv.FlagTrace, false, func(b *tlv.Builder) {
			b.AppendHeartbeat(&tlv.Heartbeat{TS: 1})
			b.AppendTraceContext(&tlv.TraceContext{StartTS: 1, CurrentTS: 1})
			b.AppendSubscribe(tlv.RoleConsumer)
			b.Append(110, bytes.Repeat([]byte{1}, 300))
		}),
	}
	// An extended record claiming 65535 bytes in a short message.
	absurd := bytes.Clone(trade)
	absurd = append(absurd[:32], 255, 0, 5, 0xFF, 0xFF, 1, 2, 3)
	binary.LittleEndian.PutUint32(absurd[24:], uint32(len(absurd)-32))
	return append(seeds, absurd)
}

// specDomain is SPEC section 2's type table written out independently of the
// tlv package: the domain a type belongs to, or vendor, or reserved.
func specDomain(t byte) (domain byte, vendor, reserved bool) {
	switch {
	case t == 0:
		return 0, false, true
	case t <= 19:
		return 1, false, false
	case t <= 39:
		return 2, false, false
	case t <= 79:
		return 3, false, false
	case t <= 119:
		return 4, false, false
	case t <= 199:
		return 0, false, true
	case t <= 254:
		return 0, true, false
	}
	return 0, false, true // 255 inside an extended record
}

// FuzzDomain: domain and precision validation agree with the independent
// table for every header domain, type, level, precision and sink domain.
func FuzzDomain(f *testing.F) {
	f.Add(uint8(1), uint8(1), uint8(0), uint8(1), uint8(0), uint16(40))
	f.Add(uint8(1), uint8(42), uint8(0), uint8(1), uint8(0), uint16(40))
	f.Add(uint8(4), uint8(200), uint8(2), uint8(0), uint8(4), uint16(300))
	f.Add(uint8(1), uint8(11), uint8(1), uint8(1), uint8(0), uint16(168))
	f.Add(uint8(1), uint8(2), uint8(0), uint8(2), uint8(1), uint16(56))
	f.Add(uint8(3), uint8(150), uint8(0), uint8(1), uint8(0), uint16(0))
	f.Add(uint8(0), uint8(1), uint8(0), uint8(1), uint8(0), uint16(0))
	f.Fuzz(func(t *testing.T, domain, typ, level, precision, sinkDomain uint8, n uint16) {
		lvl, prec, size := tlv.Level(level%3), tlv.Precision(precision%3), int(n%700)
		sink := tlv.Domain(sinkDomain % 5)
		if typ == 255 && size <= 255 {
			size += 256 // type 255 can only be an inner type of an extended record
		}
		msg := make([]byte, 32, 32+5+size)
		binary.LittleEndian.PutUint32(msg, 0xDEADBEEF)
		msg[4], msg[5], msg[6] = domain, 1, 1
		binary.LittleEndian.PutUint64(msg[16:], 1)
		if size > 255 {
			msg = append(msg, 255, 0, typ, byte(size), byte(size>>8))
		} else {
			msg = append(msg, typ, byte(size))
		}
		msg = append(msg, make([]byte, size)...)
		binary.LittleEndian.PutUint32(msg[24:], uint32(len(msg)-32))

		want, vendor, reserved := specDomain(typ)
		tt := tlv.Type(typ)
		if tt.Vendor() != vendor || tt.Reserved() != reserved || byte(tt.Domain()) != want {
			t.Fatalf("Type(%d): Domain %d Vendor %v Reserved %v; table says %d %v %v",
				typ, tt.Domain(), tt.Vendor(), tt.Reserved(), want, vendor, reserved)
		}

		_, err := tlv.Validator{Level: lvl, Precision: prec, Domain: sink}.Parse(msg)
		fail := func(format string, args ...any) {
			t.Helper()
			t.Fatalf("header domain %d, type %d, level %s, precision %s, sink domain %d, value %d bytes: %v: "+format,
				append([]any{domain, typ, lvl, prec, sink, size, err}, args...)...)
		}
		if domain == 0 || domain > 4 {
			if !errors.Is(err, tlv.ErrMalformed) || errors.Is(err, tlv.ErrDomain) {
				fail("an invalid header domain must be ErrMalformed only")
			}
			return
		}
		sinkRefuses := sink != 0 && sink != tlv.Domain(domain)
		typeRefused := lvl != tlv.LevelPerformance && (reserved || (vendor && lvl == tlv.LevelAudit) || (!vendor && !reserved && want != domain))
		precRefused := (prec == tlv.PrecisionExchange && typ >= 10 && typ <= 16) ||
			(prec == tlv.PrecisionDEX && typ >= 1 && typ <= 3)
		if got := errors.Is(err, tlv.ErrDomain); got != (sinkRefuses || typeRefused || precRefused) {
			fail("ErrDomain=%v, want sink %v || type %v || precision %v", got, sinkRefuses, typeRefused, precRefused)
		}
		if got := errors.Is(err, tlv.ErrPrecision); got != (precRefused && !sinkRefuses && !typeRefused) {
			fail("ErrPrecision=%v, want %v", got, precRefused && !sinkRefuses && !typeRefused)
		}
		// Below audit, a well-formed record is refused for its domain or not at
		// all; audit may also refuse its value (zero timestamps and the like).
		if lvl != tlv.LevelAudit && err != nil && !errors.Is(err, tlv.ErrDomain) {
			fail("refused for something other than its domain")
		}
	})
}
