package bench

import (
	"fmt"
	"strings"
	"testing"

	"github.com/msgsink/msgsink/tlv"
)

// TestComparatorsDeliverEverything runs every pipe the benchmarks measure,
// the sink included, over Unix and TCP (and the sink over WebSocket) with
// one and four producers, and
// checks at the reader that each message arrived whole, valid, in order per
// producer and exactly once: a comparator that loses, tears or duplicates
// messages would otherwise just look fast.
func TestComparatorsDeliverEverything(t *testing.T) {
	const n = 10000 // more than the ring holds, so that it wraps
	for _, im := range []impl{implSink, implDirect, implRaw, implRawCheck, implRawShared, implRawTransport,
		implBufio, implChan, implWritePerMsg} {
		for _, network := range []string{"unix", "tcp", "ws"} {
			for _, size := range []int{64, 1024} {
				for _, producers := range []int{1, 4} {
					if strings.HasPrefix(im.name, implRaw.name) && im.name != implRawShared.name && producers > 1 {
						continue // written for one producer
					}
					if network == "ws" && im.name != implSink.name {
						continue // as in BenchmarkE2E: the sink alone speaks WebSocket
					}
					name := fmt.Sprintf("impl=%s/transport=%s/size=%d/producers=%d", im.name, network, size, producers)
					t.Run(name, func(t *testing.T) {
						srv := listen(t, network)
						r := newReceiver(t, srv, size, n, nil, true)
						p, err := im.open(setup{ep: srv.ep, producers: producers})
						if err != nil {
							t.Fatal(err)
						}
						builders := make([]*frameBuilder, producers)
						for i := range builders {
							builders[i] = newFrameBuilder(size, uint8(i+1))
						}
						err = transfer(p, r, n, producers, func(i int) *tlv.Message { return builders[i].build(stamp()) })
						if cerr := p.close(); err == nil {
							err = cerr
						}
						if err != nil {
							t.Fatal(err)
						}
					})
				}
			}
		}
	}
}
