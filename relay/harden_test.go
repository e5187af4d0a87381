package relay_test

import (
	"errors"
	"io"
	"io/fs"
	"log/slog"
	"net"
	"os"
	"path/filepath"
	"runtime"
	"strings"
	"sync"
	"sync/atomic"
	"syscall"
	"testing"
	"time"

	"github.com/msgsink/msgsink/internal/testnet"
	"github.com/msgsink/msgsink/relay"
	"github.com/msgsink/msgsink/relay/relaytest"
	"github.com/msgsink/msgsink/tlv"
	"github.com/msgsink/msgsink/transport"
)

// The tests of SPEC section 9 "Hardening", one or more per row of issue 14's
// attack review. They read consumers with plain connections (rawConsumer),
// not Subscriber.

// rawConsumer subscribes over a plain connection and waits until the relay
// counts want consumers. A relay at MaxConns (a flood of connections fills
// it) closes a new connection at once: like a real consumer, rawConsumer
// then dials and subscribes again, for up to 30 s.
func rawConsumer(tb testing.TB, r *relay.Relay, want int) net.Conn {
	tb.Helper()
	deadline := time.Now().Add(30 * time.Second)
	for {
		c := dial(tb, r)
		if _, err := c.Write(subscribeFrame(tb, tlv.RoleConsumer)); err != nil && !refusedWrite(err) {
			tb.Fatal(err)
		}
		for {
			if r.Stats().Consumers == want {
				return c
			}
			if time.Now().After(deadline) {
				tb.Fatalf("timed out waiting for the consumer: %v", r.Stats())
			}
			if hungUp(c) {
				break
			}
			time.Sleep(time.Millisecond)
		}
		_ = c.Close()
	}
}

// refusedWrite reports a write error that says the relay closed the
// connection.
func refusedWrite(err error) bool {
	return errors.Is(err, syscall.EPIPE) || errors.Is(err, syscall.ECONNRESET)
}

// hungUp reports, without reading anything the relay sent, whether it has
// closed c: a peek finds the end of the stream or a reset.
func hungUp(c net.Conn) bool {
	rc, err := c.(syscall.Conn).SyscallConn()
	if err != nil {
		return true
	}
	closed := false
	_ = rc.Read(func(fd uintptr) bool {
		var b [1]byte
		n, _, err := syscall.Recvfrom(int(fd), b[:], syscall.MSG_PEEK|syscall.MSG_DONTWAIT)
		closed = n == 0 && err == nil || errors.Is(err, syscall.ECONNRESET)
		return true // a peek, never a wait
	})
	return closed
}

// readFrame reads one whole frame from c, waiting at most 30 s.
func readFrame(c net.Conn) ([]byte, error) {
	_ = c.SetReadDeadline(time.Now().Add(30 * time.Second))
	h := make([]byte, tlv.HeaderSize)
	if _, err := io.ReadFull(c, h); err != nil {
		return nil, err
	}
	f := make([]byte, tlv.HeaderSize+int(tlv.Header(h).PayloadSize()))
	copy(f, h)
	_, err := io.ReadFull(c, f[tlv.HeaderSize:])
	return f, err
}

// closedByRelay waits up to 30 s for the relay to close c: a read that ends
// with EOF or a reset, not a timeout.
func closedByRelay(c net.Conn) error {
	_ = c.SetReadDeadline(time.Now().Add(30 * time.Second))
	_, err := io.Copy(io.Discard, c)
	if err == nil || errors.Is(err, syscall.ECONNRESET) {
		return nil
	}
	return err
}

// heapInUse returns the heap in use after a full collection, which also
// empties the chunk pools.
func heapInUse() uint64 {
	var m runtime.MemStats
	runtime.GC()
	runtime.GC() // a sync.Pool keeps what it held for one more cycle
	runtime.ReadMemStats(&m)
	return m.HeapInuse
}

