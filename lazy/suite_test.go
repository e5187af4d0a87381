package lazy_test

import (
	"testing"
	"time"

	"github.com/msgsink/msgsink/lazy"
	"github.com/msgsink/msgsink/sink/sinktest"
	"github.com/msgsink/msgsink/tlv"
)

// The lazy sink over each transport passes the conformance suite.
func TestConformance(t *testing.T) {
	for _, network := range []string{"unix", "tcp", "ws"} {
		t.Run("transport="+network, func(t *testing.T) {
			sinktest.Run(t, sinktest.Harness{New: func(t *testing.T, o sinktest.Options) sinktest.Setup {
				var p *sinktest.StreamPeer
				if network == "ws" {
					p = sinktest.ListenWebSocket(t)
				} else {
					p = sinktest.ListenStream(t, network)
				}
				s := newSink(t, lazy.Config{Endpoint: p.Endpoint(), BufferSize: o.BufferSize,
					Validator:    tlv.Validator{Domain: o.Domain},
					CloseTimeout: time.Second,
					Retry:        lazy.Retry{Initial: time.Millisecond, Max: 10 * time.Millisecond}})
				return sinktest.Setup{Sink: s, Groups: []sinktest.Group{{Peers: []sinktest.Peer{p}}}, Capacity: o.BufferSize}
			}})
		})
	}
}
