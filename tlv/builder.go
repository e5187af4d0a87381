package tlv

import (
	"encoding/binary"
	"slices"
	"strconv"
	"time"

	"github.com/valyala/bytebufferpool"
)

// Builder encodes messages of one producer into pooled buffers. A producer keeps
// one Builder per source: it numbers the messages it finishes (sequence 1, 2, …)
// so receivers can see gaps. A Builder is not safe for concurrent use.
//
// Append records, then Finish. Errors are sticky, like bufio.Writer's: the first
// one is returned by Finish, which discards the message in progress.
type Builder struct {
	// Domain and Source go into every header; both must be valid by Finish.
	Domain Domain
	Source uint8
	// Flags go into every header (FlagsMask bits only).
	Flags Flags
	// Checksum makes Finish compute the CRC-32 of every message and set
	// FlagChecksummed, which Flags may also set to the same effect. It is
	// off by default: it costs more than the rest of a small build and SPEC
	// section 1 lets a message go without one (flag clear, field 0). Turn
	// it on for paths without a transport checksum of their own.
	Checksum bool
	// MaxSize bounds a message, header included; 0 means MaxMessageSize.
	MaxSize int

	seq  uint64
	cur  *Message // the message in progress, nil between messages
	buf  *bytebufferpool.ByteBuffer
	err  error
	free *Message  // recycled messages, owned by this goroutine
	home *freeList // where Release returns this builder's messages
}

// NewBuilder returns a Builder for messages of domain d from source.
func NewBuilder(d Domain, source uint8) *Builder {
	return &Builder{Domain: d, Source: source}
}

// SetSequence sets the sequence number of the next message, to continue a
// numbering after a restart.
func (b *Builder) SetSequence(next uint64) { b.seq = next - 1 }

// Sequence returns the sequence number the next message will carry.
func (b *Builder) Sequence() uint64 { return b.seq + 1 }

// Append adds a record of type t, in the extended form when value is longer
// than 255 bytes. The value is copied.
func (b *Builder) Append(t Type, value []byte) {
	if dst := b.record(t, len(value)); dst != nil {
		copy(dst, value)
	}
}

// Finish completes the message with the current wall-clock time. See FinishAt.
func (b *Builder) Finish() (*Message, error) {
	return b.FinishAt(uint64(time.Now().UnixNano()))
}

// FinishAt completes the message with timestamp ts (ns since the Unix epoch):
// it fills the header, numbers the message, computes the checksum when enabled,
// and returns the Message with one reference. A producer that already holds a
// receive timestamp saves the clock read (tens of ns) this way. On error the
// message in progress is discarded and the sequence number is not used.
func (b *Builder) FinishAt(ts uint64) (*Message, error) {
	if b.buf == nil && b.err == nil {
		b.start()
	}
	if b.err == nil {
		b.err = b.checkHeader()
	}
	if b.err != nil {
		err := b.err
		b.Reset()
		return nil, err
	}
	f := b.buf.B
	h := Header(f[:HeaderSize])
	b.seq++
	flags := b.Flags
	if b.Checksum {
		flags |= FlagChecksummed
	}
	// magic, relay_domain, version, source and flags in one store
	le.PutUint64(f, uint64(Magic)|uint64(b.Domain)<<32|uint64(Version)<<40|uint64(b.Source)<<48|uint64(flags)<<56)
	h.SetSequence(b.seq)
	h.SetTimestamp(ts)
	h.SetPayloadSize(uint32(len(f) - HeaderSize))
	h.SetChecksum(0)
	if flags&FlagChecksummed != 0 {
		h.SetChecksum(checksum(f)) // the flag is in the bytes it covers
	}
	m := b.cur
	m.buf.B, m.b = f, f
	m.built = true
	m.refs = 1
	b.cur, b.buf = nil, nil
	return m, nil
}

// Reset discards the message in progress and any sticky error.
func (b *Builder) Reset() {
	if m := b.cur; m != nil {
		m.next, b.free = b.free, m
		b.cur, b.buf = nil, nil
	}
	b.err = nil
}

// Err returns the sticky error of the message in progress, if any.
func (b *Builder) Err() error { return b.err }

func (b *Builder) checkHeader() error {
	switch {
	case !b.Domain.Valid():
		return malformed(offDomain, "relay_domain", uint64(b.Domain), "Builder.Domain set to 1 market_data, 2 signal, 3 execution or 4 system")
	case b.Source == 0:
		return malformed(offSource, "source", 0, "Builder.Source set to the producing service type (non-zero)")
	case b.Flags&^FlagsMask != 0:
		return malformed(offFlags, "flags", uint64(b.Flags), "only bits 0x01..0x40 set")
	}
	return nil
}

func (b *Builder) maxSize() int { return Validator{MaxSize: b.MaxSize}.maxSize() }

// start takes a recycled message (or makes one) to build into.
func (b *Builder) start() {
	m := b.free
	if m == nil {
		if b.home == nil {
			b.home = new(freeList)
		}
		m = b.home.takeAll()
	}
	if m != nil {
		b.free, m.next = m.next, nil
	} else {
		m = &Message{home: b.home} // the free list grows to the high-water mark of messages in flight
	}
	if m.buf == nil {
		m.buf = bufPool.Get()
	}
	m.buf.B = slices.Grow(m.buf.B[:0], HeaderSize)[:HeaderSize]
	b.cur, b.buf = m, m.buf
}

// record appends a record head for a value of n bytes and returns the slot for
// the value, or nil once the builder has an error. Callers must write every
// byte of the slot: pooled memory holds old data.
func (b *Builder) record(t Type, n int) []byte {
	if b.err != nil {
		return nil
	}
	if b.buf == nil {
		b.start()
	}
	if c := typeClass[t]; c != uint8(b.Domain) && c != classVendor {
		// An unset Builder.Domain is the likelier mistake than the type.
		if b.err = b.checkHeader(); b.err == nil {
			b.err = checkType(t, len(b.buf.B), b.Domain, LevelStandard)
		}
		return nil
	}
	head := standardTLVHead
	if n > MaxStandardValueSize {
		head = extendedTLVHead
	}
	f := b.buf.B
	off := len(f)
	if n > MaxValueSize || off+head+n > b.maxSize() {
		b.err = malformed(off, "tlv length", uint64(n),
			"a value of at most 65535 bytes in a message of at most "+strconv.Itoa(b.maxSize())+" bytes")
		return nil
	}
	f = slices.Grow(f, head+n)[:off+head+n]
	if head == standardTLVHead {
		f[off], f[off+1] = byte(t), byte(n)
	} else {
		f[off], f[off+1], f[off+2] = extendedMarker, 0, byte(t)
		binary.LittleEndian.PutUint16(f[off+3:], uint16(n))
	}
	b.buf.B = f
	return f[off+head:]
}
