//go:build !race

package natssink_test

import (
	"testing"
	"time"

	natssink "github.com/msgsink/msgsink/contrib/nats"
	"github.com/msgsink/msgsink/lazy"
	"github.com/msgsink/msgsink/sink"
)

// Send allocates nothing: it is lazy's push onto the ring. Measured with
// the writer away (its server stopped, its next dial a minute off), so that
// AllocsPerRun, which counts every goroutine's allocations, sees the
// producer's alone; BenchmarkPublish reports the writer's.
func TestAllocsSend(t *testing.T) {
	srv := startServer(t, false)
	s := newSink(t, natssink.Config{Endpoint: srv.URL(), Sink: lazy.Config{BufferSize: 1 << 16, CloseTimeout: time.Millisecond,
		Retry: lazy.Retry{Initial: time.Minute, Max: time.Minute}}})
	p := newProducer(1, 64)
	if err := s.Send(p.next()); err != nil {
		t.Fatal(err)
	}
	waitFor(t, "the first frame written", func() bool { return s.Info().Written == 1 })
	srv.Stop()
	waitFor(t, "the sink in backoff", func() bool { return s.State() == sink.StateBackoff })
	m := p.next()
	const runs = 10000
	for range runs + 1 {
		m.Retain()
	}
	if n := testing.AllocsPerRun(runs, func() {
		if err := s.Send(m); err != nil {
			t.Fatal(err)
		}
	}); n != 0 {
		t.Fatalf("%v allocs per Send", n)
	}
	m.Release()
}
