package lazy_test

import (
	"errors"
	"runtime"
	"sync/atomic"
	"testing"
	"time"

	"github.com/msgsink/msgsink/lazy"
	"github.com/msgsink/msgsink/sink"
	"github.com/msgsink/msgsink/sink/sinktest"
)

// A SingleProducer sink's producer keeps sending while another goroutine
// closes the sink: every Send is either taken, and then written before
// Close returns (the peer is up), or refused with ErrClosed and left with
// the caller; nothing is taken and lost, nothing refused goes out, and the
// counters say so.
func TestSingleProducerSendOverlapsClose(t *testing.T) {
	for round := range 10 {
		p := sinktest.ListenStream(t, "unix")
		s, err := lazy.New(lazy.Config{Name: t.Name(), Endpoint: p.Endpoint(), SingleProducer: true,
			BufferSize: 64, CloseTimeout: 10 * time.Second})
		if err != nil {
			t.Fatal(err)
		}
		var taken, closed atomic.Int64
		started := make(chan struct{})
		done := make(chan struct{})
		go func() {
			defer close(done)
			b := sourceBuilder(1, 64)
			for i := 0; ; i++ {
				if i == 100 {
					close(started)
				}
				m := b.next()
				err := s.Send(m)
				switch {
				case err == nil:
					taken.Add(1)
				case errors.Is(err, sink.ErrBufferFull):
					m.Release()
					runtime.Gosched()
				case errors.Is(err, sink.ErrClosed):
					m.Release()
					closed.Add(1)
					return
				default:
					m.Release()
					t.Errorf("Send: %v", err)
					return
				}
			}
		}()
		<-started
		for range round * 10 {
			runtime.Gosched()
		}
		if err := s.Close(); err != nil {
			t.Fatalf("round %d: Close with the peer up: %v", round, err)
		}
		<-done
		i := assertBalanced(t, s)
		if i.Enqueued != uint64(taken.Load()) || i.Written != i.Enqueued || i.Pending != 0 ||
			i.Refused.Closed != uint64(closed.Load()) {
			t.Fatalf("round %d: %d taken, %d refused as closed; %+v", round, taken.Load(), closed.Load(), i)
		}
		waitFor(t, "every written frame at the peer", func() bool { return received(p) >= int(taken.Load()) || p.Err() != nil })
		if got := checkOnce(t, p); got != int(taken.Load()) {
			t.Fatalf("round %d: the peer received %d frames, the sink took %d", round, got, taken.Load())
		}
		p.Stop()
	}
}
