package relaytest_test

import (
	"context"
	"testing"
	"time"

	"go.uber.org/goleak"

	"github.com/msgsink/msgsink/lazy"
	"github.com/msgsink/msgsink/relay"
	"github.com/msgsink/msgsink/relay/relaytest"
	"github.com/msgsink/msgsink/sink"
	"github.com/msgsink/msgsink/tlv"
)

// A sink sends to a relay that Serve started, through the Endpoint it
// reports; the consumer Drain subscribed receives every frame; everything
// stops with the test and leaks nothing.
func TestServeDrain(t *testing.T) {
	defer goleak.VerifyNone(t)
	t.Run("relay", func(t *testing.T) {
		r := relaytest.Serve(t, relay.Config{})
		relaytest.Drain(t, r)
		s, err := lazy.New(lazy.Config{Name: "t", Kind: sink.KindRelay, Endpoint: relaytest.Endpoint(r)})
		if err != nil {
			t.Fatal(err)
		}
		defer s.Close()
		b := tlv.NewBuilder(tlv.DomainMarketData, 1)
		const n = 1000
		for range n {
			b.Append(5, make([]byte, 30))
			m, err := b.Finish()
			if err != nil {
				t.Fatal(err)
			}
			if err := s.SendWait(t.Context(), m); err != nil {
				t.Fatal(err)
			}
		}
		ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
		defer cancel()
		if err := s.Flush(ctx); err != nil {
			t.Fatal(err)
		}
		for st := r.Stats(); st.FramesOut != n; st = r.Stats() {
			if ctx.Err() != nil {
				t.Fatalf("relay wrote %d of %d frames to the drain: %v", st.FramesOut, n, st)
			}
			time.Sleep(time.Millisecond)
		}
	})
}
