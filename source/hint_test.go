package source_test

import (
	"strings"
	"testing"
	"time"

	"github.com/msgsink/msgsink/internal/testnet"
	"github.com/msgsink/msgsink/lazy"
	"github.com/msgsink/msgsink/source"
)

// A Source always dials a relay: a failed dial's hint asks about the relay,
// not "the server".
func TestDialHintNamesRelay(t *testing.T) {
	s := newSource(t, source.Config{Endpoint: unixEndpoint(testnet.SocketPath(t)),
		Retry: lazy.Retry{Initial: time.Millisecond, Max: time.Millisecond, MaxAttempts: 1}})
	_, err := s.Next()
	if err == nil {
		t.Fatal("Next without a relay succeeded")
	}
	if msg := err.Error(); !strings.Contains(msg, "is the relay running") || strings.Contains(msg, "server") {
		t.Errorf("%q: want a hint that asks about the relay, and no word server", msg)
	}
}
