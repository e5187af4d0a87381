package lazy_test

import (
	"context"
	"encoding/binary"
	"flag"
	"fmt"
	"math/rand/v2"
	"os"
	"os/exec"
	"path/filepath"
	"sync"
	"testing"
	"time"

	"github.com/msgsink/msgsink/internal/testnet"
	"github.com/msgsink/msgsink/lazy"
	"github.com/msgsink/msgsink/relay"
	"github.com/msgsink/msgsink/source"
	"github.com/msgsink/msgsink/tlv"
	"github.com/msgsink/msgsink/transport"
)

var ackedKills = flag.Int("acked-kills", 10, "relay processes TestAckedFaultSoak kills with SIGKILL (the documented run uses 200)")

// The relay child: the test binary run again with relayChildEnv set to the
// socket path and journalEnv to a file, where its Journal appends the
// sequence (8 bytes, little-endian) of every frame it accepted from the
// acked sink, before the Ack that covers it: the relay's intake, which
// survives its SIGKILL because each run is written with one write(2).
const (
	relayChildEnv = "MSGSINK_TEST_RELAY_SOCKET"
	journalEnv    = "MSGSINK_TEST_RELAY_JOURNAL"
)

func relayChild() int {
	j, err := os.OpenFile(os.Getenv(journalEnv), os.O_WRONLY|os.O_CREATE|os.O_APPEND, 0o600)
	if err != nil {
		fmt.Fprintln(os.Stderr, err)
		return 2
	}
	var seqs []byte
	r, err := relay.Listen(relay.Config{
		Endpoint: transport.Endpoint{Scheme: "unix", Addr: os.Getenv(relayChildEnv)},
		Domain:   tlv.DomainMarketData,
		Journal: func(frames []byte) {
			seqs = seqs[:0]
			for len(frames) > 0 {
				h := tlv.Header(frames[:tlv.HeaderSize])
				seqs = binary.LittleEndian.AppendUint64(seqs, h.Sequence())
				frames = frames[tlv.HeaderSize+int(h.PayloadSize()):]
			}
			if _, err := j.Write(seqs); err != nil {
				panic(err) // a journal that loses writes would prove nothing
			}
		},
	})
	if err != nil {
		fmt.Fprintln(os.Stderr, err)
		return 2
	}
	_ = r.Serve(context.Background()) // until SIGKILL
	return 0
}

// relayProc is one relay process of the soak.
type relayProc struct {
	cmd     *exec.Cmd
	journal string
}

func startRelay(t *testing.T, sock, dir string, i int) *relayProc {
	t.Helper()
	p := &relayProc{journal: filepath.Join(dir, fmt.Sprintf("journal-%d", i))}
	p.cmd = exec.Command(os.Args[0], "-test.run=^$")
	p.cmd.Env = append(os.Environ(), relayChildEnv+"="+sock, journalEnv+"="+p.journal)
	// Not the test's own stderr: go test would wait for every process
	// holding it, and a child outlives a failed test until its kill.
	stderr, err := os.Create(p.journal + ".stderr")
	if err != nil {
		t.Fatal(err)
	}
	defer stderr.Close()
	p.cmd.Stderr = stderr
	if err := p.cmd.Start(); err != nil {
		t.Fatal(err)
	}
	return p
}

func (p *relayProc) kill(t *testing.T) {
	t.Helper()
	if err := p.cmd.Process.Kill(); err != nil { // SIGKILL: no Close, no flush, no goodbye
		t.Fatal(err)
	}
	_ = p.cmd.Wait()
}

// consumerLog is what the consumer saw: the sequences of each of its
// subscriptions, in order.
type consumerLog struct {
	mu    sync.Mutex
	conns [][]uint64
}

// consume subscribes to the relay at ep again and again (the relay
// restarts under it) until ctx ends, recording every frame.
func (l *consumerLog) consume(ctx context.Context, ep transport.Endpoint) {
	for ctx.Err() == nil {
		// One subscription per Source: one dial, no reconnect of its own,
		// so each relay's stream is logged apart.
		sub, err := source.New(source.Config{Endpoint: ep, Retry: lazy.Retry{MaxAttempts: 1}})
		if err != nil {
			panic(err)
		}
		dctx, cancel := context.WithTimeout(ctx, time.Second)
		err = sub.Connect(dctx)
		cancel()
		if err != nil {
			_ = sub.Close()
			time.Sleep(time.Millisecond)
			continue
		}
		stop := context.AfterFunc(ctx, func() { _ = sub.Close() })
		l.mu.Lock()
		idx := len(l.conns)
		l.conns = append(l.conns, nil)
		l.mu.Unlock()
		for {
			f, err := sub.Next()
			if err != nil {
				break
			}
			l.mu.Lock()
			l.conns[idx] = append(l.conns[idx], f.Header().Sequence())
			l.mu.Unlock()
		}
		stop()
		_ = sub.Close()
	}
}

