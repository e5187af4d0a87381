package bench

import (
	"testing"

	"go.uber.org/goleak"
)

// Every benchmark and test closes what it starts: goleak fails the run if a
// writer, reader or pacer goroutine outlives it.
func TestMain(m *testing.M) { goleak.VerifyTestMain(m) }
