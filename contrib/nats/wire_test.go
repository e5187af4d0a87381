package natssink_test

import (
	"context"
	"errors"
	"net"
	"strings"
	"testing"
	"time"

	"github.com/nats-io/nats-server/v2/server"

	natssink "github.com/msgsink/msgsink/contrib/nats"
	"github.com/msgsink/msgsink/lazy"
	"github.com/msgsink/msgsink/sink"
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
