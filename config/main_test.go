package config

import (
	"testing"

	"go.uber.org/goleak"
)

// The TLS test runs a server and a WebSocket connection: none may outlive it.
func TestMain(m *testing.M) { goleak.VerifyTestMain(m) }
