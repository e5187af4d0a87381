package natssink_test

import (
	"bufio"
	"bytes"
	"context"
	"crypto/tls"
	"crypto/x509"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"
	"time"

	"github.com/nats-io/nats-server/v2/server"
	"github.com/nats-io/nats.go"

	natssink "github.com/msgsink/msgsink/contrib/nats"
	"github.com/msgsink/msgsink/lazy"
	"github.com/msgsink/msgsink/sink"
	"github.com/msgsink/msgsink/tlv"
)

// A server that wants credentials: the connect fails with an error that
// says what to change, and nothing is counted written.
func TestCoreServerRequiresAuth(t *testing.T) {
	n := &natsServer{tb: t, port: freePort(t), opts: func(o *server.Options) { o.Username, o.Password = "u", "p" }}
	n.Start()
	t.Cleanup(n.Stop)
	s := newSink(t, natssink.Config{Endpoint: n.URL(), Sink: lazy.Config{Retry: lazy.Retry{MaxAttempts: 1}}})
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	err := s.Connect(ctx)
	if !errors.Is(err, sink.ErrConnectFailed) || !strings.Contains(err.Error(), "requires authentication") ||
		!strings.Contains(err.Error(), "no_auth_user") {
		t.Fatalf("Connect = %v, want ErrConnectFailed saying the server requires authentication and what to do", err)
	}
}

// A peer that is not a NATS server: the connect fails and says so.
func TestCoreNotANATSServer(t *testing.T) {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer ln.Close()
	go func() {
		for {
			c, err := ln.Accept()
			if err != nil {
				return
			}
			_, _ = c.Write([]byte("SSH-2.0-OpenSSH_9.2\r\n"))
			c.Close()
		}
	}()
	s := newSink(t, natssink.Config{Endpoint: "nats://" + ln.Addr().String(), Sink: lazy.Config{Retry: lazy.Retry{MaxAttempts: 1}}})
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	if err := s.Connect(ctx); !errors.Is(err, sink.ErrConnectFailed) || !strings.Contains(err.Error(), "is not a NATS server") {
		t.Fatalf("Connect = %v, want ErrConnectFailed saying the peer is not a NATS server", err)
	}
}

// The server PINGs an idle client and drops it after two unanswered: the
// sink answers, so an idle sink keeps its one connection.
func TestCoreAnswersServerPings(t *testing.T) {
	n := &natsServer{tb: t, port: freePort(t), opts: func(o *server.Options) {
		o.PingInterval, o.MaxPingsOut = 20*time.Millisecond, 2
	}}
	n.Start()
	t.Cleanup(n.Stop)
	s := newSink(t, natssink.Config{Endpoint: n.URL()})
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	if err := s.Connect(ctx); err != nil {
		t.Fatal(err)
	}
	time.Sleep(300 * time.Millisecond) // 15 ping intervals
	p := newProducer(1, 64)
	if err := s.Send(p.next()); err != nil {
		t.Fatal(err)
	}
	if err := s.Flush(ctx); err != nil {
		t.Fatal(err)
	}
	if in := s.Info(); in.ConnectAttempts != 1 || in.Reconnects != 0 || in.Acked != 1 || in.State != sink.StateConnected {
		t.Fatalf("the idle sink lost its connection to the server's PINGs: %+v", in)
	}
}

// startTLSServer starts a server that requires TLS, with httptest's
// certificate (for 127.0.0.1), and returns the pool that trusts it.
func startTLSServer(t *testing.T) (*natsServer, *x509.CertPool) {
	t.Helper()
	hs := httptest.NewUnstartedServer(http.NotFoundHandler())
	hs.StartTLS()
	hs.Close() // only its certificate is wanted
	pool := x509.NewCertPool()
	pool.AddCert(hs.Certificate())
	n := &natsServer{tb: t, port: freePort(t), opts: func(o *server.Options) {
		o.TLSConfig = &tls.Config{Certificates: hs.TLS.Certificates, MinVersion: tls.VersionTLS12}
		o.TLSTimeout = 5
	}}
	n.Start()
	t.Cleanup(n.Stop)
	return n, pool
}

