package main

import (
	"bytes"
	"context"
	"net"
	"os"
	"path/filepath"
	"strings"
	"testing"
)

// runCmd runs the command in-process and returns its status and output.
func runCmd(t *testing.T, args ...string) (int, string, string) {
	t.Helper()
	var stdout, stderr bytes.Buffer
	code := run(context.Background(), args, &stdout, &stderr)
	return code, stdout.String(), stderr.String()
}

func TestCheckAcceptsTheExample(t *testing.T) {
	code, out, errOut := runCmd(t, "check", filepath.Join("..", "..", "examples", "services.toml"))
	if code != 0 || errOut != "" {
		t.Fatalf("exit %d, stderr %q", code, errOut)
	}
	for _, want := range []string{"valid, 7 services", "market_data_relay", "relay", "fanout -> market_data_relay, dashboard"} {
		if !strings.Contains(out, want) {
			t.Errorf("output lacks %q:\n%s", want, out)
		}
	}
}

func TestCheckReportsEveryProblemInOneRun(t *testing.T) {
	path := filepath.Join(t.TempDir(), "services.toml")
	writeFile(t, path, `
[services.broadcast_all]
type = "composite"
pattern = "fanout"
targets = ["group_b"]

[services.group_b]
type = "composite"
pattern = "round_robin"
targets = ["broadcast_all"]

[services.md]
type = "relay"
endpoint = "unix:///tmp/md.sock"
bufer_size = 10000
`)
	code, out, errOut := runCmd(t, "check", path)
	if code != 1 || out != "" {
		t.Fatalf("exit %d, stdout %q; want 1 and nothing on stdout", code, out)
	}
	for _, want := range []string{
		"broadcast_all -> group_b -> broadcast_all",
		`unknown key "bufer_size"`,
		`did you mean "buffer_size"?`,
		path + ":15:",
		"2 problems",
	} {
		if !strings.Contains(errOut, want) {
			t.Errorf("stderr lacks %q:\n%s", want, errOut)
		}
	}
}

func TestCheckProbe(t *testing.T) {
	dir := t.TempDir()
	up, down := filepath.Join(dir, "up.sock"), filepath.Join(dir, "down.sock")
	ln, err := net.Listen("unix", up)
	if err != nil {
		t.Fatal(err)
	}
	defer ln.Close()
	path := filepath.Join(dir, "services.toml")
	writeFile(t, path, `
[services.up]
type = "relay"
endpoint = "unix://`+up+`"

[services.down]
type = "direct"
endpoint = "unix://`+down+`"
`)
	code, out, _ := runCmd(t, "check", path, "-probe")
	if code != 1 {
		t.Fatalf("exit %d with one endpoint down, want 1:\n%s", code, out)
	}
	if !strings.Contains(out, "up                       reachable") || !strings.Contains(out, "down                     unreachable: ") {
		t.Fatalf("probe output:\n%s", out)
	}
	// Without the dead one the probe passes.
	writeFile(t, path, "[services.up]\ntype = \"relay\"\nendpoint = \"unix://"+up+"\"\n")
	if code, out, _ := runCmd(t, "check", "-probe", path); code != 0 {
		t.Fatalf("exit %d with every endpoint up:\n%s", code, out)
	}
}

func TestUsage(t *testing.T) {
	for _, name := range []string{"relay", "check", "tail", "demo"} {
		code, _, errOut := runCmd(t, name, "-h")
		if code != 0 || !strings.Contains(errOut, "usage: msgsink "+name) {
			t.Errorf("%s -h: exit %d, %q", name, code, errOut)
		}
	}
	if code, _, errOut := runCmd(t, "check"); code != 2 || !strings.Contains(errOut, "usage: msgsink check FILE") {
		t.Errorf("check without FILE: exit %d, %q", code, errOut)
	}
	if code, _, errOut := runCmd(t, "frobnicate"); code != 2 || !strings.Contains(errOut, `unknown command "frobnicate"`) {
		t.Errorf("unknown command: exit %d, %q", code, errOut)
	}
	if code, out, _ := runCmd(t, "help"); code != 0 || !strings.Contains(out, "relay") {
		t.Errorf("help: exit %d, %q", code, out)
	}
}

func writeFile(t *testing.T, path, data string) {
	t.Helper()
	if err := os.WriteFile(path, []byte(data), 0o600); err != nil {
		t.Fatal(err)
	}
}
