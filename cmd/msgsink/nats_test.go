package main

import (
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/nats-io/nats-server/v2/server"
	"github.com/nats-io/nats.go"

	"github.com/msgsink/msgsink/internal/testnet"
)

// natsServer starts an embedded NATS server on a free loopback port.
func natsServer(t *testing.T) *server.Server {
	t.Helper()
	srv, err := server.NewServer(&server.Options{Host: "127.0.0.1", Port: -1, NoLog: true, NoSigs: true})
	if err != nil {
		t.Fatal(err)
	}
	srv.Start()
	t.Cleanup(srv.Shutdown)
	if !srv.ReadyForConnections(10 * time.Second) {
		t.Fatal("nats-server not ready")
	}
	return srv
}

// natsServices writes a services.toml whose adapter sink fans out to the
// relay and to a nats service on url.
func natsServices(t *testing.T, url string) string {
	t.Helper()
	path := filepath.Join(t.TempDir(), "services.toml")
	toml := `
[services.market_data_relay]
type = "relay"
endpoint = "unix://` + testnet.SocketPath(t) + `"
domain = "market_data"

[services.md_cloud]
type = "nats"
endpoint = "` + url + `"
subject = "md.{domain}.{source}"

[services.everywhere]
type = "composite"
pattern = "fanout"
targets = ["market_data_relay", "md_cloud"]
`
	if err := os.WriteFile(path, []byte(toml), 0o600); err != nil {
		t.Fatal(err)
	}
	return path
}

// check loads a services.toml with a nats service (natssink's keys are
// known), and -probe connects to the real server.
func TestCheckNATS(t *testing.T) {
	srv := natsServer(t)
	path := natsServices(t, srv.ClientURL())
	// No relay runs: it is unreachable, NATS is not.
	code, out, errOut := runCmd(t, "check", "-probe", path)
	if code != 1 || errOut != "" {
		t.Fatalf("check -probe: exit %d, want 1\nstdout:\n%s\nstderr:\n%s", code, out, errOut)
	}
	for _, want := range []string{"valid, 3 services", "nats      " + srv.ClientURL(), "md_cloud                 reachable", "market_data_relay        unreachable"} {
		if !strings.Contains(out, want) {
			t.Errorf("output lacks %q:\n%s", want, out)
		}
	}
	srv.Shutdown()
	if code, out, _ := runCmd(t, "check", "-probe", path); code != 1 || !strings.Contains(out, "md_cloud                 unreachable") {
		t.Errorf("check -probe with the server gone: exit %d, want 1 naming md_cloud:\n%s", code, out)
	}
}

// The demo's adapter sends to a fanout of the relay and NATS: an
// independent nats.go subscriber receives the frames, and the demo's
// accounting adds up.
func TestDemoNATS(t *testing.T) {
	srv := natsServer(t)
	nc, err := nats.Connect(srv.ClientURL())
	if err != nil {
		t.Fatal(err)
	}
	defer nc.Close()
	sub, err := nc.SubscribeSync("md.market_data.>")
	if err != nil {
		t.Fatal(err)
	}
	if err := nc.Flush(); err != nil {
		t.Fatal(err)
	}
	path := natsServices(t, srv.ClientURL())
	code, out, errOut := runCmd(t, "demo", "-config", path, "-sink", "everywhere", "-dashboard", "",
		"-duration", "1s", "-rate", "20000", "-relay-delay", "100ms")
	if code != 0 {
		t.Fatalf("demo: exit %d\nstdout:\n%s\nstderr:\n%s", code, out, errOut)
	}
	if !strings.Contains(out, "accounting: adds up") || !strings.Contains(out, "md_cloud") {
		t.Errorf("output lacks the accounting or md_cloud:\n%s", out)
	}
	n, _, err := sub.Pending()
	if err != nil {
		t.Fatal(err)
	}
	if n < 1000 {
		t.Fatalf("NATS subscriber got %d frames from a 1 s demo at 20k msgs/s", n)
	}
}
