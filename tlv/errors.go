package tlv

import (
	"errors"
	"fmt"
)

// Sentinel errors. Every error this package returns matches one of them with
// errors.Is; the typed errors below carry the details.
var (
	// ErrMalformed: the bytes are not a well-formed Protocol V2 message.
	ErrMalformed = errors.New("tlv: malformed message")
	// ErrDomain: a TLV type does not belong to the message's relay domain, or is
	// reserved, or is refused at the validation level in force.
	ErrDomain = errors.New("tlv: TLV outside the message's domain")
	// ErrPrecision: a TLV type is refused by the precision setting (SPEC section 2).
	// Errors that match ErrPrecision also match ErrDomain.
	ErrPrecision = errors.New("tlv: TLV refused by precision setting")
	// ErrChecksum: the header has FlagChecksummed and its checksum field does
	// not match the CRC-32 of the bytes.
	ErrChecksum = errors.New("tlv: checksum mismatch")
)

// MalformedError says where a message is malformed and what was expected.
type MalformedError struct {
	Offset int    // byte offset within the message of the offending field
	Field  string // the field, e.g. "magic", "payload_size", "tlv length"
	Got    uint64 // the value found
	Want   string // what a valid message holds there
}

func (e *MalformedError) Error() string {
	return fmt.Sprintf("tlv: malformed message: %s at offset %d is %d (%#x); want %s",
		e.Field, e.Offset, e.Got, e.Got, e.Want)
}

// Unwrap makes errors.Is(err, ErrMalformed) true.
func (e *MalformedError) Unwrap() error { return ErrMalformed }

// DomainError names the TLV that put a message outside its domain.
type DomainError struct {
	Type   Type   // the offending TLV type (0 when the header's domain itself is refused)
	Offset int    // byte offset of the record within the message
	Domain Domain // the domain the message had to be in
	Reason string // why the type is refused, in words
	// Precision is set when the refusal comes from the precision setting; the
	// error then also matches ErrPrecision.
	Precision Precision
}

func (e *DomainError) Error() string {
	if e.Type == 0 {
		return fmt.Sprintf("tlv: message refused: %s", e.Reason)
	}
	return fmt.Sprintf("tlv: TLV %s (type %d) at offset %d refused in domain %s: %s",
		e.Type, uint8(e.Type), e.Offset, e.Domain, e.Reason)
}

// Unwrap makes errors.Is match ErrDomain, and ErrPrecision for precision refusals.
func (e *DomainError) Unwrap() []error {
	if e.Precision != PrecisionMixed {
		return []error{ErrDomain, ErrPrecision}
	}
	return []error{ErrDomain}
}

// ChecksumError reports a checksum mismatch.
type ChecksumError struct {
	Got  uint32 // the checksum field
	Want uint32 // the CRC-32 of the bytes
}

func (e *ChecksumError) Error() string {
	return fmt.Sprintf("tlv: checksum mismatch: header says %#08x, bytes hash to %#08x (corrupted in transit, or modified after Finish)",
		e.Got, e.Want)
}

// Unwrap makes errors.Is(err, ErrChecksum) true.
func (e *ChecksumError) Unwrap() error { return ErrChecksum }

func malformed(off int, field string, got uint64, want string) error {
	return &MalformedError{Offset: off, Field: field, Got: got, Want: want}
}
