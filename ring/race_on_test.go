//go:build race

package ring

// raceEnabled scales the concurrency tests down: the race detector makes every
// atomic and slot access tens of times slower.
const raceEnabled = true
