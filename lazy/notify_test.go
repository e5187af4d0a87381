package lazy

import (
	"log/slog"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/msgsink/msgsink/internal/testnet"
	"github.com/msgsink/msgsink/sink"
)

// A nil notifier is what a sink without observers has: it does nothing.
func TestNilNotifier(t *testing.T) {
	n := newNotifier(nil, nil)
	if n != nil {
		t.Fatalf("newNotifier(nil, nil) = %v, want nil", n)
	}
	n.Notify(sink.StateChange{From: sink.StateIdle, To: sink.StateConnecting})
	n.Wait()
}

// Changes arrive in order; a change to the same state is not one.
func TestNotifierOrder(t *testing.T) {
	var got []sink.State
	n := newNotifier(nil, func(c sink.StateChange) { got = append(got, c.To) })
	want := []sink.State{sink.StateConnecting, sink.StateBackoff, sink.StateConnecting, sink.StateConnected, sink.StateClosed}
	from := sink.StateIdle
	for _, to := range want {
		n.Notify(sink.StateChange{From: from, To: to})
		n.Notify(sink.StateChange{From: to, To: to})
		from = to
	}
	n.Wait()
	if len(got) != len(want) {
		t.Fatalf("got %v, want %v", got, want)
	}
	for i := range want {
		if got[i] != want[i] {
			t.Fatalf("got %v, want %v", got, want)
		}
	}
}

// A sink that changes state faster than its observer reads loses the oldest
// changes, never blocks, and logs how many were lost.
func TestSlowObserverLosesOldestChanges(t *testing.T) {
	var logs testnet.Buffer
	release := make(chan struct{})
	var mu sync.Mutex
	var cs []sink.StateChange
	n := newNotifier(slog.New(slog.NewTextHandler(&logs, nil)), func(c sink.StateChange) {
		<-release
		mu.Lock()
		cs = append(cs, c)
		mu.Unlock()
	})
	states := []sink.State{sink.StateIdle, sink.StateConnecting}
	const total = 1000
	for i := range total {
		n.Notify(sink.StateChange{Sink: "x", From: states[i%2], To: states[(i+1)%2], At: time.Unix(int64(i), 0)})
	}
	close(release)
	n.Wait()
	// The delivering goroutine took the first change(s) before the queue
	// filled; the queue then kept the newest 256.
	if len(cs) < 256 || len(cs) >= total || cs[len(cs)-1].At.Unix() != total-1 {
		t.Fatalf("delivered %d changes, last %v: want the first few and the newest 256", len(cs), cs[len(cs)-1].At)
	}
	// Every loss is reported: the warnings' counts add up to what is missing.
	reported := 0
	for _, line := range strings.Split(logs.String(), "\n") {
		if _, n, ok := strings.Cut(line, " lost="); ok {
			k, err := strconv.Atoi(n)
			if err != nil {
				t.Fatalf("bad warning %q", line)
			}
			reported += k
		}
	}
	if lost := total - len(cs); reported != lost {
		t.Errorf("warnings report %d lost changes, %d are missing:\n%s", reported, lost, logs.String())
	}
}
