// Package sinkvar publishes sinks' Info snapshots through expvar, so that
// /debug/vars shows every sink's state and counters with no dependency
// beyond the standard library. It is a package of its own because importing
// expvar registers /debug/vars on http.DefaultServeMux, which not every
// program wants.
package sinkvar
