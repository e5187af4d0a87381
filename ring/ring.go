package ring

import (
	"fmt"
	"math/bits"
	"runtime"
	"sync/atomic"

	"golang.org/x/sys/cpu"
)

// MaxCapacity is the largest capacity New accepts. A ring is sized from
// configuration; the bound turns a typo in a buffer size into a panic at start-up
// instead of a silent reservation of gigabytes (1<<24 pointer slots are 128 MiB).
const MaxCapacity = 1 << 24

// lockBit in the tail word means a PushShared caller owns slot tail&^lockBit and
// has not published it yet. The top bit is free because the counters never get
// there: at one push per nanosecond that takes 292 years.
const lockBit = 1 << 63

// closedBit in the tail word means the producer side is closed: every push
// fails from then on. Sitting in the tail itself makes a closed ring look full
// to Push (the tail is suddenly far ahead of the head) and lets PushShared see
// it in the same load that looks for the lock, so the push paths pay nothing
// for it.
const closedBit = 1 << 62

// flagBits are the tail bits that are not part of the count.
const flagBits = lockBit | closedBit

// sharedSpins is how many times a PushShared caller re-reads a locked tail before
// it starts yielding. The lock is held for a slot store and a counter store, so a
// running holder lets go within a few re-reads; a holder that is still there after
// this many has almost certainly been descheduled and needs the processor.
const sharedSpins = 32

// Ring is a bounded single-producer, single-consumer queue of values of type T,
// usually pointers. The zero value is not usable; call New.
//
// The producer side (Push, or PushShared from any number of goroutines) and the
// consumer side (Peek, Discard, Pop, PopBatch) may run at the same time from two
// goroutines. See the package documentation for the full contract.
type Ring[T any] struct {
	_ cpu.CacheLinePad

	// Set by New and never written again, so the line holding them stays shared
	// in both cores' caches. chk is empty except in the checked build, which
	// does not care about false sharing.
	slots []T
	mask  uint64
	chk   checks

	_ cpu.CacheLinePad

	// Producer side. tail counts items ever published (plus lockBit while a
	// PushShared holds it). headCache is the producer's last view of head and is
	// touched only by the producer, or by a PushShared caller holding the lock,
	// so that the producer reads the consumer's line only when the ring looks full.
	tail      atomic.Uint64
	headCache uint64

	_ cpu.CacheLinePad

	// Consumer side, mirroring the producer's: head counts items ever released,
	// and tailCache is the consumer's last view of tail, without lockBit.
	head      atomic.Uint64
	tailCache uint64

	_ cpu.CacheLinePad
}

// New returns an empty ring holding at least capacity values: the capacity is
// rounded up to a power of two so that a slot index is a mask, not a division.
// It panics if capacity is less than 1 or greater than MaxCapacity; callers that
// take the size from configuration validate it first.
func New[T any](capacity int) *Ring[T] {
	if capacity < 1 || capacity > MaxCapacity {
		panic(fmt.Sprintf("ring: capacity %d out of range [1, %d]", capacity, MaxCapacity))
	}
	n := 1 << bits.Len(uint(capacity-1))
	return &Ring[T]{slots: make([]T, n), mask: uint64(n - 1)}
}

// Cap returns the number of values the ring can hold.
func (r *Ring[T]) Cap() int { return len(r.slots) }

// Len returns the number of values in the ring. From the consumer, with no push
// in progress, it is exact. From any other goroutine it is a snapshot that may be
// stale by the time it returns, though always between 0 and Cap.
func (r *Ring[T]) Len() int {
	// head first: tail only grows, so a tail read afterwards is never behind it.
	// The other order could see a head that passed the tail read earlier.
	h := r.head.Load()
	t := r.tail.Load() &^ flagBits
	return int(min(t-h, uint64(len(r.slots))))
}

