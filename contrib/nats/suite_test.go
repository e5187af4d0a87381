package natssink_test

import (
	"context"
	"io"
	"net"
	"strconv"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/nats-io/nats.go"

	natssink "github.com/msgsink/msgsink/contrib/nats"
	"github.com/msgsink/msgsink/lazy"
	"github.com/msgsink/msgsink/sink/sinktest"
	"github.com/msgsink/msgsink/tlv"
)

// natsPeer is the sinktest Peer of a NATS sink: a real nats-server, a
// natssink.Reader subscribed to it that feeds what it returns to a
// Recorder, and between the sink and the server a TCP relay of bytes that
// Stop hangs up (as a server that goes away would, while the reader, on
// its own connection, keeps its subscription) and Stall stops forwarding.
// Each connection of the sink is a connection of the Recorder: before the
// relay forwards a new one, a marker frame published through the server
// reaches the reader after everything the previous ones delivered.
type natsPeer struct {
	rec  sinktest.Recorder
	tb   testing.TB
	addr string // where the sink dials
	srv  string // the server's address

	nc     *nats.Conn    // publishes the markers
	marker *producer     // source markerSource
	seen   chan struct{} // the reader saw a marker
	cr     atomic.Pointer[sinktest.ConnRecorder]

	mu    sync.Mutex
	ln    net.Listener
	conns []net.Conn
	stall chan struct{}
	wg    sync.WaitGroup
}

func listenNATS(tb testing.TB) *natsPeer {
	srv := startServer(tb, false)
	r, err := natssink.Subscribe(natssink.ReaderConfig{Endpoint: srv.URL()})
	if err != nil {
		tb.Fatal(err)
	}
	nc, err := nats.Connect(srv.URL())
	if err != nil {
		tb.Fatal(err)
	}
	tb.Cleanup(nc.Close)
	p := &natsPeer{tb: tb, addr: "127.0.0.1:" + strconv.Itoa(freePort(tb)), srv: srv.URL()[len("nats://"):],
		nc: nc, marker: newProducer(markerSource, 1), seen: make(chan struct{}, 1)}
	done := make(chan struct{})
	go func() {
		defer close(done)
		for {
			f, err := r.Next(context.Background())
			if err != nil {
				return
			}
			if f.Header().Source() == markerSource {
				p.seen <- struct{}{}
				continue
			}
			if cr := p.cr.Load(); cr != nil {
				cr.Write(f)
			}
		}
	}()
	tb.Cleanup(func() { r.Close(); <-done })
	p.Start()
	tb.Cleanup(p.Stop)
	return p
}

// markerSource is the producer of the peer's markers, which the suite's
// producers never use.
const markerSource = 255

func (p *natsPeer) Endpoint() string               { return "nats://" + p.addr }
func (p *natsPeer) Received() [][]sinktest.FrameID { return p.rec.Received() }
func (p *natsPeer) Err() error                     { return p.rec.Err() }

func (p *natsPeer) Start() {
	p.mu.Lock()
	defer p.mu.Unlock()
	if p.ln != nil {
		return
	}
	var err error
	for range 100 { // the port may linger a moment after Stop
		if p.ln, err = net.Listen("tcp", p.addr); err == nil {
			break
		}
		time.Sleep(10 * time.Millisecond)
	}
	if err != nil {
		p.tb.Fatal(err)
	}
	p.wg.Add(1)
	go p.accept(p.ln)
}

func (p *natsPeer) accept(ln net.Listener) {
	defer p.wg.Done()
	for {
		c, err := ln.Accept()
		if err != nil {
			return
		}
		s, err := net.Dial("tcp", p.srv)
		if err != nil {
			c.Close()
			continue
		}
		m := p.marker.next()
		if err := p.nc.Publish("msgsink.marker", m.Bytes()); err != nil {
			p.tb.Error(err)
		}
		m.Release()
		<-p.seen
		p.cr.Store(p.rec.Conn())
		p.mu.Lock()
		p.conns = append(p.conns, c, s)
		p.mu.Unlock()
		p.wg.Add(2)
		go func() { defer p.wg.Done(); p.forward(s, c); s.Close() }()
		go func() { defer p.wg.Done(); io.Copy(c, s); c.Close() }()
	}
}

// forward copies what the sink sends to the server, waiting while stalled.
func (p *natsPeer) forward(dst, src net.Conn) {
	buf := make([]byte, 32<<10)
	for {
		p.mu.Lock()
		stall := p.stall
		p.mu.Unlock()
		if stall != nil {
			<-stall
		}
		n, err := src.Read(buf)
		if n > 0 {
			if _, werr := dst.Write(buf[:n]); werr != nil {
				return
			}
		}
		if err != nil {
			return
		}
	}
}

func (p *natsPeer) Stall() {
	p.mu.Lock()
	defer p.mu.Unlock()
	if p.stall == nil {
		p.stall = make(chan struct{})
	}
}

func (p *natsPeer) Stop() {
	p.mu.Lock()
	if p.stall != nil {
		close(p.stall)
		p.stall = nil
	}
	if p.ln != nil {
		p.ln.Close()
		p.ln = nil
	}
	for _, c := range p.conns {
		c.Close()
	}
	p.conns = nil
	p.mu.Unlock()
	p.wg.Wait()
}

func TestConformance(t *testing.T) {
	for _, single := range []bool{false, true} {
		name := "shared"
		if single {
			name = "single_producer"
		}
		t.Run(name, func(t *testing.T) {
			sinktest.Run(t, sinktest.Harness{SingleProducer: single, New: func(t *testing.T, o sinktest.Options) sinktest.Setup {
				p := listenNATS(t)
				s, err := natssink.New(natssink.Config{Endpoint: p.Endpoint(), AckTimeout: time.Second, Sink: lazy.Config{
					BufferSize: o.BufferSize, SingleProducer: single, Validator: tlv.Validator{Domain: o.Domain},
					Retry: lazy.Retry{Initial: time.Millisecond, Max: 10 * time.Millisecond}}})
				if err != nil {
					t.Fatal(err)
				}
				t.Cleanup(func() { s.Close() })
				capacity := o.BufferSize
				if capacity == 0 {
					capacity = lazy.DefaultBufferSize
				}
				return sinktest.Setup{Sink: s, Capacity: capacity, Groups: []sinktest.Group{{Peers: []sinktest.Peer{p}}}}
			}})
		})
	}
}
