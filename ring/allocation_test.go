//go:build !race

package ring

import "testing"

// TestZeroAllocs holds the hot path to zero allocations: every Send goes through
// a push and every batch the writer sends through Peek and Discard.
func TestZeroAllocs(t *testing.T) {
	const runs = 100
	msg := new(int)
	dst := make([]*int, 4)
	tests := []struct {
		name string
		// prepare fills the ring so that every run of op does real work.
		prepare func(r *Ring[*int])
		op      func(r *Ring[*int])
	}{
		{"Push", nil, func(r *Ring[*int]) {
			if !r.Push(msg) {
				t.Fatal("Push failed")
			}
		}},
		{"PushShared", nil, func(r *Ring[*int]) {
			if !r.PushShared(msg) {
				t.Fatal("PushShared failed")
			}
		}},
		{"Peek+Discard", fill, func(r *Ring[*int]) {
			a, b := r.Peek(2)
			if len(a)+len(b) != 2 {
				t.Fatal("Peek returned too little")
			}
			r.Discard(2)
		}},
		{"PeekFrom+Discard", fill, func(r *Ring[*int]) {
			_, removed := r.Counts()
			a, b := r.PeekFrom(removed+1, 2)
			if len(a)+len(b) != 2 {
				t.Fatal("PeekFrom returned too little")
			}
			r.Discard(1)
		}},
		{"Pop", fill, func(r *Ring[*int]) {
			if _, ok := r.Pop(); !ok {
				t.Fatal("Pop failed")
			}
		}},
		{"PopBatch", fill, func(r *Ring[*int]) {
			if r.PopBatch(dst) != len(dst) {
				t.Fatal("PopBatch returned too little")
			}
		}},
		{"Len", fill, func(r *Ring[*int]) { r.Len() }},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			// AllocsPerRun runs op once more than asked to warm up; leave room
			// for that and for wrapping around several times.
			r := New[*int](1024)
			if tt.prepare != nil {
				tt.prepare(r)
			}
			if got := testing.AllocsPerRun(runs, func() { tt.op(r) }); got != 0 {
				t.Errorf("%s allocates %v times per call, want 0", tt.name, got)
			}
		})
	}
}

func fill(r *Ring[*int]) {
	msg := new(int)
	for r.Push(msg) {
	}
}