// TestSocketDirUnsafe: a directory that someone else could write into is
// refused before anything is bound in it, with an error that says what to
// change: whoever can write it can rename the socket away and bind theirs.
func TestSocketDirUnsafe(t *testing.T) {
	cases := []struct {
		name string
		dir  func(t *testing.T) string
		hint string
	}{
		{"writable by others", func(t *testing.T) string {
			d := filepath.Join(t.TempDir(), "torq")
			if err := os.Mkdir(d, 0o700); err != nil {
				t.Fatal(err)
			}
			if err := os.Chmod(d, 0o777); err != nil { // past the umask
				t.Fatal(err)
			}
			return d
		}, "chmod go-w"},
		{"writable by group", func(t *testing.T) string {
			d := filepath.Join(t.TempDir(), "torq")
			if err := os.Mkdir(d, 0o700); err != nil {
				t.Fatal(err)
			}
			if err := os.Chmod(d, 0o770); err != nil {
				t.Fatal(err)
			}
			return d
		}, "chmod go-w"},
		{"another user's", func(t *testing.T) string {
			if os.Geteuid() != 0 {
				return "/" // root's, and nothing is created in it
			}
			d := filepath.Join(t.TempDir(), "torq")
			if err := os.Mkdir(d, 0o700); err != nil {
				t.Fatal(err)
			}
			if err := os.Chown(d, 65534, 65534); err != nil {
				t.Fatal(err)
			}
			return d
		}, "not to the relay's user"},
		{"a symbolic link", func(t *testing.T) string {
			base := t.TempDir()
			d := filepath.Join(base, "torq")
			if err := os.Symlink(base, d); err != nil {
				t.Fatal(err)
			}
			return d
		}, "symbolic link"},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			dir := tc.dir(t)
			path := filepath.Join(dir, "md.sock")
			r, err := relay.Listen(relay.Config{Endpoint: unixEndpoint(path), Domain: tlv.DomainMarketData})
			if err == nil {
				_ = r.Close()
				t.Fatalf("Listen in %s succeeded, want ErrUnsafeDir", dir)
			}
			var de *relay.DirError
			var le *relay.ListenError
			if !errors.Is(err, relay.ErrUnsafeDir) || !errors.As(err, &de) || !errors.As(err, &le) || de.Dir != dir {
				t.Fatalf("Listen: %v, want a *ListenError wrapping a *DirError for %s", err, dir)
			}
			if !strings.Contains(err.Error(), tc.hint) {
				t.Errorf("the error does not say what to change (%q): %v", tc.hint, err)
			}
			if _, err := os.Lstat(path); !errors.Is(err, fs.ErrNotExist) {
				t.Errorf("a socket was created in the refused directory: %v", err)
			}
		})
	}
}

// TestSocketNeverChmodsThroughLink races an attacker against Listen: as soon
// as a socket appears at the path, it is replaced by a symbolic link to a
// file of the relay's user. A chmod after bind follows such a link and opens
// the file to everyone; the relay must not, and the socket must never be seen
// at its path with any mode but the one configured.
func TestSocketNeverChmodsThroughLink(t *testing.T) {
	const rounds = 300
	const mode = 0o666
	dir := t.TempDir()
	target := filepath.Join(dir, "secret")
	if err := os.WriteFile(target, []byte("keep out"), 0o600); err != nil {
		t.Fatal(err)
	}
	path := filepath.Join(dir, "r.sock")
	var badMode atomic.Uint32
	for range rounds {
		stop := make(chan struct{})
		var wg sync.WaitGroup
		wg.Go(func() {
			for {
				select {
				case <-stop:
					return
				default:
				}
				fi, err := os.Lstat(path)
				if err != nil || fi.Mode().Type() != fs.ModeSocket {
					continue
				}
				if fi.Mode().Perm() != mode {
					badMode.Store(uint32(fi.Mode().Perm()) | 1<<31)
				}
				if os.Remove(path) == nil {
					_ = os.Symlink(target, path)
				}
			}
		})
		r, err := relay.Listen(relay.Config{Endpoint: unixEndpoint(path), Domain: tlv.DomainMarketData, SocketMode: mode})
		close(stop)
		wg.Wait()
		if err == nil {
			_ = r.Close()
		}
		_ = os.Remove(path)
		fi, err := os.Stat(target)
		if err != nil {
			t.Fatal(err)
		}
		if fi.Mode().Perm() != 0o600 {
			t.Fatalf("the relay's chmod followed a link: the target's mode is now %#o, was 0600", fi.Mode().Perm())
		}
	}
	if m := badMode.Load(); m != 0 {
		t.Errorf("the socket was seen at its path with mode %#o, want %#o from the start", m&0o777, mode)
	}
	// Nothing is left of the private directories the relay binds in.
	ents, err := os.ReadDir(dir)
	if err != nil {
		t.Fatal(err)
	}
	if len(ents) != 1 {
		var names []string
		for _, e := range ents {
			names = append(names, e.Name())
		}
		t.Errorf("the directory holds %v, want only the target", names)
	}
}

