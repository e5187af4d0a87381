package hist

import (
	"testing"
	"time"
)

func TestBucketBounds(t *testing.T) {
	// Every value lies in a bucket whose upper bound is at least the value
	// and within 12.5% above it, and buckets are in order.
	for _, ns := range []uint64{0, 1, 7, 8, 9, 15, 16, 17, 100, 1000, 12345, 1 << 20, 1<<20 + 1, 987654321, 1 << 62} {
		i := bucket(ns)
		if up := upper(i); up < ns || float64(up-ns) > 0.125*float64(ns)+1 {
			t.Errorf("value %d: bucket %d upper %d", ns, i, up)
		}
		if i > 0 && upper(i-1) >= ns {
			t.Errorf("value %d: bucket %d but the previous one reaches %d", ns, i, upper(i-1))
		}
	}
}

func TestQuantiles(t *testing.T) {
	var h Histogram
	before := h.Snapshot()
	if _, ok := before.Quantile(0.5); ok {
		t.Fatal("quantile of nothing")
	}
	if got := before.Format(0.5); got != "-" {
		t.Errorf("Format of nothing = %q, want -", got)
	}
	for i := 1; i <= 1000; i++ {
		h.Record(time.Duration(i) * time.Microsecond)
	}
	h.Record(-time.Second) // a clock step: counted as 0
	s := h.Snapshot().Since(before)
	for _, tc := range []struct {
		q    float64
		want time.Duration
	}{{0.5, 500 * time.Microsecond}, {0.99, 990 * time.Microsecond}, {1, 1000 * time.Microsecond}} {
		got, _ := s.Quantile(tc.q)
		if got < tc.want || float64(got) > 1.125*float64(tc.want) {
			t.Errorf("q%.2f = %v, want %v within 12.5%%", tc.q, got, tc.want)
		}
	}
	if got, _ := s.Quantile(0); got != 0 {
		t.Errorf("q0 = %v, want 0 (the clock step)", got)
	}
	if got := s.Format(1); got != "1.0486ms" {
		t.Errorf("Format(1) = %q, want the bucket bound rounded to 0.1 µs, 1.0486ms", got)
	}
}
