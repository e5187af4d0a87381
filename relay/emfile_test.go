package relay_test

import (
	"bufio"
	"context"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net"
	"os"
	"os/exec"
	"strconv"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/msgsink/msgsink/internal/testnet"
	"github.com/msgsink/msgsink/relay"
	"github.com/msgsink/msgsink/tlv"
)

// emfileSocket, set in the environment, makes TestAcceptOutOfFiles the relay
// process it starts: a re-exec of the test binary, so that its lowered limit
// on open files touches nothing else.
const emfileSocket = "RELAY_TEST_EMFILE_SOCKET"

// TestAcceptOutOfFiles runs a relay that may open only a few more files than
// it has, and connects many more producers than that. The connections it
// cannot hold must not hang in the backlog with their clients none the
// wiser: each is closed at once and counted; accept errors are counted and
// few (no spin); and once the connections are gone, the relay forwards again.
func TestAcceptOutOfFiles(t *testing.T) {
	if path := os.Getenv(emfileSocket); path != "" {
		emfileRelay(t, path)
		return
	}
	const conns = 32
	path := testnet.SocketPath(t)
	cmd := exec.Command(os.Args[0], "-test.run=^TestAcceptOutOfFiles$", "-test.count=1")
	cmd.Env = append(os.Environ(), emfileSocket+"="+path)
	var stderr testnet.Buffer
	cmd.Stderr = &stderr
	stdin, err := cmd.StdinPipe()
	if err != nil {
		t.Fatal(err)
	}
	stdout, err := cmd.StdoutPipe()
	if err != nil {
		t.Fatal(err)
	}
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	exited := false
	t.Cleanup(func() {
		if !exited {
			_ = cmd.Process.Kill()
			_ = cmd.Wait()
		}
	})
	lines := bufio.NewScanner(stdout)
	// next returns the child's next line of the protocol, skipping what the
	// test framework prints.
	next := func(prefix string) string {
		for lines.Scan() {
			if l, ok := strings.CutPrefix(lines.Text(), prefix); ok {
				return l
			}
		}
		t.Fatalf("the relay process ended before %q: %v\nstderr:\n%s", prefix, lines.Err(), stderr.String())
		return ""
	}
	stats := func() map[string]uint64 {
		if _, err := io.WriteString(stdin, "stats\n"); err != nil {
			t.Fatal(err)
		}
		return parseStats(t, next("stats: "))
	}
	next("ready")

	f := testFrame(t, tlv.NewBuilder(tlv.DomainMarketData, 1), 64)
	cs := make([]net.Conn, conns)
	for i := range cs {
		c, err := net.Dial("unix", path)
		if err != nil {
			t.Fatalf("connection %d: %v", i, err)
		}
		defer c.Close()
		_, _ = c.Write(f) // a connection the relay closed may refuse it
		cs[i] = c
	}
	// Every connection is a producer or was closed at once.
	var s map[string]uint64
	waitFor(t, "every connection held or refused", func() bool {
		s = stats()
		return s["producers"]+s["conns_refused"] == conns
	})
	t.Logf("%d connections: %d producers, %d refused, %d accept errors", conns, s["producers"], s["conns_refused"], s["accept_errors"])
	if s["producers"] == 0 || s["conns_refused"] == 0 {
		t.Fatalf("want some connections held and some refused: %v", s)
	}
	// The refused ones see the relay hang up, and are no longer in the
	// backlog: their end was closed before it was counted.
	closed := uint64(0)
	for _, c := range cs {
		_ = c.SetReadDeadline(time.Now().Add(200 * time.Millisecond))
		if _, err := c.Read(make([]byte, 1)); errors.Is(err, io.EOF) || errors.Is(err, syscall.ECONNRESET) {
			closed++
		}
	}
	if closed != s["conns_refused"] {
		t.Errorf("%d connections saw the relay hang up, %d counted refused", closed, s["conns_refused"])
	}
	for _, c := range cs {
		_ = c.Close()
	}
	waitFor(t, "the producers gone", func() bool { return stats()["producers"] == 0 })

	// The relay has descriptors again, or will have once the producers'
	// connections are closed, and forwards. A consumer that arrives before
	// that is refused as the others were, and subscribes again, as a client
	// told so by the relay's hang-up does.
	var consumer net.Conn
	waitFor(t, "the consumer subscribed", func() bool {
		if consumer != nil {
			_ = consumer.Close()
		}
		consumer, err = net.Dial("unix", path)
		if err != nil {
			t.Fatal(err)
		}
		if _, err := consumer.Write(subscribeFrame(t, tlv.RoleConsumer)); err != nil {
			return false
		}
		for range 1000 {
			if stats()["consumers"] == 1 {
				return true
			}
			_ = consumer.SetReadDeadline(time.Now().Add(10 * time.Millisecond))
			if _, err := consumer.Read(make([]byte, 1)); !errors.Is(err, os.ErrDeadlineExceeded) {
				return false // refused: try again
			}
		}
		return false
	})
	defer consumer.Close()
	producer, err := net.Dial("unix", path)
	if err != nil {
		t.Fatal(err)
	}
	defer producer.Close()
	if _, err := producer.Write(f); err != nil {
		t.Fatal(err)
	}
	if got, err := readFrame(consumer); err != nil || string(got) != string(f) {
		t.Fatalf("after the shortage: %v", err)
	}

	_ = stdin.Close()
	s = parseStats(t, next("stats: "))
	if err := cmd.Wait(); err != nil {
		t.Fatalf("the relay process: %v\nstderr:\n%s", err, stderr.String())
	}
	exited = true
	// One failed accept per refused connection, give or take the pauses:
	// a spin would count thousands.
	if e := s["accept_errors"]; e < s["conns_refused"] || e > 4*conns {
		t.Errorf("%d accept errors for %d connections refused", e, s["conns_refused"])
	}
}

