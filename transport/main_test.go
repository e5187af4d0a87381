package transport

import (
	"os"
	"testing"

	"go.uber.org/goleak"
)

func TestMain(m *testing.M) {
	if scheme := os.Getenv(floodEnv); scheme != "" {
		os.Exit(floodPeer(scheme)) // this process is BenchmarkChattyPeer's peer
	}
	goleak.VerifyTestMain(m)
}
