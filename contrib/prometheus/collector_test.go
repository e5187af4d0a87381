package sinkprom_test

import (
	"context"
	"io"
	"net"
	"net/http"
	"net/http/httptest"
	"path/filepath"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/promhttp"
	"go.uber.org/goleak"

	sinkprom "github.com/msgsink/msgsink/contrib/prometheus"
	"github.com/msgsink/msgsink/lazy"
	"github.com/msgsink/msgsink/relay"
	"github.com/msgsink/msgsink/sink"
	"github.com/msgsink/msgsink/tlv"
	"github.com/msgsink/msgsink/transport"
)

func TestMain(m *testing.M) { goleak.VerifyTestMain(m) }

// A real sink sends to a real Unix socket; a real HTTP scrape of the
// registry shows its counters.
func TestScrape(t *testing.T) {
	path := filepath.Join(t.TempDir(), "md.sock")
	ln, err := net.Listen("unix", path)
	if err != nil {
		t.Fatal(err)
	}
	defer ln.Close()
	go func() {
		c, err := ln.Accept()
		if err == nil {
			_, _ = io.Copy(io.Discard, c)
			c.Close()
		}
	}()
	ep, err := transport.ParseEndpoint("unix://" + path)
	if err != nil {
		t.Fatal(err)
	}
	s, err := lazy.New(lazy.Config{Name: "md", Kind: "relay", Endpoint: ep, BufferSize: 4,
		Validator: tlv.Validator{Domain: tlv.DomainMarketData}})
	if err != nil {
		t.Fatal(err)
	}
	defer s.Close()
	b := tlv.NewBuilder(tlv.DomainMarketData, 1)
	for range 10 {
		b.AppendTrade(&tlv.Trade{Instrument: 1, Price: tlv.PriceScale, Volume: tlv.PriceScale})
		m, _ := b.Finish()
		for s.Send(m) != nil {
			time.Sleep(time.Millisecond)
		}
	}
	sys := tlv.NewBuilder(tlv.DomainSystem, 1)
	sys.AppendHeartbeat(&tlv.Heartbeat{})
	wrong, _ := sys.Finish()
	if err := s.Send(wrong); err == nil {
		t.Fatal("a system message was accepted by a market-data sink")
	}
	wrong.Release()
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	if err := s.Flush(ctx); err != nil {
		t.Fatal(err)
	}

	reg := prometheus.NewPedanticRegistry()
	reg.MustRegister(sinkprom.NewCollector(func() []sink.Info { return []sink.Info{s.Info()} }))
	srv := httptest.NewServer(promhttp.HandlerFor(reg, promhttp.HandlerOpts{}))
	defer srv.Close()
	resp, err := http.Get(srv.URL)
	if err != nil {
		t.Fatal(err)
	}
	body, err := io.ReadAll(resp.Body)
	resp.Body.Close()
	if err != nil {
		t.Fatal(err)
	}
	in := s.Info()
	for _, want := range []string{
		`msgsink_sink_enqueued_total{kind="relay",sink="md"} 10`,
		`msgsink_sink_written_total{kind="relay",sink="md"} 10`,
		`msgsink_sink_pending{kind="relay",sink="md"} 0`,
		`msgsink_sink_refused_total{kind="relay",reason="domain",sink="md"} 1`,
		`msgsink_sink_refused_total{kind="relay",reason="buffer_full",sink="md"} ` + strconv.FormatUint(in.Refused.BufferFull, 10),
		`msgsink_sink_dropped_total{kind="relay",reason="stale",sink="md"} 0`,
		`msgsink_sink_connect_attempts_total{kind="relay",sink="md"} 1`,
		`msgsink_sink_buffer_size{kind="relay",sink="md"} 4`,
		`msgsink_sink_state{kind="relay",sink="md",state="connected"} 1`,
		`msgsink_sink_state{kind="relay",sink="md",state="idle"} 0`,
		`# TYPE msgsink_sink_written_total counter`,
		`# TYPE msgsink_sink_pending gauge`,
	} {
		if !strings.Contains(string(body), want+"\n") {
			t.Errorf("scrape lacks %s", want)
		}
	}
	if t.Failed() {
		t.Logf("scrape:\n%s", body)
	}
}

// An acked sink through a real relay: the scrape shows what the relay
// acknowledged.
func TestScrapeAcked(t *testing.T) {
	ep, err := transport.ParseEndpoint("unix://" + filepath.Join(t.TempDir(), "r.sock"))
	if err != nil {
		t.Fatal(err)
	}
	r, err := relay.Listen(relay.Config{Endpoint: ep, Domain: tlv.DomainMarketData})
	if err != nil {
		t.Fatal(err)
	}
	served := make(chan error, 1)
	go func() { served <- r.Serve(context.Background()) }()
	defer func() {
		_ = r.Close()
		<-served
	}()
	s, err := lazy.New(lazy.Config{Name: "orders", Kind: "relay", Endpoint: ep, Delivery: lazy.DeliveryAcked})
	if err != nil {
		t.Fatal(err)
	}
	defer s.Close()
	b := tlv.NewBuilder(tlv.DomainMarketData, 1)
	for range 10 {
		b.AppendTrade(&tlv.Trade{Instrument: 1, Price: tlv.PriceScale, Volume: tlv.PriceScale})
		m, _ := b.Finish()
		if err := s.Send(m); err != nil {
			t.Fatal(err)
		}
	}
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	if err := s.Flush(ctx); err != nil { // returns once the relay acknowledged all 10
		t.Fatal(err)
	}
	reg := prometheus.NewPedanticRegistry()
	reg.MustRegister(sinkprom.NewCollector(func() []sink.Info { return []sink.Info{s.Info()} }))
	mfs, err := reg.Gather()
	if err != nil {
		t.Fatal(err)
	}
	got := map[string]float64{}
	for _, mf := range mfs {
		for _, m := range mf.GetMetric() {
			if m.GetCounter() != nil {
				got[mf.GetName()] = m.GetCounter().GetValue()
			} else if m.GetGauge() != nil && len(m.GetLabel()) == 2 {
				got[mf.GetName()] = m.GetGauge().GetValue()
			}
		}
	}
	for name, want := range map[string]float64{
		"msgsink_sink_acked_total": 10, "msgsink_sink_unacked": 0, "msgsink_sink_resent_total": 0,
		"msgsink_sink_enqueued_total": 10, "msgsink_sink_written_total": 10,
	} {
		if v, ok := got[name]; !ok || v != want {
			t.Errorf("%s = %v (present %v), want %v", name, v, ok, want)
		}
	}
}
