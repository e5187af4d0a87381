package main

import (
	"math/bits"
	"sync/atomic"
	"time"
)

// latency is a log-linear histogram of durations that one goroutine records
// into and another reads without a lock: each power of two is split into
// 8 buckets, so a quantile is within 12.5% of the true value, and recording
// is one atomic add.
type latency struct {
	buckets [64 * subBuckets]atomic.Uint64
}

const subBits = 3
const subBuckets = 1 << subBits

// Record adds one observation; negative durations (clock steps) count as 0.
func (h *latency) Record(d time.Duration) {
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

// snapshot is a copy of a histogram's counts.
type snapshot [64 * subBuckets]uint64

func (h *latency) snapshot() *snapshot {
	var s snapshot
	for i := range s {
		s[i] = h.buckets[i].Load()
	}
	return &s
}

// since returns the counts recorded after prev was taken.
func (s *snapshot) since(prev *snapshot) *snapshot {
	var d snapshot
	for i := range d {
		d[i] = s[i] - prev[i]
	}
	return &d
}

// quantile returns the upper bound of the bucket holding the q-quantile,
// and false when there is no observation.
func (s *snapshot) quantile(q float64) (time.Duration, bool) {
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

// format shows the q-quantile, or "-" when nothing was recorded.
func (s *snapshot) format(q float64) string {
	d, ok := s.quantile(q)
	if !ok {
		return "-"
	}
	return d.Round(time.Microsecond / 10).String()
}
