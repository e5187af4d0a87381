package main

import (
	"bytes"
	"context"
	"path/filepath"
	"strings"
	"syscall"
	"testing"
)

// TestCheckRefusesDevicesAndPipes: check /dev/zero used to read until memory
// ran out, and check on a named pipe blocked until a writer came; both are
// refused at once, as what they are.
func TestCheckRefusesDevicesAndPipes(t *testing.T) {
	fifo := filepath.Join(t.TempDir(), "services.toml")
	if err := syscall.Mkfifo(fifo, 0o600); err != nil {
		t.Fatal(err)
	}
	for _, c := range []struct{ path, want string }{
		{"/dev/zero", "/dev/zero: this is a character device, not a regular file"},
		{fifo, fifo + ": this is a named pipe (FIFO), not a regular file"},
	} {
		code, out, errOut := runCmd(t, "check", c.path)
		if code != 1 || out != "" || !strings.Contains(errOut, c.want) {
			t.Errorf("check %s: exit %d, stdout %q, stderr %q; want 1 and %q", c.path, code, out, errOut, c.want)
		}
	}
}

// TestCheckInterrupted: once its context ends (Ctrl-C: main's
// signal.NotifyContext), check stops and says so instead of going on.
func TestCheckInterrupted(t *testing.T) {
	ctx, cancel := context.WithCancel(context.Background())
	cancel()
	var stdout, stderr bytes.Buffer
	code := run(ctx, []string{"check", filepath.Join("..", "..", "examples", "services.toml")}, &stdout, &stderr)
	if code != 1 || stdout.Len() != 0 || !strings.Contains(stderr.String(), "msgsink check: interrupted") {
		t.Fatalf("exit %d, stdout %q, stderr %q; want 1 and interrupted", code, stdout.String(), stderr.String())
	}
}

// TestRelayRefusesNegativeStats: -stats -1s used to be taken as "no
// interval" in silence.
func TestRelayRefusesNegativeStats(t *testing.T) {
	// A cancelled context: a relay that starts anyway stops at once, with
	// status 0.
	ctx, cancel := context.WithCancel(context.Background())
	cancel()
	var stdout, stderr bytes.Buffer
	sock := filepath.Join(t.TempDir(), "r.sock")
	code := run(ctx, []string{"relay", "-endpoint", "unix://" + sock, "-stats", "-1s"}, &stdout, &stderr)
	if code != 2 || !strings.Contains(stderr.String(), "-stats -1s is negative; give an interval such as 10s") {
		t.Fatalf("exit %d, stderr %q; want 2 and what to give", code, stderr.String())
	}
}
