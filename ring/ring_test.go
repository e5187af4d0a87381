package ring

import (
	"fmt"
	"math/rand/v2"
	"runtime"
	"slices"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
)

func TestNewRoundsCapacity(t *testing.T) {
	tests := []struct {
		in, want int
	}{
		{1, 1},
		{2, 2},
		{3, 4},
		{4, 4},
		{5, 8},
		{1000, 1024},
		{1024, 1024},
		{1025, 2048},
		{MaxCapacity - 1, MaxCapacity},
		{MaxCapacity, MaxCapacity},
	}
	for _, tt := range tests {
		if got := New[int](tt.in).Cap(); got != tt.want {
			t.Errorf("New(%d).Cap() = %d, want %d", tt.in, got, tt.want)
		}
	}
}

func TestNewPanicsOutOfRange(t *testing.T) {
	for _, capacity := range []int{0, -1, MaxCapacity + 1} {
		t.Run(fmt.Sprint(capacity), func(t *testing.T) {
			msg := mustPanic(t, func() { New[int](capacity) })
			if !strings.Contains(msg, fmt.Sprint(capacity)) {
				t.Errorf("panic %q does not name the capacity", msg)
			}
		})
	}
}

func TestFullAndEmpty(t *testing.T) {
	for _, shared := range []bool{false, true} {
		t.Run(fmt.Sprintf("shared=%v", shared), func(t *testing.T) {
			r := New[int](4)
			push := r.Push
			if shared {
				push = r.PushShared
			}
			if v, ok := r.Pop(); ok {
				t.Fatalf("Pop on empty ring = %d, true", v)
			}
			for i := range 4 {
				if !push(i) {
					t.Fatalf("push %d into ring of 4 failed", i)
				}
			}
			if push(4) {
				t.Fatal("push into full ring succeeded")
			}
			if r.tail.Load()&lockBit != 0 {
				t.Fatal("failed push left the tail locked")
			}
			if got := r.Len(); got != 4 {
				t.Fatalf("Len of full ring = %d, want 4", got)
			}
			if v, ok := r.Pop(); !ok || v != 0 {
				t.Fatalf("Pop = %d, %v, want 0, true", v, ok)
			}
			if !push(4) {
				t.Fatal("push after Pop freed a slot failed")
			}
			if push(5) {
				t.Fatal("push into refilled ring succeeded")
			}
			for want := 1; want <= 4; want++ {
				if v, ok := r.Pop(); !ok || v != want {
					t.Fatalf("Pop = %d, %v, want %d, true", v, ok, want)
				}
			}
			if v, ok := r.Pop(); ok {
				t.Fatalf("Pop on drained ring = %d, true", v)
			}
		})
	}
}

func TestCapacityOne(t *testing.T) {
	r := New[int](1)
	for i := range 5 {
		if !r.Push(i) {
			t.Fatalf("Push %d into empty ring of 1 failed", i)
		}
		if r.Push(-1) {
			t.Fatal("second Push into ring of 1 succeeded")
		}
		a, b := r.Peek(10)
		if !slices.Equal(a, []int{i}) || b != nil {
			t.Fatalf("Peek = %v, %v, want [%d], nil", a, b, i)
		}
		r.Discard(1)
	}
}