// A server that requires TLS: the sink upgrades after the INFO, as nats.go
// does, verifying the server with Config.TLS; every frame arrives and is
// confirmed. Without Config.TLS it verifies with the system's roots, which
// do not know this certificate: the connect fails and says why.
func TestCoreTLS(t *testing.T) {
	n, pool := startTLSServer(t)
	nc, err := nats.Connect(n.URL(), nats.Secure(&tls.Config{RootCAs: pool, MinVersion: tls.VersionTLS12}))
	if err != nil {
		t.Fatal(err)
	}
	defer nc.Close()
	got := make(chan *nats.Msg, 100)
	if _, err := nc.ChanSubscribe("msgsink.>", got); err != nil {
		t.Fatal(err)
	}
	if err := nc.Flush(); err != nil {
		t.Fatal(err)
	}
	s := newSink(t, natssink.Config{Endpoint: n.URL(), TLS: &tls.Config{RootCAs: pool, MinVersion: tls.VersionTLS12}})
	p := newProducer(1, 64)
	const frames = 50
	var sent [][]byte
	for range frames {
		m := p.next()
		sent = append(sent, bytes.Clone(m.Bytes()))
		if err := s.Send(m); err != nil {
			t.Fatal(err)
		}
	}
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	if err := s.Flush(ctx); err != nil {
		t.Fatal(err)
	}
	for i := range frames {
		select {
		case m := <-got:
			if !bytes.Equal(m.Data, sent[i]) {
				t.Fatalf("message %d is not frame %d", i, i)
			}
		case <-ctx.Done():
			t.Fatalf("%d of %d frames arrived", i, frames)
		}
	}
	if in := s.Info(); in.Acked != frames || in.ConnectAttempts != 1 {
		t.Fatalf("info %+v", in)
	}

	plain := newSink(t, natssink.Config{Endpoint: n.URL(), Sink: lazy.Config{Name: "plain", Retry: lazy.Retry{MaxAttempts: 1}}})
	var verr *tls.CertificateVerificationError
	if err := plain.Connect(ctx); !errors.Is(err, sink.ErrConnectFailed) || !errors.As(err, &verr) {
		t.Fatalf("Connect without Config.TLS = %v, want the system roots' verification error", err)
	}
}

// Config.TLS asks every server for TLS: one without it is refused.
func TestCoreTLSRequiredOfServer(t *testing.T) {
	srv := startServer(t, false)
	s := newSink(t, natssink.Config{Endpoint: srv.URL(), TLS: &tls.Config{MinVersion: tls.VersionTLS12},
		Sink: lazy.Config{Retry: lazy.Retry{MaxAttempts: 1}}})
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	if err := s.Connect(ctx); !errors.Is(err, sink.ErrConnectFailed) || !strings.Contains(err.Error(), "does not offer TLS") {
		t.Fatalf("Connect = %v, want a refusal of the plain server", err)
	}
}

// A server whose max_payload is below the sink's max_frame is refused at
// connect, saying what to set; with max_frame at the server's limit, Send
// refuses a larger frame (counted) and the rest flows. No frame the sink
// took is one the server would refuse.
func TestCoreMaxFrame(t *testing.T) {
	const limit = 4096
	n := &natsServer{tb: t, port: freePort(t), opts: func(o *server.Options) { o.MaxPayload = limit }}
	n.Start()
	t.Cleanup(n.Stop)
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	for _, js := range []bool{false, true} {
		s := newSink(t, natssink.Config{Endpoint: n.URL(), JetStream: js, Sink: lazy.Config{Retry: lazy.Retry{MaxAttempts: 1}}})
		if err := s.Connect(ctx); !errors.Is(err, sink.ErrConnectFailed) || !strings.Contains(err.Error(), "set max_frame = 4096") {
			t.Fatalf("jetstream=%v: Connect = %v, want a refusal that says to set max_frame", js, err)
		}
	}
	got := subscribe(t, n.URL(), "msgsink.>")
	s := newSink(t, natssink.Config{Endpoint: n.URL(), MaxFrame: limit})
	p := newProducer(1, 64)
	if err := s.Send(p.next()); err != nil {
		t.Fatal(err)
	}
	big := newProducer(1, limit).next() // a header and a record past the limit
	if err := s.Send(big); !errors.Is(err, tlv.ErrMalformed) {
		t.Fatalf("Send of a %d-byte frame under max_frame %d = %v, want ErrMalformed", big.Len(), limit, err)
	}
	big.Release()
	if err := s.Send(p.next()); err != nil {
		t.Fatal(err)
	}
	if err := s.Flush(ctx); err != nil {
		t.Fatal(err)
	}
	waitFor(t, "both frames at the subscriber", func() bool { return got.len() == 2 })
	if in := s.Info(); in.Acked != 2 || in.Refused.Malformed != 1 || in.Reconnects != 0 {
		t.Fatalf("info %+v", in)
	}
}

// A first server that accepts and never speaks (a host gone without a
// reset, a wrong port) does not keep the sink from the next one: each gets
// a share of the connect timeout.
func TestCoreSilentServerFailsOver(t *testing.T) {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	done := make(chan struct{})
	defer func() { ln.Close(); <-done }()
	go func() {
		defer close(done)
		var held []net.Conn // silent: no INFO
		defer func() {
			for _, c := range held {
				c.Close()
			}
		}()
		for {
			c, err := ln.Accept()
			if err != nil {
				return
			}
			held = append(held, c)
		}
	}()
	srv := startServer(t, false)
	s := newSink(t, natssink.Config{Endpoint: "nats://" + ln.Addr().String() + "," + strings.TrimPrefix(srv.URL(), "nats://"),
		Sink: lazy.Config{ConnectTimeout: 2 * time.Second, Retry: lazy.Retry{MaxAttempts: 1}}})
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	start := time.Now()
	if err := s.Connect(ctx); err != nil {
		t.Fatalf("Connect = %v after %v, want the second server", err, time.Since(start))
	}
	if in := s.Info(); in.ConnectAttempts != 1 {
		t.Fatalf("info %+v", in)
	}
}

