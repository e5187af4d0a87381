package bench

import (
	"fmt"
	"testing"
)

// The pipes BenchmarkE2E runs over Unix and TCP: the sink and the three
// baselines of SPEC section 11. msg=built, an adapter's figure, adds the
// sink with SingleProducer (one producer only) and runs the channel design
// with its allocation per message; msg=prebuilt, the pipe-only figure, is
// the first set of these benchmarks, unchanged.
var (
	e2eBuilt    = []impl{implSinkSingle, implSink, implBufio, implChanAlloc, implWritePerMsg}
	e2ePrebuilt = []impl{implSink, implBufio, implChan, implWritePerMsg}
)

// BenchmarkE2E measures msgs/s from the producers to a reader on a real
// socket, for the sink and for the baselines in the same run (over
// WebSocket, the sink alone, to a gobwas/ws server). With msg=built every
// producer builds each message with its own tlv.Builder, a different message
// each time, and the pipe recycles it after the write; with msg=prebuilt
// each producer hands over one pre-built message again and again, which
// measures the pipe alone. Compare with
//
//	benchstat -filter '.name:E2E /msg:built' -col /impl
func BenchmarkE2E(b *testing.B) {
	for _, msg := range []struct {
		name  string
		built bool
		sizes []int
		impls []impl
	}{
		// One size keeps make bench within its time: 64 bytes is the size
		// of SPEC section 11 and of the targets.
		{"built", true, []int{64}, e2eBuilt},
		{"prebuilt", false, []int{64, 200, 1024}, e2ePrebuilt},
	} {
		for _, network := range []string{"unix", "tcp", "ws"} {
			for _, size := range msg.sizes {
				for _, producers := range []int{1, 4} {
					for _, im := range msg.impls {
						if network == "ws" && im.name != implSink.name && im.name != implSinkSingle.name {
							continue // the baselines would need a WebSocket client of their own
						}
						if im.name == implSinkSingle.name && producers > 1 {
							continue // SingleProducer is for one producer
						}
						name := fmt.Sprintf("msg=%s/transport=%s/size=%d/producers=%d/impl=%s", msg.name, network, size, producers, im.name)
						b.Run(name, func(b *testing.B) {
							benchThroughput(b, im, network, size, producers, msg.built)
						})
					}
				}
			}
		}
	}
}
