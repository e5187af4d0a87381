package ring

import (
	"runtime"
	"sync"
	"testing"
)

// TestPushOverlapsClose runs Push in a loop on one goroutine while another
// calls Close, many times over, with a consumer draining all along: a Push
// that reported true delivered its value exactly once, in order; a Push
// that reported false (full, or beaten by Close) left nothing behind, not
// even a reference in its slot; and the counts agree with what the
// producer was told.
func TestPushOverlapsClose(t *testing.T) {
	rounds := scaled(2000)
	for round := range rounds {
		r := New[uint64](16)
		var (
			told     []bool // told[v-1]: what Push(v) returned
			got      []uint64
			started  = make(chan struct{})
			produced = make(chan struct{})
			wg       sync.WaitGroup
		)
		wg.Go(func() { // producer: values 1, 2, 3, ... until the ring is closed
			defer close(produced)
			for v := uint64(1); ; v++ {
				ok := r.Push(v)
				told = append(told, ok)
				if v == 1 {
					close(started)
				}
				if !ok {
					if r.Closed() {
						return
					}
					runtime.Gosched() // full: let the consumer in
				}
			}
		})
		wg.Go(func() { // consumer: drains until the producer is done and the ring empty
			buf := make([]uint64, 8)
			for {
				n := r.PopBatch(buf)
				got = append(got, buf[:n]...)
				if n == 0 {
					select {
					case <-produced:
						got = append(got, buf[:r.PopBatch(buf)]...)
						if r.Len() == 0 {
							return
						}
					default:
						runtime.Gosched()
					}
				}
			}
		})
		<-started
		for range round % 64 { // close at a different moment each round
			runtime.Gosched()
		}
		r.Close()
		wg.Wait()

		if !r.Closed() || r.Push(0) {
			t.Fatalf("round %d: the ring took a value after Close", round)
		}
		var accepted []uint64
		for i, ok := range told {
			if ok {
				accepted = append(accepted, uint64(i+1))
			}
		}
		if len(got) != len(accepted) {
			t.Fatalf("round %d: Push returned true %d times, the consumer got %d values", round, len(accepted), len(got))
		}
		for i, v := range got {
			if v != accepted[i] {
				t.Fatalf("round %d: value %d out of %d is %d, want %d (the producer was told false for it, or it came twice)",
					round, i, len(got), v, accepted[i])
			}
		}
		pushed, removed := r.Counts()
		if pushed != uint64(len(accepted)) || removed != pushed {
			t.Fatalf("round %d: Counts = %d pushed, %d removed; want %d, %d", round, pushed, removed, len(accepted), len(accepted))
		}
		for i, v := range r.slots {
			if v != 0 {
				t.Fatalf("round %d: slot %d still holds %d after the ring was drained", round, i, v)
			}
		}
	}
}

// A Push after Close fails at once and leaves its slot untouched, also on
// a ring with room; the values in the ring stay for the consumer.
func TestPushAfterClose(t *testing.T) {
	r := New[*int](4)
	one, two := new(int), new(int)
	if !r.Push(one) {
		t.Fatal("Push to an empty ring failed")
	}
	r.Close()
	if r.Push(two) || r.PushShared(two) {
		t.Fatal("Push after Close succeeded")
	}
	for i, v := range r.slots {
		if v == two {
			t.Fatalf("slot %d holds the value of a Push that failed", i)
		}
	}
	if v, ok := r.Pop(); !ok || v != one {
		t.Fatalf("Pop after Close = %v, %v; want the value pushed before", v, ok)
	}
	if _, ok := r.Pop(); ok {
		t.Fatal("Pop found a value that was never published")
	}
}
