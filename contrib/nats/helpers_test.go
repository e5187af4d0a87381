package natssink_test

import (
	"fmt"
	"net"
	"strconv"
	"testing"
	"time"

	"github.com/nats-io/nats-server/v2/server"

	"github.com/msgsink/msgsink/tlv"
)

// natsServer is an embedded nats-server on a fixed loopback port, so that
// it can be stopped and started again where its clients expect it.
type natsServer struct {
	tb    testing.TB
	port  int
	store string // JetStream's store directory; "" for core only
	opts  func(*server.Options)
	s     *server.Server
}

// startServer starts a server on a free port; jetstream gives it a store
// under tb's temporary directory.
func startServer(tb testing.TB, jetstream bool) *natsServer {
	tb.Helper()
	n := &natsServer{tb: tb, port: freePort(tb)}
	if jetstream {
		n.store = tb.TempDir()
	}
	n.Start()
	tb.Cleanup(n.Stop)
	return n
}

func freePort(tb testing.TB) int {
	tb.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		tb.Fatal(err)
	}
	defer ln.Close()
	return ln.Addr().(*net.TCPAddr).Port
}

func (n *natsServer) URL() string { return "nats://127.0.0.1:" + strconv.Itoa(n.port) }

// Start starts the server (again) on its port, with its store.
func (n *natsServer) Start() {
	n.tb.Helper()
	o := &server.Options{Host: "127.0.0.1", Port: n.port, NoLog: true, NoSigs: true}
	if n.store != "" {
		o.JetStream, o.StoreDir = true, n.store
	}
	if n.opts != nil {
		n.opts(o)
	}
	s, err := server.NewServer(o)
	if err != nil {
		n.tb.Fatal(err)
	}
	s.Start()
	if !s.ReadyForConnections(20 * time.Second) {
		n.tb.Fatalf("nats-server on port %d not ready", n.port)
	}
	n.s = s
}

// Stop shuts the server down and waits until it is gone. Idempotent.
func (n *natsServer) Stop() {
	if n.s == nil {
		return
	}
	n.s.Shutdown()
	n.s.WaitForShutdown()
	n.s = nil
}

// producer builds numbered frames of one source, with checksums.
type producer struct {
	b    *tlv.Builder
	body []byte
}

func newProducer(src uint8, size int) *producer {
	b := tlv.NewBuilder(tlv.DomainMarketData, src)
	b.Checksum = true
	return &producer{b: b, body: make([]byte, size)}
}

func (p *producer) next() *tlv.Message {
	seq := byte(p.b.Sequence())
	for i := range p.body {
		p.body[i] = seq + byte(i)
	}
	p.b.Append(5, p.body) // an unregistered market-data type: an opaque body
	m, err := p.b.Finish()
	if err != nil {
		panic(fmt.Sprint("building a frame: ", err))
	}
	return m
}

// waitFor polls cond until it holds or a generous bound passes.
func waitFor(tb testing.TB, what string, cond func() bool) {
	tb.Helper()
	deadline := time.Now().Add(30 * time.Second)
	for !cond() {
		if time.Now().After(deadline) {
			tb.Fatalf("timed out waiting for %s", what)
		}
		time.Sleep(time.Millisecond)
	}
}
