package source_test

import (
	"context"
	"testing"
	"time"

	"github.com/msgsink/msgsink/lazy"
	"github.com/msgsink/msgsink/sink"
	"github.com/msgsink/msgsink/source"
	"github.com/msgsink/msgsink/tlv"
)

// A lazy sink with delivery = "acked" sending straight to a Listener (a
// direct service's peer, SPEC section 9a) over unix and ws: the Listener
// acks what Next returned, so the sink's Flush returns with every message
// acked, and its counters balance the acked way.
func TestListenAckedSink(t *testing.T) {
	for _, scheme := range []string{"unix", "ws"} {
		t.Run("scheme="+scheme, func(t *testing.T) {
			noLeaks(t)
			l := startListener(t, scheme, source.ListenConfig{})
			s, err := lazy.New(lazy.Config{Name: "acked", Kind: sink.KindDirect, Endpoint: listenerEndpoint(t, l),
				Delivery: lazy.DeliveryAcked, BufferSize: 1 << 12, CloseTimeout: time.Second})
			if err != nil {
				t.Fatal(err)
			}
			defer s.Close()
			const n = 5000
			read := make(chan error, 1)
			go func() {
				for want := uint64(1); want <= n; want++ {
					f, err := l.Next()
					if err != nil {
						read <- err
						return
					}
					if got := f.Header().Sequence(); got != want {
						t.Errorf("sequence %d, want %d", got, want)
					}
				}
				read <- nil
			}()
			b := tlv.NewBuilder(tlv.DomainMarketData, 3)
			for range n {
				if err := s.SendWait(t.Context(), message(t, b, 64)); err != nil {
					t.Fatal(err)
				}
			}
			if err := <-read; err != nil {
				t.Fatal(err)
			}
			ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
			defer cancel()
			if err := s.Flush(ctx); err != nil { // in acked mode: every message acked
				t.Fatal(err)
			}
			i := s.Info()
			if i.Acked != n || i.Unacked != 0 || i.Pending != 0 || !i.Balanced() {
				t.Fatalf("sink %+v: want all %d acked", i, n)
			}
			if li := l.Info(); li.Acks == 0 || li.Duplicates != 0 {
				t.Fatalf("listener %+v", li)
			}
		})
	}
}
