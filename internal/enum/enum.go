// Package enum maps small enumerations to the names services.toml uses, for
// every package that has one (validation levels, idle strategies, states).
package enum

import "strconv"

// Name returns names[i], or kind(i) for a value outside the table.
func Name(names []string, i int, kind string) string {
	if i >= 0 && i < len(names) {
		return names[i]
	}
	return kind + "(" + strconv.Itoa(i) + ")"
}

// Parse returns the index of s in names, compared exactly.
func Parse[T ~uint8 | ~uint32](names []string, s string) (T, bool) {
	for i, n := range names {
		if n == s {
			return T(i), true
		}
	}
	return 0, false
}