// TestPartialTimeout: a connection that sends part of a frame and stops is
// closed after PartialTimeout and counted; its bytes show in PartialBytes
// meanwhile; the relay goes on.
func TestPartialTimeout(t *testing.T) {
	r := relaytest.Serve(t, relay.Config{PartialTimeout: 200 * time.Millisecond})
	f := testFrame(t, tlv.NewBuilder(tlv.DomainMarketData, 1), 10_000)
	half := f[:len(f)/2]
	c := dial(t, r)
	if _, err := c.Write(half); err != nil {
		t.Fatal(err)
	}
	if err := closedByRelay(c); err != nil {
		t.Fatalf("the relay did not close a connection holding half a frame: %v", err)
	}
	waitFor(t, "the partial timeout counted", func() bool { return r.Stats().PartialTimeouts == 1 })
	s := r.Stats()
	if s.Truncated != 0 || s.Rejected.Total() != 0 || s.FramesIn != 0 || s.PartialBytes != 0 {
		t.Errorf("stats %v", s)
	}
	// The relay still forwards.
	col := rawConsumer(t, r, 1)
	if _, err := dial(t, r).Write(f); err != nil {
		t.Fatal(err)
	}
	got, err := readFrame(col)
	if err != nil || string(got) != string(f) {
		t.Fatalf("after the timeout: read %d bytes, %v", len(got), err)
	}
}

// TestPartialBytesShown: the bytes of frames not yet whole are in Stats
// while they are held, and leave it when the frames complete.
func TestPartialBytesShown(t *testing.T) {
	r := relaytest.Serve(t, relay.Config{PartialTimeout: time.Hour})
	b := tlv.NewBuilder(tlv.DomainMarketData, 1)
	const conns = 5
	var frames [][]byte
	var cs []net.Conn
	want := uint64(0)
	for i := range conns {
		f := testFrame(t, b, 1000*(i+1))
		c := dial(t, r)
		if _, err := c.Write(f[:len(f)-7]); err != nil {
			t.Fatal(err)
		}
		want += uint64(len(f) - 7)
		frames, cs = append(frames, f), append(cs, c)
	}
	waitFor(t, "the partial bytes", func() bool { return r.Stats().PartialBytes == want })
	for i, c := range cs {
		if _, err := c.Write(frames[i][len(frames[i])-7:]); err != nil {
			t.Fatal(err)
		}
	}
	s := quiet(t, r, conns)
	if s.PartialBytes != 0 || s.Unsubscribed != conns {
		t.Errorf("stats once the frames are whole: %v", s)
	}
}

