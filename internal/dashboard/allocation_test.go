//go:build !race

package dashboard

import "testing"

// The intake's aggregation allocates nothing per frame, whether the
// instrument is on the board or evicts another.
func TestObserveAllocs(t *testing.T) {
	ta := newTally(DefaultBoardSize)
	f := newFrames(t, 1, 1)
	id, seq := uint64(0), uint64(0)
	n := testing.AllocsPerRun(10_000, func() {
		id++
		seq++
		setInstrument(f.trade, id)
		setSequence(f.trade, seq)
		ta.observe(f.trade, 2)
		ta.observe(f.quote, 2)
		ta.observe(f.book, 2)
	})
	if n != 0 {
		t.Fatalf("observe allocates %v times per frame", n)
	}
}
