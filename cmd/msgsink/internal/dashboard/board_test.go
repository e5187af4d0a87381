package dashboard

import (
	"math/rand/v2"
	"runtime"
	"testing"
)

// The board against exact counts: heavy hitters stay on it with their
// counts overstated by at most err, and every lookup finds its entry after
// evictions have shifted the table around.
func TestBoardSpaceSaving(t *testing.T) {
	const k = 64
	b := newBoard(k)
	exact := map[uint64]uint64{}
	rng := rand.New(rand.NewPCG(1, 2))
	var total uint64
	for range 200_000 {
		var id uint64
		if rng.IntN(2) == 0 {
			id = uint64(rng.IntN(8)) + 1 // eight heavy hitters take half the stream
		} else {
			id = 1000 + uint64(rng.IntN(100_000)) // a long tail
		}
		b.touch(id, 1)
		exact[id]++
		total++
	}
	if len(b.entries) != k {
		t.Fatalf("%d entries, want %d", len(b.entries), k)
	}
	var sum uint64
	for i := range b.entries {
		e := &b.entries[i]
		sum += e.count
		if got := b.slots[b.find(e.id)]; got != int32(i+1) {
			t.Fatalf("entry %d (id %d) is not found through the table (slot holds %d)", i, e.id, got)
		}
		if e.count < exact[e.id] || e.count-e.err > exact[e.id] {
			t.Errorf("id %d: count %d err %d, exact %d: want count-err <= exact <= count", e.id, e.count, e.err, exact[e.id])
		}
		if b.heap[e.heapAt] != int32(i) {
			t.Fatalf("entry %d: heapAt %d does not point back", i, e.heapAt)
		}
	}
	if sum != total {
		t.Errorf("counts sum to %d, want the %d touches (space-saving keeps the total)", sum, total)
	}
	rows := top(b.entries, 8)
	for _, e := range rows {
		if e.id < 1 || e.id > 8 {
			t.Errorf("top 8 holds %d (count %d), not one of the eight heavy hitters", e.id, e.count)
		}
	}
}

// A million distinct instruments through one tally: the board stays at its
// k entries, the heap does not grow with them, and the instruments that
// trade most are still on top.
func TestTallyBoundedWithAMillionInstruments(t *testing.T) {
	const k = DefaultBoardSize
	ta := newTally(k)
	f := newFrames(t, 1, 0)
	var before, after runtime.MemStats
	runtime.GC()
	runtime.ReadMemStats(&before)
	now := int64(1)
	for i := range uint64(1_000_000) {
		setInstrument(f.trade, 10_000+i)
		ta.observe(f.trade, now)
		if i%10 == 0 { // instrument 42 trades on one message in ten
			setInstrument(f.trade, 42)
			ta.observe(f.trade, now)
		}
	}
	runtime.GC()
	runtime.ReadMemStats(&after)
	if n := len(ta.board.entries); n != k {
		t.Errorf("the board holds %d instruments, want its bound %d", n, k)
	}
	if grew := int64(after.HeapAlloc) - int64(before.HeapAlloc); grew > 1<<20 {
		t.Errorf("the heap grew by %d bytes over a million instruments; want under 1 MiB", grew)
	}
	if rows := top(ta.board.entries, 1); rows[0].id != 42 || rows[0].count < 100_000 {
		t.Errorf("top instrument %d with %d messages, want 42 with >= 100000", rows[0].id, rows[0].count)
	}
}
