package config

import (
	"strconv"
	"strings"

	"github.com/msgsink/msgsink/sink"
)

// ErrInvalidConfig is matched (errors.Is) by every validation error Load and
// Parse return. It is sink.ErrInvalidConfig, the one sentinel for a
// configuration mistake in every package, named here for callers that load a
// file and import nothing else.
var ErrInvalidConfig = sink.ErrInvalidConfig

// Error is one problem in a services.toml file: where it is, what is wrong and
// what to change.
type Error struct {
	File    string // the file name given to Parse or Load
	Line    int    // 1-based; 0 when the problem has no single place (an empty file)
	Column  int    // 1-based; set for malformed TOML only
	Service string // the service concerned; "" for [defaults] and file-wide problems
	Key     string // the key concerned, dotted within the service ("retry.max") or from the top ("defaults.idle")
	Msg     string // what is wrong
	Hint    string // what to change
}

// Error formats e as file:line[:col]: [services.name] msg; hint
// ([defaults] in place of the service for keys of that table).
func (e *Error) Error() string {
	var b strings.Builder
	if e.File != "" {
		b.WriteString(e.File)
		b.WriteByte(':')
	}
	if e.Line > 0 {
		b.WriteString(strconv.Itoa(e.Line))
		b.WriteByte(':')
		if e.Column > 0 {
			b.WriteString(strconv.Itoa(e.Column))
			b.WriteByte(':')
		}
	}
	if b.Len() > 0 {
		b.WriteByte(' ')
	}
	if e.Service != "" {
		b.WriteString("[services.")
		b.WriteString(quoteKey(e.Service))
		b.WriteString("] ")
	} else if e.Key == "defaults" || strings.HasPrefix(e.Key, "defaults.") {
		b.WriteString("[defaults] ")
	}
	b.WriteString(e.Msg)
	if e.Hint != "" {
		b.WriteString("; ")
		b.WriteString(e.Hint)
	}
	return b.String()
}

// Unwrap returns ErrInvalidConfig.
func (e *Error) Unwrap() error { return ErrInvalidConfig }

// Errors is every problem found in one file, in file order. Load and Parse
// return it when there is more than one; errors.As with a *Error finds the
// first.
type Errors []*Error

// Error returns one message per line.
func (es Errors) Error() string {
	var b strings.Builder
	for i, e := range es {
		if i > 0 {
			b.WriteByte('\n')
		}
		b.WriteString(e.Error())
	}
	return b.String()
}

// Unwrap returns the individual errors, each of which matches ErrInvalidConfig.
func (es Errors) Unwrap() []error {
	out := make([]error, len(es))
	for i, e := range es {
		out[i] = e
	}
	return out
}

// quoteKey writes a TOML key bare when it can be, quoted otherwise.
func quoteKey(k string) string {
	if k == "" {
		return `""`
	}
	for _, r := range k {
		if !(r >= 'a' && r <= 'z' || r >= 'A' && r <= 'Z' || r >= '0' && r <= '9' || r == '_' || r == '-') {
			return strconv.Quote(k)
		}
	}
	return k
}
