package source_test

import (
	"context"
	"errors"
	"fmt"
	"os"
	"os/signal"
	"strings"
	"sync"
	"sync/atomic"
	"syscall"
	"testing"
	"time"

	"github.com/msgsink/msgsink/lazy"
	"github.com/msgsink/msgsink/relay"
	"github.com/msgsink/msgsink/sink"
	"github.com/msgsink/msgsink/source"
	"github.com/msgsink/msgsink/tlv"
	"github.com/msgsink/msgsink/transport"
)

// opaqueType is a market-data TLV type without a typed view: its value is
// carried as is, so the tests fill it with a pattern they can check.
const opaqueType tlv.Type = 5

// fastRetry reconnects within milliseconds, so that fault tests stay short.
var fastRetry = lazy.Retry{Initial: time.Millisecond, Max: 20 * time.Millisecond}

func unixEndpoint(path string) transport.Endpoint {
	return transport.Endpoint{Scheme: "unix", Addr: path}
}

// newSource makes a Source and closes it when the test ends.
func newSource(tb testing.TB, cfg source.Config) *source.Source {
	tb.Helper()
	if cfg.Name == "" {
		cfg.Name = "test"
	}
	s, err := source.New(cfg)
	if err != nil {
		tb.Fatal(err)
	}
	tb.Cleanup(func() { _ = s.Close() })
	return s
}

// pattern is value byte i of frame seq of source src, so that a reader can
// tell a whole frame from one stitched together from two.
func pattern(src uint8, seq uint64, i int) byte { return byte(uint64(src)*7 + seq*31 + uint64(i)) }

// builder builds frames of one producer whose values hold pattern. Their
// timestamps come with the data, as a vendor's do (the feed's start plus one
// nanosecond per frame): a clock read per frame would cost the benchmarks'
// producer more than the rest of its frame.
type builder struct {
	b    *tlv.Builder
	body []byte
	t0   uint64
}

// newBuilder builds frames of exactly size bytes (34 ≤ size ≤ 289).
func newBuilder(src uint8, size int) *builder {
	return &builder{b: tlv.NewBuilder(tlv.DomainMarketData, src), body: make([]byte, size-tlv.HeaderSize-2),
		t0: uint64(time.Now().UnixNano())}
}

// ramp holds every byte value twice over: pattern(src, seq, i) is
// pattern(src, seq, 0)+i, so a frame's values are one copy from it, cheap
// enough for the benchmarks' producer not to be the limit.
var ramp = func() (r [512]byte) {
	for i := range r {
		r[i] = byte(i)
	}
	return r
}()

func (b *builder) next() *tlv.Message {
	seq := b.b.Sequence()
	copy(b.body, ramp[pattern(b.b.Source, seq, 0):])
	b.b.Append(opaqueType, b.body)
	m, err := b.b.FinishAt(b.t0 + seq)
	if err != nil {
		panic(err)
	}
	return m
}

// checkFrame verifies that f is a valid frame whose values hold the
// pattern of its source and sequence: never a torn one.
func checkFrame(f tlv.Frame) error {
	if _, err := (tlv.Validator{Level: tlv.LevelAudit}).Parse(f); err != nil {
		return err
	}
	h := f.Header()
	i := 0
	it := f.Records()
	for it.Next() {
		for _, c := range it.Value() {
			if want := pattern(h.Source(), h.Sequence(), i); c != want {
				return fmt.Errorf("source %d seq %d: value byte %d is %#x, want %#x", h.Source(), h.Sequence(), i, c, want)
			}
			i++
		}
	}
	return it.Err()
}

// producer is a lazy sink fed by a goroutine, as an adapter feeds one: a
// steady stream of frames from one source, each built as it is sent, until
// close (or the test's end).
type producer struct {
	sink *lazy.Sink
	stop context.CancelFunc
	done chan struct{}
	sent atomic.Uint64 // frames the sink took
}

// produce starts a producer to e that sends a frame of size bytes with
// SendWait every pause (0: as fast as the sink takes them). The tests and
// the benchmarks share it, so that they read the same feed.
func produce(tb testing.TB, e transport.Endpoint, src uint8, size int, pause time.Duration) *producer {
	tb.Helper()
	s, err := lazy.New(lazy.Config{Name: "producer", Kind: sink.KindRelay, Endpoint: e, Retry: fastRetry,
		SingleProducer: true, BufferSize: 1 << 14})
	if err != nil {
		tb.Fatal(err)
	}
	ctx, stop := context.WithCancel(context.Background())
	p := &producer{sink: s, stop: stop, done: make(chan struct{})}
	go func() {
		defer close(p.done)
		b := newBuilder(src, size)
		// One timer, reset for each pause: the allocation tests measure
		// every goroutine, this one included.
		wait := time.NewTimer(time.Hour)
		defer wait.Stop()
		// SendWait sees the end only when it must wait: a sink that keeps
		// up would take frames forever.
		for ctx.Err() == nil {
			m := b.next()
			if err := s.SendWait(ctx, m); err != nil {
				m.Release()
				if ctx.Err() == nil {
					panic(err)
				}
				return
			}
			p.sent.Add(1)
			if pause > 0 {
				wait.Reset(pause)
				select {
				case <-ctx.Done():
					return
				case <-wait.C:
				}
			}
		}
	}()
	tb.Cleanup(p.close)
	return p
}

func (p *producer) close() {
	p.stop()
	<-p.done
	_ = p.sink.Close()
}

