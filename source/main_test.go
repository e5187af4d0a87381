package source_test

import (
	"os"
	"testing"

	"go.uber.org/goleak"
)

func TestMain(m *testing.M) {
	// The fault tests re-execute this binary as a relay process.
	if path := os.Getenv(relayChildEnv); path != "" {
		os.Exit(runRelayChild(path))
	}
	goleak.VerifyTestMain(m)
}
