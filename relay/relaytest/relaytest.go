// Package relaytest runs a domain relay inside a test's process, as
// net/http/httptest runs an HTTP server: for the tests and benchmarks of
// producers and consumers, here and in services that embed msgsink.
package relaytest

import (
	"context"
	"errors"
	"testing"
	"time"

	"github.com/msgsink/msgsink/internal/testnet"
	"github.com/msgsink/msgsink/relay"
	"github.com/msgsink/msgsink/source"
	"github.com/msgsink/msgsink/tlv"
	"github.com/msgsink/msgsink/transport"
)

// Serve starts a relay with cfg and stops it when the test ends, reporting
// an error from Close or Serve. An empty cfg.Endpoint is a fresh Unix
// socket, short enough for any temporary directory; a zero cfg.Domain is
// tlv.DomainMarketData.
func Serve(tb testing.TB, cfg relay.Config) *relay.Relay {
	tb.Helper()
	if cfg.Endpoint == (transport.Endpoint{}) {
		cfg.Endpoint = transport.Endpoint{Scheme: "unix", Addr: testnet.SocketPath(tb)}
	}
	if cfg.Domain == 0 {
		cfg.Domain = tlv.DomainMarketData
	}
	r, err := relay.Listen(cfg)
	if err != nil {
		tb.Fatal(err)
	}
	served := make(chan error, 1)
	go func() { served <- r.Serve(context.Background()) }()
	tb.Cleanup(func() {
		if err := r.Close(); err != nil {
			tb.Error(err)
		}
		if err := <-served; err != nil {
			tb.Errorf("relay Serve: %v", err)
		}
	})
	return r
}

// Endpoint returns the endpoint r listens on (the port it chose for a
// tcp:// port 0), for the sinks and sources of a test.
func Endpoint(r *relay.Relay) transport.Endpoint {
	a := r.Addr()
	return transport.Endpoint{Scheme: a.Network(), Addr: a.String()}
}

// Drain subscribes a consumer to r that reads and drops every frame, and
// returns once r counts it, so that what is sent afterwards is forwarded to
// it. It stops before the relay does, when the test ends.
func Drain(tb testing.TB, r *relay.Relay) {
	tb.Helper()
	before := r.Stats().Consumers
	src, err := source.New(source.Config{Name: "relaytest drain", Endpoint: Endpoint(r)})
	if err != nil {
		tb.Fatal(err)
	}
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	if err := src.Connect(ctx); err != nil {
		tb.Fatal(err)
	}
	read := make(chan struct{})
	go func() {
		defer close(read)
		for {
			if _, err := src.Next(); err != nil && !errors.Is(err, source.ErrLagged) {
				return // Close: the test is over
			}
		}
	}()
	tb.Cleanup(func() {
		_ = src.Close()
		<-read
	})
	for r.Stats().Consumers <= before {
		if ctx.Err() != nil {
			tb.Fatal("relaytest: the relay did not count the consumer within 30s")
		}
		time.Sleep(time.Millisecond)
	}
}
