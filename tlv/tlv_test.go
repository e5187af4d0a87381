package tlv_test

import (
	"bytes"
	"encoding/binary"
	"errors"
	"reflect"
	"testing"

	"github.com/msgsink/msgsink/tlv"
)

// raw builds message bytes by hand, independent of the Builder, so the parser
// is tested against the spec and not against our own encoder.
func raw(domain tlv.Domain, flags tlv.Flags, records ...[]byte) []byte {
	b := make([]byte, tlv.HeaderSize)
	binary.LittleEndian.PutUint32(b[0:], 0xDEADBEEF)
	b[4], b[5], b[6], b[7] = byte(domain), 1, 7, byte(flags)
	binary.LittleEndian.PutUint64(b[8:], 99)
	binary.LittleEndian.PutUint64(b[16:], 1_700_000_000_000_000_000)
	for _, r := range records {
		b = append(b, r...)
	}
	binary.LittleEndian.PutUint32(b[24:], uint32(len(b)-tlv.HeaderSize))
	return b
}

func rec(t byte, value []byte) []byte { return append([]byte{t, byte(len(value))}, value...) }

func ext(t byte, value []byte) []byte {
	return append([]byte{255, 0, t, byte(len(value)), byte(len(value) >> 8)}, value...)
}

// withChecksum sets the checksummed flag and the CRC-32 it promises.
func withChecksum(b []byte) []byte {
	b[7] |= byte(tlv.FlagChecksummed)
	c := crc32IEEE(b)
	binary.LittleEndian.PutUint32(b[28:], c)
	return b
}

func trade(price int64, side uint8) []byte {
	v := make([]byte, tlv.TradeSize)
	binary.LittleEndian.PutUint64(v[0:], 7)
	binary.LittleEndian.PutUint64(v[8:], uint64(price))
	binary.LittleEndian.PutUint64(v[16:], 100_000_000)
	binary.LittleEndian.PutUint64(v[24:], 1_700_000_000_000_000_000)
	v[36] = side
	return v
}

func TestParseValid(t *testing.T) {
	big := bytes.Repeat([]byte{0xAB}, 300)
	cases := []struct {
		name string
		msg  []byte
	}{
		{"empty payload", raw(tlv.DomainMarketData, 0)},
		{"one trade", raw(tlv.DomainMarketData, 0, rec(1, trade(1, 0)))},
		{"extended record", raw(tlv.DomainMarketData, 0, ext(5, big))},
		{"vendor type in any domain", raw(tlv.DomainExecution, 0, rec(200, []byte{1, 2}), rec(254, nil))},
		{"system heartbeat", raw(tlv.DomainSystem, tlv.FlagHighPriority, rec(100, make([]byte, 16)))},
		{"valid checksum", withChecksum(raw(tlv.DomainSignal, 0, rec(20, make([]byte, 16))))},
		{"all flags", withChecksum(raw(tlv.DomainMarketData, tlv.FlagsMask))},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			f, err := tlv.Parse(c.msg)
			if err != nil {
				t.Fatalf("Parse: %v", err)
			}
			if &f[0] != &c.msg[0] || len(f) != len(c.msg) {
				t.Fatal("Parse copied the buffer instead of returning a view")
			}
			if got := f.Header().PayloadSize(); int(got) != len(c.msg)-tlv.HeaderSize {
				t.Fatalf("payload size %d", got)
			}
		})
	}
}

