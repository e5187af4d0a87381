//go:build !race

package lazy_test

import (
	"context"
	"errors"
	"testing"

	"github.com/msgsink/msgsink/lazy"
	"github.com/msgsink/msgsink/sink"
	"github.com/msgsink/msgsink/tlv"
)

// Refusing a bad call costs no allocation either: Send, SendWait and
// SendBatch of a nil message, and an empty SendBatch, on a sink that stays
// idle throughout.
func TestAllocsBadCalls(t *testing.T) {
	ep, _ := drainPeer(t, "unix")
	s := newSink(t, lazy.Config{Endpoint: ep})
	ctx := context.Background()
	batch := []*tlv.Message{nil}
	for name, call := range map[string]func() error{
		"Send":      func() error { return s.Send(nil) },
		"SendWait":  func() error { return s.SendWait(ctx, nil) },
		"SendBatch": func() error { _, err := s.SendBatch(batch); return err },
	} {
		if n := testing.AllocsPerRun(1000, func() {
			if err := call(); !errors.Is(err, sink.ErrMalformed) {
				t.Fatalf("%s(nil): %v", name, err)
			}
		}); n != 0 {
			t.Errorf("%s(nil): %v allocs/op, want 0", name, n)
		}
	}
	if n := testing.AllocsPerRun(1000, func() { _, _ = s.SendBatch(nil) }); n != 0 {
		t.Errorf("SendBatch(nil): %v allocs/op, want 0", n)
	}
	if st := s.Info().State; st != sink.StateIdle {
		t.Fatalf("state %v after bad calls only, want idle", st)
	}
}
