package sinktest_test

import (
	"fmt"
	"testing"
	"time"

	"github.com/msgsink/msgsink/lazy"
	"github.com/msgsink/msgsink/sink/sinktest"
	"github.com/msgsink/msgsink/tlv"
)

// A sink kind joins the suite with a harness that makes a fresh sink and its
// peer for each check, and registers their closing. This one is a lazy sink
// over a Unix socket; lazy's own tests run it, and a tcp variant. Run needs
// a *testing.T, so this example is compiled, not run.
func ExampleRun() {
	h := sinktest.Harness{New: func(t *testing.T, o sinktest.Options) sinktest.Setup {
		p := sinktest.ListenStream(t, "unix") // registered first: stopped last
		s, err := lazy.New(lazy.Config{Endpoint: p.Endpoint(), BufferSize: o.BufferSize,
			Validator: tlv.Validator{Domain: o.Domain},
			Retry:     lazy.Retry{Initial: time.Millisecond, Max: 10 * time.Millisecond}})
		if err != nil {
			t.Fatal(err)
		}
		t.Cleanup(func() { _ = s.Close() })
		return sinktest.Setup{Sink: s, Groups: []sinktest.Group{{Peers: []sinktest.Peer{p}}}, Capacity: o.BufferSize}
	}}
	_ = h // func TestConformance(t *testing.T) { sinktest.Run(t, h) }
}

// A peer for a transport of its own (a WebSocket server, say) hands what it
// receives on each connection to a Recorder, which cuts it into frames and
// notices any that is torn or malformed.
func ExampleRecorder() {
	b := tlv.NewBuilder(tlv.DomainMarketData, 7)
	var wire []byte
	for range 2 {
		b.AppendTrade(&tlv.Trade{Instrument: 42, Price: 1})
		m, _ := b.FinishAt(1)
		wire = append(wire, m.Bytes()...)
		m.Release()
	}

	var r sinktest.Recorder
	c := r.Conn()               // a connection accepted
	_, _ = c.Write(wire[:50])   // the bytes as they arrive, cut anywhere
	_, _ = c.Write(wire[50:])   //
	_, _ = c.Write(wire[:20])   // the start of one more frame, then
	c.End(true)                 // the sink closes the connection
	fmt.Println(r.Received())   // frames per connection
	fmt.Println(r.Err() != nil) // a torn frame
	// Output:
	// [[7/1 7/2]]
	// true
}
