package handoff

import (
	"runtime"
	"sync/atomic"
	"time"
	_ "unsafe" // for go:linkname
)

// The flags in Gate.Word. Parked: the writer is parked, or about to be, and
// needs a kick. ThroughOK: set with Parked while the writer's connection can
// take a write through. Through: a producer owns the writing side and is
// writing through; the writer does not leave its park until it is gone.
const (
	Parked    = 1 << 8
	ThroughOK = 1 << 9
	Through   = 1 << 10
	// OwnerMask is the low byte, the owner's to use.
	OwnerMask = 0xFF
)

// Gap is the least time between two writes through. A write through saves
// the ~20 µs wake-up of the writer but costs the producer a system call
// (about 1-2 µs on the reference machine); within Gap of the last one,
// traffic is dense enough that the writer's batching wins. 5 µs keeps the
// producers' share of system calls under a third at any rate.
const Gap = 5 * time.Microsecond

// Gate is the word and the kick channel a writer parks on. The zero value
// is not usable: call Init.
type Gate struct {
	// Word holds the flags above and the owner's low byte. The owner reads
	// it directly on its fast path.
	Word      atomic.Uint32
	wake      chan struct{} // capacity 1
	throughAt atomic.Int64  // when the last write through started (nanotime)
}

// Init makes the kick channel.
func (g *Gate) Init() { g.wake = make(chan struct{}, 1) }

// C is the channel a parked writer waits on; the owner may also use Kick
// and C to wake a writer that sleeps for its own reasons (a backoff).
func (g *Gate) C() <-chan struct{} { return g.wake }

// Kick wakes the writer if it waits on C; a kick already pending is enough.
func (g *Gate) Kick() {
	select {
	case g.wake <- struct{}{}:
	default:
	}
}

// Result is what Wake did.
type Result uint8

const (
	// Done: nothing more to do. The writer was kicked, was not parked
	// (awake, it will find the push), or a producer writing through will
	// look at the queue after it lets go.
	Done Result = iota
	// WriteThrough: the caller owns the writing side. It writes the oldest
	// queued item with one non-blocking write, then calls EndThrough.
	WriteThrough
	// NotParked: no flag is set in the word Wake returns; the writer is
	// awake as far as the gate knows, and the owner's low byte decides (the
	// lazy sink starts a writer for an idle sink).
	NotParked
)

// Wake is a producer's hand-off after a push, given w, a recent load of
// Word: it wins the writing side of a parked writer whose connection takes
// writes through, at most once per Gap, or else kicks the writer. Only one
// caller wins each transition. It returns the word it decided on.
func (g *Gate) Wake(w uint32) (Result, uint32) {
	for {
		switch {
		case w&Through != 0:
			return Done, w
		case w&Parked == 0:
			return NotParked, w
		}
		if w&ThroughOK != 0 {
			if now := nanotime(); now-g.throughAt.Load() >= int64(Gap) &&
				g.Word.CompareAndSwap(w, w|Through) {
				g.throughAt.Store(now)
				return WriteThrough, w | Through
			}
		}
		if g.Word.CompareAndSwap(w, w&^(Parked|ThroughOK)) {
			g.Kick()
			return Done, w
		}
		w = g.Word.Load()
	}
}

// EndThrough gives the writing side back after a write through. whole says
// the write took all of the item: the writer sleeps on, and EndThrough
// reports true, for the caller to look at the queue again (producers that
// pushed meanwhile left their items to it) and Wake again if it is not
// empty. Otherwise the writer is woken to write the rest, or to find the
// connection broken.
func (g *Gate) EndThrough(whole bool) (recheck bool) {
	clear := uint32(Through)
	if !whole {
		clear |= Parked | ThroughOK
	}
	for {
		w := g.Word.Load()
		if g.Word.CompareAndSwap(w, w&^clear) {
			break
		}
	}
	if !whole {
		g.Kick()
	}
	return whole
}

// Park sets the parked flags, with ThroughOK when throughOK. The writer
// then looks at its queue once more before it waits on C: a producer looks
// at the flags after its push, so one of the two always sees the other.
// Every Park is followed by Unpark.
func (g *Gate) Park(throughOK bool) {
	flags := uint32(Parked)
	if throughOK {
		flags |= ThroughOK
	}
	g.Word.Or(flags)
}

// Unpark takes the writing side back: it waits for a producer writing
// through to finish (one non-blocking write) and clears the parked flags.
func (g *Gate) Unpark() {
	for {
		w := g.Word.Load()
		switch {
		case w&Through != 0:
			runtime.Gosched()
		case w&(Parked|ThroughOK) == 0 || g.Word.CompareAndSwap(w, w&^(Parked|ThroughOK)):
			return
		}
	}
}

// nanotime is the runtime's monotonic clock: the vDSO read behind time.Now,
// without the wall clock or the Time value. Wake reads it on the slow path
// only, when the writer is parked.
//
//go:linkname nanotime runtime.nanotime
func nanotime() int64
