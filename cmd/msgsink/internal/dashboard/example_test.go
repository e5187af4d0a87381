package dashboard_test

import (
	"context"
	"fmt"
	"net/http/httptest"
	"strings"
	"time"

	"github.com/msgsink/msgsink/cmd/msgsink/internal/dashboard"
	"github.com/msgsink/msgsink/lazy"
	"github.com/msgsink/msgsink/sink"
	"github.com/msgsink/msgsink/tlv"
	"github.com/msgsink/msgsink/transport"
)

// A dashboard behind an HTTP server, fed by a direct WebSocket sink at its
// /ws, as [services.dashboard] in services.toml makes one. A browser would
// open the server's URL.
func Example() {
	d, err := dashboard.New(dashboard.Config{})
	if err != nil {
		panic(err)
	}
	srv := httptest.NewServer(d)
	defer srv.Close()
	defer d.Close()

	e, _ := transport.ParseEndpoint("ws://" + strings.TrimPrefix(srv.URL, "http://") + "/ws")
	s, err := lazy.New(lazy.Config{Name: "dashboard", Kind: sink.KindDirect, Endpoint: e})
	if err != nil {
		panic(err)
	}
	defer s.Close()
	b := tlv.NewBuilder(tlv.DomainMarketData, 1)
	b.AppendTrade(&tlv.Trade{Instrument: 42, Price: 6_512_345_000_000, Volume: 25_000_000, ExchangeTS: 1})
	m, err := b.Finish()
	if err != nil {
		panic(err)
	}
	if err := s.SendWait(context.Background(), m); err != nil {
		panic(err)
	}
	for d.Frames() == 0 {
		time.Sleep(time.Millisecond)
	}
	fmt.Println("frames:", d.Frames())
	// Output: frames: 1
}
