package ring_test

import (
	"fmt"
	"sync"

	"github.com/msgsink/msgsink/ring"
)

func ExampleNew() {
	r := ring.New[string](5)
	fmt.Println(r.Cap(), r.Len())
	// Output: 8 0
}

func ExampleRing_Push() {
	r := ring.New[string](2)
	fmt.Println(r.Push("a"), r.Push("b"), r.Push("c"))
	fmt.Println(r.Len())
	// Output:
	// true true false
	// 2
}

func ExampleRing_PushShared() {
	r := ring.New[int](64)
	var wg sync.WaitGroup
	for p := range 4 {
		wg.Go(func() {
			for i := range 10 {
				r.PushShared(p*100 + i)
			}
		})
	}
	wg.Wait()
	fmt.Println(r.Len())
	// Output: 40
}

func ExampleRing_Peek() {
	r := ring.New[string](4)
	for _, s := range []string{"x", "y", "z"} {
		r.Push(s)
	}
	r.Discard(3)
	for _, s := range []string{"a", "b", "c"} {
		r.Push(s)
	}
	// The values wrap around the end of the storage, so they come in two
	// segments, ready to become two runs of iovecs.
	a, b := r.Peek(10)
	fmt.Println(a, b, r.Len())
	// Output: [a] [b c] 3
}

func ExampleRing_Discard() {
	r := ring.New[string](8)
	for _, s := range []string{"m1", "m2", "m3"} {
		r.Push(s)
	}
	a, b := r.Peek(8)
	written := 2 // say the write stopped after the second message
	fmt.Println(a, b)
	r.Discard(written)
	a, b = r.Peek(8)
	fmt.Println(a, b)
	// Output:
	// [m1 m2 m3] []
	// [m3] []
}

// A consumer that keeps what it used until something lets it go: it
// writes m1 and m2, keeps them until the peer acknowledges m1, and reads
// past the kept ones with PeekFrom, from the position it has written up to.
func ExampleRing_PeekFrom() {
	r := ring.New[string](8)
	for _, s := range []string{"m1", "m2", "m3", "m4"} {
		r.Push(s)
	}
	var sent uint64 = 2 // m1 and m2 are written, and stay in the ring
	a, b := r.PeekFrom(sent, 8)
	fmt.Println("not written yet:", a, b)
	r.Discard(1) // m1 acknowledged
	a, _ = r.PeekFrom(sent, 8)
	fmt.Println("after the Ack:", r.Len(), "held,", a, "not written yet")
	// Output:
	// not written yet: [m3 m4] []
	// after the Ack: 3 held, [m3 m4] not written yet
}

func ExampleRing_Pop() {
	r := ring.New[string](4)
	r.Push("a")
	v, ok := r.Pop()
	fmt.Println(v, ok)
	v, ok = r.Pop()
	fmt.Printf("%q %v\n", v, ok)
	// Output:
	// a true
	// "" false
}

func ExampleRing_PopBatch() {
	r := ring.New[int](8)
	for i := range 5 {
		r.Push(i)
	}
	dst := make([]int, 3)
	n := r.PopBatch(dst)
	fmt.Println(dst[:n], r.Len())
	// Output: [0 1 2] 2
}
