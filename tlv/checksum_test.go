package tlv_test

import (
	"bytes"
	"encoding/binary"
	"errors"
	"testing"

	"github.com/msgsink/msgsink/tlv"
)

// buildVendor builds, with the checksum on, a market-data message whose only
// record is a vendor TLV holding x, at a fixed sequence and time: the same
// bytes for the same x.
func buildVendor(t *testing.T, x uint32) []byte {
	t.Helper()
	b := &tlv.Builder{Domain: tlv.DomainMarketData, Source: 1, Checksum: true}
	b.SetSequence(7)
	var v [4]byte
	binary.LittleEndian.PutUint32(v[:], x)
	b.Append(200, v[:])
	m, err := b.FinishAt(1_700_000_000_000_000_000)
	if err != nil {
		t.Fatal(err)
	}
	defer m.Release()
	return bytes.Clone(m.Bytes())
}

// zeroCRCValue finds the vendor value x for which buildVendor's message has a
// CRC-32 of 0. The CRC is affine in x over GF(2): crc(x) = A·x ^ crc(0),
// with column i of A being crc(1<<i) ^ crc(0); A·x = crc(0) is solved by
// Gaussian elimination.
func zeroCRCValue(t *testing.T) uint32 {
	crc := func(x uint32) uint32 { return tlv.Header(buildVendor(t, x)).Checksum() }
	c0 := crc(0)
	// rows[r] holds equation r (bit r of the CRC): the coefficients of
	// x's 32 bits, and the right-hand side in bit 32.
	var rows [32]uint64
	for i := range 32 {
		col := crc(1<<i) ^ c0
		for r := range 32 {
			rows[r] |= uint64(col>>r&1) << i
		}
	}
	for r := range 32 {
		rows[r] |= uint64(c0>>r&1) << 32
	}
	for col, r := 0, 0; col < 32; col++ {
		p := -1
		for k := r; k < 32; k++ {
			if rows[k]>>col&1 == 1 {
				p = k
				break
			}
		}
		if p < 0 {
			continue
		}
		rows[r], rows[p] = rows[p], rows[r]
		for k := range 32 {
			if k != r && rows[k]>>col&1 == 1 {
				rows[k] ^= rows[r]
			}
		}
		r++
	}
	var x uint32
	for r := range 32 {
		if rows[r]&(1<<32-1) == 0 {
			continue
		}
		col := 0
		for rows[r]>>col&1 == 0 {
			col++
		}
		x |= uint32(rows[r]>>32&1) << col
	}
	if crc(x) != 0 {
		t.Fatalf("no vendor value gives a CRC of 0 (got %#x for %#x)", crc(x), x)
	}
	return x
}

// TestChecksumZero: a message whose real CRC-32 is 0 (one in 2^32) is still
// checked, because the flag, not the field's value, says a checksum is there
// (SPEC section 1).
func TestChecksumZero(t *testing.T) {
	msg := buildVendor(t, zeroCRCValue(t))
	h := tlv.Header(msg)
	if h.Checksum() != 0 || h.Flags()&tlv.FlagChecksummed == 0 {
		t.Fatalf("the Builder wrote checksum %#x with flags %#x; want 0 with the checksummed flag", h.Checksum(), h.Flags())
	}
	if _, err := tlv.Parse(msg); err != nil {
		t.Fatalf("Parse refused a message whose CRC is 0: %v", err)
	}
	corrupt := bytes.Clone(msg)
	corrupt[len(corrupt)-1] ^= 1
	var ce *tlv.ChecksumError
	if _, err := tlv.Parse(corrupt); !errors.As(err, &ce) || ce.Got != 0 || ce.Want == 0 {
		t.Fatalf("a corrupted message with checksum 0 and the flag: got %v, want a *ChecksumError", err)
	}
	// Without the flag, a 0 field means no checksum: the same corruption
	// cannot be seen, which is why the Builder sets it.
	corrupt[7] &^= byte(tlv.FlagChecksummed)
	if _, err := tlv.Parse(corrupt); err != nil {
		t.Fatalf("no flag, field 0: %v", err)
	}
}

// TestBuilderChecksumFlag: the Builder sets the flag exactly when it computes
// the checksum, and Builder.Flags may ask for it too.
func TestBuilderChecksumFlag(t *testing.T) {
	for _, c := range []struct {
		name     string
		checksum bool
		flags    tlv.Flags
		want     bool
	}{
		{"off", false, 0, false},
		{"Checksum", true, 0, true},
		{"Flags", false, tlv.FlagChecksummed, true},
	} {
		t.Run(c.name, func(t *testing.T) {
			b := &tlv.Builder{Domain: tlv.DomainMarketData, Source: 1, Checksum: c.checksum, Flags: c.flags}
			b.AppendTrade(&tlv.Trade{Instrument: 1, Price: 1})
			m, err := b.Finish()
			if err != nil {
				t.Fatal(err)
			}
			defer m.Release()
			h := m.Header()
			if got := h.Flags()&tlv.FlagChecksummed != 0; got != c.want {
				t.Fatalf("checksummed flag %v, want %v", got, c.want)
			}
			if want := uint32(0); c.want {
				want = crc32IEEE(m.Bytes())
				if h.Checksum() != want {
					t.Fatalf("checksum %#x, want the CRC-32 %#x", h.Checksum(), want)
				}
			} else if h.Checksum() != want {
				t.Fatalf("checksum %#x without the flag, want 0", h.Checksum())
			}
			if _, err := tlv.Parse(m.Bytes()); err != nil {
				t.Fatal(err)
			}
		})
	}
}