// A server that takes the connection and then stops answering (stalled,
// or the path to it): with frames unconfirmed, no PONG within the ack
// timeout ends the connection, and the sink publishes them again on the
// next one. Whether the server still reads (the writer goes on) or stops
// reading too (the writer blocks in its write, and must be freed). The
// peer is a few lines of the protocol, because a real server cannot be
// made to stall in process.
func TestCoreStalledServer(t *testing.T) {
	for _, reads := range []bool{true, false} {
		t.Run(fmt.Sprintf("reads=%v", reads), func(t *testing.T) { testStalledServer(t, reads) })
	}
}

func testStalledServer(t *testing.T, reads bool) {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	done := make(chan struct{})
	defer func() { ln.Close(); <-done }()
	accepted := make(chan int, 8)
	go func() {
		defer close(done)
		var held []net.Conn
		defer func() {
			for _, c := range held {
				c.Close()
			}
		}()
		for n := 1; ; n++ {
			c, err := ln.Accept()
			if err != nil {
				return
			}
			held = append(held, c)
			accepted <- n
			// The handshake, answered; then nothing more.
			_, _ = c.Write([]byte(`INFO {"max_payload":1048576}` + "\r\n"))
			go func() {
				r := bufio.NewReader(c)
				for {
					l, err := r.ReadString('\n')
					if err != nil {
						return
					}
					if l == "PING\r\n" {
						_, _ = c.Write([]byte("PONG\r\n"))
						if reads {
							_, _ = io.Copy(io.Discard, r)
						}
						return
					}
				}
			}()
		}
	}()
	const ackTimeout = 100 * time.Millisecond
	s := newSink(t, natssink.Config{Endpoint: "nats://" + ln.Addr().String(), AckTimeout: ackTimeout,
		Sink: lazy.Config{CloseTimeout: 50 * time.Millisecond, Retry: lazy.Retry{Initial: 10 * time.Millisecond, Max: 10 * time.Millisecond}}})
	// A few frames the writer publishes and asks the server to confirm as
	// it goes idle; then enough bytes to fill the socket's buffers when the
	// server does not read, so that the writer blocks with a PING unanswered.
	small, big := newProducer(1, 64), newProducer(2, 60_000)
	for range 3 {
		if err := s.Send(small.next()); err != nil {
			t.Fatal(err)
		}
	}
	waitFor(t, "the first frames written", func() bool { return s.Info().Written >= 3 })
	for range 500 {
		if err := s.Send(big.next()); err != nil {
			t.Fatal(err)
		}
	}
	waitFor(t, "a second connection", func() bool { return len(accepted) >= 2 && s.Info().Reconnects >= 1 })
	in := s.Info()
	if in.Acked != 0 || in.LastError == nil {
		t.Fatalf("info %+v: want the stalled connection ended and its frames resent", in)
	}
	if !strings.Contains(in.LastError.Error(), "no PONG within the ack timeout") {
		t.Fatalf("last error %v", in.LastError)
	}
	if !in.Balanced() {
		t.Fatalf("unbalanced %+v", in)
	}
}

// A subject the server's permissions refuse: the server answers -ERR and
// keeps the connection, so the sink keeps it too (no reconnect loop that
// publishes the same frames into the same refusal), Info.LastError says
// what the server refused, and frames on allowed subjects still flow.
func TestCorePermissionViolation(t *testing.T) {
	n := &natsServer{tb: t, port: freePort(t), opts: func(o *server.Options) {
		o.Users = []*server.User{{Username: "feed", Password: "x",
			Permissions: &server.Permissions{Publish: &server.SubjectPermission{Allow: []string{"msgsink.market_data.1"}}}}}
		o.NoAuthUser = "feed"
	}}
	n.Start()
	t.Cleanup(n.Stop)
	got := subscribe(t, n.URL(), "msgsink.>") // the no-auth user may subscribe: only publish is limited
	s := newSink(t, natssink.Config{Endpoint: n.URL()})
	allowed, denied := newProducer(1, 64), newProducer(2, 64)
	for _, p := range []*producer{allowed, denied, allowed} {
		if err := s.Send(p.next()); err != nil {
			t.Fatal(err)
		}
	}
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	if err := s.Flush(ctx); err != nil {
		t.Fatal(err)
	}
	waitFor(t, "the refusal", func() bool { return s.Info().LastError != nil })
	waitFor(t, "the allowed frames", func() bool { return got.len() == 2 })
	in := s.Info()
	if !errors.Is(in.LastError, natssink.ErrServer) || !strings.Contains(in.LastError.Error(), "Permissions Violation") ||
		in.Reconnects != 0 || in.ConnectAttempts != 1 || in.Acked != 3 {
		t.Fatalf("info %+v", in)
	}
}
