// Package hist is a log-linear histogram of durations that one goroutine
// records into and another reads without a lock: each power of two is split
// into 8 buckets, so a quantile is within 12.5% of the true value, and
// recording is one atomic add. The demo's live latency line and the latency
// benchmarks share it, so both report quantiles the same way.
package hist

import (
	"math/bits"
	"sync/atomic"
	"time"
)

const (
	subBits    = 3
	subBuckets = 1 << subBits
	numBuckets = 64 * subBuckets
)

// Histogram counts durations. Its zero value is empty and ready to use.
type Histogram struct {
	buckets [numBuckets]atomic.Uint64
}

// Record adds one observation; negative durations (clock steps) count as 0.
func (h *Histogram) Record(d time.Duration) {
	h.buckets[bucket(uint64(max(d, 0)))].Add(1)
}

func bucket(ns uint64) int {
	if ns < subBuckets {
		return int(ns)
	}
	exp := bits.Len64(ns) - 1 - subBits // the shift that leaves subBits+1 bits
	return (exp+1)*subBuckets + int(ns>>exp) - subBuckets
}

// upper is the largest value that falls into bucket i.
func upper(i int) uint64 {
	if i < subBuckets {
		return uint64(i)
	}
	exp := i/subBuckets - 1
	return (uint64(i%subBuckets+subBuckets+1) << exp) - 1
}

// Snapshot is a copy of a histogram's counts.
type Snapshot [numBuckets]uint64

// Snapshot copies the counts. Observations recorded meanwhile may or may not
// be in it, each whole.
func (h *Histogram) Snapshot() *Snapshot {
	var s Snapshot
	for i := range s {
		s[i] = h.buckets[i].Load()
	}
	return &s
}

// Since returns the counts recorded after prev was taken.
func (s *Snapshot) Since(prev *Snapshot) *Snapshot {
	var d Snapshot
	for i := range d {
		d[i] = s[i] - prev[i]
	}
	return &d
}

// Quantile returns the upper bound of the bucket holding the q-quantile,
// and false when there is no observation.
func (s *Snapshot) Quantile(q float64) (time.Duration, bool) {
	var n uint64
	for _, c := range s {
		n += c
	}
	if n == 0 {
		return 0, false
	}
	rank := uint64(q*float64(n-1)) + 1
	var seen uint64
	for i, c := range s {
		seen += c
		if seen >= rank {
			return time.Duration(upper(i)), true
		}
	}
	return time.Duration(upper(len(s) - 1)), true
}

// Format shows the q-quantile rounded to 0.1 µs, or "-" when nothing was
// recorded.
func (s *Snapshot) Format(q float64) string {
	d, ok := s.Quantile(q)
	if !ok {
		return "-"
	}
	return d.Round(time.Microsecond / 10).String()
}
