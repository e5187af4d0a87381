package tlv

import (
	"encoding/binary"
	"slices"
	"strconv"
)

// Wire constants of Protocol V2 (SPEC section 1).
const (
	// HeaderSize is the size of the fixed message header.
	HeaderSize = 32
	// Magic opens every message; on the wire it reads EF BE AD DE.
	Magic uint32 = 0xDEADBEEF
	// Version is the only protocol version this package reads and writes.
	Version = 1
	// MaxMessageSize is the default upper bound of a whole message, header included.
	MaxMessageSize = 1 << 20
	// MaxValueSize is the largest TLV value the extended form can carry.
	MaxValueSize = 1<<16 - 1
	// MaxStandardValueSize is the largest value of the standard (2-byte header) form;
	// longer values use the extended form.
	MaxStandardValueSize = 255

	// extendedMarker is the type byte that introduces an extended TLV:
	// 255, 0, type u8, length u16, value.
	extendedMarker   = 255
	standardTLVHead  = 2
	extendedTLVHead  = 5
	offMagic         = 0
	offDomain        = 4
	offVersion       = 5
	offSource        = 6
	offFlags         = 7
	offSequence      = 8
	offTimestamp     = 16
	offPayloadSize   = 24
	offChecksum      = 28
	checksummedBytes = offChecksum // the checksum covers header bytes 0..27, then the payload
)

// Domain is a relay domain: the header's relay_domain byte.
type Domain uint8

// The relay domains. Zero and values above DomainSystem are invalid on the wire.
const (
	DomainMarketData Domain = 1
	DomainSignal     Domain = 2
	DomainExecution  Domain = 3
	DomainSystem     Domain = 4
)

var domainNames = [...]string{"", "market_data", "signal", "execution", "system"}

// Valid reports whether d is one of the four relay domains.
func (d Domain) Valid() bool { return d >= DomainMarketData && d <= DomainSystem }

// String returns the name used in services.toml ("market_data", ...).
func (d Domain) String() string {
	if d.Valid() {
		return domainNames[d]
	}
	return "domain(" + strconv.Itoa(int(d)) + ")"
}

// DomainNames returns the services.toml names of the four relay domains, in
// the order of their values.
func DomainNames() []string { return slices.Clone(domainNames[DomainMarketData : DomainSystem+1]) }

// ParseDomain maps a services.toml domain name to its Domain.
func ParseDomain(s string) (Domain, bool) {
	for d := DomainMarketData; d <= DomainSystem; d++ {
		if domainNames[d] == s {
			return d, true
		}
	}
	return 0, false
}

// Flags is the header's flag byte.
type Flags uint8

// Header flags. Bits outside FlagsMask must be zero.
const (
	FlagCompressed   Flags = 0x01
	FlagEncrypted    Flags = 0x02
	FlagHighPriority Flags = 0x04
	FlagRequiresAck  Flags = 0x08
	FlagTrace        Flags = 0x10 // a TraceContext TLV is present
	FlagRecovery     Flags = 0x20 // the message is a replay
	// FlagChecksummed says the checksum field holds the CRC-32 of the
	// message, whatever its value: one message in 2^32 has a CRC of 0,
	// which without the flag would read as "not computed" and go
	// unchecked. Without it the field must be 0.
	FlagChecksummed Flags = 0x40
	FlagsMask       Flags = 0x7F
)

// Header is a zero-copy view of the 32-byte message header. It reads and writes
// the bytes it views; a Header shorter than HeaderSize panics on use, so take one
// from a parsed Frame, a Message, or a buffer whose length you checked.
type Header []byte

// Magic returns the magic field; valid messages hold Magic.
func (h Header) Magic() uint32 { return binary.LittleEndian.Uint32(h[offMagic:]) }

// Domain returns the relay domain.
func (h Header) Domain() Domain { return Domain(h[offDomain]) }

// Version returns the protocol version.
func (h Header) Version() uint8 { return h[offVersion] }

// Source returns the producing service type.
func (h Header) Source() uint8 { return h[offSource] }

// Flags returns the flag byte.
func (h Header) Flags() Flags { return Flags(h[offFlags]) }

// Sequence returns the producer's per-source sequence number.
func (h Header) Sequence() uint64 { return binary.LittleEndian.Uint64(h[offSequence:]) }

// Timestamp returns the build time in nanoseconds since the Unix epoch.
func (h Header) Timestamp() uint64 { return binary.LittleEndian.Uint64(h[offTimestamp:]) }

// PayloadSize returns the number of TLV bytes after the header.
func (h Header) PayloadSize() uint32 { return binary.LittleEndian.Uint32(h[offPayloadSize:]) }

// Checksum returns the checksum field: the CRC-32 (IEEE) of the message when
// FlagChecksummed is set (0 included), and 0 otherwise.
func (h Header) Checksum() uint32 { return binary.LittleEndian.Uint32(h[offChecksum:]) }

// SetMagic writes the magic field.
func (h Header) SetMagic(v uint32) { binary.LittleEndian.PutUint32(h[offMagic:], v) }

// SetDomain writes the relay domain.
func (h Header) SetDomain(d Domain) { h[offDomain] = byte(d) }

// SetVersion writes the protocol version.
func (h Header) SetVersion(v uint8) { h[offVersion] = v }

// SetSource writes the producing service type.
func (h Header) SetSource(s uint8) { h[offSource] = s }

// SetFlags writes the flag byte.
func (h Header) SetFlags(f Flags) { h[offFlags] = byte(f) }

// SetSequence writes the sequence number.
func (h Header) SetSequence(v uint64) { binary.LittleEndian.PutUint64(h[offSequence:], v) }

// SetTimestamp writes the timestamp.
func (h Header) SetTimestamp(ns uint64) { binary.LittleEndian.PutUint64(h[offTimestamp:], ns) }

// SetPayloadSize writes the payload size.
func (h Header) SetPayloadSize(n uint32) { binary.LittleEndian.PutUint32(h[offPayloadSize:], n) }

// SetChecksum writes the checksum field.
func (h Header) SetChecksum(c uint32) { binary.LittleEndian.PutUint32(h[offChecksum:], c) }