// emfileRelay is the relay process of TestAcceptOutOfFiles: it lowers its
// limit on open files to a few more than it has, serves at path, prints
// "ready", prints its stats for every line on stdin, and closes at EOF.
func emfileRelay(t *testing.T, path string) {
	fds, err := os.ReadDir("/proc/self/fd")
	if err != nil {
		t.Fatal(err)
	}
	var lim syscall.Rlimit
	if err := syscall.Getrlimit(syscall.RLIMIT_NOFILE, &lim); err != nil {
		t.Fatal(err)
	}
	// The listener, the spare descriptor and about eight connections.
	lim.Cur = uint64(len(fds) + 10)
	if err := syscall.Setrlimit(syscall.RLIMIT_NOFILE, &lim); err != nil {
		t.Fatal(err)
	}
	r, err := relay.Listen(relay.Config{Endpoint: unixEndpoint(path), Domain: tlv.DomainMarketData,
		Logger: slog.New(slog.NewTextHandler(os.Stderr, &slog.HandlerOptions{Level: slog.LevelWarn}))})
	if err != nil {
		t.Fatal(err)
	}
	served := make(chan error, 1)
	go func() { served <- r.Serve(context.Background()) }()
	fmt.Println("ready")
	in := bufio.NewScanner(os.Stdin)
	for in.Scan() {
		fmt.Println("stats:", r.Stats())
	}
	if err := r.Close(); err != nil {
		t.Error(err)
	}
	if err := <-served; err != nil {
		t.Error(err)
	}
	fmt.Println("stats:", r.Stats())
}

// parseStats reads Stats.String's key=value pairs.
func parseStats(t *testing.T, line string) map[string]uint64 {
	t.Helper()
	m := map[string]uint64{}
	for _, kv := range strings.Fields(line) {
		k, v, ok := strings.Cut(kv, "=")
		n, err := strconv.ParseUint(v, 10, 64)
		if !ok || err != nil {
			t.Fatalf("bad stats %q", line)
		}
		m[k] = n
	}
	return m
}
