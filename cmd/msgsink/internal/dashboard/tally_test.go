package dashboard

import "testing"

func TestTallyObserve(t *testing.T) {
	ta := newTally(16)
	f := newFrames(t, 3, 0)
	for i, seq := range []uint64{10, 11, 15, 16, 16, 12} { // joins at 10; 12-14 missed; then a duplicate and a late one
		fr := f.trade
		if i%2 == 1 {
			fr = f.quote
		}
		setSequence(fr, seq)
		ta.observe(fr, int64(100+i))
	}
	setSequence(f.book, 13)
	ta.observe(f.book, 200)

	c := ta.c
	if c.frames != 7 || c.bySource[3] != 7 || c.byDomain[1] != 7 {
		t.Errorf("frames %d, by source %d, by domain %d: want 7 each", c.frames, c.bySource[3], c.byDomain[1])
	}
	if c.gaps[3] != 3 {
		t.Errorf("gaps %d, want 3 (12, 13 and 14)", c.gaps[3])
	}
	if c.lastSeen[3] != 200 {
		t.Errorf("last seen %d, want 200", c.lastSeen[3])
	}
	rows := top(ta.board.entries, 5)
	if len(rows) != 2 || rows[0].id != 1 || rows[1].id != 2 {
		t.Fatalf("board %+v: want instrument 1 then 2", rows)
	}
	e := rows[0]
	if !e.hasTrade || !e.hasQuote || e.count != 6 || e.price != 6_500_012_345_678 || e.size != 25_000_000 || e.side != 1 ||
		e.bid != 6_500_000_000_000 || e.ask != 6_500_100_000_000 || e.bidSize != 100_000_000 || e.askSize != 200_000_000 {
		t.Errorf("instrument 1: %+v", e)
	}
	if b := rows[1]; b.hasTrade || !b.hasQuote || b.bid != 9_900_000_000 || b.ask != 10_100_000_000 {
		t.Errorf("instrument 2 (from the order book's best levels): %+v", b)
	}
}

// A frame at or below the last sequence (a duplicate, a late one) leaves the
// baseline where it was: the next frame in order is no gap.
func TestTallyNoGapAfterDuplicate(t *testing.T) {
	ta := newTally(16)
	f := newFrames(t, 3, 0)
	for i, seq := range []uint64{1, 2, 3, 2, 4, 3, 5} {
		setSequence(f.trade, seq)
		ta.observe(f.trade, int64(100+i))
	}
	if g := ta.c.gaps[3]; g != 0 {
		t.Errorf("gaps %d, want 0", g)
	}
	if n := ta.c.bySource[3]; n != 7 {
		t.Errorf("frames %d, want 7 (duplicates arrived too)", n)
	}
}