func TestParseBadInput(t *testing.T) {
	good := raw(tlv.DomainMarketData, 0, rec(1, trade(1, 0)))
	mutate := func(f func(b []byte) []byte) []byte { return f(bytes.Clone(good)) }
	cases := []struct {
		name  string
		msg   []byte
		want  error
		field string // for ErrMalformed
		off   int
	}{
		{"empty", nil, tlv.ErrMalformed, "header", 0},
		{"truncated header", good[:31], tlv.ErrMalformed, "header", 0},
		{"wrong magic", mutate(func(b []byte) []byte { b[0] = 0; return b }), tlv.ErrMalformed, "magic", 0},
		{"wrong version", mutate(func(b []byte) []byte { b[5] = 2; return b }), tlv.ErrMalformed, "version", 5},
		{"domain 0", mutate(func(b []byte) []byte { b[4] = 0; return b }), tlv.ErrMalformed, "relay_domain", 4},
		{"domain 5", mutate(func(b []byte) []byte { b[4] = 5; return b }), tlv.ErrMalformed, "relay_domain", 4},
		{"source 0", mutate(func(b []byte) []byte { b[6] = 0; return b }), tlv.ErrMalformed, "source", 6},
		{"reserved flag bit", mutate(func(b []byte) []byte { b[7] = 0x80; return b }), tlv.ErrMalformed, "flags", 7},
		{"payload larger than buffer", good[:len(good)-1], tlv.ErrMalformed, "payload_size", 24},
		{"payload smaller than buffer", append(bytes.Clone(good), 0), tlv.ErrMalformed, "payload_size", 24},
		{"payload over 1 MiB", mutate(func(b []byte) []byte { binary.LittleEndian.PutUint32(b[24:], 1<<20); return b }), tlv.ErrMalformed, "payload_size", 24},
		{"tlv length overruns", raw(tlv.DomainMarketData, 0, []byte{1, 41}, trade(1, 0)[:40]), tlv.ErrMalformed, "tlv length", 33},
		{"lone type byte", raw(tlv.DomainMarketData, 0, []byte{1}), tlv.ErrMalformed, "tlv header", 32},
		{"extended header truncated", raw(tlv.DomainMarketData, 0, []byte{255, 0, 5, 0}), tlv.ErrMalformed, "extended tlv header", 32},
		{"extended reserved byte", raw(tlv.DomainMarketData, 0, []byte{255, 1, 5, 0, 1}, make([]byte, 256)), tlv.ErrMalformed, "extended tlv reserved byte", 33},
		{"extended absurd length", raw(tlv.DomainMarketData, 0, []byte{255, 0, 5, 0xFF, 0xFF}, make([]byte, 300)), tlv.ErrMalformed, "extended tlv length", 35},
		{"extended for a short value", raw(tlv.DomainMarketData, 0, ext(5, make([]byte, 10))), tlv.ErrMalformed, "extended tlv length", 35},
		{"type 0", raw(tlv.DomainMarketData, 0, rec(0, nil)), tlv.ErrDomain, "", 0},
		{"reserved type 150", raw(tlv.DomainMarketData, 0, rec(150, nil)), tlv.ErrDomain, "", 0},
		{"extended inner 255", raw(tlv.DomainMarketData, 0, ext(255, make([]byte, 256))), tlv.ErrDomain, "", 0},
		{"signal type in market data", raw(tlv.DomainMarketData, 0, rec(1, trade(1, 0)), rec(20, make([]byte, 16))), tlv.ErrDomain, "", 0},
		{"bad checksum", mutate(func(b []byte) []byte { withChecksum(b)[28]++; return b }), tlv.ErrChecksum, "", 0},
		{"checksum without the flag", mutate(func(b []byte) []byte { withChecksum(b)[7] = 0; return b }), tlv.ErrMalformed, "checksum", 28},
		{"zero checksum with the flag", mutate(func(b []byte) []byte { b[7] = byte(tlv.FlagChecksummed); return b }), tlv.ErrChecksum, "", 0},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			f, err := tlv.Parse(c.msg)
			if !errors.Is(err, c.want) {
				t.Fatalf("Parse error %v, want %v", err, c.want)
			}
			if f != nil {
				t.Fatal("a frame came back with an error")
			}
			if c.field != "" {
				var me *tlv.MalformedError
				if !errors.As(err, &me) {
					t.Fatalf("%T is not a *MalformedError", err)
				}
				if me.Field != c.field || me.Offset != c.off || me.Want == "" {
					t.Fatalf("got field %q at %d (want %q at %d): %v", me.Field, me.Offset, c.field, c.off, err)
				}
			}
		})
	}
}

