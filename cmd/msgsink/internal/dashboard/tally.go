package dashboard

import (
	"sync"
	"time"

	"github.com/msgsink/msgsink/internal/hist"
	"github.com/msgsink/msgsink/source"
	"github.com/msgsink/msgsink/tlv"
)

// counts are the monotonic counters of one intake, or of all of them: what
// the page's rates, gaps and staleness are computed from.
type counts struct {
	frames   uint64
	bytes    uint64
	byDomain [tlv.DomainSystem + 1]uint64 // index: the header's relay_domain
	bySource [256]uint64                  // index: the header's source
	gaps     [256]uint64                  // sequences never seen, per source
	lastSeen [256]int64                   // unix ns of the source's last frame; 0 = never
}

// add adds o's counters to c and keeps the later of the last-seen times.
func (c *counts) add(o *counts) {
	c.frames += o.frames
	c.bytes += o.bytes
	for i := range c.byDomain {
		c.byDomain[i] += o.byDomain[i]
	}
	for i := range c.bySource {
		c.bySource[i] += o.bySource[i]
		c.gaps[i] += o.gaps[i]
		c.lastSeen[i] = max(c.lastSeen[i], o.lastSeen[i])
	}
}

// tally aggregates the frames of one intake. Its intake goroutine observes
// under mu; the dashboard's ticker copies it under mu ten times a second. One
// tally per intake, not one for all: intakes never contend for a lock.
type tally struct {
	mu    sync.Mutex
	c     counts
	seqs  source.Tracker // each producer's sequence, for c.gaps
	board board

	lat hist.Histogram // header timestamp to observe; atomic, outside mu
}

func newTally(boardSize int) *tally { return &tally{board: newBoard(boardSize)} }

// observe aggregates frame f, arrived at now (unix ns). It reads f through
// tlv's views and does not allocate. A record whose size does not match its
// type is skipped: the board shows what it can read.
func (t *tally) observe(f tlv.Frame, now int64) {
	h := f.Header()
	src, seq := h.Source(), h.Sequence()
	t.lat.Record(time.Duration(now - int64(h.Timestamp())))

	t.mu.Lock()
	defer t.mu.Unlock()
	c := &t.c
	// Counted as source.Tracker counts them (its first frame sets a
	// producer's baseline, a jump forward is a gap); the dashboard shows
	// every frame that arrives, duplicates included.
	t.seqs.Observe(src, seq)
	c.gaps[src] = t.seqs.Counts(src).Gaps
	c.frames++
	c.bytes += uint64(len(f))
	if d := h.Domain(); d <= tlv.DomainSystem {
		c.byDomain[d]++
	}
	c.bySource[src]++
	c.lastSeen[src] = now

	for it := f.Records(); it.Next(); {
		switch it.Type() {
		case tlv.TypeTrade:
			v, err := tlv.AsTrade(it.Value())
			if err != nil {
				continue
			}
			e := t.board.touch(v.Instrument(), 1)
			e.hasTrade, e.price, e.size, e.side, e.updated = true, v.Price(), v.Volume(), v.Side(), now
		case tlv.TypeQuote:
			v, err := tlv.AsQuote(it.Value())
			if err != nil {
				continue
			}
			e := t.board.touch(v.Instrument(), 1)
			e.hasQuote, e.updated = true, now
			e.bid, e.bidSize, e.ask, e.askSize = v.BidPrice(), v.BidSize(), v.AskPrice(), v.AskSize()
		case tlv.TypeOrderBook:
			v, err := tlv.AsOrderBook(it.Value())
			if err != nil || v.BidCount() == 0 || v.AskCount() == 0 {
				continue
			}
			e := t.board.touch(v.Instrument(), 1)
			bid, ask := v.Bid(0), v.Ask(0)
			e.hasQuote, e.updated = true, now
			e.bid, e.bidSize, e.ask, e.askSize = bid.Price, bid.Size, ask.Price, ask.Size
		}
	}
}

// read adds t's counters to c, and t's board to b.
func (t *tally) read(c *counts, b *board) {
	t.mu.Lock()
	defer t.mu.Unlock()
	c.add(&t.c)
	b.merge(t.board.entries)
}
