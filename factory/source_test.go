package factory_test

import (
	"context"
	"errors"
	"testing"

	"github.com/msgsink/msgsink/factory"
	"github.com/msgsink/msgsink/relay"
	"github.com/msgsink/msgsink/sink"
	"github.com/msgsink/msgsink/tlv"
	"github.com/msgsink/msgsink/transport"
)

// Source reads the relay service that Sink sends to, by the same name:
// one Source per name, a typed error for anything but a relay service,
// and Close ends a Next blocked on it.
func TestSourceReadsWhatSinkSends(t *testing.T) {
	path, relaySock, _ := writeConfig(t)
	r, err := relay.Listen(relay.Config{Endpoint: transport.Endpoint{Scheme: "unix", Addr: relaySock}, Domain: tlv.DomainMarketData})
	if err != nil {
		t.Fatal(err)
	}
	served := make(chan error, 1)
	go func() { served <- r.Serve(context.Background()) }()
	defer func() {
		_ = r.Close()
		<-served
	}()
	f := newFromFile(t, path)

	src, err := f.Source("market_data_relay")
	if err != nil {
		t.Fatal(err)
	}
	if again, _ := f.Source("market_data_relay"); again != src {
		t.Fatal("a second Source call made a second Source")
	}
	if i := src.Info(); i.Name != "market_data_relay" || i.Endpoint != "unix://"+relaySock || i.State != sink.StateIdle {
		t.Fatalf("a new Source: %+v", i)
	}
	md, err := f.Sink("market_data_relay")
	if err != nil {
		t.Fatal(err)
	}
	got := make(chan error, 1)
	go func() {
		f, err := src.Next()
		if err == nil && f.Header().Domain() != tlv.DomainMarketData {
			err = errors.New("not a market-data frame")
		}
		got <- err
	}()
	waitFor(t, "the Source to subscribe", func() bool { return r.Stats().Consumers == 1 })
	if err := md.Send(trade(t)); err != nil {
		t.Fatal(err)
	}
	if err := <-got; err != nil {
		t.Fatal(err)
	}

	for name, want := range map[string]error{"archive": factory.ErrNotRelay, "broadcast_all": factory.ErrNotRelay,
		"nowhere": factory.ErrUnknownService} {
		_, err := f.Source(name)
		var se *sink.Error
		if !errors.Is(err, want) || !errors.As(err, &se) || se.Sink != name || se.Op != "source" {
			t.Errorf("Source(%q): %v, want a *sink.Error matching %v", name, err, want)
		}
	}

	go func() {
		_, err := src.Next() // nothing more comes: blocks until Close
		got <- err
	}()
	if err := f.Close(); err != nil {
		t.Fatal(err)
	}
	if err := <-got; !errors.Is(err, sink.ErrClosed) {
		t.Fatalf("Next blocked across the factory's Close: %v, want ErrClosed", err)
	}
	if _, err := f.Source("market_data_relay"); !errors.Is(err, sink.ErrClosed) {
		t.Fatalf("Source after Close: %v, want ErrClosed", err)
	}
}
