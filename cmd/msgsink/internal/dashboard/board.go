package dashboard

import (
	"math/bits"
	"slices"
)

// board keeps the busiest instruments, and what the page shows of each, in
// memory fixed at creation whatever the number of distinct instruments: the
// space-saving algorithm (Metwally, Agrawal, El Abbadi, 2005). It holds k
// counters; an instrument not on the board takes the place of the one with
// the smallest count, inheriting that count plus one (err records the
// inheritance, the most the count can overstate). Any instrument seen more
// than total/k times is on the board.
//
// Lookups go through an open-addressing table of its own (linear probing,
// deletion by backward shift) rather than a Go map, so that the steady
// eviction of a long tail never allocates; a min-heap of entry indices finds
// the entry to evict. A board belongs to one goroutine at a time: its
// tally's lock guards it.
type board struct {
	entries []entry // len ≤ k; never reallocated
	heap    []int32 // indices into entries, a min-heap by count
	slots   []int32 // entry index + 1 by hash of the instrument, 0 = free
	shift   uint    // 64 - log2(len(slots))
}

// entry is one instrument on the board and its latest market state.
type entry struct {
	id         uint64
	count, err uint64
	heapAt     int32
	hasTrade   bool
	hasQuote   bool
	side       uint8
	price      int64 // last trade, fixed point ×1e8
	size       int64
	bid, ask   int64
	bidSize    int64
	askSize    int64
	updated    int64 // unix ns of the last change
}

func newBoard(k int) board {
	nslots := 1 << bits.Len(uint(2*k-1)) // a power of two ≥ 2k: probes stay short
	return board{
		entries: make([]entry, 0, k),
		heap:    make([]int32, 0, k),
		slots:   make([]int32, nslots),
		shift:   uint(64 - bits.TrailingZeros(uint(nslots))),
	}
}

func (b *board) home(id uint64) int { return int((id * 0x9E3779B97F4A7C15) >> b.shift) }

// find returns the slot that holds id, or the free slot where it would go.
func (b *board) find(id uint64) int {
	mask := len(b.slots) - 1
	for i := b.home(id); ; i = (i + 1) & mask {
		s := b.slots[i]
		if s == 0 || b.entries[s-1].id == id {
			return i
		}
	}
}

// touch counts n more messages for instrument id and returns its entry,
// which may have just replaced the least counted one.
func (b *board) touch(id uint64, n uint64) *entry {
	slot := b.find(id)
	if s := b.slots[slot]; s != 0 {
		e := &b.entries[s-1]
		e.count += n
		b.down(int(e.heapAt))
		return e
	}
	if len(b.entries) < cap(b.entries) {
		i := len(b.entries)
		b.entries = append(b.entries, entry{id: id, count: n, heapAt: int32(len(b.heap))})
		b.heap = append(b.heap, int32(i))
		b.slots[slot] = int32(i + 1)
		b.up(len(b.heap) - 1)
		return &b.entries[i]
	}
	i := b.heap[0]
	e := &b.entries[i]
	b.remove(e.id)
	*e = entry{id: id, count: e.count + n, err: e.count, heapAt: 0}
	b.slots[b.find(id)] = i + 1
	b.down(0)
	return e
}

// remove frees id's slot and shifts back the entries after it that probed
// past it, so that every lookup still finds its entry.
func (b *board) remove(id uint64) {
	mask := len(b.slots) - 1
	hole := b.find(id)
	for i := (hole + 1) & mask; b.slots[i] != 0; i = (i + 1) & mask {
		h := b.home(b.entries[b.slots[i]-1].id)
		// The entry at i may fill the hole unless its home lies
		// cyclically in (hole, i].
		if (i-h)&mask >= (i-hole)&mask {
			b.slots[hole] = b.slots[i]
			hole = i
		}
	}
	b.slots[hole] = 0
}

func (b *board) less(i, j int) bool {
	return b.entries[b.heap[i]].count < b.entries[b.heap[j]].count
}

func (b *board) swap(i, j int) {
	b.heap[i], b.heap[j] = b.heap[j], b.heap[i]
	b.entries[b.heap[i]].heapAt = int32(i)
	b.entries[b.heap[j]].heapAt = int32(j)
}

func (b *board) up(i int) {
	for i > 0 {
		p := (i - 1) / 2
		if !b.less(i, p) {
			return
		}
		b.swap(i, p)
		i = p
	}
}

func (b *board) down(i int) {
	n := len(b.heap)
	for {
		c := 2*i + 1
		if c >= n {
			return
		}
		if c+1 < n && b.less(c+1, c) {
			c++
		}
		if !b.less(c, i) {
			return
		}
		b.swap(i, c)
		i = c
	}
}

// merge adds the entries of src (another intake's board) to b: counts add
// up, and the market state is the one updated last.
func (b *board) merge(src []entry) {
	for i := range src {
		s := &src[i]
		e := b.touch(s.id, s.count)
		e.err += s.err
		if s.updated >= e.updated {
			count, err, at := e.count, e.err, e.heapAt
			*e = *s
			e.count, e.err, e.heapAt = count, err, at
		}
	}
}

// top returns the n entries with the highest counts, highest first.
func top(entries []entry, n int) []entry {
	out := slices.Clone(entries)
	slices.SortFunc(out, func(a, b entry) int {
		switch {
		case a.count > b.count:
			return -1
		case a.count < b.count:
			return 1
		case a.id < b.id:
			return -1
		case a.id > b.id:
			return 1
		}
		return 0
	})
	return out[:min(n, len(out))]
}

// reset empties the board, keeping its memory.
func (b *board) reset() {
	b.entries = b.entries[:0]
	b.heap = b.heap[:0]
	clear(b.slots)
}
