package tlv

import (
	"encoding/binary"
	"hash/crc32"
	"strconv"

	"github.com/msgsink/msgsink/internal/enum"
)

// Level is how much a Validator checks (SPEC section 2). The zero value is
// LevelStandard, the default everywhere.
type Level uint8

const (
	// LevelStandard adds domain ranges, reserved types, flags, and the checksum
	// (the CRC-32 under FlagChecksummed, 0 without it) to what LevelPerformance
	// checks.
	LevelStandard Level = iota
	// LevelPerformance checks the header and the bounds of every record only.
	LevelPerformance
	// LevelAudit adds exact sizes of the fixed types, OrderBook level counts,
	// decimals ≤ 38, Trade price > 0 and side 0/1, non-negative Quote prices and
	// sizes, non-zero timestamps, and refuses vendor types.
	LevelAudit
)

var levelNames = [...]string{"standard", "performance", "audit"}

func (l Level) String() string { return enum.Name(levelNames[:], int(l), "level") }

// LevelNames returns the services.toml names of the validation levels from
// the least checking to the most, as SPEC section 2 lists them: the one list
// config checks, suggests and documents.
func LevelNames() []string {
	return []string{LevelPerformance.String(), LevelStandard.String(), LevelAudit.String()}
}

// ParseLevel maps a services.toml validation name to its Level.
func ParseLevel(s string) (Level, bool) { return enum.Parse[Level](levelNames[:], s) }

// Precision selects which price representations a sink accepts (SPEC section 2).
// The zero value is PrecisionMixed.
type Precision uint8

const (
	// PrecisionMixed accepts exchange and DEX types alike.
	PrecisionMixed Precision = iota
	// PrecisionExchange refuses the DEX pool types 10–16.
	PrecisionExchange
	// PrecisionDEX refuses the exchange types 1–3 (Trade, Quote, OrderBook).
	PrecisionDEX
)

var precisionNames = [...]string{"mixed", "exchange", "dex"}

func (p Precision) String() string { return enum.Name(precisionNames[:], int(p), "precision") }

// PrecisionNames returns the services.toml names of the precision settings,
// the narrow ones first, as SPEC section 2 lists them.
func PrecisionNames() []string {
	return []string{PrecisionExchange.String(), PrecisionDEX.String(), PrecisionMixed.String()}
}

// ParsePrecision maps a services.toml precision name to its Precision.
func ParsePrecision(s string) (Precision, bool) { return enum.Parse[Precision](precisionNames[:], s) }

// Validator checks messages at a validation level. Its zero value validates at
// LevelStandard, any domain, mixed precision, messages up to MaxMessageSize.
// A Validator is a small value: copy it freely; it is safe for concurrent use.
type Validator struct {
	Level     Level
	Precision Precision
	// Domain, when non-zero, is the only relay domain accepted in the header.
	Domain Domain
	// MaxSize bounds a whole message, header included; 0 means MaxMessageSize.
	// Values above MaxMessageSize are treated as MaxMessageSize.
	MaxSize int
}

// Frame is a zero-copy view of one whole message: header and payload. Frames
// returned by Parse have been validated; methods on a Frame shorter than
// HeaderSize panic.
type Frame []byte

// Header returns the header view.
func (f Frame) Header() Header { return Header(f[:HeaderSize:HeaderSize]) }

// Payload returns the TLV bytes after the header.
func (f Frame) Payload() []byte { return f[HeaderSize:] }

// Records returns an iterator over the frame's TLV records.
func (f Frame) Records() Iter { return Iter{b: f, off: HeaderSize} }

// Parse validates b as exactly one message at LevelStandard and returns a view
// of it; nothing is copied. See Validator.Parse.
func Parse(b []byte) (Frame, error) { return Validator{}.Parse(b) }

func (v Validator) maxSize() int {
	if v.MaxSize <= 0 || v.MaxSize > MaxMessageSize {
		return MaxMessageSize
	}
	return v.MaxSize
}