func TestDomainErrorNamesTypeAndOffset(t *testing.T) {
	msg := raw(tlv.DomainMarketData, 0, rec(1, trade(1, 0)), rec(42, make([]byte, 40)))
	_, err := tlv.Parse(msg)
	var de *tlv.DomainError
	if !errors.As(err, &de) {
		t.Fatalf("got %v, want a *DomainError", err)
	}
	if de.Type != tlv.TypeFill || de.Offset != 32+42 || de.Domain != tlv.DomainMarketData {
		t.Fatalf("got %+v", de)
	}
	if errors.Is(err, tlv.ErrPrecision) {
		t.Fatal("a domain error must not match ErrPrecision")
	}
	want := "tlv: TLV Fill (type 42) at offset 74 refused in domain market_data: type belongs to domain execution; send it with relay_domain execution"
	if err.Error() != want {
		t.Fatalf("message:\n%s\nwant\n%s", err, want)
	}
}

func TestChecksumError(t *testing.T) {
	msg := withChecksum(raw(tlv.DomainMarketData, 0, rec(1, trade(5, 1))))
	msg[40] ^= 1 // corrupt the payload
	_, err := tlv.Parse(msg)
	var ce *tlv.ChecksumError
	if !errors.As(err, &ce) || ce.Got == ce.Want {
		t.Fatalf("got %v", err)
	}
	// Performance level does not verify checksums.
	if _, err := (tlv.Validator{Level: tlv.LevelPerformance}).Parse(msg); err != nil {
		t.Fatalf("performance level: %v", err)
	}
}

func TestValidatorLevels(t *testing.T) {
	bad := raw(tlv.DomainMarketData, 0x80, rec(20, make([]byte, 16)), rec(150, nil))
	if _, err := (tlv.Validator{Level: tlv.LevelPerformance}).Parse(bad); err != nil {
		t.Fatalf("performance level checks only header and bounds, got %v", err)
	}
	if _, err := tlv.Parse(bad); err == nil {
		t.Fatal("standard level accepted reserved flags and foreign types")
	}

	audit := tlv.Validator{Level: tlv.LevelAudit}
	obValue := func(bids, asks uint16, size int) []byte {
		v := make([]byte, size)
		binary.LittleEndian.PutUint64(v, 1)
		binary.LittleEndian.PutUint16(v[28:], bids)
		binary.LittleEndian.PutUint16(v[30:], asks)
		return v
	}
	poolswap := func(dec uint8) []byte {
		v := make([]byte, tlv.PoolSwapSize)
		binary.LittleEndian.PutUint64(v[48:], 1)
		v[70], v[71] = 18, dec
		return v
	}
	cases := []struct {
		name string
		msg  []byte
		ok   bool
	}{
		{"good trade", raw(tlv.DomainMarketData, 0, rec(1, trade(1, 1))), true},
		{"trade price 0", raw(tlv.DomainMarketData, 0, rec(1, trade(0, 0))), false},
		{"trade side 2", raw(tlv.DomainMarketData, 0, rec(1, trade(1, 2))), false},
		{"trade too long", raw(tlv.DomainMarketData, 0, rec(1, append(trade(1, 0), 0))), false},
		{"vendor type", raw(tlv.DomainMarketData, 0, rec(200, nil)), false},
		{"order book ok", raw(tlv.DomainMarketData, 0, rec(3, obValue(1, 2, 32+3*24))), true},
		{"order book counts disagree", raw(tlv.DomainMarketData, 0, rec(3, obValue(1, 2, 32+2*24))), false},
		{"order book 51 bids", raw(tlv.DomainMarketData, 0, ext(3, obValue(51, 0, 32+51*24))), false},
		{"pool swap 18/6 decimals", raw(tlv.DomainMarketData, 0, rec(11, poolswap(6))), true},
		{"pool swap 39 decimals", raw(tlv.DomainMarketData, 0, rec(11, poolswap(39))), false},
		{"trace flag without context", raw(tlv.DomainMarketData, tlv.FlagTrace, rec(1, trade(1, 0))), false},
		{"heartbeat ts 0", raw(tlv.DomainSystem, 0, rec(100, make([]byte, 16))), false},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			_, err := audit.Parse(c.msg)
			if (err == nil) != c.ok {
				t.Fatalf("audit accepted=%v, want %v (err %v)", err == nil, c.ok, err)
			}
			if err != nil && !errors.Is(err, tlv.ErrMalformed) && !errors.Is(err, tlv.ErrDomain) {
				t.Fatalf("untyped error %v", err)
			}
			if _, err := tlv.Parse(c.msg); err != nil && c.name != "order book 51 bids" {
				t.Fatalf("standard level should accept what only audit refuses: %v", err)
			}
		})
	}
}

