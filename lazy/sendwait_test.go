package lazy_test

import (
	"context"
	"errors"
	"fmt"
	"path/filepath"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/msgsink/msgsink/lazy"
	"github.com/msgsink/msgsink/sink"
	"github.com/msgsink/msgsink/sink/sinktest"
	"github.com/msgsink/msgsink/tlv"
)

// sourceBuilder is newBuilder for producer src (the header's source).
func sourceBuilder(src uint8, size int) *builder {
	b := newBuilder(size)
	b.b.Source = src
	b.b.Checksum = true
	return b
}

// fillRing sends from b until the sink refuses with ErrBufferFull, and
// returns how many it took; the refused message is released. With a
// stalledConn, the ring then stays full.
func fillRing(t *testing.T, s *lazy.Sink, b *builder) int {
	t.Helper()
	for took := 0; ; took++ {
		m := b.next()
		err := s.Send(m)
		if err == nil {
			continue
		}
		m.Release()
		if !errors.Is(err, sink.ErrBufferFull) {
			t.Fatalf("Send: %v", err)
		}
		return took
	}
}

// sendWaitAll sends n messages from b with SendWait and returns the first
// error, with the message it refused released.
func sendWaitAll(ctx context.Context, s *lazy.Sink, b *builder, n int, sent *atomic.Int64) error {
	for range n {
		m := b.next()
		if err := s.SendWait(ctx, m); err != nil {
			m.Release()
			return err
		}
		sent.Add(1)
	}
	return nil
}

// checkStreams checks that the peer received, on one connection, exactly
// want[src] frames from each producer src, with consecutive sequence
// numbers in order from the first.
func checkStreams(t *testing.T, rec *sinktest.Recorder, want map[uint8]int) {
	t.Helper()
	if err := rec.Err(); err != nil {
		t.Fatal(err)
	}
	got := rec.Received()
	if len(got) != 1 {
		t.Fatalf("the peer saw %d connections, want 1", len(got))
	}
	last := make(map[uint8]uint64)
	count := make(map[uint8]int)
	for _, f := range got[0] {
		if prev, ok := last[f.Source]; ok && f.Seq != prev+1 {
			t.Fatalf("producer %d: frame %d arrived after frame %d", f.Source, f.Seq, prev)
		}
		last[f.Source] = f.Seq
		count[f.Source]++
	}
	for src, n := range want {
		if count[src] != n {
			t.Fatalf("producer %d: %d frames arrived, want %d", src, count[src], n)
		}
	}
	if len(count) != len(want) {
		t.Fatalf("frames from producers %v, want %v", count, want)
	}
}

// With the peer stalled, SendWait fills the ring and then waits (it does
// not refuse); once the peer reads again every message arrives, in order,
// exactly once, and the counters balance with nothing refused.
func TestSendWaitWaitsForRoom(t *testing.T) {
	for _, network := range []string{"unix", "tcp"} {
		for _, single := range []bool{false, true} {
			t.Run(fmt.Sprintf("transport=%s/single_producer=%t", network, single), func(t *testing.T) {
				p, ep := listenGated(t, network)
				s := newSink(t, lazy.Config{Endpoint: ep, BufferSize: 16, Dialer: smallSendBuffer(nil),
					SingleProducer: single})
				const n = 5000 // 1 MB of 200-byte messages: more than the socket buffers hold
				ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
				defer cancel()
				var sent atomic.Int64
				done := make(chan error, 1)
				go func() { done <- sendWaitAll(ctx, s, sourceBuilder(1, 200), n, &sent) }()

				waitFor(t, "SendWait to wait on a full ring", func() bool {
					return lazy.Waiters(s) == 1 && s.Info().Pending == 16
				})
				if k := sent.Load(); k >= n {
					t.Fatalf("SendWait returned for all %d messages with the peer stalled", k)
				}
				p.open()
				if err := <-done; err != nil {
					t.Fatalf("SendWait: %v", err)
				}
				flush(t, s)
				p.waitReceived(t, n)
				checkStreams(t, &p.rec, map[uint8]int{1: n})
				i := assertBalanced(t, s)
				if i.Enqueued != n || i.Written != n || i.Refused != (sink.Refused{}) || i.Dropped.Total() != 0 {
					t.Fatalf("counters: %+v", i)
				}
			})
		}
	}
}

