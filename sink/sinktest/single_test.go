package sinktest_test

import (
	"context"
	"sync/atomic"
	"testing"
	"time"

	"github.com/msgsink/msgsink/lazy"
	"github.com/msgsink/msgsink/sink"
	"github.com/msgsink/msgsink/sink/sinktest"
	"github.com/msgsink/msgsink/tlv"
)

// exclusive wraps a sink and counts the sends that overlapped another.
type exclusive struct {
	sink.Sink
	in       atomic.Int32
	overlaps *atomic.Int64
}

func (e *exclusive) enter() {
	if e.in.Add(1) > 1 {
		e.overlaps.Add(1)
	}
}

func (e *exclusive) exit() { e.in.Add(-1) }

func (e *exclusive) Send(m *tlv.Message) error {
	e.enter()
	defer e.exit()
	return e.Sink.Send(m)
}

func (e *exclusive) SendBatch(ms []*tlv.Message) (int, error) {
	e.enter()
	defer e.exit()
	return e.Sink.SendBatch(ms)
}

func (e *exclusive) SendWait(ctx context.Context, m *tlv.Message) error {
	e.enter()
	defer e.exit()
	return e.Sink.SendWait(ctx, m)
}

// With Harness.SingleProducer, no two of the suite's sends overlap, in
// the checks with several producers too; the single-producer sink passes.
func TestSingleProducerHarness(t *testing.T) {
	if testing.Short() {
		t.Skip("runs the whole suite")
	}
	var overlaps atomic.Int64
	sinktest.Run(t, sinktest.Harness{SingleProducer: true, New: func(t *testing.T, o sinktest.Options) sinktest.Setup {
		p := sinktest.ListenStream(t, "unix")
		l, err := lazy.New(lazy.Config{Name: t.Name(), Endpoint: p.Endpoint(), BufferSize: o.BufferSize,
			Validator: tlv.Validator{Domain: o.Domain}, CloseTimeout: time.Second, SingleProducer: true,
			Retry: lazy.Retry{Initial: time.Millisecond, Max: 10 * time.Millisecond}})
		if err != nil {
			t.Fatal(err)
		}
		t.Cleanup(func() { _ = l.Close() })
		return sinktest.Setup{Sink: &exclusive{Sink: l, overlaps: &overlaps}, Leaves: []sink.Sink{l},
			Groups: []sinktest.Group{{Peers: []sinktest.Peer{p}}}, Capacity: o.BufferSize}
	}})
	if n := overlaps.Load(); n != 0 {
		t.Fatalf("%d sends overlapped another with Harness.SingleProducer", n)
	}
}
