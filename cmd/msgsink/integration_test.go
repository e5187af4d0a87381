package main

import (
	"bufio"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"sync"
	"sync/atomic"
	"syscall"
	"testing"
	"time"

	"github.com/msgsink/msgsink/factory"
	"github.com/msgsink/msgsink/internal/testnet"
	"github.com/msgsink/msgsink/sink"
	"github.com/msgsink/msgsink/tlv"
	"go.uber.org/goleak"
)

// binary is the msgsink command, built once by TestMain for the tests that
// run real processes.
var binary string

// process is a running msgsink subprocess.
type process struct {
	cmd    *exec.Cmd
	stdout io.ReadCloser
	stderr *testnet.Buffer
	done   chan error
}

func start(t *testing.T, args ...string) *process {
	t.Helper()
	if binary == "" {
		t.Skip("msgsink binary not built")
	}
	cmd := exec.Command(binary, args...)
	p := &process{cmd: cmd, stderr: &testnet.Buffer{}, done: make(chan error, 1)}
	cmd.Stderr = p.stderr
	// Not cmd.StdoutPipe: Wait closes that pipe as soon as the process
	// exits, losing what the reader has not read yet. Through an io.Pipe,
	// Wait returns once everything was copied to the reader.
	out, w := io.Pipe()
	p.stdout, cmd.Stdout = out, w
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	go func() {
		err := cmd.Wait()
		w.Close()
		p.done <- err
	}()
	t.Cleanup(func() {
		_ = cmd.Process.Kill()
		<-p.done
	})
	return p
}

// stop sends SIGTERM and waits for a clean exit.
func (p *process) stop(t *testing.T) {
	t.Helper()
	_ = p.cmd.Process.Signal(syscall.SIGTERM)
	select {
	case err := <-p.done:
		p.done <- err // for the cleanup
		if err != nil {
			t.Fatalf("%s: %v\nstderr:\n%s", p.cmd.Args, err, p.stderr)
		}
	case <-time.After(10 * time.Second):
		t.Fatalf("%s did not stop on SIGTERM", p.cmd.Args)
	}
}

// kill sends SIGKILL: no chance to close anything cleanly.
func (p *process) kill() {
	_ = p.cmd.Process.Kill()
	p.done <- <-p.done
}

// waitDial waits until something accepts connections on the Unix socket.
func waitDial(t *testing.T, path string) {
	t.Helper()
	deadline := time.Now().Add(10 * time.Second)
	for {
		c, err := net.Dial("unix", path)
		if err == nil {
			c.Close()
			return
		}
		if time.Now().After(deadline) {
			t.Fatalf("nothing answers on %s: %v", path, err)
		}
		time.Sleep(5 * time.Millisecond)
	}
}

// tailer is a `msgsink tail -json` process and what it printed.
type tailer struct {
	*process
	mu    sync.Mutex
	seqs  []uint64
	bad   []string
	ended chan struct{}
}

func startTail(t *testing.T, sock string) *tailer {
	tl := &tailer{process: start(t, "tail", "-json", "-endpoint", "unix://"+sock), ended: make(chan struct{})}
	go func() {
		defer close(tl.ended)
		sc := bufio.NewScanner(tl.stdout)
		sc.Buffer(make([]byte, 1<<20), 1<<20)
		for sc.Scan() {
			var m struct {
				Sequence uint64 `json:"sequence"`
				Records  []struct {
					Type string `json:"type"`
				} `json:"records"`
			}
			err := json.Unmarshal(sc.Bytes(), &m)
			tl.mu.Lock()
			if err != nil || len(m.Records) != 1 || m.Records[0].Type != "Trade" {
				tl.bad = append(tl.bad, sc.Text())
			} else {
				tl.seqs = append(tl.seqs, m.Sequence)
			}
			tl.mu.Unlock()
		}
	}()
	return tl
}

func (tl *tailer) received() int {
	tl.mu.Lock()
	defer tl.mu.Unlock()
	return len(tl.seqs)
}

// check asserts that every line was a whole, decodable frame and that the
// sequence numbers only rise (a gap is a counted loss; a repeat or a step
// back would be a duplicate or a reordering).
func (tl *tailer) check(t *testing.T, name string) []uint64 {
	t.Helper()
	tl.mu.Lock()
	defer tl.mu.Unlock()
	if len(tl.bad) > 0 {
		t.Fatalf("%s printed %d lines that are not whole Trade frames, first: %q\nits stderr: %s", name, len(tl.bad), tl.bad[0], tl.stderr)
	}
	for i := 1; i < len(tl.seqs); i++ {
		if tl.seqs[i] <= tl.seqs[i-1] {
			t.Fatalf("%s: sequence %d after %d", name, tl.seqs[i], tl.seqs[i-1])
		}
	}
	return tl.seqs
}

