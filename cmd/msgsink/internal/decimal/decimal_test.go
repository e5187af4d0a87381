package decimal

import (
	"math"
	"testing"
)

func TestDecimal(t *testing.T) {
	for _, c := range []struct {
		v       int64
		minFrac int
		want    string
	}{
		{6_500_000_000_000, 2, "65000.00"},
		{58_000_000, 2, "0.58"},
		{108_001_000, 2, "1.08001"},
		{1, 2, "0.00000001"},
		{0, 2, "0.00"},
		{0, 0, "0"},
		{0, Places, "0.00000000"},
		{-150_000_000, Places, "-1.50000000"},
		{-12_345_678_900, 2, "-123.456789"},
		{math.MaxInt64, 2, "92233720368.54775807"},
		{math.MinInt64, 2, "-92233720368.54775808"},
		// 0.1 + 0.2 as fixed point is exactly 0.3: no float in between.
		{10_000_000 + 20_000_000, 0, "0.3"},
	} {
		if got := String(c.v, c.minFrac); got != c.want {
			t.Errorf("String(%d, %d) = %q, want %q", c.v, c.minFrac, got, c.want)
		}
	}
}