// TestNoTimeoutBetweenFrames: a producer idle at a frame boundary, and a
// consumer whose Subscribe arrived in two pieces, stay connected however long
// they wait: the deadline belongs to a partial frame only.
func TestNoTimeoutBetweenFrames(t *testing.T) {
	// Long enough that a loaded machine never stalls the test for that long
	// between the two halves of the Subscribe.
	const timeout = 500 * time.Millisecond
	r := relaytest.Serve(t, relay.Config{PartialTimeout: timeout})
	c := dial(t, r)
	sub := subscribeFrame(t, tlv.RoleConsumer)
	if _, err := c.Write(sub[:10]); err != nil {
		t.Fatal(err)
	}
	if _, err := c.Write(sub[10:]); err != nil {
		t.Fatal(err)
	}
	waitFor(t, "the consumer", func() bool { return r.Stats().Consumers == 1 })
	p := dial(t, r)
	b := tlv.NewBuilder(tlv.DomainMarketData, 1)
	f1, f2 := testFrame(t, b, 100), testFrame(t, b, 100)
	if _, err := p.Write(f1); err != nil {
		t.Fatal(err)
	}
	if got, err := readFrame(c); err != nil || string(got) != string(f1) {
		t.Fatalf("first frame: %v", err)
	}
	// Absence of an event needs a wait: several timeouts long.
	time.Sleep(3 * timeout)
	if _, err := p.Write(f2); err != nil {
		t.Fatal(err)
	}
	if got, err := readFrame(c); err != nil || string(got) != string(f2) {
		t.Fatalf("frame after an idle spell: %v", err)
	}
	if s := r.Stats(); s.PartialTimeouts != 0 || s.Consumers != 1 || s.Producers != 1 {
		t.Errorf("stats %v", s)
	}
}

// TestAckedProducerIdleAfterSubscribe: an acked producer idle after its
// Subscribe is at a frame boundary, so PartialTimeout does not cut it; its
// frames sent after the wait are forwarded and acknowledged.
func TestAckedProducerIdleAfterSubscribe(t *testing.T) {
	const timeout = 200 * time.Millisecond
	r := relaytest.Serve(t, relay.Config{PartialTimeout: timeout})
	c := subscribeRaw(t, r, 1)
	defer c.Close()
	p := dial(t, r)
	if _, err := p.Write(subscribeFrame(t, tlv.RoleProducer)); err != nil {
		t.Fatal(err)
	}
	waitFor(t, "the acked producer", func() bool { return r.Stats().AckedProducers == 1 })
	// Absence of an event needs a wait: several timeouts long.
	time.Sleep(3 * timeout)
	b := tlv.NewBuilder(tlv.DomainMarketData, 3)
	f1, f2 := frameOf(t, b, 100), frameOf(t, b, 100)
	if _, err := p.Write(append(f1, f2...)); err != nil {
		t.Fatal(err)
	}
	readAcks(t, p, 3, 2)
	for _, f := range [][]byte{f1, f2} {
		if got, err := readFrame(c); err != nil || string(got) != string(f) {
			t.Fatalf("frame after an idle spell: read %d bytes, %v", len(got), err)
		}
	}
	if s := r.Stats(); s.PartialTimeouts != 0 || s.Producers != 1 {
		t.Errorf("stats %v", s)
	}
}

// TestReadBuffersGrowWithBytes: headers announcing 1 MiB frames, with
// nothing after them, pin a buffer sized by what arrived, not by what was
// announced; once a large frame is whole and forwarded, its connection's
// buffer shrinks back.
func TestReadBuffersGrowWithBytes(t *testing.T) {
	const conns = 100
	r := relaytest.Serve(t, relay.Config{PartialTimeout: time.Hour})
	big := testFrame(t, tlv.NewBuilder(tlv.DomainMarketData, 1), 1_000_000)
	before := heapInUse()
	cs := make([]net.Conn, conns)
	for i := range cs {
		cs[i] = dial(t, r)
		if _, err := cs[i].Write(big[:100]); err != nil {
			t.Fatal(err)
		}
	}
	waitFor(t, "the headers", func() bool { return r.Stats().PartialBytes == conns*100 })
	grown := int64(heapInUse()) - int64(before)
	t.Logf("%d connections holding a 1 MiB frame's first 100 bytes: heap +%d KiB", conns, grown>>10)
	// 64 KiB each, and room for the relay's goroutines; 1 MiB each is 100 MiB.
	if limit := int64(conns * 200 << 10); grown > limit {
		t.Errorf("heap grew by %d KiB for %d headers, want at most %d KiB", grown>>10, conns, limit>>10)
	}
	// The frames complete; nobody subscribed, so nothing holds them after.
	for _, c := range cs {
		if _, err := c.Write(big[100:]); err != nil {
			t.Fatal(err)
		}
	}
	s := quiet(t, r, conns)
	if s.Unsubscribed != conns || s.PartialBytes != 0 {
		t.Fatalf("stats %v", s)
	}
	// The connections wait for their next frame: their buffers are back to
	// the usual size, which the next read takes.
	for _, c := range cs {
		if _, err := c.Write(big[:50]); err != nil {
			t.Fatal(err)
		}
	}
	waitFor(t, "the next headers", func() bool { return r.Stats().PartialBytes == conns*50 })
	after := int64(heapInUse()) - int64(before)
	t.Logf("after a 1 MiB frame each: heap +%d KiB", after>>10)
	if limit := int64(conns * 200 << 10); after > limit {
		t.Errorf("heap is %d KiB above the start after the frames, want at most %d KiB: buffers did not shrink back", after>>10, limit>>10)
	}
}

