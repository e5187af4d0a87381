// Package ring is the queue between a sink's producers and its writer goroutine:
// a bounded, lock-free ring of references (the sink stores *tlv.Message) with one
// consumer and, logically, one producer.
//
// It exists because a channel, the obvious alternative, costs too much on the
// hot path: it takes a lock on every send and every receive, a send blocks when
// it is full, and it hands the writer one value at a time. The writer wants to
// see everything queued as contiguous memory, turn it into one writev, and
// release only what the kernel took. So a push never blocks, and the consumer
// side is a view of the ring's own storage (Peek) followed by an explicit
// release (Discard).
//
// # Concurrency contract
//
// A ring has a producer side and a consumer side, which may run at the same time
// on different goroutines:
//
//   - Producer, single: Push. No other Push or PushShared call may overlap a Push;
//     successive calls may come from different goroutines if something else
//     orders them.
//   - Producer, shared: PushShared, from any number of goroutines at once. It
//     costs one compare-and-swap more than Push and is what Send uses, since Send
//     is safe for concurrent use. Push and PushShared may be used on the same ring
//     as long as no Push overlaps another call.
//   - Consumer: Peek, PeekFrom, Discard, Pop and PopBatch, from one goroutine
//     at a time.
//   - Anyone: Cap, and Len as a snapshot.
//
// Neither side ever waits for the other. A full ring makes Push and PushShared
// return false at once, and an empty ring makes Peek return nothing. The only
// waiting in the package is PushShared waiting for another PushShared to finish
// storing one slot, which takes nanoseconds and involves no I/O.
//
// Each side keeps the other's index in a private cached copy on its own cache
// line and reads the real one only when the cache says full (producer) or too
// few values (consumer), so in steady state a push or a drain touches only its
// own line and the slots.
//
// # Ownership
//
// The ring stores values; for pointers it holds the references, and owns
// nothing else. A value pushed stays reachable through the ring until the
// consumer removes it. Discard, Pop and PopBatch zero the slots they release, so
// a message that was written and returned to its pool is not kept alive by a
// stale slot. The segments Peek returns alias the ring's storage and are valid
// only until the next Discard, Pop or PopBatch.
//
// # Checked build
//
// Building with -tags msgsink_checked makes misuse panic at the overlapping call:
// a second concurrent Push, a Push overlapping PushShared, or two consumers at
// once. Without the tag the checks compile to nothing. The race detector also
// reports these cases, less directly, as data races on the ring's fields.
//
// # Use
//
// A writer draining a ring into a socket:
//
//	r := ring.New[*tlv.Message](cfg.BufferSize)
//
//	// Producers, any goroutine:
//	if !r.PushShared(m) {
//		return ErrBufferFull
//	}
//
//	// Writer goroutine:
//	a, b := r.Peek(maxBatch)
//	n, err := writeFrames(conn, a, b) // one writev; n whole messages written
//	release(a, b, n)                  // give the written messages back to their pool
//	r.Discard(n)                      // the unwritten rest stays first in the ring
package ring
