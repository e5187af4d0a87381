package dashboard

import (
	"cmp"
	"encoding/json"
	"fmt"
	"slices"
	"strconv"
	"time"

	"github.com/msgsink/msgsink/cmd/msgsink/internal/decimal"
	"github.com/msgsink/msgsink/internal/hist"
	"github.com/msgsink/msgsink/tlv"
)

const (
	// rateWindow is the number of ticks that rates and latency quantiles
	// are computed over: the last second, steady at ten updates a second.
	rateWindow = int(time.Second / UpdateInterval)
	// historyLen is how many one-second points a browser gets when it
	// connects: the charts' last five minutes.
	historyLen = 300
)

// sample is everything counted, at one tick.
type sample struct {
	at  int64 // unix ns
	c   counts
	lat hist.Snapshot
}

// point is one instant of the charts.
type point struct {
	T     int64              `json:"t"`     // unix ms
	Total float64            `json:"total"` // msgs/s
	Dom   map[string]float64 `json:"dom"`   // msgs/s by domain name
	Src   map[string]float64 `json:"src"`   // msgs/s by source number
	P50   float64            `json:"p50"`   // µs, over the last second; -1 = no frame
	P99   float64            `json:"p99"`
}

// update is the JSON a browser gets every tick.
type update struct {
	Type       string        `json:"type"`  // "update"
	State      string        `json:"state"` // "waiting" (no frame yet), "live" or "stale"
	IdleMS     int64         `json:"idle_ms"`
	StaleMS    int64         `json:"stale_after_ms"`
	Rate       float64       `json:"rate"`
	RateText   string        `json:"rate_text"`
	Frames     uint64        `json:"frames"`
	Conns      int           `json:"conns"` // producer connections, all intakes
	Gaps       uint64        `json:"gaps"`
	P50        string        `json:"p50"`
	P99        string        `json:"p99"`
	Point      point         `json:"point"`
	Domains    []domainRow   `json:"domains"`
	Sources    []sourceRow   `json:"sources"`
	Producers  []producerRow `json:"producers"`
	Board      []boardRow    `json:"board"`
	BoardCount int           `json:"board_tracked"` // instruments counted on the board
}

type domainRow struct {
	Name   string  `json:"name"`
	Rate   float64 `json:"rate"`
	Frames uint64  `json:"frames"`
}

type sourceRow struct {
	ID     int     `json:"id"`
	Rate   float64 `json:"rate"`
	Frames uint64  `json:"frames"`
	Gaps   uint64  `json:"gaps"`
	IdleMS int64   `json:"idle_ms"`
	Stale  bool    `json:"stale"`
}

type producerRow struct {
	Kind    string `json:"kind"`
	Name    string `json:"name"`
	Conns   int    `json:"conns"` // producer connections behind the intake now
	SinceMS int64  `json:"since"` // unix ms
}

type boardRow struct {
	ID      string `json:"id"` // a u64: a string, since a JS number holds 53 bits
	Count   uint64 `json:"count"`
	Price   string `json:"price,omitempty"` // last trade; exact decimals
	Size    string `json:"size,omitempty"`
	Side    string `json:"side,omitempty"` // "buy" or "sell"
	Bid     string `json:"bid,omitempty"`
	BidSize string `json:"bid_size,omitempty"`
	Ask     string `json:"ask,omitempty"`
	AskSize string `json:"ask_size,omitempty"`
	AgeMS   int64  `json:"age_ms"`
}

// tick is the dashboard's one ticker goroutine: every UpdateInterval it
// reads every intake, computes the page's figures and sends them to the
// browsers; whatever the input rate, this is all the work the page costs.
func (d *Dashboard) tick() {
	t := time.NewTicker(UpdateInterval)
	defer t.Stop()
	ring := make([]sample, rateWindow+1)
	ring[0].at = time.Now().UnixNano() // the dashboard starts with nothing counted
	merged := newBoard(d.cfg.BoardSize)
	for n := 1; ; n++ {
		select {
		case <-d.done:
			return
		case <-t.C:
		}
		cur := &ring[n%len(ring)]
		old := &ring[max(n-rateWindow, 0)%len(ring)]
		producers := d.gather(cur, &merged)
		u := d.compute(cur, old, &merged, producers)
		msg, err := json.Marshal(u)
		if err != nil {
			panic(err) // plain structs of numbers and strings always marshal
		}
		d.mu.Lock()
		if n%rateWindow == 0 {
			d.history = append(d.history, u.Point)
			if len(d.history) > historyLen {
				d.history = slices.Delete(d.history, 0, len(d.history)-historyLen)
			}
		}
		for v := range d.viewers {
			v.offer(msg)
		}
		d.mu.Unlock()
	}
}