// Push appends v and reports whether there was room. It never waits: a full ring
// returns false and leaves v with the caller.
//
// Push is the single-producer path: no other Push or PushShared call may overlap
// it. Calls from different goroutines are fine when something else (a mutex, a
// channel) orders them. Use PushShared when producers are not coordinated.
//
// Push may overlap Close: the slot is published with a compare-and-swap
// against the tail it read, so a Close that gets in between makes the Push
// fail instead of publishing a value behind the consumer's final drain. On
// amd64 that costs what a plain atomic store does (both are one locked
// instruction), so the producer pays nothing for it.
func (r *Ring[T]) Push(v T) bool {
	r.chk.enterPush(&r.tail)
	t := r.tail.Load()
	if t-r.headCache > r.mask {
		r.headCache = r.head.Load()
		if t-r.headCache > r.mask {
			r.chk.exitPush()
			return false
		}
	}
	r.slots[t&r.mask] = v
	if !r.tail.CompareAndSwap(t, t+1) {
		// Close set its bit after our load (t then had no flag, or the
		// count check above would have failed). The slot is unpublished:
		// clear it so that the ring keeps no reference to v.
		var zero T
		r.slots[t&r.mask] = zero
		r.chk.exitPush()
		return false
	}
	r.chk.exitPush()
	return true
}

// PushShared is Push for any number of concurrent producers. It serialises them
// with a lock bit in the tail word: a compare-and-swap takes slot and lock
// together, and the store that publishes the slot also releases the lock, so an
// uncontended call costs one atomic more than Push.
//
// PushShared never waits on the consumer or on I/O: a full ring returns false at
// once. It may wait for another PushShared to finish writing its slot, which takes
// nanoseconds unless that goroutine is descheduled in between; it spins briefly and
// then yields the processor to it.
//
// PushShared may be mixed with Push only as long as no Push overlaps it.
func (r *Ring[T]) PushShared(v T) bool {
	t := r.tail.Load()
	if t&flagBits != 0 || !r.tail.CompareAndSwap(t, t|lockBit) {
		var ok bool
		if t, ok = r.lockSlow(); !ok {
			return false
		}
	}
	r.chk.lockedShared()
	if t-r.headCache > r.mask {
		r.headCache = r.head.Load()
		if t-r.headCache > r.mask {
			r.tail.Store(t)
			return false
		}
	}
	r.slots[t&r.mask] = v
	r.tail.Store(t + 1)
	return true
}

// lockSlow takes the tail lock under contention and returns the unlocked tail,
// or false once the ring is closed. Re-reading before each CAS keeps waiters
// from stealing the line back from the holder while it writes its slot.
// Yielding after sharedSpins matters most with GOMAXPROCS=1, where a holder
// preempted inside its critical section cannot finish until the waiters give
// up the processor.
func (r *Ring[T]) lockSlow() (uint64, bool) {
	for i := 0; ; i++ {
		t := r.tail.Load()
		if t&closedBit != 0 {
			return 0, false
		}
		if t&lockBit == 0 && r.tail.CompareAndSwap(t, t|lockBit) {
			return t, true
		}
		if i >= sharedSpins {
			runtime.Gosched()
		}
	}
}

// Close closes the producer side: every Push and PushShared after it returns
// false, and Closed reports true. Values already in the ring stay there for the
// consumer, so a sink can close its ring, drain it, and know that nothing
// arrives behind the drain. Close waits for a PushShared in progress to
// publish its value, and makes a Push in progress fail. Closing twice is
// harmless.
func (r *Ring[T]) Close() {
	for i := 0; ; i++ {
		t := r.tail.Load()
		if t&closedBit != 0 || (t&lockBit == 0 && r.tail.CompareAndSwap(t, t|closedBit)) {
			return
		}
		if i >= sharedSpins {
			runtime.Gosched()
		}
	}
}

// Closed reports whether Close has been called. A push that failed on a ring
// that is Closed failed because of Close, not because the ring was full.
func (r *Ring[T]) Closed() bool { return r.tail.Load()&closedBit != 0 }

// Counts returns how many values were ever pushed and how many ever removed by
// the consumer, so pushed - removed values are in the ring. Like Len, it is a
// snapshot from any goroutine; it is exact once both sides are quiet. A sink
// derives its enqueued counter from it instead of paying an atomic per Send.
func (r *Ring[T]) Counts() (pushed, removed uint64) {
	removed = r.head.Load() // head first, as in Len
	return r.tail.Load() &^ flagBits, removed
}

// Peek returns up to max of the oldest values without removing them, as two
// segments of the ring's own storage: a, then b, which is non-empty only when the
// values wrap around the end of the storage. Both are nil when the ring is empty or
// max <= 0. The segments share memory with the ring: the caller may read them
// until it next removes values from the ring, and must not write to them.
//
// Peek is for the consumer, which can hand the segments straight to a vectored
// write and then Discard only what was written; the rest stays first in the ring.
func (r *Ring[T]) Peek(max int) (a, b []T) {
	r.chk.enterConsume()
	a, b = r.peek(max)
	r.chk.exitConsume()
	return a, b
}

