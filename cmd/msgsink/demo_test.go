package main

import (
	"strings"
	"testing"
)

// The demo, shortened, runs the whole system in-process: the adapter sends
// to the relay and the dashboard (broadcast_all) before the relay exists,
// the relay's sink connects when it appears, and the summary's counters add
// up, the dashboard's included (exit 0).
func TestDemo(t *testing.T) {
	code, out, errOut := runCmd(t, "demo", "-duration", "1500ms", "-rate", "50000", "-relay-delay", "100ms")
	if code != 0 {
		t.Fatalf("exit %d\nstdout:\n%s\nstderr:\n%s", code, out, errOut)
	}
	for _, want := range []string{
		"adapter started", "relay up", "sent ", "recv ", "market_data_relay=connected",
		"dashboard: http://127.0.0.1:", "dashboard=connected", "dashboard aggregated",
		"summary after", "accounting: adds up",
	} {
		if !strings.Contains(out, want) {
			t.Errorf("output lacks %q:\n%s", want, out)
		}
	}
}

func TestDemoUnknownSink(t *testing.T) {
	code, _, errOut := runCmd(t, "demo", "-duration", "1s", "-sink", "market_data_rely")
	if code != 1 || !strings.Contains(errOut, `"market_data_rely"`) || !strings.Contains(errOut, `did you mean "market_data_relay"`) {
		t.Fatalf("exit %d, stderr %q: want 1 and a suggestion", code, errOut)
	}
}
