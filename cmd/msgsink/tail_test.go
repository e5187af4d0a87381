package main

import (
	"context"
	"errors"
	"io"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/msgsink/msgsink/internal/testnet"
	"github.com/msgsink/msgsink/lazy"
	"github.com/msgsink/msgsink/relay"
	"github.com/msgsink/msgsink/sink"
	"github.com/msgsink/msgsink/tlv"
	"github.com/msgsink/msgsink/transport"
)

func TestTailRefusesNonPositiveConnectTimeout(t *testing.T) {
	for _, d := range []string{"0", "-1s"} {
		var stderr testnet.Buffer
		if code := runTail(context.Background(), []string{"-connect-timeout", d}, io.Discard, &stderr); code != 2 ||
			!strings.Contains(stderr.String(), "-connect-timeout") {
			t.Errorf("-connect-timeout %s: exit %d, stderr %q", d, code, stderr.String())
		}
	}
}

// slowWriter is a terminal that cannot keep up.
type slowWriter struct{}

func (slowWriter) Write(p []byte) (int, error) {
	time.Sleep(time.Millisecond)
	return len(p), nil
}

// A tail that cannot keep up is dropped by the relay, says "dropped for
// lagging", and subscribes again.
func TestTailSaysDroppedForLagging(t *testing.T) {
	e := transport.Endpoint{Scheme: "unix", Addr: testnet.SocketPath(t)}
	r, err := relay.Listen(relay.Config{Endpoint: e, Domain: tlv.DomainMarketData, MaxLag: 20 * time.Millisecond, ConsumerQueue: 1 << 10})
	if err != nil {
		t.Fatal(err)
	}
	served := make(chan error, 1)
	go func() { served <- r.Serve(context.Background()) }()
	defer func() {
		_ = r.Close()
		<-served
	}()

	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	var stderr testnet.Buffer
	code := make(chan int, 1)
	go func() { code <- runTail(ctx, []string{"-endpoint", e.String()}, slowWriter{}, &stderr) }()
	for r.Stats().Consumers == 0 {
		time.Sleep(time.Millisecond)
	}

	s, err := lazy.New(lazy.Config{Name: "flood", Endpoint: e, SingleProducer: true})
	if err != nil {
		t.Fatal(err)
	}
	defer s.Close()
	var stop atomic.Bool
	flooded := make(chan struct{})
	go func() {
		defer close(flooded)
		b := tlv.NewBuilder(tlv.DomainMarketData, 1)
		for !stop.Load() {
			b.AppendTrade(&tlv.Trade{Instrument: 1, Price: tlv.PriceScale, Volume: tlv.PriceScale, ExchangeTS: 1})
			m, err := b.Finish()
			if err != nil {
				panic(err)
			}
			if err := s.Send(m); err != nil {
				m.Release()
				if !errors.Is(err, sink.ErrBufferFull) {
					panic(err)
				}
				time.Sleep(50 * time.Microsecond)
			}
		}
	}()
	deadline := time.Now().Add(30 * time.Second)
	for !strings.Contains(stderr.String(), "dropped for lagging") {
		if time.Now().After(deadline) {
			t.Fatalf("no \"dropped for lagging\" after 30s; relay %v; stderr %q", r.Stats(), stderr.String())
		}
		time.Sleep(5 * time.Millisecond)
	}
	stop.Store(true)
	<-flooded
	cancel()
	if c := <-code; c != 0 {
		t.Fatalf("tail exited %d after the interrupt; stderr %q", c, stderr.String())
	}
	if strings.Contains(stderr.String(), "went away") {
		t.Fatalf("tail said the relay went away: %q", stderr.String())
	}
}
