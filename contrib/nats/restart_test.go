package natssink_test

import (
	"context"
	"errors"
	"fmt"
	"sync/atomic"
	"testing"
	"time"

	"github.com/nats-io/nats.go"
	"github.com/nats-io/nats.go/jetstream"

	natssink "github.com/msgsink/msgsink/contrib/nats"
	"github.com/msgsink/msgsink/lazy"
	"github.com/msgsink/msgsink/sink"
	"github.com/msgsink/msgsink/tlv"
)

// streamer sends numbered frames of one source without pause until told
// to stop, counting what the sink refused: each refusal is a sequence no
// receiver can see.
type streamer struct {
	p       *producer
	refused atomic.Uint64
	built   atomic.Uint64
	stop    atomic.Bool
	done    chan struct{}
}

func stream(s sink.Sink, src uint8) *streamer {
	st := &streamer{p: newProducer(src, 64), done: make(chan struct{})}
	go func() {
		defer close(st.done)
		for i := 0; !st.stop.Load(); i++ {
			m := st.p.next()
			st.built.Add(1)
			if err := s.Send(m); err != nil {
				m.Release()
				st.refused.Add(1)
			}
			if i%16 == 0 {
				time.Sleep(50 * time.Microsecond) // a feed, not a flood
			}
		}
	}()
	return st
}

// finish stops the stream and sends one last frame until the sink takes
// it, so that a receiver sees where the stream ended.
func (st *streamer) finish(t *testing.T, s sink.Sink) {
	t.Helper()
	st.stop.Store(true)
	<-st.done
	m := st.p.next()
	st.built.Add(1)
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	if err := s.(interface {
		SendWait(context.Context, *tlv.Message) error
	}).SendWait(ctx, m); err != nil {
		t.Fatal(err)
	}
	if err := s.Flush(ctx); err != nil {
		t.Fatal(err)
	}
}

// Core NATS, the server restarted mid-stream: the reader's gaps are
// exactly the frames the sink refused or dropped. The sink confirms each
// batch with the server before counting it written, and publishes again a
// batch whose confirmation the restart cut off (the reader drops what it
// had already).
func TestServerRestartCore(t *testing.T) {
	srv := startServer(t, false)
	r, err := natssink.Subscribe(natssink.ReaderConfig{Endpoint: srv.URL(), ReconnectWait: 5 * time.Millisecond})
	if err != nil {
		t.Fatal(err)
	}
	defer r.Close()
	readErr := make(chan error, 1)
	go func() {
		for {
			if _, err := r.Next(context.Background()); err != nil {
				readErr <- err
				return
			}
		}
	}()
	// The sink waits a whole second before its first redial, so that the
	// reader, which retries every 5 ms, is back first: frames published
	// while no one subscribes are lost by NATS's design, not the sink's.
	s := newSink(t, natssink.Config{Endpoint: srv.URL(), Sink: lazy.Config{BufferSize: 1024,
		Retry: lazy.Retry{Initial: time.Second, Max: time.Second, Jitter: -1}}})
	st := stream(s, 1)
	waitFor(t, "frames flowing", func() bool { return s.Info().Written > 2000 })
	srv.Stop()
	waitFor(t, "the sink to notice", func() bool { return s.State() == sink.StateBackoff })
	srv.Start()
	waitFor(t, "the reader to reconnect", func() bool { return r.Info().Reconnects >= 1 })
	if s.Info().Reconnects != 1 || s.State() != sink.StateBackoff {
		t.Fatalf("the sink redialed before the reader was back: %+v", s.Info())
	}
	waitFor(t, "frames flowing again", func() bool { return s.Info().Written > 4000 && s.State() == sink.StateConnected })
	st.finish(t, s)

	total := st.built.Load()
	waitFor(t, "the last frame at the reader", func() bool {
		in := r.Info()
		return in.Frames+in.Gaps >= total
	})
	in, si := r.Info(), s.Info()
	lost := st.refused.Load() + si.Dropped.ConnectFailed + si.Dropped.Stale + si.Dropped.Closed
	if in.Gaps != lost || in.Frames+in.Gaps != total || in.Dropped != 0 {
		t.Fatalf("reader %+v; sink %+v; built %d, refused %d: want gaps = refused + dropped = %d", in, si, total, st.refused.Load(), lost)
	}
	if st.refused.Load() == 0 {
		t.Fatalf("nothing refused during the outage: the test did not fill the sink")
	}
	t.Logf("built %d, refused %d during the outage, duplicates dropped by the reader %d", total, st.refused.Load(), in.Duplicates)
	if err := r.Close(); err != nil {
		t.Fatal(err)
	}
	if err := <-readErr; !errors.Is(err, sink.ErrClosed) {
		t.Fatalf("Next after Close: %v, want ErrClosed", err)
	}
}

