package natssink_test

import (
	"bytes"
	"context"
	"errors"
	"sync"
	"testing"
	"time"

	"github.com/nats-io/nats.go"

	natssink "github.com/msgsink/msgsink/contrib/nats"
	"github.com/msgsink/msgsink/lazy"
	"github.com/msgsink/msgsink/sink"
	"github.com/msgsink/msgsink/tlv"
)

// received collects what an independent nats.go subscriber gets: the
// subject and a copy of the bytes of every message.
type received struct {
	mu   sync.Mutex
	subj []string
	data [][]byte
}

func subscribe(t *testing.T, url, subject string) *received {
	t.Helper()
	nc, err := nats.Connect(url)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(nc.Close)
	r := &received{}
	if _, err := nc.Subscribe(subject, func(m *nats.Msg) {
		r.mu.Lock()
		r.subj = append(r.subj, m.Subject)
		r.data = append(r.data, bytes.Clone(m.Data))
		r.mu.Unlock()
	}); err != nil {
		t.Fatal(err)
	}
	if err := nc.Flush(); err != nil {
		t.Fatal(err)
	}
	return r
}

func (r *received) len() int {
	r.mu.Lock()
	defer r.mu.Unlock()
	return len(r.data)
}

func newSink(t *testing.T, cfg natssink.Config) *natssink.Sink {
	t.Helper()
	if cfg.Sink.Name == "" {
		cfg.Sink.Name = "md"
	}
	if cfg.Sink.Retry == (lazy.Retry{}) {
		cfg.Sink.Retry = lazy.Retry{Initial: 5 * time.Millisecond, Max: 50 * time.Millisecond}
	}
	s, err := natssink.New(cfg)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { s.Close() })
	return s
}

// Every frame reaches an independent subscriber as one NATS message, whole,
// in order, on the subject its template gives, and the counters add up.
func TestEveryFrameWholeInOrder(t *testing.T) {
	srv := startServer(t, false)
	got := subscribe(t, srv.URL(), "md.>")
	s := newSink(t, natssink.Config{Endpoint: srv.URL(), Subject: "md.{name}.{domain}.{source}"})
	if in := s.Info(); in.State != sink.StateIdle || in.ConnectAttempts != 0 || in.Kind != natssink.Kind || in.Endpoint != srv.URL() {
		t.Fatalf("a new sink dialed or misreports: %+v", in)
	}
	const n = 5000
	var sent [][]byte
	producers := []*producer{newProducer(1, 40), newProducer(2, 3000)}
	for i := range n {
		m := producers[i%2].next()
		sent = append(sent, bytes.Clone(m.Bytes()))
		for {
			err := s.Send(m)
			if err == nil {
				break
			}
			if !errors.Is(err, sink.ErrBufferFull) {
				t.Fatal(err)
			}
			time.Sleep(100 * time.Microsecond)
		}
	}
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	if err := s.Flush(ctx); err != nil {
		t.Fatal(err)
	}
	// Flush returned: the server has processed every frame (its PONG
	// came after them), so the subscriber is about to have them.
	waitFor(t, "every frame at the subscriber", func() bool { return got.len() >= n })
	got.mu.Lock()
	defer got.mu.Unlock()
	// One subscriber, one publisher: per source in order.
	var next [3]int
	for i, d := range got.data {
		f, err := tlv.Parse(d)
		if err != nil {
			t.Fatalf("message %d is not one whole frame: %v", i, err)
		}
		h := f.Header()
		src := int(h.Source())
		want := sent[next[src]*2+src-1]
		if !bytes.Equal(d, want) {
			t.Fatalf("message %d: source %d sequence %d is not the %dth frame of its source", i, src, h.Sequence(), next[src])
		}
		next[src]++
		if wantSubj := "md.md.market_data." + string(rune('0'+src)); got.subj[i] != wantSubj {
			t.Fatalf("message %d on subject %q, want %q", i, got.subj[i], wantSubj)
		}
	}
	if len(got.data) != n {
		t.Fatalf("%d messages for %d frames", len(got.data), n)
	}
	in := s.Info()
	if in.Enqueued != n || in.Written != n || in.Pending != 0 || in.State != sink.StateConnected || in.ConnectAttempts != 1 {
		t.Fatalf("info %+v", in)
	}
	// Core frames are acked by the server's PONGs: after Flush, all of them.
	if !in.AckedDelivery || in.Acked != n || in.Unacked != 0 || in.Resent != 0 {
		t.Fatalf("core confirmations: %+v, want every frame acked", in)
	}
}
