package sink

import "time"

// StateChange is one move of a sink from one State to another, as reported
// to a lazy.Config.OnStateChange callback or a factory.WithStateChange
// observer.
type StateChange struct {
	Sink     string
	From, To State
	// Err is the failure behind a move to StateBackoff (the dial or write
	// that failed) or to StateIdle when the dial attempts ran out; nil for
	// every other move.
	Err error
	At  time.Time
}