// jetStreamOf returns the JetStream API of a nats.go client of url that
// lives until the test ends.
func jetStreamOf(t testing.TB, url string) jetstream.JetStream {
	t.Helper()
	nc, err := nats.Connect(url)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(nc.Close)
	js, err := jetstream.New(nc)
	if err != nil {
		t.Fatal(err)
	}
	return js
}

// createStream makes the file-backed stream "MD" over msgsink.> on srv.
func createStream(t testing.TB, url string) {
	t.Helper()
	js := jetStreamOf(t, url)
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	if _, err := js.CreateStream(ctx, jetstream.StreamConfig{Name: "MD", Subjects: []string{"msgsink.>"},
		Storage: jetstream.FileStorage, Duplicates: time.Minute}); err != nil {
		t.Fatal(err)
	}
}

// streamFrames returns the (source, sequence) of every message in stream
// MD, in stream order.
func streamFrames(t *testing.T, url string) [][2]uint64 {
	t.Helper()
	js := jetStreamOf(t, url)
	ctx, cancel := context.WithTimeout(context.Background(), 60*time.Second)
	defer cancel()
	str, err := js.Stream(ctx, "MD")
	if err != nil {
		t.Fatal(err)
	}
	c, err := str.OrderedConsumer(ctx, jetstream.OrderedConsumerConfig{})
	if err != nil {
		t.Fatal(err)
	}
	info, err := str.Info(ctx)
	if err != nil {
		t.Fatal(err)
	}
	var out [][2]uint64
	for uint64(len(out)) < info.State.Msgs {
		batch, err := c.Fetch(1000, jetstream.FetchMaxWait(5*time.Second))
		if err != nil {
			t.Fatal(err)
		}
		for m := range batch.Messages() {
			f, err := tlv.Parse(m.Data())
			if err != nil {
				t.Fatalf("stream message %d is not a whole frame: %v", len(out)+1, err)
			}
			if id := m.Headers().Get(nats.MsgIdHdr); id != fmt.Sprintf("%d:%d", f.Header().Source(), f.Header().Sequence()) {
				t.Fatalf("stream message %d has Nats-Msg-Id %q", len(out)+1, id)
			}
			out = append(out, [2]uint64{uint64(f.Header().Source()), f.Header().Sequence()})
		}
		if batch.Error() != nil {
			t.Fatal(batch.Error())
		}
	}
	return out
}

// JetStream, the server restarted mid-stream: every frame the sink took is
// in the stream exactly once, in order, and every publish was acked.
func TestServerRestartJetStream(t *testing.T) {
	srv := startServer(t, true)
	createStream(t, srv.URL())
	s := newSink(t, natssink.Config{Endpoint: srv.URL(), JetStream: true, MaxInflight: 256, AckTimeout: 500 * time.Millisecond,
		Sink: lazy.Config{BufferSize: 1024, Retry: lazy.Retry{Initial: 20 * time.Millisecond, Max: 100 * time.Millisecond}}})
	st := stream(s, 7)
	waitFor(t, "frames flowing", func() bool { return s.JetStream().Acked > 2000 })
	srv.Stop()
	waitFor(t, "the sink to notice", func() bool { return s.State() != sink.StateConnected })
	srv.Start()
	waitFor(t, "frames flowing again", func() bool { return s.Info().Reconnects >= 1 && s.JetStream().Acked > 4000 })
	st.finish(t, s)
	waitFor(t, "every ack", func() bool { return s.JetStream().Unacked == 0 })

	si, js := s.Info(), s.JetStream()
	taken := st.built.Load() - st.refused.Load()
	if si.Enqueued != taken || si.Written != taken || js.Acked != taken || js.Abandoned != 0 {
		t.Fatalf("sink %+v, jetstream %+v: want %d taken, written and acked", si, js, taken)
	}
	got := streamFrames(t, srv.URL())
	if uint64(len(got)) != taken {
		t.Fatalf("stream holds %d messages, the sink took %d (refused %d of %d)", len(got), taken, st.refused.Load(), st.built.Load())
	}
	for i := 1; i < len(got); i++ {
		if got[i][1] <= got[i-1][1] {
			t.Fatalf("stream message %d: sequence %d after %d: duplicated or out of order", i+1, got[i][1], got[i-1][1])
		}
	}
	t.Logf("taken %d, refused %d, resent %d (deduplicated by the server)", taken, st.refused.Load(), js.Resent)
}
