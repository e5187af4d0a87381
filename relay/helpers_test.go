package relay_test

import (
	"context"
	"errors"
	"fmt"
	"net"
	"sync"
	"sync/atomic"
	"syscall"
	"testing"
	"time"

	"github.com/msgsink/msgsink/lazy"
	"github.com/msgsink/msgsink/relay"
	"github.com/msgsink/msgsink/relay/relaytest"
	"github.com/msgsink/msgsink/sink"
	"github.com/msgsink/msgsink/source"
	"github.com/msgsink/msgsink/tlv"
	"github.com/msgsink/msgsink/transport"
)

// opaqueType is a market-data TLV type without a typed view: its value is
// carried as is, so tests choose frame sizes freely.
const opaqueType tlv.Type = 5

func unixEndpoint(path string) transport.Endpoint {
	return transport.Endpoint{Scheme: "unix", Addr: path}
}

// dial opens a raw producer connection.
func dial(tb testing.TB, r *relay.Relay) net.Conn {
	tb.Helper()
	a := r.Addr()
	// A Unix socket whose backlog is full (a flood of connections) refuses
	// at once with EAGAIN; a real client (a sink, a source) dials again
	// after a backoff step, and so does this one, for up to 10 s.
	deadline := time.Now().Add(10 * time.Second)
	for {
		c, err := net.Dial(a.Network(), a.String())
		if errors.Is(err, syscall.EAGAIN) && time.Now().Before(deadline) {
			time.Sleep(time.Millisecond)
			continue
		}
		if err != nil {
			tb.Fatal(err)
		}
		tb.Cleanup(func() { _ = c.Close() })
		return c
	}
}

// subscribe subscribes a source.Source and waits until the relay counts
// want consumers, so that every frame sent afterwards is owed to the new one.
// It dials once per connect: a relay that goes away ends its Next.
func subscribe(tb testing.TB, r *relay.Relay, want int) *source.Source {
	tb.Helper()
	s, err := source.New(source.Config{Name: fmt.Sprintf("consumer-%d", want), Endpoint: relaytest.Endpoint(r),
		Retry: lazy.Retry{MaxAttempts: 1}})
	if err != nil {
		tb.Fatal(err)
	}
	tb.Cleanup(func() { _ = s.Close() })
	if err := s.Connect(context.Background()); err != nil {
		tb.Fatal(err)
	}
	waitFor(tb, fmt.Sprintf("%d consumers", want), func() bool { return r.Stats().Consumers == want })
	return s
}

// subscribeRaw subscribes a bare connection, for tests that read the bytes
// the relay writes exactly as written. The caller closes it.
func subscribeRaw(tb testing.TB, r *relay.Relay, want int) net.Conn {
	tb.Helper()
	a := r.Addr()
	c, err := net.Dial(a.Network(), a.String())
	if err != nil {
		tb.Fatal(err)
	}
	if _, err := c.Write(subscribeFrame(tb, tlv.RoleConsumer)); err != nil {
		c.Close()
		tb.Fatal(err)
	}
	waitFor(tb, fmt.Sprintf("%d consumers", want), func() bool { return r.Stats().Consumers == want })
	return c
}

// subscribeFrame is the bytes a consumer sends first.
func subscribeFrame(tb testing.TB, role uint8) []byte {
	tb.Helper()
	b := tlv.NewBuilder(tlv.DomainSystem, tlv.SubscribeSource)
	b.AppendSubscribe(role)
	return finish(tb, b)
}

func finish(tb testing.TB, b *tlv.Builder) []byte {
	tb.Helper()
	m, err := b.Finish()
	if err != nil {
		tb.Fatal(err)
	}
	defer m.Release()
	return append([]byte(nil), m.Bytes()...)
}

// pattern is the value byte i of the frame seq of source src, so a consumer
// can check that every byte arrived as sent.
func pattern(src uint8, seq uint64, i int) byte { return byte(uint64(src)*7 + seq*31 + uint64(i)) }

