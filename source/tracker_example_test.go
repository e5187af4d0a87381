package source_test

import (
	"fmt"

	"github.com/msgsink/msgsink/source"
)

// A Tracker counts what a reader of frames from anywhere missed and got
// twice, by the (source, sequence) of each frame's header.
func ExampleTracker() {
	var t source.Tracker
	for _, seq := range []uint64{41, 42, 45, 45, 46} { // joined at 41; 43 and 44 lost; 45 resent
		if dup := t.Observe(7, seq); dup {
			fmt.Println("drop duplicate", seq)
		}
	}
	c := t.Counts(7)
	fmt.Printf("frames %d, gaps %d, duplicates %d\n", c.Frames, c.Gaps, c.Duplicates)
	// Output:
	// drop duplicate 45
	// frames 4, gaps 2, duplicates 1
}