func TestPeekSegmentsAtWrap(t *testing.T) {
	// Eight slots with head at index 6 and five values: 6 7 | 0 1 2.
	newRing := func() *Ring[int] {
		r := New[int](8)
		for i := range 6 {
			r.Push(-i)
		}
		r.Discard(len(first(r.Peek(6))))
		for i := 10; i < 15; i++ {
			r.Push(i)
		}
		return r
	}
	tests := []struct {
		max  int
		a, b []int
	}{
		{0, nil, nil},
		{-1, nil, nil},
		{1, []int{10}, nil},
		{2, []int{10, 11}, nil},
		{3, []int{10, 11}, []int{12}},
		{5, []int{10, 11}, []int{12, 13, 14}},
		{100, []int{10, 11}, []int{12, 13, 14}},
	}
	for _, tt := range tests {
		t.Run(fmt.Sprintf("max=%d", tt.max), func(t *testing.T) {
			r := newRing()
			a, b := r.Peek(tt.max)
			if !slices.Equal(a, tt.a) || !slices.Equal(b, tt.b) || (tt.b == nil) != (b == nil) {
				t.Fatalf("Peek(%d) = %v, %v, want %v, %v", tt.max, a, b, tt.a, tt.b)
			}
			if cap(a) != len(a) || cap(b) != len(b) {
				t.Errorf("segments have spare capacity (%d/%d, %d/%d): append would overwrite ring slots",
					len(a), cap(a), len(b), cap(b))
			}
			if r.Len() != 5 {
				t.Errorf("Len after Peek = %d, want 5: Peek must not consume", r.Len())
			}
			a2, b2 := r.Peek(tt.max)
			if !slices.Equal(a, a2) || !slices.Equal(b, b2) {
				t.Errorf("second Peek = %v, %v, want the same as the first", a2, b2)
			}
		})
	}
}

func TestDiscardAcrossWrap(t *testing.T) {
	r := New[int](4)
	r.Push(0)
	r.Push(1)
	r.Push(2)
	r.Discard(len(first(r.Peek(3))))
	for i := 3; i < 7; i++ {
		r.Push(i)
	}
	// Head at index 3 of 4: 3 | 4 5 6. Nothing was peeked since the refill, so
	// this also checks that Discard may drop values the consumer has not seen.
	r.Discard(3)
	if v, ok := r.Pop(); !ok || v != 6 {
		t.Fatalf("Pop after Discard(3) across the wrap = %d, %v, want 6, true", v, ok)
	}
}

func TestConsumersZeroSlots(t *testing.T) {
	// The ring holds pooled messages by reference; a slot still pointing at a
	// released message would keep it alive and hand a stale pointer to the GC.
	tests := []struct {
		name    string
		consume func(r *Ring[*int], n int)
	}{
		{"peek-discard", func(r *Ring[*int], n int) {
			a, b := r.Peek(n)
			r.Discard(len(a) + len(b))
		}},
		{"pop", func(r *Ring[*int], n int) {
			for range n {
				r.Pop()
			}
		}},
		{"popbatch", func(r *Ring[*int], n int) {
			r.PopBatch(make([]*int, n))
		}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			r := New[*int](8)
			// Three rounds of five move the head across the end of the storage.
			for round := range 3 {
				for i := range 5 {
					v := round*5 + i
					r.Push(&v)
				}
				tt.consume(r, 5)
				for i, p := range r.slots {
					if p != nil {
						t.Fatalf("round %d: slot %d still holds %d after it was consumed", round, i, *p)
					}
				}
			}
		})
	}
}

func TestDiscardZeroesOnlyWhatItReleases(t *testing.T) {
	r := New[*int](4)
	vals := []int{0, 1, 2}
	for i := range vals {
		r.Push(&vals[i])
	}
	r.Peek(3)
	r.Discard(2)
	if p, ok := r.Pop(); !ok || p != &vals[2] {
		t.Fatalf("Pop after Discard(2) = %v, %v, want the third value", p, ok)
	}
}

func TestDiscardPanicsBeyondAvailable(t *testing.T) {
	r := New[int](8)
	r.Push(1)
	r.Push(2)
	for _, n := range []int{-1, 3, 9} {
		t.Run(fmt.Sprint(n), func(t *testing.T) {
			r.Peek(8)
			mustPanic(t, func() { r.Discard(n) })
			if r.Len() != 2 {
				t.Fatalf("Len after refused Discard(%d) = %d, want 2", n, r.Len())
			}
		})
	}
}

