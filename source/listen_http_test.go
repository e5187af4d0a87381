package source_test

import (
	"errors"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"
	"time"

	"github.com/msgsink/msgsink/lazy"
	"github.com/msgsink/msgsink/sink"
	"github.com/msgsink/msgsink/source"
	"github.com/msgsink/msgsink/tlv"
	"github.com/msgsink/msgsink/transport"
)

// An HTTPOnly Listener binds nothing: the application's HTTP server hands it
// WebSocket producers through ServeHTTP, beside its own pages on the same
// port. A lazy ws sink's frames come out of Next whole and in order; other
// paths get 404 and a plain GET the handshake's refusal, counted.
func TestListenHTTPOnly(t *testing.T) {
	noLeaks(t)
	l, err := source.Listen(source.ListenConfig{Name: "http",
		Endpoint: transport.Endpoint{Scheme: "ws", Path: "/ws"}, HTTPOnly: true})
	if err != nil {
		t.Fatal(err)
	}
	defer l.Close()
	if l.Addr() != nil {
		t.Fatalf("an HTTPOnly Listener bound %v", l.Addr())
	}
	mux := http.NewServeMux()
	mux.Handle("/ws", l)
	mux.HandleFunc("/", func(w http.ResponseWriter, _ *http.Request) { _, _ = w.Write([]byte("page")) })
	srv := httptest.NewServer(mux)
	defer srv.Close()

	for path, want := range map[string]int{"/": http.StatusOK, "/ws": http.StatusBadRequest} {
		resp, err := http.Get(srv.URL + path)
		if err != nil {
			t.Fatal(err)
		}
		_ = resp.Body.Close()
		if resp.StatusCode != want {
			t.Errorf("GET %s: %d, want %d", path, resp.StatusCode, want)
		}
	}
	rec := httptest.NewRecorder()
	l.ServeHTTP(rec, httptest.NewRequest("GET", "/other", nil))
	if rec.Code != http.StatusNotFound {
		t.Errorf("ServeHTTP of another path: %d, want 404", rec.Code)
	}

	e, err := transport.ParseEndpoint("ws://" + strings.TrimPrefix(srv.URL, "http://") + "/ws")
	if err != nil {
		t.Fatal(err)
	}
	s, err := lazy.New(lazy.Config{Name: "direct", Kind: sink.KindDirect, Endpoint: e, CloseTimeout: time.Second})
	if err != nil {
		t.Fatal(err)
	}
	defer s.Close()
	b := tlv.NewBuilder(tlv.DomainMarketData, 9)
	const n = 2000
	go func() {
		for range n {
			if err := s.SendWait(t.Context(), message(t, b, 64)); err != nil {
				return
			}
		}
	}()
	for want := uint64(1); want <= n; want++ {
		f := nextFrame(t, l)
		checkListened(t, f)
		if got := f.Header().Sequence(); got != want {
			t.Fatalf("sequence %d, want %d", got, want)
		}
	}
	i := l.Info()
	if i.Frames != n || i.Producers != 1 || i.Rejected.Handshake != 1 || i.Gaps != 0 {
		t.Fatalf("info %+v", i)
	}
	if err := s.Close(); err != nil {
		t.Fatal(err)
	}
	if err := l.Close(); err != nil {
		t.Fatal(err)
	}
	if _, err := l.Next(); !errors.Is(err, sink.ErrClosed) {
		t.Fatalf("Next after Close: %v", err)
	}
}

// HTTPOnly takes WebSocket producers only.
func TestListenHTTPOnlyNeedsWS(t *testing.T) {
	_, err := source.Listen(source.ListenConfig{Endpoint: transport.Endpoint{Scheme: "tcp", Addr: "127.0.0.1:0"}, HTTPOnly: true})
	if !errors.Is(err, sink.ErrInvalidConfig) || !strings.Contains(err.Error(), "HTTPOnly") {
		t.Fatalf("HTTPOnly on tcp: %v, want ErrInvalidConfig naming HTTPOnly", err)
	}
}
