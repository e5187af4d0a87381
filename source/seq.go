package source

// Tracker follows the sequence numbers of every producer (the header's
// source byte) that a reader hears from: what was missed (gaps) and what
// came twice (duplicates). Source and Listener keep one each; a reader of
// frames from elsewhere (contrib/nats's Reader) uses it to count alike. It
// belongs to the one goroutine that reads frames; publishing its counts to
// other goroutines is its owner's job. The zero value is ready.
//
// The first frame of a producer sets its baseline: a reader that joins a
// running feed has not missed what came before it joined. A frame at or
// below the last one returned is a duplicate, except a sequence of 1 (a
// tlv.Builder's first) after higher ones: the producer restarted, and its
// count begins again.
type Tracker struct {
	seen [256]bool
	last [256]uint64 // the highest sequence returned, per producer
	per  [256]SourceCounts
	all  SourceCounts
}

// SourceCounts are the counts of one producer (or, in Info, all of them).
type SourceCounts struct {
	Frames     uint64 `json:"frames"`     // frames returned
	Gaps       uint64 `json:"gaps"`       // sequences skipped: never seen, between frames that were
	Duplicates uint64 `json:"duplicates"` // frames at or below a sequence already returned, dropped
	Restarts   uint64 `json:"restarts"`   // times the producer began again at sequence 1
}

// Observe records a frame of producer src with sequence seq and reports
// whether it is a duplicate, which the reader drops. It does not allocate.
func (t *Tracker) Observe(src uint8, seq uint64) (dup bool) {
	p := &t.per[src]
	switch last := t.last[src]; {
	case !t.seen[src]:
		t.seen[src] = true
	case seq > last:
		if d := seq - last - 1; d > 0 {
			p.Gaps += d
			t.all.Gaps += d
		}
	case seq == 1 && last > 1:
		p.Restarts++
		t.all.Restarts++
	default:
		p.Duplicates++
		t.all.Duplicates++
		return true
	}
	t.last[src] = seq
	p.Frames++
	t.all.Frames++
	return false
}

// Last returns the highest sequence returned for producer src, and
// whether any frame of it was.
func (t *Tracker) Last(src uint8) (uint64, bool) { return t.last[src], t.seen[src] }

// Counts returns the counts of producer src.
func (t *Tracker) Counts(src uint8) SourceCounts { return t.per[src] }

// Total returns the counts of all producers together.
func (t *Tracker) Total() SourceCounts { return t.all }
