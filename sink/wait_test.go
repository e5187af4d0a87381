package sink_test

import (
	"context"
	"errors"
	"path/filepath"
	"testing"
	"time"

	"github.com/msgsink/msgsink/lazy"
	"github.com/msgsink/msgsink/sink"
	"github.com/msgsink/msgsink/tlv"
)

// composites builds a composite of each kind over targets.
var composites = []struct {
	kind sink.Kind
	make func(targets ...sink.Sink) (sink.Sink, error)
}{
	{sink.KindFanout, func(ts ...sink.Sink) (sink.Sink, error) { return sink.NewFanout("c", ts...) }},
	{sink.KindRoundRobin, func(ts ...sink.Sink) (sink.Sink, error) { return sink.NewRoundRobin("c", ts...) }},
	{sink.KindFailover, func(ts ...sink.Sink) (sink.Sink, error) { return sink.NewFailover("c", ts...) }},
}

// fill sends to s until its ring refuses, and returns how many it took.
func fill(t *testing.T, s *lazy.Sink, b *tlv.Builder) int {
	t.Helper()
	for n := 0; ; n++ {
		m := message(t, b)
		if err := s.Send(m); err != nil {
			m.Release()
			if !errors.Is(err, sink.ErrBufferFull) {
				t.Fatalf("fill %s: %v", s.Info().Name, err)
			}
			return n
		}
	}
}

// TestCompositeSendWait: with every target full (peers not up yet),
// SendWait on a composite waits instead of refusing, and returns once a
// target has room; nothing is lost or duplicated and the counters balance.
func TestCompositeSendWait(t *testing.T) {
	for _, c := range composites {
		t.Run(string(c.kind), func(t *testing.T) {
			dir := t.TempDir()
			peers := []*peer{{t: t, path: filepath.Join(dir, "a.sock")}, {t: t, path: filepath.Join(dir, "b.sock")}}
			a := target(t, "a", peers[0].endpoint(), 4)
			b := target(t, "b", peers[1].endpoint(), 4)
			comp, err := c.make(a, b)
			if err != nil {
				t.Fatal(err)
			}
			bl := tlv.NewBuilder(tlv.DomainMarketData, 1)
			queued := fill(t, a, bl) + fill(t, b, bl)

			m := message(t, bl)
			last := m.Header().Sequence()
			ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
			defer cancel()
			done := make(chan error, 1)
			go func() { done <- comp.SendWait(ctx, m) }()
			select {
			case err := <-done:
				t.Fatalf("SendWait returned %v while every target was full and no peer was up", err)
			case <-time.After(20 * time.Millisecond):
			}
			for _, p := range peers {
				p.start()
				t.Cleanup(p.stop)
			}
			if err := <-done; err != nil {
				t.Fatalf("SendWait: %v", err)
			}
			flushAll(t, a, b)
			want := queued + 1 // round robin and failover: m once
			if c.kind == sink.KindFanout {
				want = queued + 2 // m to both
			}
			received := func() []uint64 { return append(peers[0].received(), peers[1].received()...) }
			waitFor(t, "the peers to read what was written", func() bool { return len(received()) >= want })
			got := received()
			if len(got) != want {
				t.Errorf("peers received %d messages, want %d", len(got), want)
			}
			n := 0
			for _, s := range got {
				if s == last {
					n++
				}
			}
			if wantM := want - queued; n != wantM {
				t.Errorf("the waiting message arrived %d times, want %d", n, wantM)
			}
			if i := comp.Info(); i.Enqueued != 1 || i.Refused.BufferFull != 0 {
				t.Errorf("composite counted enqueued %d, refused buffer_full %d; want 1 and 0", i.Enqueued, i.Refused.BufferFull)
			}
			assertBalanced(t, a, b)
		})
	}
}

// TestCompositeSendWaitContext: a wait that ctx ends returns ctx.Err(), the
// message stays the caller's (one reference, every extra one given back),
// and the composite counts one refusal for a full buffer.
func TestCompositeSendWaitContext(t *testing.T) {
	for _, c := range composites {
		t.Run(string(c.kind), func(t *testing.T) {
			a, b := deadTarget(t, "a"), deadTarget(t, "b")
			comp, err := c.make(a, b)
			if err != nil {
				t.Fatal(err)
			}
			bl := tlv.NewBuilder(tlv.DomainMarketData, 1)
			fill(t, a, bl)
			fill(t, b, bl)
			m := message(t, bl)
			ctx, cancel := context.WithTimeout(context.Background(), 30*time.Millisecond)
			defer cancel()
			if err := comp.SendWait(ctx, m); !errors.Is(err, context.DeadlineExceeded) {
				t.Fatalf("SendWait = %v, want context.DeadlineExceeded", err)
			}
			// Still ours, with exactly our reference: a plain Send of it now
			// (to a sink with room) must work, and its release is the last.
			m.Retain()
			m.Release()
			m.Release()
			if i := comp.Info(); i.Enqueued != 0 || i.Refused.BufferFull != 1 {
				t.Errorf("composite counted enqueued %d, refused buffer_full %d; want 0 and 1", i.Enqueued, i.Refused.BufferFull)
			}
			// An ended ctx with every target full returns at once.
			start := time.Now()
			m = message(t, bl)
			if err := comp.SendWait(ctx, m); !errors.Is(err, context.DeadlineExceeded) {
				t.Fatalf("SendWait with an ended ctx = %v, want context.DeadlineExceeded", err)
			}
			m.Release()
			if took := time.Since(start); took > 5*time.Second {
				t.Errorf("SendWait with an ended ctx took %v", took)
			}
		})
	}
}

// TestCompositeSendWaitClosed: after Close, SendWait refuses at once.
func TestCompositeSendWaitClosed(t *testing.T) {
	for _, c := range composites {
		t.Run(string(c.kind), func(t *testing.T) {
			comp, err := c.make(deadTarget(t, "a"), deadTarget(t, "b"))
			if err != nil {
				t.Fatal(err)
			}
			_ = comp.Close()
			m := message(t, tlv.NewBuilder(tlv.DomainMarketData, 1))
			defer m.Release()
			if err := comp.SendWait(context.Background(), m); !errors.Is(err, sink.ErrClosed) {
				t.Fatalf("SendWait after Close = %v, want ErrClosed", err)
			}
		})
	}
}