// gather reads every intake into s, and their boards into b.
func (d *Dashboard) gather(s *sample, b *board) []producerRow {
	d.mu.Lock()
	defer d.mu.Unlock()
	s.at = time.Now().UnixNano()
	s.c = d.retired
	s.lat = d.retLat
	b.reset()
	b.merge(d.retB.entries)
	producers := make([]producerRow, 0, len(d.intakes))
	for in := range d.intakes {
		in.t.read(&s.c, b)
		addLat(&s.lat, in.t.lat.Snapshot())
		producers = append(producers, producerRow{Kind: in.kind, Name: in.name, Conns: in.conns(), SinceMS: in.since.UnixMilli()})
	}
	slices.SortFunc(producers, func(a, b producerRow) int {
		return cmp.Or(cmp.Compare(a.SinceMS, b.SinceMS), cmp.Compare(a.Kind, b.Kind), cmp.Compare(a.Name, b.Name))
	})
	return producers
}

// compute turns two samples a window apart into what the page shows.
func (d *Dashboard) compute(cur, old *sample, b *board, producers []producerRow) *update {
	secs := float64(cur.at-old.at) / 1e9
	rate := func(now, then uint64) float64 {
		if secs <= 0 {
			return 0
		}
		return float64(now-then) / secs
	}
	u := &update{
		Type:      "update",
		StaleMS:   d.cfg.StaleAfter.Milliseconds(),
		Frames:    cur.c.frames,
		Rate:      rate(cur.c.frames, old.c.frames),
		Producers: producers,
		Point: point{T: cur.at / 1e6, Dom: map[string]float64{}, Src: map[string]float64{},
			P50: -1, P99: -1},
		Domains: []domainRow{},
		Sources: []sourceRow{},
		Board:   []boardRow{},
	}
	u.RateText = rateText(u.Rate)
	for _, p := range producers {
		u.Conns += p.Conns
	}
	u.Point.Total = u.Rate
	for dom := tlv.DomainMarketData; dom <= tlv.DomainSystem; dom++ {
		if cur.c.byDomain[dom] == 0 {
			continue
		}
		r := rate(cur.c.byDomain[dom], old.c.byDomain[dom])
		u.Domains = append(u.Domains, domainRow{Name: dom.String(), Rate: r, Frames: cur.c.byDomain[dom]})
		u.Point.Dom[dom.String()] = r
	}
	var last int64
	for src := range cur.c.bySource {
		if cur.c.bySource[src] == 0 {
			continue
		}
		idle := max(cur.at-cur.c.lastSeen[src], 0)
		last = max(last, cur.c.lastSeen[src])
		r := rate(cur.c.bySource[src], old.c.bySource[src])
		u.Sources = append(u.Sources, sourceRow{ID: src, Rate: r, Frames: cur.c.bySource[src], Gaps: cur.c.gaps[src],
			IdleMS: idle / 1e6, Stale: time.Duration(idle) > d.cfg.StaleAfter})
		u.Point.Src[strconv.Itoa(src)] = r
		u.Gaps += cur.c.gaps[src]
	}
	switch idle := time.Duration(cur.at - last); {
	case last == 0:
		u.State = "waiting"
	case idle > d.cfg.StaleAfter:
		u.State, u.IdleMS = "stale", idle.Milliseconds()
	default:
		u.State, u.IdleMS = "live", idle.Milliseconds()
	}
	lat := cur.lat.Since(&old.lat)
	u.P50, u.P99 = lat.Format(0.5), lat.Format(0.99)
	if q, ok := lat.Quantile(0.5); ok {
		u.Point.P50 = float64(q) / 1e3
	}
	if q, ok := lat.Quantile(0.99); ok {
		u.Point.P99 = float64(q) / 1e3
	}
	u.BoardCount = len(b.entries)
	for _, e := range top(b.entries, d.cfg.BoardRows) {
		row := boardRow{ID: strconv.FormatUint(e.id, 10), Count: e.count, AgeMS: max(cur.at-e.updated, 0) / 1e6}
		if e.hasTrade {
			row.Price, row.Size = decimal.String(e.price, 2), decimal.String(e.size, 2)
			row.Side = "buy"
			if e.side == 1 {
				row.Side = "sell"
			}
		}
		if e.hasQuote {
			row.Bid, row.BidSize = decimal.String(e.bid, 2), decimal.String(e.bidSize, 2)
			row.Ask, row.AskSize = decimal.String(e.ask, 2), decimal.String(e.askSize, 2)
		}
		u.Board = append(u.Board, row)
	}
	return u
}

// rateText shows a rate as the page's headline does: 950 msgs/s, 20.1k
// msgs/s, 1.25M msgs/s.
func rateText(r float64) string {
	switch {
	case r >= 1e6:
		return fmt.Sprintf("%.2fM msgs/s", r/1e6)
	case r >= 1e3:
		return fmt.Sprintf("%.1fk msgs/s", r/1e3)
	}
	return fmt.Sprintf("%.0f msgs/s", r)
}