// openFDs returns the process's open descriptors and what they point at.
func openFDs(tb testing.TB) map[string]string {
	tb.Helper()
	ents, err := os.ReadDir("/proc/self/fd")
	if err != nil {
		tb.Skip("no /proc/self/fd")
	}
	fds := make(map[string]string, len(ents))
	for _, e := range ents {
		target, _ := os.Readlink("/proc/self/fd/" + e.Name())
		fds[e.Name()] = target
	}
	return fds
}

// newFDs lists descriptors open now that were not open (or pointed
// elsewhere) before.
func newFDs(tb testing.TB, before map[string]string) []string {
	var added []string
	for fd, target := range openFDs(tb) {
		if before[fd] != target && !strings.HasPrefix(target, "/proc/") {
			added = append(added, fd+" -> "+target)
		}
	}
	return added
}

func waitFor(tb testing.TB, what string, cond func() bool) {
	tb.Helper()
	deadline := time.Now().Add(30 * time.Second)
	for !cond() {
		if time.Now().After(deadline) {
			tb.Fatalf("timed out waiting for %s", what)
		}
		time.Sleep(time.Millisecond)
	}
}

// relayChildEnv names the socket a re-executed test binary serves a
// market-data relay on (see TestMain).
const relayChildEnv = "MSGSINK_SOURCE_TEST_RELAY"

// runRelayChild is the relay process: it serves until SIGTERM (or the
// SIGKILL the tests send), and prints "ready" once it listens.
func runRelayChild(path string) int {
	r, err := relay.Listen(relay.Config{Endpoint: unixEndpoint(path), Domain: tlv.DomainMarketData})
	if err != nil {
		fmt.Fprintln(os.Stderr, err)
		return 1
	}
	ctx, stop := signal.NotifyContext(context.Background(), syscall.SIGTERM)
	defer stop()
	fmt.Println("ready")
	if err := r.Serve(ctx); err != nil {
		fmt.Fprintln(os.Stderr, err)
		return 1
	}
	return 0
}

// relayProcess is a relay running in a child process.
type relayProcess struct {
	proc   *os.Process
	exited chan struct{}
}

// startRelay re-executes the test binary as a relay on path and waits until
// it listens.
func startRelay(tb testing.TB, path string) *relayProcess {
	tb.Helper()
	rd, wr, err := os.Pipe()
	if err != nil {
		tb.Fatal(err)
	}
	defer rd.Close()
	proc, err := os.StartProcess(os.Args[0], []string{os.Args[0], "-test.run=^$"}, &os.ProcAttr{
		Env:   append(os.Environ(), relayChildEnv+"="+path),
		Files: []*os.File{nil, wr, os.Stderr},
	})
	wr.Close()
	if err != nil {
		tb.Fatal(err)
	}
	rp := &relayProcess{proc: proc, exited: make(chan struct{})}
	go func() {
		_, _ = proc.Wait()
		close(rp.exited)
	}()
	tb.Cleanup(rp.kill)
	var line [6]byte
	if n, err := rd.Read(line[:]); err != nil || string(line[:n]) != "ready\n" {
		tb.Fatalf("relay process did not start: %q %v", line[:n], err)
	}
	return rp
}

// kill ends the relay with SIGKILL, as a crash would, and waits for it.
func (rp *relayProcess) kill() {
	_ = rp.proc.Signal(syscall.SIGKILL)
	<-rp.exited
}

// reader reads a Source in a goroutine until it is closed, checking every
// frame and recording what it returned per producer.
type reader struct {
	src    *source.Source
	done   chan struct{}
	frames atomic.Uint64
	lagged atomic.Uint64

	mu          sync.Mutex
	first, last [256]uint64
	returned    [256]uint64
	err         error // a problem, or the error that ended Next
}

func read(src *source.Source) *reader {
	rd := &reader{src: src, done: make(chan struct{})}
	go rd.run()
	return rd
}

func (rd *reader) run() {
	defer close(rd.done)
	for {
		f, err := rd.src.Next()
		if errors.Is(err, source.ErrLagged) {
			rd.lagged.Add(1)
			continue
		}
		if err != nil {
			rd.fail(err)
			return
		}
		if err := checkFrame(f); err != nil {
			rd.fail(err)
			return
		}
		h := f.Header()
		src, seq := h.Source(), h.Sequence()
		rd.mu.Lock()
		if rd.returned[src] == 0 {
			rd.first[src] = seq
		} else if seq <= rd.last[src] {
			rd.mu.Unlock()
			rd.fail(fmt.Errorf("source %d: seq %d returned after %d", src, seq, rd.last[src]))
			return
		}
		rd.last[src] = seq
		rd.returned[src]++
		rd.mu.Unlock()
		rd.frames.Add(1)
	}
}

func (rd *reader) fail(err error) {
	rd.mu.Lock()
	defer rd.mu.Unlock()
	if rd.err == nil {
		rd.err = err
	}
}

// stop closes the Source, waits for the reader, and returns the first
// problem it saw other than the Close.
func (rd *reader) stop() error {
	_ = rd.src.Close()
	<-rd.done
	rd.mu.Lock()
	defer rd.mu.Unlock()
	if errors.Is(rd.err, sink.ErrClosed) {
		return nil
	}
	if rd.err == nil {
		return errors.New("the reader ended without an error")
	}
	return rd.err
}

// missed returns, per producer, the sequences between the first and the
// last returned that Next never returned.
func (rd *reader) missed() map[uint8]uint64 {
	rd.mu.Lock()
	defer rd.mu.Unlock()
	m := map[uint8]uint64{}
	for src, n := range rd.returned {
		if n > 0 {
			m[uint8(src)] = rd.last[src] - rd.first[src] + 1 - n
		}
	}
	return m
}