// TestAckedFaultSoak kills a real relay process with SIGKILL
// -acked-kills times, restarting it each time, while an acked sink streams
// numbered messages into it as fast as it takes them and a consumer reads
// what the relay forwards. Every sequence the sink enqueued must be in the
// intake of some relay process (its Journal), with nothing dropped; the
// sink's counters must add up with everything acknowledged at the end.
// The consumer must see each subscription's sequences strictly rising.
//
// A restarted relay remembers nothing, so the messages a sink resends to it
// (those the killed relay accepted but had not acknowledged) are forwarded
// again: the consumer sees them twice, across its two subscriptions, and
// drops them by (source, sequence) (the source package does). The consumer
// does not see everything: what a killed relay had acknowledged but not yet
// written to it is lost with the relay's queues (an Ack means accepted into
// the consumer queues, SPEC section 9), and a restarted relay forwards
// nowhere what it takes before the consumer subscribes again. The test
// counts those apart; intake is what acked delivery promises.
//
// The documented run: go test ./lazy -run TestAckedFaultSoak -acked-kills=200 -timeout 30m
func TestAckedFaultSoak(t *testing.T) {
	seed := uint64(time.Now().UnixNano())
	t.Logf("seed %d", seed)
	rng := rand.New(rand.NewPCG(seed, 2))
	sock := testnet.SocketPath(t)
	ep := mustEndpoint(t, "unix://"+sock)
	dir := t.TempDir()
	procs := []*relayProc{startRelay(t, sock, dir, 0)}
	defer func() { procs[len(procs)-1].kill(t) }()

	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	var cons consumerLog
	var wg sync.WaitGroup
	wg.Go(func() { cons.consume(ctx, ep) })

	s := newSink(t, lazy.Config{Endpoint: ep, BufferSize: 4096, Delivery: lazy.DeliveryAcked,
		Retry: lazy.Retry{Initial: time.Millisecond, Max: 10 * time.Millisecond}, CloseTimeout: 30 * time.Second})
	sendCtx, stopSending := context.WithCancel(ctx)
	var sent uint64
	var producer sync.WaitGroup
	producer.Go(func() {
		b := newBuilder(64)
		for {
			m := b.next()
			if err := s.SendWait(sendCtx, m); err != nil {
				m.Release()
				return
			}
			sent++
		}
	})

	for i := 1; i <= *ackedKills; i++ {
		// Each relay dies with traffic flowing through it: after it has
		// acknowledged something, at a random moment.
		acked := s.Info().Acked
		waitFor(t, fmt.Sprintf("relay %d to acknowledge", i-1), func() bool { return s.Info().Acked > acked })
		time.Sleep(time.Duration(rng.IntN(30)) * time.Millisecond)
		procs[len(procs)-1].kill(t)
		time.Sleep(time.Duration(rng.IntN(10)) * time.Millisecond) // sometimes nothing listens for a while
		procs = append(procs, startRelay(t, sock, dir, i))
	}
	time.Sleep(20 * time.Millisecond)
	stopSending()
	producer.Wait()

	fctx, fcancel := context.WithTimeout(context.Background(), 60*time.Second)
	defer fcancel()
	if err := s.Flush(fctx); err != nil { // every message acknowledged by the last relay or an earlier one
		t.Fatalf("flush: %v", err)
	}
	if err := s.Close(); err != nil {
		t.Fatal(err)
	}
	in := assertBalanced(t, s)
	if in.Enqueued != sent || in.Acked != sent || in.Dropped.Total() != 0 || in.Unacked != 0 || in.Pending != 0 {
		t.Fatalf("sink: sent %d, info %+v: want every message enqueued and acknowledged, none dropped", sent, in)
	}

	// The relays' intake: every sequence, each process's in order.
	intake := make([]int, sent+1) // how many relay processes took each sequence
	for i, p := range procs {
		raw, err := os.ReadFile(p.journal)
		if err != nil && !os.IsNotExist(err) {
			t.Fatal(err)
		}
		last := uint64(0)
		for ; len(raw) >= 8; raw = raw[8:] {
			seq := binary.LittleEndian.Uint64(raw)
			if seq <= last || seq > sent {
				t.Fatalf("relay %d took sequence %d after %d (sent %d)", i, seq, last, sent)
			}
			last = seq
			intake[seq]++
		}
	}
	lost, twice := 0, 0
	for seq := 1; seq <= int(sent); seq++ {
		switch {
		case intake[seq] == 0:
			lost++
		case intake[seq] > 1:
			twice++
		}
	}

	// The consumer: wait for it to catch up with the last relay, then
	// check each subscription's order and count what it never saw.
	waitFor(t, "the consumer to see the last message", func() bool {
		cons.mu.Lock()
		defer cons.mu.Unlock()
		c := cons.conns[len(cons.conns)-1]
		return len(c) > 0 && c[len(c)-1] == sent
	})
	cancel()
	wg.Wait()
	seen := make([]bool, sent+1)
	unseen, dups := 0, 0
	for ci, c := range cons.conns {
		for i, seq := range c {
			if i > 0 && seq <= c[i-1] {
				t.Fatalf("consumer subscription %d: sequence %d after %d", ci, seq, c[i-1])
			}
			if seen[seq] {
				dups++
			}
			seen[seq] = true
		}
	}
	for seq := 1; seq <= int(sent); seq++ {
		if !seen[seq] {
			unseen++
		}
	}
	t.Logf("kills %d; enqueued %d, acked %d, resent %d, dropped %d, reconnects %d; relay intake lost %d, taken twice %d; "+
		"consumer subscriptions %d, duplicates %d, never saw %d (in a killed relay's queues, or taken by a new one before the consumer was back)",
		*ackedKills, in.Enqueued, in.Acked, in.Resent, in.Dropped.Total(), in.Reconnects, lost, twice,
		len(cons.conns), dups, unseen)
	if lost != 0 {
		t.Fatalf("%d sequences enqueued never reached a relay's intake", lost)
	}
	if in.Reconnects < uint64(*ackedKills) {
		t.Fatalf("%d reconnects for %d kills: the kills did not break the sink's connection", in.Reconnects, *ackedKills)
	}
}