func TestValidatorDomainAndPrecision(t *testing.T) {
	md := raw(tlv.DomainMarketData, 0, rec(1, trade(1, 0)))
	swap := raw(tlv.DomainMarketData, 0, rec(11, make([]byte, tlv.PoolSwapSize)))

	if _, err := (tlv.Validator{Domain: tlv.DomainSignal}).Parse(md); !errors.Is(err, tlv.ErrDomain) {
		t.Fatalf("sink domain signal accepted market_data: %v", err)
	}
	if _, err := (tlv.Validator{Domain: tlv.DomainMarketData}).Parse(md); err != nil {
		t.Fatal(err)
	}
	cases := []struct {
		p      tlv.Precision
		msg    []byte
		refuse bool
	}{
		{tlv.PrecisionMixed, md, false}, {tlv.PrecisionMixed, swap, false},
		{tlv.PrecisionExchange, md, false}, {tlv.PrecisionExchange, swap, true},
		{tlv.PrecisionDEX, md, true}, {tlv.PrecisionDEX, swap, false},
	}
	for _, c := range cases {
		_, err := (tlv.Validator{Precision: c.p, Level: tlv.LevelPerformance}).Parse(c.msg)
		if got := errors.Is(err, tlv.ErrPrecision); got != c.refuse {
			t.Errorf("precision %s: refused=%v, want %v (%v)", c.p, got, c.refuse, err)
		}
		if c.refuse && !errors.Is(err, tlv.ErrDomain) {
			t.Errorf("precision refusals must also match ErrDomain: %v", err)
		}
	}
}

func TestFrameSize(t *testing.T) {
	one := raw(tlv.DomainMarketData, 0, rec(1, trade(1, 0)))
	stream := append(bytes.Clone(one), raw(tlv.DomainSystem, 0)...)
	var got []int
	for len(stream) > 0 {
		n, err := (tlv.Validator{}).FrameSize(stream)
		if err != nil {
			t.Fatal(err)
		}
		if _, err := tlv.Parse(stream[:n]); err != nil {
			t.Fatal(err)
		}
		got = append(got, n)
		stream = stream[n:]
	}
	if !reflect.DeepEqual(got, []int{len(one), tlv.HeaderSize}) {
		t.Fatalf("frames %v", got)
	}
	if _, err := (tlv.Validator{MaxSize: 64}).FrameSize(one); !errors.Is(err, tlv.ErrMalformed) {
		t.Fatalf("a 74-byte frame passed a 64-byte limit: %v", err)
	}
}

func TestIterStopsAtBadRecord(t *testing.T) {
	msg := raw(tlv.DomainMarketData, 0, rec(1, trade(1, 0)), rec(200, []byte{9}), []byte{2, 200})
	var types []tlv.Type
	it := tlv.Frame(msg).Records()
	for it.Next() {
		types = append(types, it.Type())
	}
	if !reflect.DeepEqual(types, []tlv.Type{1, 200}) {
		t.Fatalf("types %v", types)
	}
	var me *tlv.MalformedError
	if !errors.As(it.Err(), &me) || me.Offset != 32+42+3+1 {
		t.Fatalf("err %v", it.Err())
	}
	if it.Next() {
		t.Fatal("Next after an error")
	}
}

