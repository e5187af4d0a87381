package natssink_test

import (
	"context"
	"errors"
	"testing"
	"time"

	"github.com/nats-io/nats.go"

	natssink "github.com/msgsink/msgsink/contrib/nats"
	"github.com/msgsink/msgsink/lazy"
	"github.com/msgsink/msgsink/sink"
)

// With no stream to take them, nothing is acked: exactly max_inflight
// frames wait in flight, the writer waits for room, the sink's ring fills
// and Send refuses with ErrBufferFull. Once a stream exists, the frames
// whose ack timed out are published again, acked, and stored once each.
func TestJetStreamInflightAndResend(t *testing.T) {
	srv := startServer(t, true)
	const inflight, ring = 32, 64
	s := newSink(t, natssink.Config{Endpoint: srv.URL(), JetStream: true, MaxInflight: inflight, AckTimeout: 200 * time.Millisecond,
		Sink: lazy.Config{BufferSize: ring}})
	p := newProducer(4, 100)
	var takenSeqs []uint64
	for {
		m := p.next()
		seq := m.Header().Sequence()
		err := s.Send(m)
		if err == nil {
			takenSeqs = append(takenSeqs, seq)
			continue
		}
		m.Release()
		if !errors.Is(err, sink.ErrBufferFull) {
			t.Fatal(err)
		}
		// The writer may still be moving frames from the ring into flight.
		if js := s.JetStream(); js.Unacked == inflight && s.Info().Pending == ring {
			break
		}
		time.Sleep(time.Millisecond)
	}
	taken := len(takenSeqs)
	if taken != inflight+ring {
		t.Fatalf("took %d frames before ErrBufferFull, want max_inflight + buffer_size = %d", taken, inflight+ring)
	}
	waitFor(t, "the server's answer: no stream", func() bool { return s.JetStream().LastError != nil })
	js := s.JetStream()
	if js.Acked != 0 || !errors.Is(js.LastError, nats.ErrNoResponders) {
		t.Fatalf("jetstream %+v: want nothing acked and the missing stream reported", js)
	}
	createStream(t, srv.URL())
	waitFor(t, "every frame acked", func() bool { js = s.JetStream(); return js.Acked == uint64(taken) })
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	if err := s.Flush(ctx); err != nil {
		t.Fatal(err)
	}
	js = s.JetStream()
	if js.Resent < inflight || js.Unacked != 0 || s.Info().Written != uint64(taken) {
		t.Fatalf("jetstream %+v, info %+v: want the first %d resent after their ack timeout", js, s.Info(), inflight)
	}
	if in := s.Info(); in.Acked != js.Acked || in.Resent != js.Resent || in.Unacked != 0 || !in.Balanced() {
		t.Fatalf("Info %+v does not carry JetStream's %+v, or does not balance", in, js)
	}
	got := streamFrames(t, srv.URL())
	if len(got) != taken {
		t.Fatalf("stream holds %d frames, the sink took %d", len(got), taken)
	}
	for i, f := range got {
		if f[1] != takenSeqs[i] {
			t.Fatalf("stream message %d is sequence %d, want %d: lost, duplicated or out of order", i+1, f[1], takenSeqs[i])
		}
	}
	if err := s.Close(); err != nil {
		t.Fatal(err)
	}
	if js := s.JetStream(); js.Abandoned != 0 || js.Acked != uint64(taken) {
		t.Fatalf("after Close: %+v", js)
	}
}

// Close with acks that never come (no stream): the close waits for them
// up to the ack timeout, then counts what is unacked as abandoned, so that
// Written = Acked + Unacked + Abandoned still holds.
func TestJetStreamCloseAbandons(t *testing.T) {
	srv := startServer(t, true)
	s := newSink(t, natssink.Config{Endpoint: srv.URL(), JetStream: true, AckTimeout: 100 * time.Millisecond})
	p := newProducer(5, 10)
	const n = 10
	for range n {
		if err := s.Send(p.next()); err != nil {
			t.Fatal(err)
		}
	}
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	if err := s.Flush(ctx); err != nil {
		t.Fatal(err)
	}
	if js := s.JetStream(); js.Unacked != n || js.Acked != 0 {
		t.Fatalf("before Close: %+v", js)
	}
	if err := s.Close(); err != nil {
		t.Fatal(err)
	}
	js, in := s.JetStream(), s.Info()
	if js.Abandoned != n || js.Unacked != 0 || in.Written != n || in.Written != js.Acked+js.Unacked+js.Abandoned {
		t.Fatalf("after Close: jetstream %+v, info %+v", js, in)
	}
	if err := s.Close(); err != nil {
		t.Fatalf("second Close: %v", err)
	}
}
