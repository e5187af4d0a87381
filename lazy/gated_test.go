package lazy_test

import (
	"context"
	"fmt"
	"net"
	"sync"
	"sync/atomic"
	"testing"

	"github.com/msgsink/msgsink/internal/testnet"
	"github.com/msgsink/msgsink/sink/sinktest"
	"github.com/msgsink/msgsink/tlv"
	"github.com/msgsink/msgsink/transport"
)

// gatedPeer is a peer whose readers wait at a gate until the test opens it:
// a stalled consumer while closed, so that the socket and then the sink's
// ring fill up. It records every connection with a sinktest.Recorder, which
// notices torn and malformed frames.
type gatedPeer struct {
	rec    sinktest.Recorder
	ln     net.Listener
	gate   chan struct{}
	opened sync.Once
	mu     sync.Mutex
	conns  []net.Conn
	wg     sync.WaitGroup
}

// listenGated starts a gated peer on network ("unix" or "tcp"), closed at
// first. Unix peers get the smallest receive buffer, so that little fills
// them; TCP keeps its default, as a small window reopens only on the
// sender's persist timer, seconds later.
func listenGated(t testing.TB, network string) (*gatedPeer, transport.Endpoint) {
	t.Helper()
	addr := "127.0.0.1:0"
	if network == "unix" {
		addr = testnet.SocketPath(t)
	}
	ln, err := net.Listen(network, addr)
	if err != nil {
		t.Fatal(err)
	}
	p := &gatedPeer{ln: ln, gate: make(chan struct{})}
	p.wg.Go(p.accept)
	t.Cleanup(p.close)
	return p, mustEndpoint(t, network+"://"+ln.Addr().String())
}

func (p *gatedPeer) accept() {
	for {
		c, err := p.ln.Accept()
		if err != nil {
			return
		}
		if uc, ok := c.(*net.UnixConn); ok {
			_ = uc.SetReadBuffer(1) // rounded up to the kernel's minimum
		}
		p.mu.Lock()
		p.conns = append(p.conns, c)
		p.mu.Unlock()
		rec := p.rec.Conn()
		p.wg.Go(func() {
			<-p.gate
			buf := make([]byte, 64<<10)
			for {
				n, err := c.Read(buf)
				if _, werr := rec.Write(buf[:n]); werr != nil {
					return
				}
				if err != nil {
					rec.End(true)
					return
				}
			}
		})
	}
}

// open lets the readers read.
func (p *gatedPeer) open() { p.opened.Do(func() { close(p.gate) }) }

// hangUp closes every connection accepted so far, as a peer that drops its
// clients does; the listener stays.
func (p *gatedPeer) hangUp() {
	p.mu.Lock()
	defer p.mu.Unlock()
	for _, c := range p.conns {
		_ = c.Close()
	}
	p.conns = nil
}

func (p *gatedPeer) close() {
	_ = p.ln.Close()
	p.hangUp()
	p.open()
	p.wg.Wait()
}

// smallSendBuffer dials as transport.Dial does, with the smallest send
// buffer the kernel allows on the socket, so that a stalled peer stops the
// sink's writes after a few KiB. Each connection is passed to seen.
func smallSendBuffer(seen func(transport.Conn)) dialFunc {
	return func(ctx context.Context, e transport.Endpoint) (transport.Conn, error) {
		var d net.Dialer
		nc, err := d.DialContext(ctx, e.Scheme, e.Addr)
		if err != nil {
			return nil, err
		}
		size := 1
		if e.Scheme == "tcp" {
			size = 16 << 10
		}
		if err := nc.(interface{ SetWriteBuffer(int) error }).SetWriteBuffer(size); err != nil {
			nc.Close()
			return nil, err
		}
		c, err := transport.NewStreamConn(nc)
		if err != nil {
			nc.Close()
			return nil, err
		}
		if seen != nil {
			seen(c)
		}
		return c, nil
	}
}

// countingConn is a StreamConn that counts what went through TryWrite (the
// Sends' writes through) and through WriteBatch (the writer's batches).
type countingConn struct {
	*transport.StreamConn
	tries, through, batches, batched *atomic.Int64
}

func (c countingConn) TryWrite(m *tlv.Message) (bool, error) {
	whole, err := c.StreamConn.TryWrite(m)
	c.tries.Add(1)
	if whole {
		c.through.Add(1)
	}
	return whole, err
}

func (c countingConn) WriteBatch(a, b []*tlv.Message) (int, error) {
	n, err := c.StreamConn.WriteBatch(a, b)
	c.batches.Add(1)
	c.batched.Add(int64(n))
	return n, err
}

// writeCounts are the totals of every countingConn a dialer made.
type writeCounts struct{ tries, through, batches, batched atomic.Int64 }

// countingDial dials with transport.Dial and wraps stream connections in a
// countingConn that adds to w; WebSocket ones are returned as they are.
func countingDial(w *writeCounts) dialFunc {
	return func(ctx context.Context, e transport.Endpoint) (transport.Conn, error) {
		c, err := transport.Dial(ctx, e)
		if err != nil {
			return nil, err
		}
		sc, ok := c.(*transport.StreamConn)
		if !ok {
			return c, nil
		}
		return countingConn{sc, &w.tries, &w.through, &w.batches, &w.batched}, nil
	}
}

// stalledConn is a connection whose writer is stuck until the test lets it
// go: its WriteBatch waits for gate (or Close), as it would in a socket a
// stalled peer has filled, but at a point the test knows: nothing of the
// ring is written until gate opens. It is not a TryWriter, so no Send
// writes through it.
type stalledConn struct {
	c      transport.Conn
	gate   <-chan struct{}
	closed chan struct{}
	once   sync.Once
}

func (s *stalledConn) WriteBatch(a, b []*tlv.Message) (int, error) {
	select {
	case <-s.gate:
		return s.c.WriteBatch(a, b)
	case <-s.closed:
		return 0, net.ErrClosed
	}
}

func (s *stalledConn) Done() <-chan struct{} { return s.c.Done() }

func (s *stalledConn) Err() error { return s.c.Err() }

func (s *stalledConn) Shutdown(ctx context.Context) error {
	s.once.Do(func() { close(s.closed) })
	return s.c.Shutdown(ctx)
}

func (s *stalledConn) Close() error {
	s.once.Do(func() { close(s.closed) })
	return s.c.Close()
}

// stalledDial dials as transport.Dial does and returns connections that
// write nothing until gate is closed.
func stalledDial(gate <-chan struct{}) dialFunc {
	return func(ctx context.Context, e transport.Endpoint) (transport.Conn, error) {
		c, err := transport.Dial(ctx, e)
		if err != nil {
			return nil, err
		}
		return &stalledConn{c: c, gate: gate, closed: make(chan struct{})}, nil
	}
}

// waitReceived waits until the peer has received n whole frames in all.
func (p *gatedPeer) waitReceived(t testing.TB, n int) {
	t.Helper()
	waitFor(t, fmt.Sprintf("%d frames at the peer", n), func() bool {
		got := 0
		for _, c := range p.rec.Received() {
			got += len(c)
		}
		return got >= n || p.rec.Err() != nil
	})
}