// TestMaxConns: a connection over MaxConns is closed at once, counted, and
// the relay takes connections again when one leaves.
func TestMaxConns(t *testing.T) {
	const limit = 4
	r := relaytest.Serve(t, relay.Config{MaxConns: limit})
	f := testFrame(t, tlv.NewBuilder(tlv.DomainMarketData, 1), 64)
	held := make([]net.Conn, limit)
	for i := range held {
		held[i] = dial(t, r)
		if _, err := held[i].Write(f); err != nil {
			t.Fatal(err)
		}
	}
	waitFor(t, "the producers", func() bool { return r.Stats().Producers == limit })
	over := dial(t, r)
	if err := closedByRelay(over); err != nil {
		t.Fatalf("the connection over MaxConns was not closed: %v", err)
	}
	if s := r.Stats(); s.ConnsRefused != 1 || s.Producers != limit {
		t.Errorf("stats %v", s)
	}
	_ = held[0].Close()
	waitFor(t, "a producer gone", func() bool { return r.Stats().Producers == limit-1 })
	c := rawConsumer(t, r, 1)
	if _, err := held[1].Write(f); err != nil {
		t.Fatal(err)
	}
	if _, err := readFrame(c); err != nil {
		t.Fatalf("a connection under the limit again: %v", err)
	}
}

// TestIdleSubscribersQueueMemory: 400 subscribers that receive nothing cost
// their first small ring each, not a full queue (4 MiB each, 1.6 GB).
func TestIdleSubscribersQueueMemory(t *testing.T) {
	const subs = 400
	r := relaytest.Serve(t, relay.Config{})
	before := heapInUse()
	for i := range subs {
		c := dial(t, r)
		if _, err := c.Write(subscribeFrame(t, tlv.RoleConsumer)); err != nil {
			t.Fatalf("subscriber %d: %v", i, err)
		}
	}
	waitFor(t, "the subscribers", func() bool { return r.Stats().Consumers == subs })
	grown := int64(heapInUse()) - int64(before)
	s := r.Stats()
	t.Logf("%d idle subscribers: heap +%d KiB, queues %d KiB", subs, grown>>10, s.QueueBytes>>10)
	// Generous: 64 KiB a subscriber for the queue, goroutines and buffers.
	if limit := int64(subs * 64 << 10); grown > limit {
		t.Errorf("heap grew by %d KiB for %d idle subscribers, want at most %d KiB", grown>>10, subs, limit>>10)
	}
	if s.QueueBytes == 0 || s.QueueBytes > subs*16<<10 {
		t.Errorf("QueueBytes %d for %d idle subscribers", s.QueueBytes, subs)
	}
}

