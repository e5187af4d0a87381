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
//
// # Listening for producers
//
// A Listener is the peer of direct sinks (type = "direct"): Listen binds a
// unix://, tcp:// or ws:// endpoint and accepts any number of producers,
// and Next returns their frames one at a time, as zero-copy views valid
// until the next call. Each connection has a reader goroutine that reads
// 64 KiB at a time into a pooled chunk, validates every whole frame in it
// (and on a WebSocket unmasks each binary message in place, one frame per
// message) and hands the run of frames to Next in one piece, so nothing
// happens per frame but validation and the bookkeeping of Next; frames of
// one producer keep their order. A frame that fails the Validator closes
// only its producer's connection, counted by reason. A producer whose first
// frame is Subscribe{role: tlv.RoleProducer} (delivery = "acked") gets Ack
// frames, cumulative per source, for what Next has returned.
//
// # Concurrency and buffers
//
// Next belongs to one goroutine (the checked build, -tags msgsink_checked,
// panics on a second); Info, Addr and Close may be called from any. A chunk
// belongs to the reader that reads into it and to Next while a run of its
// frames is being returned, by reference count: the bytes of a frame that
// Next returned are not written again until the next call to Next.
package source
