package config

import (
	"bufio"
	"context"
	"encoding/pem"
	"io"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/gobwas/ws"

	"github.com/msgsink/msgsink/tlv"
)

// A wss:// service with tls_ca_file (relative to the file) or
// insecure_skip_verify dials a server whose certificate the system does not
// trust, and the frame arrives.
func TestTLSKeysDialWSS(t *testing.T) {
	got := make(chan []byte, 2)
	srv := httptest.NewUnstartedServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		conn, _, _, err := ws.UpgradeHTTP(r, w)
		if err != nil {
			return
		}
		defer conn.Close()
		br := bufio.NewReader(conn)
		h, err := ws.ReadHeader(br)
		if err != nil {
			return
		}
		p := make([]byte, h.Length)
		if _, err := io.ReadFull(br, p); err == nil {
			ws.Cipher(p, h.Mask, 0)
			got <- p
		}
	}))
	srv.StartTLS()
	defer srv.Close()
	dir := t.TempDir()
	ca := pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE", Bytes: srv.Certificate().Raw})
	if err := os.WriteFile(filepath.Join(dir, "ca.pem"), ca, 0o600); err != nil {
		t.Fatal(err)
	}
	// httptest's certificate is for example.com and 127.0.0.1.
	endpoint := "wss://" + strings.TrimPrefix(srv.URL, "https://") + "/feed"
	conf := filepath.Join(dir, "services.toml")
	if err := os.WriteFile(conf, []byte(`
[services.ca]
type = "direct"
endpoint = "`+endpoint+`"
tls_ca_file = "ca.pem"

[services.skip]
type = "direct"
endpoint = "`+endpoint+`"
insecure_skip_verify = true

[services.plain]
type = "direct"
endpoint = "`+endpoint+`"
`), 0o600); err != nil {
		t.Fatal(err)
	}
	f, err := Load(conf)
	if err != nil {
		t.Fatal(err)
	}
	if f.Services["plain"].Sink.Dialer != nil {
		t.Fatal("a wss service without TLS keys got a dialer of its own")
	}
	b := tlv.NewBuilder(tlv.DomainMarketData, 1)
	for _, name := range []string{"ca", "skip"} {
		svc := f.Services[name]
		if svc.Sink.Dialer == nil {
			t.Fatalf("%s: no dialer for the TLS keys", name)
		}
		ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
		c, err := svc.Sink.Dialer.DialContext(ctx, svc.Endpoint)
		cancel()
		if err != nil {
			t.Fatalf("%s: %v", name, err)
		}
		b.AppendTrade(&tlv.Trade{Instrument: 1, Price: tlv.PriceScale, Volume: tlv.PriceScale})
		m, _ := b.Finish()
		if n, err := c.WriteBatch([]*tlv.Message{m}, nil); n != 1 || err != nil {
			t.Fatalf("%s: WriteBatch = %d, %v", name, n, err)
		}
		if p := <-got; string(p) != string(m.Bytes()) {
			t.Fatalf("%s: the server read %x", name, p)
		}
		m.Release()
		c.Close()
	}
}