// Several producers wait on one full, shared sink at once: the room the
// writer frees is passed from one waiter to the next, and all of them
// finish, each producer's messages in order.
func TestSendWaitManyProducers(t *testing.T) {
	const producers, each = 4, 1500
	p, ep := listenGated(t, "unix")
	s := newSink(t, lazy.Config{Endpoint: ep, BufferSize: 16, Dialer: smallSendBuffer(nil)})
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	var sent atomic.Int64
	errs := make(chan error, producers)
	var wg sync.WaitGroup
	for i := range producers {
		wg.Go(func() { errs <- sendWaitAll(ctx, s, sourceBuilder(uint8(1+i), 200), each, &sent) })
	}
	waitFor(t, "every producer to wait on the full ring", func() bool { return lazy.Waiters(s) == producers })
	p.open()
	wg.Wait()
	close(errs)
	for err := range errs {
		if err != nil {
			t.Fatalf("SendWait: %v", err)
		}
	}
	flush(t, s)
	p.waitReceived(t, producers*each)
	want := make(map[uint8]int)
	for i := range producers {
		want[uint8(1+i)] = each
	}
	checkStreams(t, &p.rec, want)
	if i := assertBalanced(t, s); i.Written != producers*each || i.Refused.BufferFull != 0 {
		t.Fatalf("counters: %+v", i)
	}
}

// When ctx ends before there is room, SendWait returns ctx.Err() (at once
// for a ctx already ended), counts the refusal as a full buffer, and the
// message is still the caller's: its Release sends it back to its builder,
// and it can be sent again once there is room.
func TestSendWaitContextEnds(t *testing.T) {
	p, ep := listenGated(t, "unix")
	p.open()
	stall := make(chan struct{})
	s := newSink(t, lazy.Config{Endpoint: ep, BufferSize: 16, Dialer: stalledDial(stall)})
	took := fillRing(t, s, sourceBuilder(1, 200))
	refused := s.Info().Refused.BufferFull

	probe := sourceBuilder(2, 200)
	m := probe.next()
	ended, cancel := context.WithCancel(context.Background())
	cancel()
	if err := s.SendWait(ended, m); !errors.Is(err, context.Canceled) {
		t.Fatalf("SendWait with an ended ctx on a full ring: %v, want context.Canceled", err)
	}
	ctx, cancel := context.WithTimeout(context.Background(), 20*time.Millisecond)
	defer cancel()
	if err := s.SendWait(ctx, m); !errors.Is(err, context.DeadlineExceeded) {
		t.Fatalf("SendWait on a stalled peer: %v, want context.DeadlineExceeded", err)
	}
	if i := s.Info(); i.Refused.BufferFull != refused+2 || i.Enqueued != uint64(took) {
		t.Fatalf("after two SendWaits ended by their ctx: %+v; want %d refused (full), %d enqueued", i, refused+2, took)
	}
	m.Release()
	again := probe.next()
	if again != m {
		t.Fatal("the message SendWait gave back did not return to its builder on Release: the sink kept a reference")
	}

	// Sent again, once the writer moves: it goes, once.
	close(stall)
	wait, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	if err := s.SendWait(wait, again); err != nil {
		t.Fatalf("SendWait once the peer reads: %v", err)
	}
	flush(t, s)
	p.waitReceived(t, took+1)
	checkStreams(t, &p.rec, map[uint8]int{1: took, 2: 1})
	if i := assertBalanced(t, s); i.Written != uint64(took+1) {
		t.Fatalf("counters: %+v", i)
	}
}

