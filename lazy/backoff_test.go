package lazy_test

import (
	"context"
	"errors"
	"path/filepath"
	"sync"
	"syscall"
	"testing"
	"testing/synctest"
	"time"

	"github.com/msgsink/msgsink/lazy"
	"github.com/msgsink/msgsink/sink"
	"github.com/msgsink/msgsink/transport"
)

// The retry schedule, in a synctest bubble: real dials to a missing Unix
// socket fail at once, and the bubble's clock shows each wait exactly.
func TestBackoffSchedule(t *testing.T) {
	ep := mustEndpoint(t, "unix://"+filepath.Join(t.TempDir(), "missing.sock"))
	synctest.Test(t, func(t *testing.T) {
		var mu sync.Mutex
		var at []time.Time
		retry := lazy.Retry{Initial: 10 * time.Millisecond, Max: 80 * time.Millisecond, Multiplier: 2, Jitter: 0.2, MaxAttempts: 7}
		s, err := lazy.New(lazy.Config{Name: "b", Endpoint: ep, Retry: retry,
			Dialer: dialFunc(func(ctx context.Context, e transport.Endpoint) (transport.Conn, error) {
				mu.Lock()
				at = append(at, time.Now())
				mu.Unlock()
				return transport.Dial(ctx, e)
			})})
		if err != nil {
			t.Fatal(err)
		}
		b := newBuilder(64)
		if err := s.Send(b.next()); err != nil {
			t.Fatal(err)
		}
		err = s.Flush(context.Background())
		if !errors.Is(err, sink.ErrConnectFailed) || !errors.Is(err, syscall.ENOENT) {
			t.Fatalf("flush: %v", err)
		}
		if len(at) != 7 {
			t.Fatalf("%d attempts, want 7", len(at))
		}
		want := []time.Duration{10, 20, 40, 80, 80, 80} // ms, before jitter; capped at max
		for k := 1; k < len(at); k++ {
			got := at[k].Sub(at[k-1])
			base := want[k-1] * time.Millisecond
			lo, hi := time.Duration(float64(base)*0.8), min(time.Duration(float64(base)*1.2), retry.Max)
			if got < lo || got > hi {
				t.Errorf("wait before attempt %d: %v, want %v..%v", k+1, got, lo, hi)
			}
		}
		// Flush returns once the message is counted dropped; the writer
		// then rests (idle) and exits: wait for it to be done.
		synctest.Wait()
		if i := s.Info(); i.Dropped.ConnectFailed != 1 || i.State != sink.StateIdle {
			t.Fatalf("info %+v", i)
		}
		if err := s.Close(); err != nil {
			t.Fatal(err)
		}
	})
}

// Without jitter the schedule is exact.
func TestBackoffNoJitter(t *testing.T) {
	ep := mustEndpoint(t, "unix://"+filepath.Join(t.TempDir(), "missing.sock"))
	synctest.Test(t, func(t *testing.T) {
		var at []time.Time
		s, _ := lazy.New(lazy.Config{Name: "b", Endpoint: ep,
			Retry: lazy.Retry{Initial: 5 * time.Millisecond, Max: time.Second, Multiplier: 3, Jitter: -1, MaxAttempts: 4},
			Dialer: dialFunc(func(ctx context.Context, e transport.Endpoint) (transport.Conn, error) {
				at = append(at, time.Now())
				return transport.Dial(ctx, e)
			})})
		b := newBuilder(64)
		_ = s.Send(b.next())
		_ = s.Flush(context.Background())
		for k, want := range []time.Duration{5, 15, 45} {
			if got := at[k+1].Sub(at[k]); got != want*time.Millisecond {
				t.Errorf("wait %d: %v, want %vms", k+1, got, want)
			}
		}
		_ = s.Close()
	})
}

// dialFunc makes a function a lazy.Dialer, for tests that count, slow or
// bend dials.
type dialFunc func(ctx context.Context, e transport.Endpoint) (transport.Conn, error)

func (f dialFunc) DialContext(ctx context.Context, e transport.Endpoint) (transport.Conn, error) {
	return f(ctx, e)
}
