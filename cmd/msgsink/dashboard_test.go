package main

import (
	"bufio"
	"context"
	"encoding/json"
	"fmt"
	"io"
	"strings"
	"testing"
	"time"

	"github.com/gobwas/ws"
	"github.com/gobwas/ws/wsutil"

	"github.com/msgsink/msgsink/internal/testnet"
	"github.com/msgsink/msgsink/lazy"
	"github.com/msgsink/msgsink/relay"
	"github.com/msgsink/msgsink/sink"
	"github.com/msgsink/msgsink/tlv"
	"github.com/msgsink/msgsink/transport"
)

// msgsink dashboard -relay, as a process: it prints its URL, subscribes to
// a real relay, and the page's updates count the frames a producer sent
// through the relay; SIGTERM stops it cleanly.
func TestDashboardCommand(t *testing.T) {
	e, err := transport.ParseEndpoint("unix://" + testnet.SocketPath(t))
	if err != nil {
		t.Fatal(err)
	}
	r, err := relay.Listen(relay.Config{Endpoint: e, Domain: tlv.DomainMarketData})
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	served := make(chan error, 1)
	go func() { served <- r.Serve(ctx) }()
	defer func() { cancel(); <-served; _ = r.Close() }()

	p := start(t, "dashboard", "-listen", "127.0.0.1:0", "-relay", e.String())
	line, err := bufio.NewReader(p.stdout).ReadString('\n')
	if err != nil {
		t.Fatalf("reading the URL line: %v; stderr:\n%s", err, p.stderr)
	}
	go func() { _, _ = io.Copy(io.Discard, p.stdout) }()
	url, _, ok := strings.Cut(strings.TrimPrefix(line, "dashboard: http://"), "/ ")
	if !ok {
		t.Fatalf("first line %q: want the dashboard's URL", line)
	}

	conn, br, _, err := ws.Dial(context.Background(), "ws://"+url+"/live")
	if err != nil {
		t.Fatal(err)
	}
	defer conn.Close()
	rw := struct {
		io.Reader
		io.Writer
	}{conn, conn}
	if br != nil {
		rw.Reader = io.MultiReader(br, conn)
	}

	s, err := lazy.New(lazy.Config{Name: "md", Kind: sink.KindRelay, Endpoint: e})
	if err != nil {
		t.Fatal(err)
	}
	defer s.Close()
	b := tlv.NewBuilder(tlv.DomainMarketData, 2)
	// The dashboard subscribes as it starts: frames sent before its
	// Subscribe reached the relay go to no consumer, so send until it
	// has counted some.
	deadline := time.Now().Add(20 * time.Second)
	for {
		b.AppendTrade(&tlv.Trade{Instrument: 7, Price: 123_450_000_000, Volume: tlv.PriceScale, ExchangeTS: 1, Venue: 1})
		m, err := b.Finish()
		if err != nil {
			t.Fatal(err)
		}
		if s.Send(m) != nil {
			m.Release()
		}
		_ = conn.SetReadDeadline(time.Now().Add(5 * time.Second))
		msg, err := wsutil.ReadServerText(rw)
		if err != nil {
			t.Fatalf("reading /live: %v; stderr:\n%s", err, p.stderr)
		}
		var u struct {
			Frames    uint64 `json:"frames"`
			Producers []struct {
				Kind, Name string
				Conns      int
			} `json:"producers"`
			Board []struct {
				ID, Price string
			} `json:"board"`
		}
		if err := json.Unmarshal(msg, &u); err != nil {
			t.Fatal(err)
		}
		if u.Frames > 0 {
			intakes := map[string]string{}
			for _, p := range u.Producers {
				intakes[p.Kind] = fmt.Sprintf("%s %d", p.Name, p.Conns)
			}
			if len(intakes) != 2 || intakes["relay"] != e.String()+" 1" || intakes["ws"] != "/ws 0" ||
				len(u.Board) != 1 || u.Board[0].ID != "7" || u.Board[0].Price != "1234.50" {
				t.Errorf("update %s: want the relay's intake with one connection, /ws's with none, and instrument 7 at 1234.50", msg)
			}
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("no frame counted after 20 s; stderr:\n%s", p.stderr)
		}
	}
	p.stop(t)
}

func TestDashboardCommandBadRelay(t *testing.T) {
	if code, _, errOut := runCmd(t, "dashboard", "-listen", "127.0.0.1:0", "-relay", "nats://x"); code != 2 || errOut == "" {
		t.Errorf("-relay nats://x: exit %d, stderr %q; want 2 and the reason", code, errOut)
	}
	missing := "unix://" + testnet.SocketPath(t)
	if code, _, errOut := runCmd(t, "dashboard", "-listen", "127.0.0.1:0", "-relay", missing); code != 1 || !strings.Contains(errOut, "dial") {
		t.Errorf("-relay to no relay: exit %d, stderr %q; want 1 and the dial error", code, errOut)
	}
}
