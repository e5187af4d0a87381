package lazy_test

import (
	"context"
	"net"
	"runtime"
	"testing"
	"time"

	"github.com/msgsink/msgsink/lazy"
	"github.com/msgsink/msgsink/sink"
	"github.com/msgsink/msgsink/sink/sinktest"
	"github.com/msgsink/msgsink/tlv"
	"github.com/msgsink/msgsink/transport"
)

// halfConn is a TryWriter whose socket always takes half of a message
// written through, as a nearly full socket does: the rest is left to the
// next WriteBatch, which must begin with that message (transport.TryWriter).
type halfConn struct {
	nc   net.Conn
	skip int
	done chan struct{}
}

func dialHalf(ctx context.Context, e transport.Endpoint) (transport.Conn, error) {
	var d net.Dialer
	nc, err := d.DialContext(ctx, e.Scheme, e.Addr)
	if err != nil {
		return nil, err
	}
	c := &halfConn{nc: nc, done: make(chan struct{})}
	go func() {
		defer close(c.done)
		var buf [64]byte
		for {
			if _, err := nc.Read(buf[:]); err != nil {
				return
			}
		}
	}()
	return c, nil
}

func (c *halfConn) TryWrite(m *tlv.Message) (bool, error) {
	if c.skip != 0 {
		return false, nil
	}
	b := m.Bytes()
	n, err := c.nc.Write(b[:len(b)/2])
	c.skip = n
	return false, err
}

func (c *halfConn) WriteBatch(a, b []*tlv.Message) (int, error) {
	n := 0
	for _, ms := range [][]*tlv.Message{a, b} {
		for _, m := range ms {
			p := m.Bytes()[c.skip:]
			c.skip = 0
			if _, err := c.nc.Write(p); err != nil {
				return n, err
			}
			n++
		}
	}
	return n, nil
}

func (c *halfConn) Done() <-chan struct{} { return c.done }

func (c *halfConn) Close() error {
	err := c.nc.Close()
	<-c.done
	return err
}

// A Send that writes through while a Disconnect is being served: the
// connection takes part of the message (a nearly full socket), and the
// writer, woken to finish it, must not drop the connection before it has:
// the peer would see the sink close the stream inside a frame. The
// Disconnect has asked the writer to stop once everything enqueued before
// it is written, and the message came after, so it goes on the next
// connection; but the first half of it is already on this one.
func TestDisconnectDuringPartialWriteThrough(t *testing.T) {
	p := sinktest.ListenStream(t, "unix")
	s := newSink(t, lazy.Config{Endpoint: p.Endpoint(), Idle: lazy.IdlePark, Dialer: dialFunc(dialHalf)})
	if runtime.GOMAXPROCS(0) < 2 {
		t.Skip("needs two processors: one to send while the other serves the Disconnect")
	}
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	b := sourceBuilder(1, 200)
	for round := range 50 {
		// A connected sink whose writer is parked.
		if err := s.Send(b.next()); err != nil {
			t.Fatal(err)
		}
		flush(t, s)
		waitFor(t, "the writer to park", func() bool { return s.State() == sink.StateConnected && lazy.Parked(s) })
		errc := make(chan error, 1)
		go func() { errc <- s.Disconnect(ctx) }()
		// Spin, without yielding: the Disconnect's goroutine and then the
		// writer it kicks run on the other processor, and this one must
		// be ready to send the moment the request is made.
		for i := 1; !lazy.DisconnectRequested(s); i++ {
			if i%(1<<20) == 0 && len(errc) > 0 {
				break // served before we looked: this round proves nothing
			}
		}
		// The writer may not have woken yet: this Send then writes through.
		if err := s.Send(b.next()); err != nil {
			t.Fatal(err)
		}
		if err := <-errc; err != nil {
			t.Fatal(err)
		}
		if err := p.Err(); err != nil {
			t.Fatalf("round %d: %v", round, err)
		}
	}
	flush(t, s)
	assertBalanced(t, s)
}
