//go:build msgsink_checked

package ring

import (
	"runtime"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"
)

// The deterministic tests below put the ring in the state an overlapping call
// leaves it in, then make the second call; TestCheckedConcurrentPush shows the
// same panic from two real goroutines.

func TestCheckedSecondPush(t *testing.T) {
	r := New[int](4)
	r.chk.pushing.Store(true) // a Push is in progress on another goroutine
	msg := mustPanic(t, func() { r.Push(1) })
	if !strings.Contains(msg, "concurrent Push") {
		t.Fatalf("panic %q does not name the misuse", msg)
	}
}

func TestCheckedPushDuringPushShared(t *testing.T) {
	r := New[int](4)
	r.tail.Store(lockBit) // a PushShared holds the tail
	msg := mustPanic(t, func() { r.Push(1) })
	if !strings.Contains(msg, "Push overlaps PushShared") {
		t.Fatalf("panic %q does not name the misuse", msg)
	}
}

func TestCheckedPushSharedDuringPush(t *testing.T) {
	r := New[int](4)
	r.chk.pushing.Store(true)
	msg := mustPanic(t, func() { r.PushShared(1) })
	if !strings.Contains(msg, "PushShared overlaps Push") {
		t.Fatalf("panic %q does not name the misuse", msg)
	}
}

func TestCheckedSecondConsumer(t *testing.T) {
	calls := map[string]func(r *Ring[int]){
		"Peek":     func(r *Ring[int]) { r.Peek(1) },
		"Discard":  func(r *Ring[int]) { r.Discard(0) },
		"Pop":      func(r *Ring[int]) { r.Pop() },
		"PopBatch": func(r *Ring[int]) { r.PopBatch(make([]int, 1)) },
	}
	for name, call := range calls {
		t.Run(name, func(t *testing.T) {
			r := New[int](4)
			r.Push(1)
			r.chk.consuming.Store(true)
			msg := mustPanic(t, func() { call(r) })
			if !strings.Contains(msg, "concurrent consumers") {
				t.Fatalf("panic %q does not name the misuse", msg)
			}
		})
	}
}

func TestCheckedSequentialUseDoesNotPanic(t *testing.T) {
	r := New[int](4)
	for i := range 100 {
		if i%2 == 0 {
			r.Push(i)
		} else {
			r.PushShared(i)
		}
		a, b := r.Peek(4)
		r.Discard(len(a) + len(b))
		r.PopBatch(make([]int, 1))
		r.Pop()
	}
}

func TestCheckedConcurrentPush(t *testing.T) {
	if runtime.GOMAXPROCS(0) < 2 {
		t.Skip("needs two processors for two pushes to overlap reliably")
	}
	r := New[int](1 << 10)
	var (
		stop     atomic.Bool
		panicked atomic.Value
		wg       sync.WaitGroup
	)
	deadline := time.Now().Add(5 * time.Second)
	for range 2 {
		wg.Go(func() {
			defer func() {
				if e := recover(); e != nil {
					panicked.CompareAndSwap(nil, e)
					stop.Store(true)
				}
			}()
			for i := 0; !stop.Load(); i++ {
				if !r.Push(i) {
					// A full ring still enters and leaves the check.
					if time.Now().After(deadline) {
						stop.Store(true)
					}
				}
			}
		})
	}
	wg.Wait()
	e := panicked.Load()
	if e == nil {
		t.Fatal("two goroutines pushed for 5s without the checked build noticing")
	}
	if msg, _ := e.(string); !strings.Contains(msg, "concurrent Push") {
		t.Fatalf("panic %v does not name the misuse", e)
	}
}
