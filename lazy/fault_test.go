package lazy_test

import (
	"context"
	"crypto/rand"
	"crypto/tls"
	"errors"
	"io"
	"log"
	"net"
	"net/http"
	"net/http/httptest"
	"path/filepath"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/msgsink/msgsink/lazy"
	"github.com/msgsink/msgsink/sink"
	"github.com/msgsink/msgsink/sink/sinktest"
	"github.com/msgsink/msgsink/tlv"
	"github.com/msgsink/msgsink/transport"
)

// serveOne accepts one connection on a Unix socket and hands it to handle;
// it returns the endpoint and a wait for handle to end.
func serveOne(t *testing.T, handle func(c *net.UnixConn)) (transport.Endpoint, func()) {
	t.Helper()
	path := filepath.Join(t.TempDir(), "s.sock")
	ln, err := net.ListenUnix("unix", &net.UnixAddr{Name: path, Net: "unix"})
	if err != nil {
		t.Fatal(err)
	}
	var wg sync.WaitGroup
	wg.Go(func() {
		defer ln.Close()
		c, err := ln.AcceptUnix()
		if err != nil {
			t.Error(err)
			return
		}
		defer c.Close()
		handle(c)
	})
	return mustEndpoint(t, "unix://"+path), wg.Wait
}

// record reads c, bufSize bytes at most at a time, into cr until the sink
// closes the connection or sends something that is not a whole frame.
func record(c net.Conn, cr *sinktest.ConnRecorder, bufSize int) {
	buf := make([]byte, bufSize)
	for {
		k, err := c.Read(buf)
		if _, werr := cr.Write(buf[:k]); werr != nil {
			return
		}
		if err != nil {
			cr.End(true)
			return
		}
	}
}

// sendMixed sends n numbered messages of sizes from 40 bytes to 5 KB,
// retrying each until the sink takes it, and flushes.
func sendMixed(t *testing.T, s *lazy.Sink, n int) {
	t.Helper()
	b := tlv.NewBuilder(tlv.DomainMarketData, 1)
	b.Checksum = true
	sizes := []int{40, 5000, 200, 1500, 64}
	body := make([]byte, 5000)
	for i := range n {
		b.Append(5, body[:sizes[i%len(sizes)]])
		m, err := b.Finish()
		if err != nil {
			t.Fatal(err)
		}
		for s.Send(m) != nil {
			time.Sleep(50 * time.Microsecond)
		}
	}
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	if err := s.Flush(ctx); err != nil {
		t.Fatal(err)
	}
}

// Socket buffers as small as the kernel allows and a peer that reads a few
// bytes at a time force short writes in the middle of frames and of
// coalesced runs: every frame still arrives whole, once, in order.
func TestFaultShortWrites(t *testing.T) {
	const n = 3000
	var rec sinktest.Recorder
	ep, wait := serveOne(t, func(c *net.UnixConn) {
		_ = c.SetReadBuffer(1) // rounded up to the kernel's minimum
		record(c, rec.Conn(), 97)
	})
	s := newSink(t, lazy.Config{Endpoint: ep, BufferSize: 256, Dialer: dialFunc(func(ctx context.Context, e transport.Endpoint) (transport.Conn, error) {
		var d net.Dialer
		nc, err := d.DialContext(ctx, "unix", e.Addr)
		if err != nil {
			return nil, err
		}
		_ = nc.(*net.UnixConn).SetWriteBuffer(1)
		return transport.NewStreamConn(nc)
	})})
	sendMixed(t, s, n)
	if err := s.Close(); err != nil {
		t.Fatal(err)
	}
	wait()
	if err := rec.Err(); err != nil {
		t.Fatal(err)
	}
	got := rec.Received()
	if len(got) != 1 || len(got[0]) != n || got[0][n-1].Seq != n {
		t.Fatalf("received %d connections, %v frames; want one with %d", len(got), len(got[0]), n)
	}
	if in := assertBalanced(t, s); in.Written != n || in.Reconnects != 0 {
		t.Fatalf("%v", in)
	}
}

// A peer that sends garbage back on the sink's write-only connection: the
// sink discards it and keeps writing on the same connection.
func TestFaultPeerSendsGarbage(t *testing.T) {
	const n = 3000
	var rec sinktest.Recorder
	ep, wait := serveOne(t, func(c *net.UnixConn) {
		var wg sync.WaitGroup
		defer wg.Wait()
		wg.Go(func() {
			junk := make([]byte, 4096)
			for range 256 { // 1 MiB
				_, _ = rand.Read(junk)
				if _, err := c.Write(junk); err != nil {
					return
				}
			}
		})
		record(c, rec.Conn(), 64<<10)
	})
	s := newSink(t, lazy.Config{Endpoint: ep})
	sendMixed(t, s, n)
	if err := s.Close(); err != nil {
		t.Fatal(err)
	}
	wait()
	if err := rec.Err(); err != nil {
		t.Fatal(err)
	}
	if got := rec.Received(); len(got) != 1 || len(got[0]) != n {
		t.Fatalf("received %v", got)
	}
	if in := assertBalanced(t, s); in.Written != n || in.Reconnects != 0 {
		t.Fatalf("garbage from the peer cost a reconnect or messages: %v", in)
	}
}

// A wss:// peer whose certificate does not verify: every dial fails with
// the certificate error, which the sink reports; when the attempts run out
// the queued messages are dropped as connect_failed, counted, and nothing
// was sent to the untrusted peer.
func TestFaultTLSHandshake(t *testing.T) {
	var upgrades atomic.Int32
	srv := httptest.NewUnstartedServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		upgrades.Add(1)
	}))
	srv.Config.ErrorLog = log.New(io.Discard, "", 0) // the refused handshakes are the point
	srv.StartTLS()
	defer srv.Close()
	ep := mustEndpoint(t, "wss://"+strings.TrimPrefix(srv.URL, "https://")+"/feed")
	s := newSink(t, lazy.Config{Endpoint: ep, Retry: lazy.Retry{Initial: time.Millisecond, MaxAttempts: 3}})
	b := newBuilder(64)
	for range 5 {
		if err := s.Send(b.next()); err != nil {
			t.Fatal(err)
		}
	}
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	err := s.Flush(ctx)
	var verr *tls.CertificateVerificationError
	if !errors.Is(err, sink.ErrConnectFailed) || !errors.As(err, &verr) {
		t.Fatalf("Flush = %v, want ErrConnectFailed with the certificate error", err)
	}
	in := assertBalanced(t, s)
	if in.Dropped.ConnectFailed != 5 || in.ConnectAttempts != 3 || upgrades.Load() != 0 {
		t.Fatalf("%v; %d upgrade requests reached the peer", in, upgrades.Load())
	}
}
