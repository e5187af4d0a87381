package bench

import (
	"fmt"
	"testing"
)

// e2eImpls are the pipes BenchmarkE2E runs over Unix and TCP: the sink and
// the three baselines of SPEC section 11.
var e2eImpls = []impl{implSink, implBufio, implChan, implWritePerMsg}

// BenchmarkE2E measures msgs/s from the producers to a reader on a real
// socket, for the sink and for the baselines in the same run (over
// WebSocket, the sink alone, to a gobwas/ws server). Compare with
//
//	benchstat -filter '.name:E2E' -col /impl
func BenchmarkE2E(b *testing.B) {
	for _, network := range []string{"unix", "tcp", "ws"} {
		for _, size := range []int{64, 200, 1024} {
			for _, producers := range []int{1, 4} {
				for _, im := range e2eImpls {
					if network == "ws" && im.name != implSink.name {
						continue // the baselines would need a WebSocket client of their own
					}
					name := fmt.Sprintf("transport=%s/size=%d/producers=%d/impl=%s", network, size, producers, im.name)
					b.Run(name, func(b *testing.B) {
						benchThroughput(b, im, network, size, producers)
					})
				}
			}
		}
	}
}