// TestQueueBudget: a consumer that never reads grows its queue until the
// relay-wide budget stops it; what does not fit is dropped and counted, the
// counters balance, and the memory comes back when it leaves.
func TestQueueBudget(t *testing.T) {
	const budget = 64 << 10
	cfg := lossless
	cfg.QueueBudget = budget
	r := relaytest.Serve(t, cfg)
	stuck := rawConsumer(t, r, 1)
	p := dial(t, r)
	b := tlv.NewBuilder(tlv.DomainMarketData, 1)
	sent := uint64(0)
	deadline := time.Now().Add(30 * time.Second)
	// One frame per write, each a span of its own once the relay keeps up,
	// until the queue has grown into the budget.
	for r.Stats().BudgetDrops == 0 {
		if time.Now().After(deadline) {
			t.Fatalf("no budget drop after %d frames: %v", sent, r.Stats())
		}
		for range 100 {
			if _, err := p.Write(testFrame(t, b, 64)); err != nil {
				t.Fatal(err)
			}
			sent++
		}
		waitFor(t, "the frames in", func() bool { return r.Stats().FramesIn == sent })
	}
	s := r.Stats()
	t.Logf("%d frames: %v", sent, s)
	if s.QueueBytes > budget || s.ConsumerDrops < s.BudgetDrops || !s.Balanced() {
		t.Errorf("stats %v", s)
	}
	_ = stuck.Close()
	waitFor(t, "the queue's memory back", func() bool {
		s := r.Stats()
		return s.Consumers == 0 && s.QueueBytes == 0
	})
	if s := r.Stats(); !s.Balanced() || s.Pending != 0 {
		t.Errorf("stats after the consumer left: %v", s)
	}
}

// TestUnsubscribedCounted: frames that arrive while no consumer is connected
// are counted, and the counters balance with them.
func TestUnsubscribedCounted(t *testing.T) {
	r := relaytest.Serve(t, relay.Config{})
	p := dial(t, r)
	b := tlv.NewBuilder(tlv.DomainMarketData, 1)
	for range 5 {
		if _, err := p.Write(testFrame(t, b, 64)); err != nil {
			t.Fatal(err)
		}
	}
	s := quiet(t, r, 5)
	if s.Unsubscribed != 5 || s.Forwarded != 0 || s.Offered != 0 {
		t.Errorf("before any consumer: %v", s)
	}
	c := rawConsumer(t, r, 1)
	for range 3 {
		f := testFrame(t, b, 64)
		if _, err := p.Write(f); err != nil {
			t.Fatal(err)
		}
		if _, err := readFrame(c); err != nil {
			t.Fatal(err)
		}
	}
	s = quiet(t, r, 8)
	if s.Unsubscribed != 5 || s.Forwarded != 3 || s.FramesOut != 3 {
		t.Errorf("with a consumer: %v", s)
	}
	s.Unsubscribed--
	if s.Balanced() {
		t.Error("Balanced holds with a frame missing from Unsubscribed")
	}
}

// TestTCPLoopbackByDefault: a TCP endpoint without a host listens on
// loopback; one on all interfaces is allowed but logged as a warning; a
// socket mode means nothing for TCP and is refused.
func TestTCPLoopbackByDefault(t *testing.T) {
	r := relaytest.Serve(t, relay.Config{Endpoint: transport.Endpoint{Scheme: "tcp", Addr: ":0"}})
	if a := r.Addr().(*net.TCPAddr); !a.IP.IsLoopback() {
		t.Errorf("tcp://:0 listens on %v, want loopback", a)
	}
	roundTrip(t, r)

	var log testnet.Buffer
	all := relaytest.Serve(t, relay.Config{
		Endpoint: transport.Endpoint{Scheme: "tcp", Addr: "0.0.0.0:0"},
		Logger:   slog.New(slog.NewTextHandler(&log, nil)),
	})
	if a := all.Addr().(*net.TCPAddr); !a.IP.IsUnspecified() {
		t.Errorf("tcp://0.0.0.0:0 listens on %v", a)
	}
	roundTrip(t, all)
	if !strings.Contains(log.String(), "level=WARN") || !strings.Contains(log.String(), "not loopback") {
		t.Errorf("no warning for a relay on all interfaces; the log:\n%s", log.String())
	}

	_, err := relay.Listen(relay.Config{Endpoint: transport.Endpoint{Scheme: "tcp", Addr: "127.0.0.1:0"},
		Domain: tlv.DomainMarketData, SocketMode: 0o600})
	var ce *relay.ConfigError
	if !errors.As(err, &ce) || ce.Field != "SocketMode" || !errors.Is(err, relay.ErrInvalidConfig) {
		t.Errorf("SocketMode on tcp: %v, want a *ConfigError for SocketMode", err)
	}
}

