//go:build !race

package sink_test

import (
	"context"
	"errors"
	"testing"

	"github.com/msgsink/msgsink/sink"
	"github.com/msgsink/msgsink/tlv"
)

// Every composite refuses a nil message, from Send, SendWait and
// SendBatch, without allocating.
func TestAllocsCompositeBadCalls(t *testing.T) {
	ts := drainTargets(t, 2)
	fan, _ := sink.NewFanout("fan", ts...)
	rr, _ := sink.NewRoundRobin("rr", ts...)
	fo, _ := sink.NewFailover("fo", ts...)
	ctx := context.Background()
	batch := []*tlv.Message{nil}
	for _, s := range []sink.Sink{fan, rr, fo} {
		for name, call := range map[string]func() error{
			"Send":      func() error { return s.Send(nil) },
			"SendWait":  func() error { return s.SendWait(ctx, nil) },
			"SendBatch": func() error { _, err := s.SendBatch(batch); return err },
		} {
			if n := testing.AllocsPerRun(1000, func() {
				if err := call(); !errors.Is(err, sink.ErrMalformed) {
					t.Fatalf("%s %s(nil): %v", s.Info().Kind, name, err)
				}
			}); n != 0 {
				t.Errorf("%s %s(nil): %v allocs/op, want 0", s.Info().Kind, name, n)
			}
		}
	}
}