// Close while producers wait in SendWait makes each return ErrClosed, with
// its message still its own; a SendWait after Close returns ErrClosed too.
func TestSendWaitClose(t *testing.T) {
	p, ep := listenGated(t, "unix")
	p.open()
	s := newSink(t, lazy.Config{Endpoint: ep, BufferSize: 16, Dialer: stalledDial(make(chan struct{})),
		CloseTimeout: 50 * time.Millisecond})
	took := fillRing(t, s, sourceBuilder(1, 200))

	const waiting = 3
	probes := make([]*builder, waiting)
	msgs := make([]*tlv.Message, waiting)
	errs := make([]error, waiting)
	var wg sync.WaitGroup
	for i := range waiting {
		probes[i] = sourceBuilder(uint8(2+i), 200)
		msgs[i] = probes[i].next()
		wg.Go(func() { errs[i] = s.SendWait(context.Background(), msgs[i]) })
	}
	waitFor(t, "the producers to wait on the full ring", func() bool { return lazy.Waiters(s) == waiting })
	if err := s.Close(); err == nil {
		t.Fatal("Close with a stalled peer and a full ring dropped nothing")
	}
	wg.Wait()
	for i, err := range errs {
		if !errors.Is(err, sink.ErrClosed) {
			t.Fatalf("SendWait %d during Close: %v, want ErrClosed", i, err)
		}
		msgs[i].Release()
		if again := probes[i].next(); again != msgs[i] {
			t.Fatalf("SendWait %d: the message refused at Close did not go back to its builder on Release", i)
		} else {
			again.Release()
		}
	}
	m := probes[0].next()
	if err := s.SendWait(context.Background(), m); !errors.Is(err, sink.ErrClosed) {
		t.Fatalf("SendWait after Close: %v, want ErrClosed", err)
	}
	m.Release()
	i := assertBalanced(t, s)
	if i.State != sink.StateClosed || i.Refused.Closed != waiting+1 || i.Enqueued != uint64(took) {
		t.Fatalf("after Close: %+v", i)
	}
}

// SendWait validates as Send does: a message outside the sink's domain is
// refused at once with ErrDomain and stays the caller's.
func TestSendWaitRefusesOutOfDomain(t *testing.T) {
	_, ep := listenGated(t, "unix")
	s := newSink(t, lazy.Config{Endpoint: ep, Validator: tlv.Validator{Domain: tlv.DomainSignal}})
	b := newBuilder(64)
	m := b.next()
	if err := s.SendWait(context.Background(), m); !errors.Is(err, sink.ErrDomain) {
		t.Fatalf("SendWait of a market data message to a signal sink: %v, want ErrDomain", err)
	}
	m.Release()
	if again := b.next(); again != m {
		t.Fatal("the refused message did not go back to its builder")
	} else {
		again.Release()
	}
	if i := assertBalanced(t, s); i.Refused.Domain != 1 || i.Enqueued != 0 {
		t.Fatalf("%+v", i)
	}
}

// An ended ctx only matters when SendWait has to wait: with room in the
// ring, the message is taken.
func TestSendWaitEndedContextWithRoom(t *testing.T) {
	p, ep := listenGated(t, "unix")
	p.open()
	s := newSink(t, lazy.Config{Endpoint: ep})
	ctx, cancel := context.WithCancel(context.Background())
	cancel()
	if err := s.SendWait(ctx, newBuilder(64).next()); err != nil {
		t.Fatalf("SendWait with an ended ctx and room: %v", err)
	}
	flush(t, s)
	if i := assertBalanced(t, s); i.Written != 1 || i.Refused.BufferFull != 0 {
		t.Fatalf("%+v", i)
	}
}

// An endpoint nobody listens on, with a bounded number of dials: the
// writer drops what it cannot deliver, which frees room, so producers
// waiting in SendWait are taken in turn and never left waiting on an idle
// sink; every message is counted as dropped.
func TestSendWaitWhileConnectsFail(t *testing.T) {
	ep := mustEndpoint(t, "unix://"+filepath.Join(t.TempDir(), "nobody.sock"))
	s := newSink(t, lazy.Config{Endpoint: ep, BufferSize: 4,
		Retry: lazy.Retry{Initial: time.Millisecond, Max: time.Millisecond, MaxAttempts: 2}})
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	const producers, each = 3, 40
	var sent atomic.Int64
	var wg sync.WaitGroup
	for i := range producers {
		wg.Go(func() {
			if err := sendWaitAll(ctx, s, sourceBuilder(uint8(1+i), 64), each, &sent); err != nil {
				t.Errorf("SendWait: %v", err)
			}
		})
	}
	wg.Wait()
	waitFor(t, "every message dropped", func() bool { return s.Info().Dropped.ConnectFailed == producers*each })
	if i := assertBalanced(t, s); i.Enqueued != producers*each || i.Written != 0 || i.Refused.BufferFull != 0 {
		t.Fatalf("%+v", i)
	}
}