// TestQueueGrowsInOrder: a consumer that falls behind while the producer
// sends frame after frame makes its queue grow through several rings while
// its writer drains the oldest; it still gets every frame once, in order.
func TestQueueGrowsInOrder(t *testing.T) {
	const after = 20_000
	r := relaytest.Serve(t, lossless)
	c := rawConsumer(t, r, 1)
	initial := r.Stats().QueueBytes
	p := dial(t, r)
	b := tlv.NewBuilder(tlv.DomainMarketData, 1)
	send := func(n int) {
		for range n {
			if _, err := p.Write(testFrame(t, b, 64)); err != nil {
				t.Error(err)
				return
			}
		}
	}
	// The consumer reads nothing yet: its socket fills, then its queue. A
	// queue slot is a span, the frames of one read: each frame goes once
	// the relay has read the one before, so that each takes a slot of its
	// own however the machine schedules the relay, until the queue holds
	// three rings' worth (the first ring, then two doublings).
	before := uint64(0)
	deadline := time.Now().Add(60 * time.Second)
	for r.Stats().QueueBytes < 7*initial {
		send(1)
		before++
		for r.Stats().FramesIn != before {
			if time.Now().After(deadline) {
				t.Fatalf("the queue did not grow: %d bytes, %d at the start, after %d frames; %v",
					r.Stats().QueueBytes, initial, before, r.Stats())
			}
			runtime.Gosched()
		}
	}
	grown := r.Stats().QueueBytes
	// Now it reads while the producer goes on: the writer drains the old
	// rings while producers push to the newest.
	var wg sync.WaitGroup
	wg.Go(func() { send(after) })
	var last uint64
	for i := range before + after {
		f, err := readFrame(c)
		if err != nil {
			t.Fatalf("frame %d: %v", i, err)
		}
		if err := checkFrame(f); err != nil {
			t.Fatal(err)
		}
		if seq := tlv.Header(f).Sequence(); seq != last+1 {
			t.Fatalf("frame %d: seq %d after %d", i, seq, last)
		}
		last++
	}
	wg.Wait()
	s := quiet(t, r, before+after)
	t.Logf("queue grew from %d to %d bytes over %d frames; %v", initial, grown, before, s)
	if s.ConsumerDrops != 0 || s.FramesOut != before+after {
		t.Errorf("stats %v", s)
	}
}

// TestQueueBudgetRefusesConsumer: when the consumer queues hold the whole
// budget, a new consumer is refused, counted, rather than let memory past it.
func TestQueueBudgetRefusesConsumer(t *testing.T) {
	r := relaytest.Serve(t, relay.Config{QueueBudget: 8 << 10}) // one first ring
	first := rawConsumer(t, r, 1)
	second := dial(t, r)
	if _, err := second.Write(subscribeFrame(t, tlv.RoleConsumer)); err != nil {
		t.Fatal(err)
	}
	if err := closedByRelay(second); err != nil {
		t.Fatalf("a consumer past the budget was not refused: %v", err)
	}
	waitFor(t, "the refusal counted", func() bool { return r.Stats().ConnsRefused == 1 })
	if s := r.Stats(); s.Consumers != 1 || s.QueueBytes != 8<<10 {
		t.Errorf("stats %v", s)
	}
	// The first still gets frames.
	f := testFrame(t, tlv.NewBuilder(tlv.DomainMarketData, 1), 64)
	if _, err := dial(t, r).Write(f); err != nil {
		t.Fatal(err)
	}
	if got, err := readFrame(first); err != nil || string(got) != string(f) {
		t.Fatalf("the first consumer: %v", err)
	}
}
