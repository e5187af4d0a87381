package handoff

import "math"

// Action is what an idle writer does in one round of its Schedule.
type Action uint8

const (
	Spin  Action = iota // look at the queue again at once
	Yield               // runtime.Gosched, then look again
	Park                // Park on the Gate
)

// Schedule is an idle writer's rounds: Spins rounds of spinning, then
// Yields rounds of yielding, then a park. Each owner picks one of the
// schedules below by its configuration; the tuning lives here.
type Schedule struct {
	Spins, Yields int
}

var (
	// Backoff spins over bursts a few µs apart, yields so that a producer
	// on the same P can run, and parks after that. The lazy sink's default.
	Backoff = Schedule{Spins: 128, Yields: 32}
	// SpinForever never parks: the lowest latency, a core per writer.
	SpinForever = Schedule{Spins: math.MaxInt}
	// ParkAtOnce parks as soon as the queue is empty.
	ParkAtOnce = Schedule{}
	// YieldThenPark yields a few times before it parks, and never spins:
	// for a writer that shares the machine with many others (the relay's
	// writer per consumer), where a spinning writer takes the core the
	// producers and the netpoller need; a few yields catch the next read of
	// a busy producer.
	YieldThenPark = Schedule{Yields: 4}
)

// PollEvery is how many rounds a spinning writer goes between looks at
// whether its connection broke while it had nothing to write.
const PollEvery = 128

// Next counts a round in *rounds, which the writer sets to 0 whenever it
// finds work, and returns what to do in it. A Park starts the count again.
func (s Schedule) Next(rounds *int) Action {
	*rounds++
	switch {
	case *rounds <= s.Spins:
		return Spin
	case *rounds-s.Spins <= s.Yields:
		return Yield
	}
	*rounds = 0
	return Park
}
