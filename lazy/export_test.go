package lazy

import "github.com/msgsink/msgsink/internal/handoff"

// Test-only views of the writer's state, for the tests in package lazy_test
// that must know a goroutine is where the test needs it before acting.

// Waiters returns how many SendWait calls are waiting for room.
func Waiters(s *Sink) int { return int(s.waiters.Load()) }

// Parked reports whether the writer is parked (or about to be), so that the
// next Send may write through.
func Parked(s *Sink) bool { return s.gate.Word.Load()&handoff.Parked != 0 }

// DisconnectRequested reports whether a Disconnect has asked the writer to
// drop its connection and the writer has not yet served it.
func DisconnectRequested(s *Sink) bool { return s.ctl.Load()&ctlDisconnect != 0 }
