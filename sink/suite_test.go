package sink_test

import (
	"testing"
	"time"

	"github.com/msgsink/msgsink/lazy"
	"github.com/msgsink/msgsink/sink"
	"github.com/msgsink/msgsink/sink/sinktest"
	"github.com/msgsink/msgsink/tlv"
)

// Every composite pattern, and one nested composite, over lazy sinks on real
// Unix sockets, passes the conformance suite. The composites do not own
// their targets: the harness closes them.
func TestConformance(t *testing.T) {
	for _, c := range []struct {
		name string
		new  func(t *testing.T, o sinktest.Options) sinktest.Setup
	}{
		{"kind=fanout/targets=2", func(t *testing.T, o sinktest.Options) sinktest.Setup {
			a, pa := suiteLeaf(t, o, "a")
			b, pb := suiteLeaf(t, o, "b")
			f, err := sink.NewFanout("fanout", a, b)
			return setup(t, f, err, []sinktest.Group{{Target: a, Peers: peers(pa)}, {Target: b, Peers: peers(pb)}},
				o.BufferSize, a, b)
		}},
		{"kind=round_robin/targets=2", func(t *testing.T, o sinktest.Options) sinktest.Setup {
			a, pa := suiteLeaf(t, o, "a")
			b, pb := suiteLeaf(t, o, "b")
			r, err := sink.NewRoundRobin("round_robin", a, b)
			return setup(t, r, err, []sinktest.Group{{Peers: peers(pa, pb)}}, 2*o.BufferSize, a, b)
		}},
		{"kind=failover/targets=2", func(t *testing.T, o sinktest.Options) sinktest.Setup {
			a, pa := suiteLeaf(t, o, "primary")
			b, pb := suiteLeaf(t, o, "backup")
			f, err := sink.NewFailover("failover", a, b)
			return setup(t, f, err, []sinktest.Group{{Peers: peers(pa, pb)}}, 2*o.BufferSize, a, b)
		}},
		{"kind=fanout/targets=failover+lazy", func(t *testing.T, o sinktest.Options) sinktest.Setup {
			a, pa := suiteLeaf(t, o, "primary")
			b, pb := suiteLeaf(t, o, "backup")
			c, pc := suiteLeaf(t, o, "archive")
			fo, err := sink.NewFailover("failover", a, b)
			if err != nil {
				t.Fatal(err)
			}
			f, err := sink.NewFanout("fanout", fo, c)
			// The failover holds up to both its rings before the fanout
			// finds no taker.
			return setup(t, f, err, []sinktest.Group{{Target: fo, Peers: peers(pa, pb)}, {Target: c, Peers: peers(pc)}},
				2*o.BufferSize, a, b, c)
		}},
	} {
		t.Run(c.name, func(t *testing.T) { sinktest.Run(t, sinktest.Harness{New: c.new}) })
	}
}

// suiteLeaf returns a lazy sink configured as the suite asks, and its peer.
// It retries every few milliseconds, forever, so that it delivers once a
// stopped peer is back.
func suiteLeaf(t *testing.T, o sinktest.Options, name string) (*lazy.Sink, *sinktest.StreamPeer) {
	t.Helper()
	p := sinktest.ListenStream(t, "unix")
	s, err := lazy.New(lazy.Config{Name: name, Endpoint: p.Endpoint(), BufferSize: o.BufferSize,
		Validator:    tlv.Validator{Domain: o.Domain},
		CloseTimeout: time.Second,
		Retry:        lazy.Retry{Initial: time.Millisecond, Max: 10 * time.Millisecond}})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = s.Close() })
	return s, p
}

func peers(ps ...*sinktest.StreamPeer) []sinktest.Peer {
	out := make([]sinktest.Peer, len(ps))
	for i, p := range ps {
		out[i] = p
	}
	return out
}

func setup(t *testing.T, s sink.Sink, err error, groups []sinktest.Group, capacity int, leaves ...sink.Sink) sinktest.Setup {
	t.Helper()
	if err != nil {
		t.Fatal(err)
	}
	return sinktest.Setup{Sink: s, Groups: groups, Leaves: leaves, Capacity: capacity}
}
