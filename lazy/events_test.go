package lazy_test

import (
	"errors"
	"log/slog"
	"path/filepath"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	"github.com/msgsink/msgsink/internal/testnet"
	"github.com/msgsink/msgsink/lazy"
	"github.com/msgsink/msgsink/sink"
)

// changes records the state changes a sink reports.
type changes struct {
	mu   sync.Mutex
	list []sink.StateChange
}

func (c *changes) add(sc sink.StateChange) {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.list = append(c.list, sc)
}

func (c *changes) get() []sink.StateChange {
	c.mu.Lock()
	defer c.mu.Unlock()
	return append([]sink.StateChange(nil), c.list...)
}

// path renders the changes as "idle>connecting connecting>connected ...".
func path(cs []sink.StateChange) string {
	var b strings.Builder
	for i, c := range cs {
		if i > 0 {
			b.WriteByte(' ')
		}
		b.WriteString(c.From.String() + ">" + c.To.String())
	}
	return b.String()
}

// Every state change reaches the callback and the logger, in order, with
// the error behind a backoff; and nothing is logged per message.
func TestStateChangesReported(t *testing.T) {
	path0 := filepath.Join(t.TempDir(), "s.sock")
	ep := mustEndpoint(t, "unix://"+path0)
	var got changes
	var logs testnet.Buffer
	s := newSink(t, lazy.Config{Endpoint: ep, Name: "md",
		Retry:         lazy.Retry{Initial: time.Millisecond, Max: 5 * time.Millisecond},
		Logger:        slog.New(slog.NewTextHandler(&logs, nil)),
		OnStateChange: got.add})

	b := newBuilder(64)
	if err := s.Send(b.next()); err != nil { // nobody listens yet: connect fails, backoff
		t.Fatal(err)
	}
	waitFor(t, "a failed dial", func() bool { return strings.Contains(path(got.get()), "connecting>backoff") })
	p := listen(t, "unix", path0)
	for range 99 {
		for s.Send(b.next()) != nil {
			time.Sleep(time.Millisecond)
		}
	}
	flush(t, s)
	waitFor(t, "100 frames", func() bool { return p.total() == 100 })
	p.close() // the peer exits: connected → backoff with the write or EOF error
	waitFor(t, "the lost connection", func() bool { return strings.Contains(path(got.get()), "connected>backoff") })
	if err := s.Close(); err != nil {
		t.Fatal(err)
	}

	cs := got.get()
	t.Logf("changes: %s", path(cs))
	if !strings.HasPrefix(path(cs), "idle>connecting connecting>backoff") || !strings.HasSuffix(path(cs), ">closed") ||
		!strings.Contains(path(cs), "connecting>connected connected>backoff") {
		t.Fatalf("changes %q: want idle>connecting connecting>backoff ... connecting>connected connected>backoff ... >closed", path(cs))
	}
	for i, c := range cs {
		if c.Sink != "md" || c.At.IsZero() || c.From == c.To {
			t.Errorf("change %d: %+v", i, c)
		}
		if i > 0 && (c.From != cs[i-1].To || c.At.Before(cs[i-1].At)) {
			t.Errorf("change %d (%v>%v) does not follow %v>%v", i, c.From, c.To, cs[i-1].From, cs[i-1].To)
		}
		if (c.To == sink.StateBackoff) != (c.Err != nil) {
			t.Errorf("change %d %v>%v: err %v (an error exactly on a move to backoff)", i, c.From, c.To, c.Err)
		}
	}
	if err := cs[1].Err; !errors.Is(err, syscall.ENOENT) && !errors.Is(err, syscall.ECONNREFUSED) {
		t.Errorf("first backoff error %v: want the dial's ENOENT or ECONNREFUSED", err)
	}
	lines := strings.Split(strings.TrimSpace(logs.String()), "\n")
	if len(lines) != len(cs) {
		t.Errorf("%d log lines for %d changes (none per message):\n%s", len(lines), len(cs), logs.String())
	}
	if !strings.Contains(lines[0], `msg="msgsink: sink state" sink=md from=idle to=connecting`) ||
		!strings.Contains(lines[1], "level=WARN") || !strings.Contains(lines[1], "err=") {
		t.Errorf("log lines:\n%s", logs.String())
	}
}

// A callback that blocks never holds up the writer: messages keep flowing
// while it waits, and Close returns once it has seen every change.
func TestBlockedCallbackDoesNotStallWriter(t *testing.T) {
	p, ep := unixPeer(t)
	release := make(chan struct{})
	var got changes
	s := newSink(t, lazy.Config{Endpoint: ep, OnStateChange: func(c sink.StateChange) {
		<-release
		got.add(c)
	}})
	b := newBuilder(64)
	for range 1000 {
		for s.Send(b.next()) != nil {
			time.Sleep(time.Millisecond)
		}
	}
	flush(t, s)
	waitFor(t, "1000 frames while the callback blocks", func() bool { return p.total() == 1000 })
	if n := len(got.get()); n != 0 {
		t.Fatalf("%d changes delivered before the callback was released", n)
	}
	close(release)
	if err := s.Close(); err != nil {
		t.Fatal(err)
	}
	if got := path(got.get()); got != "idle>connecting connecting>connected connected>closed" {
		t.Fatalf("changes %q", got)
	}
}
