package config

import (
	"strconv"
	"strings"
)

// suggest returns the candidate closest to s: an exact match ignoring case
// (the TOML decoder's own leniency, which we refuse), else the nearest within
// an edit distance of 2 (and shorter than either word). "" when nothing is close.
func suggest(s string, candidates []string) string {
	ls := strings.ToLower(s)
	for _, c := range candidates {
		if strings.ToLower(c) == ls {
			return c
		}
	}
	best, bestD := "", 3
	for _, c := range candidates {
		// A distance as long as either word is a different word, not a typo.
		if d := levenshtein(ls, strings.ToLower(c)); d < bestD && d < len(ls) && d < len(c) {
			best, bestD = c, d
		}
	}
	return best
}

// didYouMean is the hint for s among candidates.
func didYouMean(s string, candidates []string) string {
	if c := suggest(s, candidates); c != "" {
		return "did you mean " + strconv.Quote(c) + "?"
	}
	return ""
}

func levenshtein(a, b string) int {
	if len(a) > 64 || len(b) > 64 {
		// Long strings are never typos of our short names; bound the work.
		return 1 << 30
	}
	prev := make([]int, len(b)+1)
	cur := make([]int, len(b)+1)
	for j := range prev {
		prev[j] = j
	}
	for i := 1; i <= len(a); i++ {
		cur[0] = i
		for j := 1; j <= len(b); j++ {
			cost := 1
			if a[i-1] == b[j-1] {
				cost = 0
			}
			cur[j] = min(prev[j]+1, cur[j-1]+1, prev[j-1]+cost)
		}
		prev, cur = cur, prev
	}
	return prev[len(b)]
}

// oneOf formats names as `"a", "b" or "c"`.
func oneOf(names []string) string {
	var b strings.Builder
	for i, n := range names {
		switch {
		case i == 0:
		case i == len(names)-1:
			b.WriteString(" or ")
		default:
			b.WriteString(", ")
		}
		b.WriteString(strconv.Quote(n))
	}
	return b.String()
}
