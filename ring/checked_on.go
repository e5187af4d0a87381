//go:build msgsink_checked

package ring

import "sync/atomic"

// checks turns misuse of the single-producer and single-consumer sides into a
// panic at the call that overlaps another, instead of a lost or duplicated value
// found much later.
type checks struct {
	pushing   atomic.Bool // a Push is between enterPush and exitPush
	consuming atomic.Bool // a consumer call is between enterConsume and exitConsume
}

// enterPush marks a Push in progress and then looks at the tail lock; lockedShared
// does the same in the opposite order. Because both pairs are sequentially
// consistent atomics, whichever of an overlapping Push and PushShared comes second
// sees the other and panics.
func (c *checks) enterPush(tail *atomic.Uint64) {
	if !c.pushing.CompareAndSwap(false, true) {
		panic("ring: concurrent Push from two goroutines; use PushShared or serialise producers")
	}
	if tail.Load()&lockBit != 0 {
		panic("ring: Push overlaps PushShared; use PushShared for every producer or serialise them")
	}
}

func (c *checks) exitPush() { c.pushing.Store(false) }

func (c *checks) lockedShared() {
	if c.pushing.Load() {
		panic("ring: PushShared overlaps Push; use PushShared for every producer or serialise them")
	}
}

func (c *checks) enterConsume() {
	if !c.consuming.CompareAndSwap(false, true) {
		panic("ring: concurrent consumers; call Peek, Discard, Pop and PopBatch from one goroutine at a time")
	}
}

func (c *checks) exitConsume() { c.consuming.Store(false) }