func TestPopBatch(t *testing.T) {
	r := New[int](4)
	for i := range 3 {
		r.Push(i)
	}
	r.PopBatch(make([]int, 2))
	for i := 3; i < 6; i++ {
		r.Push(i) // 2 | 3 4 5 spans the end of the storage.
	}
	tests := []struct {
		dst  int
		want []int
	}{
		{0, []int{}},
		{3, []int{2, 3, 4}},
		{8, []int{5}},
		{8, []int{}},
	}
	for _, tt := range tests {
		dst := make([]int, tt.dst)
		n := r.PopBatch(dst)
		if !slices.Equal(dst[:n], tt.want) {
			t.Fatalf("PopBatch(len %d) = %v, want %v", tt.dst, dst[:n], tt.want)
		}
	}
}

func TestLen(t *testing.T) {
	r := New[int](4)
	steps := []struct {
		op   func()
		want int
	}{
		{func() {}, 0},
		{func() { r.Push(1) }, 1},
		{func() { r.PushShared(2) }, 2},
		{func() { r.Peek(2) }, 2},
		{func() { r.Discard(1) }, 1},
		{func() { r.Push(3); r.Push(4); r.Push(5) }, 4},
		{func() { r.Push(6) }, 4},
		{func() { r.Pop() }, 3},
		{func() { r.PopBatch(make([]int, 8)) }, 0},
	}
	for i, s := range steps {
		s.op()
		if got := r.Len(); got != s.want {
			t.Fatalf("step %d: Len = %d, want %d", i, got, s.want)
		}
	}
}

// TestAgainstModel drives rings of several sizes with random operations and
// compares every result with a plain slice doing the same job, so that order,
// full and empty edges and wrap-around are checked at every head position.
func TestAgainstModel(t *testing.T) {
	for _, capacity := range []int{1, 2, 4, 8, 16} {
		t.Run(fmt.Sprintf("cap=%d", capacity), func(t *testing.T) {
			rng := rand.New(rand.NewPCG(uint64(capacity), 1))
			r := New[int](capacity)
			var model []int
			next := 0
			for step := range 20000 {
				switch op := rng.IntN(6); op {
				case 0, 1:
					push := r.Push
					if op == 1 {
						push = r.PushShared
					}
					ok := push(next)
					if want := len(model) < capacity; ok != want {
						t.Fatalf("step %d: push with %d of %d = %v", step, len(model), capacity, ok)
					}
					if ok {
						model = append(model, next)
						next++
					}
				case 2:
					v, ok := r.Pop()
					if ok != (len(model) > 0) || ok && v != model[0] {
						t.Fatalf("step %d: Pop = %d, %v, model %v", step, v, ok, model)
					}
					if ok {
						model = model[1:]
					}
				case 3:
					dst := make([]int, rng.IntN(capacity+2))
					n := r.PopBatch(dst)
					want := model[:min(len(dst), len(model))]
					if !slices.Equal(dst[:n], want) {
						t.Fatalf("step %d: PopBatch(len %d) = %v, want %v", step, len(dst), dst[:n], want)
					}
					model = model[len(want):]
				case 4:
					max := rng.IntN(capacity + 2)
					a, b := r.Peek(max)
					want := model[:min(max, len(model))]
					if got := slices.Concat(a, b); !slices.Equal(got, want) {
						t.Fatalf("step %d: Peek(%d) = %v + %v, want %v", step, max, a, b, want)
					}
					if len(b) > 0 && len(a) == 0 {
						t.Fatalf("step %d: Peek(%d) returned an empty first segment and %v", step, max, b)
					}
				case 5:
					n := rng.IntN(len(model) + 1)
					r.Discard(n)
					model = model[n:]
				}
				if r.Len() != len(model) {
					t.Fatalf("step %d: Len = %d, model has %d", step, r.Len(), len(model))
				}
			}
		})
	}
}

func first[T any](a, _ []T) []T { return a }

// mustPanic runs f and returns the panic message, failing the test if f returns.
func mustPanic(t *testing.T, f func()) (msg string) {
	t.Helper()
	defer func() {
		e := recover()
		if e == nil {
			t.Fatal("did not panic")
		}
		msg = fmt.Sprint(e)
	}()
	f()
	return ""
}

