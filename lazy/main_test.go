package lazy_test

import (
	"os"
	"testing"

	"go.uber.org/goleak"
)

func TestMain(m *testing.M) {
	if os.Getenv(relayChildEnv) != "" {
		os.Exit(relayChild()) // the acked soak's relay process
	}
	goleak.VerifyTestMain(m)
}
