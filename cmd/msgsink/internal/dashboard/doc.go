// Package dashboard is the live page of `msgsink dashboard` (SPEC section
// 9c): it aggregates Protocol V2 frames from its intakes and shows, in a
// browser, msgs/s per domain and source, latency from the header timestamp,
// sequence gaps, connected producers and a board of the busiest instruments,
// with a clear stale state when a feed stops.
//
// It is internal because its one user is the command: its HTTP routes and the
// JSON its page reads are a private contract between the Go code and the
// embedded page, free to change together. A service that wants the numbers
// reads them from source and relay instead.
//
// # Intake
//
// An intake reads a Feed, anything with Next() (tlv.Frame, error) and
// Close: a relay subscription (Attach), and /ws, where direct WebSocket sinks
// send. /ws is a source.Listener: it does the WebSocket upgrade, validates
// each frame and returns it zero-copy, merging every producer into one Next.
// It binds nothing (source.ListenConfig.HTTPOnly): the dashboard's HTTP
// handler hands it each producer's upgrade request, so the page and /ws
// share one port and a producer's frames are read straight off its own
// connection. Each intake runs in a goroutine
// of its own that reads frames through tlv's views and folds them into a
// tally that belongs to it (no lock shared between intakes), with no
// allocation per frame: counters per domain and source, every source's
// sequence followed by a source.Tracker (a jump forward is a gap; the first
// frame of a source is its baseline, since a dashboard that joins a running
// feed missed nothing), a latency histogram, and the board.
//
// The board is a space-saving top-k (see board): k counters, whatever the
// number of distinct instruments, kept in a table of its own rather than a Go
// map so that evicting the long tail never allocates. Memory is therefore
// bounded by Config.BoardSize per intake whatever the feed holds.
//
// # Updates
//
// One ticker goroutine reads every tally each UpdateInterval (ten times a
// second), computes the rates and latency quantiles over the last second and
// the board's top rows, and sends the result as JSON to every browser on
// /live; a browser too slow for that skips to the latest update. The page's
// cost is therefore independent of the input rate. A browser that connects
// first gets the last five minutes at one point a second.
//
// # The page
//
// The page at / and its files are embedded (static/): uPlot for the charts,
// vendored from npm with its license (static/NOTICE), so the page loads
// nothing from outside the binary. Prices travel as exact decimal strings
// (fixed point with 8 decimals, formatted with integers), never as floats.
package dashboard
