// Package source is the receive side of msgsink (SPEC section 9a): the
// consumer's mirror of a lazy sink.
//
// A Source reads the frames a relay forwards. New never dials; the first
// Next connects and subscribes, and returns frames one at a time as
// zero-copy tlv.Frame views into the Source's read buffer. When the relay
// goes away, Next blocks while the Source reconnects with the sinks' backoff
// and subscribes again.
//
// Every frame carries its producer's (source, sequence): a Source tracks
// the sequence of every producer it hears from and counts what it never
// saw (gaps) and what it saw twice (duplicates, dropped, never returned).
package source