// relayStats reads the counters a relay prints when it exits.
func relayStats(t *testing.T, p *process) map[string]uint64 {
	t.Helper()
	out := p.stderr.String()
	i := strings.LastIndex(out, "relay stats:")
	if i < 0 {
		t.Fatalf("no stats line in the relay's output:\n%s", out)
	}
	line, _, _ := strings.Cut(out[i+len("relay stats:"):], "\n")
	stats := map[string]uint64{}
	for _, kv := range strings.Fields(line) {
		k, v, ok := strings.Cut(kv, "=")
		if !ok {
			continue
		}
		var n uint64
		if _, err := fmt.Sscan(v, &n); err == nil {
			stats[k] = n
		}
	}
	return stats
}

// TestRelayKilledMidStream sends through the factory to a relay process,
// kills the relay with SIGKILL in mid-stream, starts a new one on the same
// path, and checks that the sink reconnected, that the consumers saw only
// whole frames in order, and that every counter adds up.
func TestRelayKilledMidStream(t *testing.T) {
	dir := t.TempDir()
	sock := filepath.Join(dir, "md.sock")
	conf := filepath.Join(dir, "services.toml")
	writeFile(t, conf, `
[services.market_data_relay]
type = "relay"
endpoint = "unix://`+sock+`"
domain = "market_data"
buffer_size = 65536

[services.market_data_relay.retry]
initial = "5ms"
max = "50ms"
`)
	relay1 := start(t, "relay", "-endpoint", "unix://"+sock, "-domain", "market_data", "-v", "-max-lag", "1m")
	waitDial(t, sock)
	tail1 := startTail(t, sock)
	waitFor(t, "the first consumer to subscribe", func() bool { return strings.Contains(relay1.stderr.String(), "consumer subscribed") })

	f, err := factory.FromFile(conf)
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	s, err := f.Sink("market_data_relay")
	if err != nil {
		t.Fatal(err)
	}

	// The producer sends until told to stop. A refused message (a full ring
	// while the relay is down) stays ours, is counted by the sink, and is
	// offered again: every sequence number reaches the sink, so a gap a
	// consumer sees is a loss the relay counted or the first relay's death.
	var offered atomic.Uint64 // Send calls, refused ones included
	send := func(m *tlv.Message) error {
		offered.Add(1)
		return s.Send(m)
	}
	stop := make(chan struct{})
	var wg sync.WaitGroup
	stopProducer := sync.OnceFunc(func() { close(stop); wg.Wait() })
	defer stopProducer() // before f.Close, when the test fails early
	b := tlv.NewBuilder(tlv.DomainMarketData, 3)
	wg.Go(func() {
		for i := uint64(1); ; i++ {
			select {
			case <-stop:
				return
			default:
			}
			b.AppendTrade(&tlv.Trade{Instrument: i%4 + 1, Price: 100 * tlv.PriceScale, Volume: tlv.PriceScale, ExchangeTS: i})
			m, err := b.Finish()
			if err != nil {
				t.Error(err)
				return
			}
			// Paced to a rate `tail -json` keeps up with.
			if i%64 == 0 {
				time.Sleep(2 * time.Millisecond)
			}
			for err := send(m); err != nil; err = send(m) {
				if !errors.Is(err, sink.ErrBufferFull) {
					m.Release()
					t.Errorf("send: %v", err)
					return
				}
				select {
				case <-stop:
					m.Release()
					return
				case <-time.After(100 * time.Microsecond):
				}
			}
		}
	})

	waitFor(t, "frames through the first relay", func() bool { return tail1.received() > 20_000 })
	relay1.kill()
	<-tail1.ended // the consumer sees the relay go away and exits
	seqs1 := tail1.check(t, "consumer 1")

	relay2 := start(t, "relay", "-endpoint", "unix://"+sock, "-domain", "market_data", "-v", "-max-lag", "1m") // replaces the stale socket file
	waitDial(t, sock)
	tail2 := startTail(t, sock)
	waitFor(t, "the second consumer to subscribe", func() bool { return strings.Contains(relay2.stderr.String(), "consumer subscribed") })
	waitFor(t, "frames through the second relay", func() bool { return tail2.received() > 20_000 })
	stopProducer()

	// A last message, retried until taken, marks the end of the stream.
	b.AppendTrade(&tlv.Trade{Instrument: 1, Price: 100 * tlv.PriceScale, Volume: tlv.PriceScale, ExchangeTS: 1})
	last, err := b.Finish()
	if err != nil {
		t.Fatal(err)
	}
	for send(last) != nil {
		time.Sleep(time.Millisecond)
	}
	marker := b.Sequence() - 1
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	if err := s.Flush(ctx); err != nil {
		t.Fatal(err)
	}
	waitForOr(t, "the second consumer to see the last message", func() bool {
		seqs := tail2.check(t, "consumer 2")
		return len(seqs) > 0 && seqs[len(seqs)-1] == marker
	}, func() string {
		_ = relay2.cmd.Process.Signal(syscall.SIGUSR1)
		time.Sleep(200 * time.Millisecond)
		return fmt.Sprintf("sink: %v\nconsumer 2 printed %d frames; its stderr: %s\nrelay 2 stderr:\n%s",
			s.Info(), tail2.received(), tail2.stderr, relay2.stderr)
	})
	if err := f.Close(); err != nil {
		t.Fatal(err)
	}
	relay2.stop(t)
	<-tail2.ended
	seqs2 := tail2.check(t, "consumer 2")
	stats := relayStats(t, relay2)

	in := s.Info()
	t.Logf("sink: %v", in)
	t.Logf("relay 2: %v", stats)
	t.Logf("consumer 1: %d frames up to seq %d; consumer 2: %d frames from seq %d", len(seqs1), seqs1[len(seqs1)-1], len(seqs2), seqs2[0])
	if in.Reconnects < 1 {
		t.Errorf("reconnects = %d, want at least 1", in.Reconnects)
	}
	if !in.Balanced() || in.Pending != 0 {
		t.Errorf("sink counters do not add up: %v", in)
	}
	if got := offered.Load(); got != in.Enqueued+in.Refused.Total() {
		t.Errorf("offered %d != enqueued %d + refused %d", got, in.Enqueued, in.Refused.Total())
	}
	if stats["rejected"] != 0 {
		t.Errorf("the second relay rejected %d frames: a torn frame reached it", stats["rejected"])
	}
	// Every delivery the second relay owed its consumer was written whole
	// and printed, or dropped and counted; the sink refused nothing for
	// good, so each gap in what the consumer printed is one of those drops.
	if stats["offered"] != stats["frames_out"]+stats["consumer_drops"]+stats["consumer_discards"] {
		t.Errorf("relay 2: offered %d != frames_out %d + consumer_drops %d + consumer_discards %d",
			stats["offered"], stats["frames_out"], stats["consumer_drops"], stats["consumer_discards"])
	}
	if stats["frames_out"] != uint64(len(seqs2)) {
		t.Errorf("relay 2 wrote %d frames to consumer 2, which printed %d", stats["frames_out"], len(seqs2))
	}
	var gaps uint64
	for i := 1; i < len(seqs2); i++ {
		gaps += seqs2[i] - seqs2[i-1] - 1
	}
	if gaps != stats["consumer_drops"] {
		t.Errorf("consumer 2 saw %d sequence gaps, relay 2 counted %d drops", gaps, stats["consumer_drops"])
	}
	if seqs2[0] <= seqs1[len(seqs1)-1] {
		t.Errorf("consumer 2 starts at seq %d, not after consumer 1's last %d", seqs2[0], seqs1[len(seqs1)-1])
	}
}

