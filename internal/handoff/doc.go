// Package handoff is the park/wake protocol between a writer goroutine and
// the producers that feed it, shared by the lazy sink's writer and the
// relay's consumer writers, so that the idle schedule, the hand-off of the
// writing side to a producer ("write through") and its rate gate are
// written, tuned and reasoned about once.
//
// A writer with nothing to write follows an idle Schedule: it spins, then
// yields, then parks on its Gate. Spinning catches a burst a few µs away at
// the cost of a core; a yield lets a producer on the same P run; a park
// costs nothing while quiet, but a wake-up costs the producer a channel send
// and the message a goroutine wake-up (about 20 µs on a small machine).
//
// A producer that finds the writer parked after its push calls Gate.Wake.
// Once per Gap at most, it wins the writing side (Through) instead of
// waking the writer, writes the oldest queued item itself with one
// non-blocking write, and gives the side back with EndThrough: a message
// after a quiet spell then costs one system call, not a wake-up. Within Gap
// of the last write through, traffic is dense enough for the writer's
// batching to win, and the producer kicks the writer instead.
//
// # The word
//
// The Gate's Word carries the protocol's flags in bits 8 and up, and leaves
// its low byte to the owner: the lazy sink keeps its sink.State there, so
// that Send learns from one load whether the writer is connected and awake
// (its fast path is Word == StateConnected, flags clear). An owner that
// changes its low byte does so with a compare-and-swap that keeps the flags.
//
// # Concurrency contract
//
// Park, Unpark and the Schedule belong to the writer goroutine. Wake may be
// called by any number of producers; the one that gets Through owns the
// writing side (the connection's write state, the skip of a partly written
// first item) until it calls EndThrough, and the writer does not leave
// Unpark before then. Whatever the writer needs to write through (a
// connection, a TryWriter) must be set before its first Park and cleared
// only after Unpark.
//
// # What stays with the owners
//
// Writing itself is shared one level down, in internal/iovec: its Writer
// drives a vector of buffers through a RawConn with writev, waiting in the
// netpoller or (Try, for a write through) making one attempt, and counts
// the bytes that reached the socket. What goes into the vector and what a
// count of bytes means are not shared, because the queues differ: the sink
// queues *tlv.Message, one frame each, which its transport.Conn copies into
// a coalescing buffer when small (and a Conn may not be a socket at all: a
// WebSocketConn frames each message); the relay queues spans of a
// producer's read buffer, several frames each, and merges adjacent spans
// into one iovec. Counting the whole frames a failed write left, releasing
// (tlv.ReleaseAll against chunk references) and the counters are shaped by
// those types too. One form for both would need an interface or a callback
// per queued item on the hot path, so each owner keeps its few lines.
//
// Sketch of a writer:
//
//	var rounds int
//	for {
//		if queue empty {
//			switch sched.Next(&rounds) {
//			case handoff.Yield:
//				runtime.Gosched()
//			case handoff.Park:
//				g.Park(canWriteThrough)
//				if queue empty { select { case <-g.C(): case <-stop: } }
//				g.Unpark()
//			}
//			continue
//		}
//		rounds = 0
//		write a batch
//	}
//
// and of a producer, after its push:
//
//	if r, _ := g.Wake(g.Word.Load()); r == handoff.Through {
//		write the oldest item with one non-blocking write
//		if g.EndThrough(whole) && queue not empty { wake again }
//	}
package handoff