// testFrame builds frame seq of source src with a payload of about size
// bytes, in records of at most 60,000 bytes.
func testFrame(tb testing.TB, b *tlv.Builder, size int) []byte {
	tb.Helper()
	seq := b.Sequence()
	val := make([]byte, 0, size)
	for i := range size {
		val = append(val, pattern(b.Source, seq, i))
	}
	for len(val) > 60_000 {
		b.Append(opaqueType, val[:60_000])
		val = val[60_000:]
	}
	b.Append(opaqueType, val)
	return finish(tb, b)
}

// frameOf builds a frame of exactly size bytes (size >= 34).
func frameOf(tb testing.TB, b *tlv.Builder, size int) []byte {
	tb.Helper()
	value := size - tlv.HeaderSize - 2
	if value > tlv.MaxStandardValueSize {
		value -= 3 // the extended record head is 5 bytes, not 2
	}
	f := testFrame(tb, b, value)
	if len(f) != size {
		tb.Fatalf("built a %d-byte frame, want %d", len(f), size)
	}
	return f
}

// checkFrame verifies that f is a valid frame whose values hold the
// pattern of its source and sequence.
func checkFrame(f tlv.Frame) error {
	if _, err := tlv.Parse(f); err != nil {
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

// collector reads a Source until it ends, checking every frame and the
// order of every source's sequence numbers.
type collector struct {
	sub      *source.Source
	received atomic.Uint64
	done     chan struct{}

	mu     sync.Mutex
	last   map[uint8]uint64 // last sequence per source
	counts map[uint8]uint64
	gaps   uint64 // frames missing between consecutive sequences
	err    error  // first problem, or the error that ended Next
}

func collect(sub *source.Source) *collector {
	c := &collector{sub: sub, done: make(chan struct{}), last: map[uint8]uint64{}, counts: map[uint8]uint64{}}
	go c.run()
	return c
}

func (c *collector) run() {
	defer close(c.done)
	for {
		f, err := c.sub.Next()
		if err != nil {
			c.fail(err)
			return
		}
		if err := checkFrame(f); err != nil {
			c.fail(err)
			return
		}
		h := f.Header()
		c.mu.Lock()
		src, seq := h.Source(), h.Sequence()
		last := c.last[src]
		if seq <= last {
			c.mu.Unlock()
			c.fail(fmt.Errorf("source %d: seq %d after %d", src, seq, last))
			return
		}
		c.gaps += seq - last - 1
		c.last[src] = seq
		c.counts[src]++
		c.mu.Unlock()
		c.received.Add(1)
	}
}

func (c *collector) fail(err error) {
	c.mu.Lock()
	defer c.mu.Unlock()
	if c.err == nil {
		c.err = err
	}
}

// stop closes the subscription and returns the first problem seen, if any,
// other than the Close. The Source drops a duplicate instead of returning
// it: a relay that sent one shows in its Info.
func (c *collector) stop() error {
	_ = c.sub.Close()
	<-c.done
	c.mu.Lock()
	defer c.mu.Unlock()
	if i := c.sub.Info(); i.Duplicates != 0 || i.Restarts != 0 || i.Invalid != 0 {
		return fmt.Errorf("the relay sent duplicates or invalid frames: %+v", i)
	}
	if c.err == nil || errors.Is(c.err, sink.ErrClosed) {
		return nil
	}
	return c.err
}

func (c *collector) count(src uint8) uint64 {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.counts[src]
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

// quiet waits until the relay has nothing queued for its consumers and every
// frame its producers sent has been counted.
func quiet(tb testing.TB, r *relay.Relay, framesIn uint64) relay.Stats {
	tb.Helper()
	var s relay.Stats
	waitFor(tb, fmt.Sprintf("%d frames in and empty queues", framesIn), func() bool {
		s = r.Stats()
		return s.FramesIn == framesIn && s.Pending == 0 && s.Balanced()
	})
	return s
}