func TestHeaderAccessors(t *testing.T) {
	h := tlv.Header(make([]byte, tlv.HeaderSize))
	h.SetMagic(tlv.Magic)
	h.SetDomain(tlv.DomainExecution)
	h.SetVersion(tlv.Version)
	h.SetSource(41)
	h.SetFlags(tlv.FlagRequiresAck | tlv.FlagRecovery)
	h.SetSequence(1 << 40)
	h.SetTimestamp(1_700_000_000_123_456_789)
	h.SetPayloadSize(0)
	h.SetChecksum(0xCAFEBABE)
	want := []byte{0xEF, 0xBE, 0xAD, 0xDE, 3, 1, 41, 0x28,
		0, 0, 0, 0, 0, 1, 0, 0,
		0x15, 0xCD, 0x85, 0x3D, 0xFE, 0x9C, 0x97, 0x17, // 1_700_000_000_123_456_789 LE (python int.to_bytes)
		0, 0, 0, 0, 0xBE, 0xBA, 0xFE, 0xCA}
	if !bytes.Equal(h, want) {
		t.Fatalf("bytes\n% x\nwant\n% x", []byte(h), want)
	}
	if h.Magic() != tlv.Magic || h.Domain() != tlv.DomainExecution || h.Version() != 1 || h.Source() != 41 ||
		h.Flags() != 0x28 || h.Sequence() != 1<<40 || h.Timestamp() != 1_700_000_000_123_456_789 ||
		h.PayloadSize() != 0 || h.Checksum() != 0xCAFEBABE {
		t.Fatal("accessors disagree with setters")
	}
}

func TestNames(t *testing.T) {
	for _, c := range []struct{ got, want string }{
		{tlv.DomainMarketData.String(), "market_data"}, {tlv.Domain(9).String(), "domain(9)"},
		{tlv.TypeTrade.String(), "Trade"}, {tlv.Type(5).String(), "type(5)"},
		{tlv.LevelAudit.String(), "audit"}, {tlv.PrecisionDEX.String(), "dex"},
	} {
		if c.got != c.want {
			t.Errorf("got %q, want %q", c.got, c.want)
		}
	}
	for _, name := range []string{"market_data", "signal", "execution", "system"} {
		d, ok := tlv.ParseDomain(name)
		if !ok || d.String() != name {
			t.Errorf("ParseDomain(%q) = %v, %v", name, d, ok)
		}
	}
	if _, ok := tlv.ParseDomain("Market_Data"); ok {
		t.Error("domain names are exact")
	}
	if l, ok := tlv.ParseLevel("performance"); !ok || l != tlv.LevelPerformance {
		t.Error("ParseLevel")
	}
	if p, ok := tlv.ParsePrecision("exchange"); !ok || p != tlv.PrecisionExchange {
		t.Error("ParsePrecision")
	}
}

// The name lists config reads are the names the types print and parse.
func TestEnumerationNames(t *testing.T) {
	for _, n := range tlv.LevelNames() {
		if l, ok := tlv.ParseLevel(n); !ok || l.String() != n {
			t.Errorf("level %q: ParseLevel = %v, %v", n, l, ok)
		}
	}
	for _, n := range tlv.PrecisionNames() {
		if p, ok := tlv.ParsePrecision(n); !ok || p.String() != n {
			t.Errorf("precision %q: ParsePrecision = %v, %v", n, p, ok)
		}
	}
	for _, n := range tlv.DomainNames() {
		if d, ok := tlv.ParseDomain(n); !ok || d.String() != n {
			t.Errorf("domain %q: ParseDomain = %v, %v", n, d, ok)
		}
	}
	if len(tlv.LevelNames()) != 3 || len(tlv.PrecisionNames()) != 3 || len(tlv.DomainNames()) != 4 {
		t.Fatalf("names %v %v %v", tlv.LevelNames(), tlv.PrecisionNames(), tlv.DomainNames())
	}
}