func (r *Ring[T]) peek(max int) (a, b []T) {
	if max <= 0 {
		return nil, nil
	}
	h := r.head.Load()
	return r.segments(h, r.available(h, uint64(max)))
}

// PeekFrom is Peek from an absolute position: up to max of the values from
// the one at pos, counted as Counts counts them (the value at pos is the one
// pushed after pos others). It returns nil when pos is before the head (those
// values are gone) or at or past the tail. It is for a consumer that keeps
// values after it has used them, until something lets it go of them (a sink
// keeps what it wrote until the peer acknowledges it): it reads what it has
// not used yet from the position it has used up to, and Discards the oldest
// when it may. Taking the position rather than a count past the head saves
// such a consumer the Counts call, whose tail read touches the producer's
// line. The segments are valid as Peek's are.
func (r *Ring[T]) PeekFrom(pos uint64, max int) (a, b []T) {
	r.chk.enterConsume()
	if h := r.head.Load(); pos >= h && max > 0 {
		skip := pos - h
		if n := r.available(h, skip+uint64(max)); n > skip {
			a, b = r.segments(pos, n-skip)
		}
	}
	r.chk.exitConsume()
	return a, b
}

// segments returns the n values from position h as Peek does.
func (r *Ring[T]) segments(h, n uint64) (a, b []T) {
	if n == 0 {
		return nil, nil
	}
	i := h & r.mask
	end := i + n
	size := uint64(len(r.slots))
	if end <= size {
		return r.slots[i:end:end], nil
	}
	return r.slots[i:], r.slots[: end-size : end-size]
}

// available returns how many values after head h the consumer may read, at most
// want. It reads the producer's tail only when its cached view falls short, so a
// consumer working through a backlog does not pull the producer's line away.
func (r *Ring[T]) available(h, want uint64) uint64 {
	n := r.tailCache - h
	if n < want {
		r.tailCache = r.tail.Load() &^ flagBits
		n = r.tailCache - h
	}
	return min(n, want)
}

// Discard removes the n oldest values, normally the ones the consumer has just
// written out from Peek's segments, and zeroes their slots so that the ring keeps
// no reference to them. It is for the consumer. It panics if n is negative or
// greater than the number of values in the ring.
func (r *Ring[T]) Discard(n int) {
	r.chk.enterConsume()
	r.discard(n)
	r.chk.exitConsume()
}

func (r *Ring[T]) discard(n int) {
	h := r.head.Load()
	if n < 0 || r.available(h, uint64(n)) != uint64(n) {
		// Nothing has changed yet, so a caller that recovers may go on
		// consuming; in the checked build that needs the consumer mark cleared.
		r.chk.exitConsume()
		panic("ring: Discard count is negative or greater than the number of values in the ring")
	}
	if n == 0 {
		return
	}
	i := h & r.mask
	end := i + uint64(n)
	size := uint64(len(r.slots))
	if end <= size {
		clear(r.slots[i:end])
	} else {
		clear(r.slots[i:])
		clear(r.slots[:end-size])
	}
	r.head.Store(h + uint64(n))
}

// Pop removes and returns the oldest value, or reports false if the ring is empty.
// It is for the consumer.
func (r *Ring[T]) Pop() (v T, ok bool) {
	r.chk.enterConsume()
	h := r.head.Load()
	if r.available(h, 1) == 0 {
		r.chk.exitConsume()
		return v, false
	}
	i := h & r.mask
	v = r.slots[i]
	var zero T
	r.slots[i] = zero
	r.head.Store(h + 1)
	r.chk.exitConsume()
	return v, true
}

// PopBatch moves up to len(dst) of the oldest values into dst and returns how
// many it moved. It is for the consumer, and is Peek, copy and Discard in one call
// for a consumer that needs its own copy.
func (r *Ring[T]) PopBatch(dst []T) int {
	r.chk.enterConsume()
	a, b := r.peek(len(dst))
	n := copy(dst, a)
	n += copy(dst[n:], b)
	r.discard(n)
	r.chk.exitConsume()
	return n
}
