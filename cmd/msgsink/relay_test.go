package main

import (
	"context"
	"net"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/msgsink/msgsink/internal/testnet"
)

// freePort returns a TCP port that was free a moment ago.
func freePort(t *testing.T) string {
	t.Helper()
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer l.Close()
	return strconv.Itoa(l.Addr().(*net.TCPAddr).Port)
}

// TestRelayTCPFlags: -mode is refused for a TCP relay, which has no socket
// file; a TCP relay on loopback says where it listens, and one on all
// interfaces warns that anyone may connect.
func TestRelayTCPFlags(t *testing.T) {
	var stderr testnet.Buffer
	// Bounded: a relay that accepted -mode would run until its context ends.
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	code := runRelay(ctx, []string{"-endpoint", "tcp://127.0.0.1:" + freePort(t), "-mode", "0600"}, &stderr, &stderr)
	if code != 2 || !strings.Contains(stderr.String(), "leave -mode out") {
		t.Errorf("-mode with tcp: exit %d, stderr %q; want 2 and what to change", code, stderr.String())
	}

	for _, tc := range []struct {
		host string
		warn bool
	}{{"127.0.0.1", false}, {"0.0.0.0", true}} {
		var stderr testnet.Buffer
		endpoint := "tcp://" + tc.host + ":" + freePort(t)
		ctx, cancel := context.WithCancel(context.Background())
		done := make(chan int, 1)
		go func() { done <- runRelay(ctx, []string{"-endpoint", endpoint}, &stderr, &stderr) }()
		// Wait for the line that says where it listens, then stop it.
		for deadline := time.Now().Add(30 * time.Second); !strings.Contains(stderr.String(), "domain on") && time.Now().Before(deadline); {
			time.Sleep(time.Millisecond)
		}
		cancel()
		if code := <-done; code != 0 {
			t.Errorf("%s: exit %d; stderr:\n%s", endpoint, code, stderr.String())
		}
		out := stderr.String()
		// Go reports 0.0.0.0 as [::] on a dual-stack host.
		if !strings.Contains(out, "domain on tcp://") || !tc.warn && !strings.Contains(out, "domain on "+endpoint) {
			t.Errorf("%s: the relay does not say where it listens:\n%s", endpoint, out)
		}
		if warned := strings.Contains(out, "not loopback: any host that reaches it may send frames"); warned != tc.warn {
			t.Errorf("%s: warned %v, want %v:\n%s", endpoint, warned, tc.warn, out)
		}
	}
}
