package bench

import (
	"fmt"
	"strings"
	"testing"

	"github.com/msgsink/msgsink/tlv"
)

// TestComparatorsDeliverEverything runs every pipe the benchmarks measure,
// the sink (shared and SingleProducer) included, over Unix and TCP (and the sink over WebSocket) with
// one and four producers, and
// checks at the reader that each message arrived whole, valid, in order per
// producer and exactly once: a comparator that loses, tears or duplicates
// messages would otherwise just look fast.
func TestComparatorsDeliverEverything(t *testing.T) {
	const n = 10000 // more than the ring holds, so that it wraps
	all, small := []int{64, 1024}, []int{64}
	for _, c := range []struct {
		label string // the impl's name, or which of two designs of that name
		im    impl
		sizes []int // those the benchmarks run it with, at most
	}{
		{"sink", implSink, all}, {"sink-single", implSinkSingle, small}, {"direct", implDirect, all}, {"raw", implRaw, all},
		{"raw+check", implRawCheck, all}, {"raw+shared", implRawShared, all}, {"raw+transport", implRawTransport, all},
		{"bufio", implBufio, all}, {"bufio-flush", implBufioFlush, small}, {"chan", implChan, all},
		{"chan-alloc", implChanAlloc, small}, {"write-per-msg", implWritePerMsg, all},
	} {
		im := c.im
		for _, network := range []string{"unix", "tcp", "ws"} {
			for _, size := range c.sizes {
				for _, producers := range []int{1, 4} {
					if (im.name == implSinkSingle.name || strings.HasPrefix(im.name, implRaw.name) && im.name != implRawShared.name) && producers > 1 {
						continue // written for one producer
					}
					if network == "ws" && im.name != implSink.name && im.name != implSinkSingle.name {
						continue // as in BenchmarkE2E: the sink alone speaks WebSocket
					}
					name := fmt.Sprintf("impl=%s/transport=%s/size=%d/producers=%d", c.label, network, size, producers)
					t.Run(name, func(t *testing.T) {
						srv := listen(t, network)
						r := newReceiver(t, srv, size, n, nil, true)
						p, err := im.open(setup{ep: srv.ep, producers: producers})
						if err != nil {
							t.Fatal(err)
						}
						// Built as BenchmarkE2E's msg=built builds: warmed
						// (a little, to keep the test fast), then numbered
						// from 1 again.
						builders := make([]*frameBuilder, producers)
						for i := range builders {
							builders[i] = newFrameBuilder(size, uint8(i+1))
							builders[i].warm(64)
						}
						err = transfer(p, r, n, producers, func(i int) *tlv.Message { return builders[i].next() })
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