// FrameSize reads the header at the start of b and returns the length of the
// whole message it announces, for cutting frames out of a stream. It checks the
// header fields that frame a stream (magic, version, domain, source, size limit)
// and needs only len(b) ≥ HeaderSize; the caller then passes exactly that many
// bytes to Parse.
func (v Validator) FrameSize(b []byte) (int, error) {
	if len(b) < HeaderSize {
		return 0, malformed(0, "header", uint64(len(b)), "at least "+strconv.Itoa(HeaderSize)+" bytes")
	}
	h := Header(b[:HeaderSize])
	if m := h.Magic(); m != Magic {
		return 0, malformed(offMagic, "magic", uint64(m), "0xDEADBEEF (bytes EF BE AD DE)")
	}
	if ver := h.Version(); ver != Version {
		return 0, malformed(offVersion, "version", uint64(ver), "1")
	}
	if d := h.Domain(); !d.Valid() {
		return 0, malformed(offDomain, "relay_domain", uint64(d), "1 market_data, 2 signal, 3 execution or 4 system")
	}
	if h.Source() == 0 {
		return 0, malformed(offSource, "source", 0, "a non-zero producing service type")
	}
	n := h.PayloadSize()
	if uint64(n) > uint64(v.maxSize()-HeaderSize) {
		return 0, malformed(offPayloadSize, "payload_size", uint64(n),
			"at most "+strconv.Itoa(v.maxSize()-HeaderSize)+" (message size limit "+strconv.Itoa(v.maxSize())+" bytes)")
	}
	return HeaderSize + int(n), nil
}

// Parse validates b as exactly one message at v's level and returns a view of
// it. It never copies, never allocates on success, and never panics, whatever b
// holds. Errors match ErrMalformed, ErrDomain (and ErrPrecision) or ErrChecksum.
func (v Validator) Parse(b []byte) (Frame, error) {
	n, err := v.FrameSize(b)
	if err != nil {
		return nil, err
	}
	if n != len(b) {
		return nil, malformed(offPayloadSize, "payload_size", uint64(n-HeaderSize),
			strconv.Itoa(len(b)-HeaderSize)+", the bytes after the header in this buffer")
	}
	if err := v.check(Frame(b)); err != nil {
		return nil, err
	}
	return Frame(b), nil
}

// check validates everything after the framing fields: the records, and at
// LevelStandard and above the flags and checksum.
func (v Validator) check(f Frame) error {
	h := f.Header()
	dom := h.Domain()
	if v.Domain != 0 && dom != v.Domain {
		return &DomainError{Domain: v.Domain,
			Reason: "header relay_domain is " + dom.String() + "; this sink accepts only " + v.Domain.String()}
	}
	standard := v.Level != LevelPerformance
	if standard && h.Flags()&^FlagsMask != 0 {
		return malformed(offFlags, "flags", uint64(h.Flags()), "only bits 0x01..0x40 set (0x7F mask)")
	}
	var seen uint8 // audit: which record kinds were present
	for off := HeaderSize; off < len(f); {
		var (
			t    Type
			val  []byte
			next int
		)
		// The common record, standard form and in bounds, is decoded inline;
		// record handles the extended form and reports errors.
		if rest := len(f) - off; rest >= standardTLVHead && f[off] != extendedMarker && int(f[off+1]) <= rest-standardTLVHead {
			t, next = Type(f[off]), off+standardTLVHead+int(f[off+1])
			val = f[off+standardTLVHead : next]
		} else {
			var err error
			if t, val, next, err = record(f, off); err != nil {
				return err
			}
		}
		if c := typeClass[t]; standard && c != uint8(dom) && (c != classVendor || v.Level == LevelAudit) {
			return checkType(t, off, dom, v.Level)
		}
		if v.Precision != PrecisionMixed {
			if err := checkPrecision(t, off, dom, v.Precision); err != nil {
				return err
			}
		}
		if v.Level == LevelAudit {
			if err := auditRecord(t, next-len(val), val); err != nil {
				return err
			}
			if t == TypeTraceContext {
				seen |= 1
			}
		}
		off = next
	}
	if !standard {
		return nil
	}
	if c := h.Checksum(); h.Flags()&FlagChecksummed != 0 {
		if want := checksum(f); c != want {
			return &ChecksumError{Got: c, Want: want}
		}
	} else if c != 0 {
		return malformed(offChecksum, "checksum", uint64(c),
			"0 when flag 0x40 (checksummed) is clear; set the flag if the field holds the CRC-32")
	}
	if v.Level == LevelAudit {
		if h.Timestamp() == 0 {
			return malformed(offTimestamp, "timestamp", 0, "a non-zero build time in ns since the Unix epoch")
		}
		if h.Flags()&FlagTrace != 0 && seen&1 == 0 {
			return malformed(offFlags, "flags", uint64(h.Flags()), "a TraceContext TLV (108) when the trace flag 0x10 is set")
		}
	}
	return nil
}

