package source

import "testing"

func TestSeqTracker(t *testing.T) {
	var tr Tracker
	steps := []struct {
		src uint8
		seq uint64
		dup bool
	}{
		{1, 100, false}, // baseline: joined a running feed
		{1, 101, false},
		{1, 105, false}, // 102-104 missed
		{1, 105, true},  // resent
		{1, 103, true},  // late: already counted as a gap, still dropped
		{2, 1, false},   // a second producer, counted apart
		{1, 1, false},   // producer 1 restarted
		{1, 2, false},
		{2, 3, false}, // 2 missed
	}
	for i, s := range steps {
		if got := tr.Observe(s.src, s.seq); got != s.dup {
			t.Fatalf("step %d (src %d seq %d): dup = %v, want %v", i, s.src, s.seq, got, s.dup)
		}
	}
	want1 := SourceCounts{Frames: 5, Gaps: 3, Duplicates: 2, Restarts: 1}
	if got := tr.per[1]; got != want1 {
		t.Errorf("producer 1: %+v, want %+v", got, want1)
	}
	want2 := SourceCounts{Frames: 2, Gaps: 1}
	if got := tr.per[2]; got != want2 {
		t.Errorf("producer 2: %+v, want %+v", got, want2)
	}
	if got, want := tr.all, (SourceCounts{Frames: 7, Gaps: 4, Duplicates: 2, Restarts: 1}); got != want {
		t.Errorf("all: %+v, want %+v", got, want)
	}
	if last, ok := tr.Last(1); !ok || last != 2 {
		t.Errorf("lastSeq(1) = %d, %v; want 2, true", last, ok)
	}
}

func TestSeqTrackerAllocs(t *testing.T) {
	var tr Tracker
	seq := uint64(0)
	if n := testing.AllocsPerRun(1000, func() { seq++; tr.Observe(7, seq) }); n != 0 {
		t.Fatalf("observe allocates %v times", n)
	}
}
