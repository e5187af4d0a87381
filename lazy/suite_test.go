package lazy_test

import (
	"testing"
	"time"

	"github.com/msgsink/msgsink/lazy"
	"github.com/msgsink/msgsink/sink/sinktest"
	"github.com/msgsink/msgsink/tlv"
)

// The lazy sink over each transport passes the conformance suite, with
// the shared push and with SingleProducer, whose producers the suite
// serialises (the checked build would panic on an overlap).
func TestConformance(t *testing.T) {
	for _, single := range []bool{false, true} {
		for _, network := range []string{"unix", "tcp", "ws"} {
			name := "transport=" + network
			if single {
				name += "/producer=single"
			}
			t.Run(name, func(t *testing.T) { conformance(t, network, single) })
		}
	}
}

func conformance(t *testing.T, network string, single bool) {
	sinktest.Run(t, sinktest.Harness{SingleProducer: single, New: func(t *testing.T, o sinktest.Options) sinktest.Setup {
		var p *sinktest.StreamPeer
		if network == "ws" {
			p = sinktest.ListenWebSocket(t)
		} else {
			p = sinktest.ListenStream(t, network)
		}
		s := newSink(t, lazy.Config{Endpoint: p.Endpoint(), BufferSize: o.BufferSize,
			Validator:      tlv.Validator{Domain: o.Domain},
			CloseTimeout:   time.Second,
			Retry:          lazy.Retry{Initial: time.Millisecond, Max: 10 * time.Millisecond},
			SingleProducer: single})
		return sinktest.Setup{Sink: s, Groups: []sinktest.Group{{Peers: []sinktest.Peer{p}}}, Capacity: o.BufferSize}
	}})
}