// record decodes the record at off in f, which starts with the header. It
// returns the record's type and value, and the offset of the next record.
func record(f []byte, off int) (t Type, val []byte, next int, err error) {
	rest := len(f) - off
	if rest < standardTLVHead {
		return 0, nil, 0, malformed(off, "tlv header", uint64(rest), "at least 2 bytes (type, length)")
	}
	t = Type(f[off])
	if t != extendedMarker {
		n := int(f[off+1])
		if n > rest-standardTLVHead {
			return 0, nil, 0, malformed(off+1, "tlv length", uint64(n),
				"at most "+strconv.Itoa(rest-standardTLVHead)+", the bytes left in the payload")
		}
		next = off + standardTLVHead + n
		return t, f[off+standardTLVHead : next : next], next, nil
	}
	if rest < extendedTLVHead {
		return 0, nil, 0, malformed(off, "extended tlv header", uint64(rest), "at least 5 bytes (255, 0, type, length u16)")
	}
	if f[off+1] != 0 {
		return 0, nil, 0, malformed(off+1, "extended tlv reserved byte", uint64(f[off+1]), "0")
	}
	t = Type(f[off+2])
	n := int(binary.LittleEndian.Uint16(f[off+3:]))
	if n <= MaxStandardValueSize {
		return 0, nil, 0, malformed(off+3, "extended tlv length", uint64(n),
			"more than 255 (shorter values use the standard form)")
	}
	if n > rest-extendedTLVHead {
		return 0, nil, 0, malformed(off+3, "extended tlv length", uint64(n),
			"at most "+strconv.Itoa(rest-extendedTLVHead)+", the bytes left in the payload")
	}
	next = off + extendedTLVHead + n
	return t, f[off+extendedTLVHead : next : next], next, nil
}

func checkType(t Type, off int, dom Domain, lvl Level) error {
	switch c := typeClass[t]; {
	case c == uint8(dom):
		return nil
	case c == classVendor:
		if lvl != LevelAudit {
			return nil
		}
		return &DomainError{Type: t, Offset: off, Domain: dom, Reason: "vendor types (200–254) are refused under audit validation"}
	case c == 0:
		return &DomainError{Type: t, Offset: off, Domain: dom, Reason: "type is reserved or invalid (0, 120–199, 255 inside an extended record)"}
	default:
		return &DomainError{Type: t, Offset: off, Domain: dom,
			Reason: "type belongs to domain " + Domain(c).String() + "; send it with relay_domain " + Domain(c).String()}
	}
}

func checkPrecision(t Type, off int, dom Domain, p Precision) error {
	switch {
	case p == PrecisionExchange && t >= dexPoolFirst && t <= dexPoolLast:
		return &DomainError{Type: t, Offset: off, Domain: dom, Precision: p,
			Reason: `precision "exchange" refuses DEX pool types 10–16; use precision "dex" or "mixed"`}
	case p == PrecisionDEX && t >= TypeTrade && t <= TypeOrderBook:
		return &DomainError{Type: t, Offset: off, Domain: dom, Precision: p,
			Reason: `precision "dex" refuses exchange types 1–3; use precision "exchange" or "mixed"`}
	}
	return nil
}

// checksum is the CRC-32 (IEEE) of header bytes 0..27 followed by the payload.
func checksum(f []byte) uint32 {
	c := crc32.Update(0, crc32.IEEETable, f[:checksummedBytes])
	return crc32.Update(c, crc32.IEEETable, f[HeaderSize:])
}

// Iter walks a frame's records without allocating. It is safe on any frame,
// validated or not: it stops with a typed error at the first record whose
// bounds are bad.
//
// Declare it outside the for statement, as below: "for it := f.Records();
// it.Next();" makes Go copy the iterator on every iteration (per-iteration
// loop variables), which triples the cost of a walk.
//
//	it := f.Records()
//	for it.Next() {
//		use(it.Type(), it.Value())
//	}
//	if err := it.Err(); err != nil { … }
type Iter struct {
	b      []byte
	off    int
	recOff int
	t      Type
	val    []byte
	err    error
}

// Next advances to the next record and reports whether there is one.
func (it *Iter) Next() bool {
	if it.err != nil || it.off >= len(it.b) {
		return false
	}
	t, val, next, err := record(it.b, it.off)
	if err != nil {
		it.err = err
		return false
	}
	it.t, it.val, it.recOff, it.off = t, val, it.off, next
	return true
}

// Type returns the current record's type (the inner type of an extended record).
func (it *Iter) Type() Type { return it.t }

// Value returns the current record's value, a view into the frame.
func (it *Iter) Value() []byte { return it.val }

// Offset returns the current record's offset within the frame.
func (it *Iter) Offset() int { return it.recOff }

// Err returns the error that stopped the iteration, or nil at the clean end.
func (it *Iter) Err() error { return it.err }