func TestClose(t *testing.T) {
	r := New[int](4)
	r.Push(1)
	r.PushShared(2)
	r.Close()
	r.Close() // harmless twice
	if !r.Closed() {
		t.Fatal("Closed is false after Close")
	}
	if r.Push(3) || r.PushShared(4) {
		t.Fatal("a push succeeded on a closed ring")
	}
	if pushed, removed := r.Counts(); pushed != 2 || removed != 0 || r.Len() != 2 {
		t.Fatalf("counts %d/%d len %d", pushed, removed, r.Len())
	}
	// What was pushed before Close is still there for the consumer.
	for want := 1; want <= 2; want++ {
		if v, ok := r.Pop(); !ok || v != want {
			t.Fatalf("pop %v %v, want %d", v, ok, want)
		}
	}
	if pushed, removed := r.Counts(); pushed != 2 || removed != 2 {
		t.Fatalf("counts %d/%d", pushed, removed)
	}
}

// Every PushShared that reports success before or during Close is drained,
// and none after: the accounting a sink's Close relies on.
func TestCloseRacesPushShared(t *testing.T) {
	for range 20 {
		r := New[int](1 << 12)
		var accepted atomic.Int64
		var wg sync.WaitGroup
		for p := range 4 {
			wg.Add(1)
			go func() {
				defer wg.Done()
				for i := range 1000 {
					if r.PushShared(p*1000 + i) {
						accepted.Add(1)
					} else if r.Closed() {
						return
					}
				}
			}()
		}
		runtime.Gosched()
		r.Close()
		wg.Wait()
		drained := 0
		for {
			if _, ok := r.Pop(); !ok {
				break
			}
			drained++
		}
		if int64(drained) != accepted.Load() {
			t.Fatalf("accepted %d, drained %d", accepted.Load(), drained)
		}
		if pushed, removed := r.Counts(); pushed != removed || int64(pushed) != accepted.Load() {
			t.Fatalf("counts %d/%d, accepted %d", pushed, removed, accepted.Load())
		}
	}
}

func TestPeekFrom(t *testing.T) {
	// Eight slots with head at index 6 and five values: 6 7 | 0 1 2. The
	// head is at position 6, the tail at 11.
	newRing := func() *Ring[int] {
		r := New[int](8)
		for i := range 6 {
			r.Push(-i)
		}
		r.Discard(6)
		for i := 10; i < 15; i++ {
			r.Push(i)
		}
		return r
	}
	tests := []struct {
		pos  uint64
		max  int
		a, b []int
	}{
		{6, 2, []int{10, 11}, nil},
		{6, 5, []int{10, 11}, []int{12, 13, 14}},
		{7, 1, []int{11}, nil},
		{7, 3, []int{11}, []int{12, 13}},
		{8, 100, []int{12, 13, 14}, nil},
		{10, 100, []int{14}, nil},
		{11, 100, nil, nil}, // at the tail
		{15, 100, nil, nil}, // past it
		{7, 0, nil, nil},
		{5, 3, nil, nil},           // before the head: gone
		{0, 3, nil, nil},           // long gone
		{1<<64 - 1, 100, nil, nil}, // skip+max wraps around: still nothing
	}
	for _, tt := range tests {
		t.Run(fmt.Sprintf("pos=%d/max=%d", tt.pos, tt.max), func(t *testing.T) {
			r := newRing()
			a, b := r.PeekFrom(tt.pos, tt.max)
			if !slices.Equal(a, tt.a) || !slices.Equal(b, tt.b) {
				t.Fatalf("PeekFrom(%d, %d) = %v, %v, want %v, %v", tt.pos, tt.max, a, b, tt.a, tt.b)
			}
			if r.Len() != 5 {
				t.Errorf("Len after PeekFrom = %d, want 5: it must not consume", r.Len())
			}
		})
	}
}