func waitFor(t *testing.T, what string, cond func() bool) {
	t.Helper()
	waitForOr(t, what, cond, func() string { return "" })
}

// waitForOr is waitFor with diag's report in the failure.
func waitForOr(t *testing.T, what string, cond func() bool, diag func() string) {
	t.Helper()
	deadline := time.Now().Add(20 * time.Second)
	for !cond() {
		if time.Now().After(deadline) {
			t.Fatalf("timed out waiting for %s\n%s", what, diag())
		}
		time.Sleep(5 * time.Millisecond)
	}
}

func TestMain(m *testing.M) {
	dir, err := os.MkdirTemp("", "msgsink-bin-")
	if err != nil {
		fmt.Fprintln(os.Stderr, err)
		os.Exit(1)
	}
	binary = filepath.Join(dir, "msgsink")
	build := exec.Command("go", "build", "-o", binary, ".")
	build.Stderr = os.Stderr
	if err := build.Run(); err != nil {
		fmt.Fprintln(os.Stderr, "building msgsink:", err)
		os.Exit(1)
	}
	code := m.Run()
	os.RemoveAll(dir)
	if code == 0 {
		if err := goleak.Find(); err != nil {
			fmt.Fprintln(os.Stderr, "goroutines leaked:", err)
			code = 1
		}
	}
	os.Exit(code)
}
