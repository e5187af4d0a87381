// Package tlv reads and builds Protocol V2 messages: a 32-byte header followed by
// TLV records (see SPEC sections 1 and 2).
//
// Everything here is a view over bytes, never a copy. Parse checks a buffer and
// returns a Frame that aliases it; Header, Iter and the typed views (TradeView,
// QuoteView, …) read fields straight from those bytes, little-endian, with no
// assumption of alignment. None of them allocates on success, which the
// package's allocation tests assert.
//
// Building goes the other way: a Builder writes records into a buffer from a
// private bytebufferpool.Pool and Finish hands back a *Message that owns it.
// Messages are reference counted because one message may sit in several sinks'
// rings at once (fan-out): Retain adds a holder, Release drops one, and the
// last Release returns the buffer and the Message struct to their pools. After
// your Release the Message is gone: do not read it, and do not modify its bytes
// after Finish at all. Validator.Check, which every sink's Send runs, refuses
// a nil or released message with ErrMalformed (Message.CheckLive) rather than
// let a writer send bytes that its Builder may be reusing.
//
// Validation has three levels (Validator.Level): performance (header and
// record bounds), standard (the default: plus domains, reserved types, flags
// and the checksum: the CRC-32 when the header has FlagChecksummed, whatever
// its value, and 0 without it) and audit (plus the exact shape and value ranges of
// the fixed types). A Builder proves standard validity as it writes, so
// Validator.Check on a built message costs one comparison.
//
// Errors match ErrMalformed, ErrDomain, ErrPrecision or ErrChecksum with
// errors.Is, and carry details as *MalformedError (offset, field, value found,
// what was expected), *DomainError or *ChecksumError.
//
// Concurrency: Frames, Headers and views are plain byte slices and as safe as
// the bytes under them. A Builder belongs to one goroutine. Retain and Release
// are safe from any goroutine.
//
//	b := tlv.NewBuilder(tlv.DomainMarketData, 1)
//	b.AppendTrade(&tlv.Trade{Instrument: 42, Price: 6_512_345_000_000, Volume: 25_000_000})
//	m, err := b.Finish()
//	// hand m to a sink (which takes the reference), or m.Release()
package tlv
