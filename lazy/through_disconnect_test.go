package lazy_test

import (
	"context"
	"errors"
	"net"
	"runtime"
	"sync/atomic"
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

func (c *halfConn) Err() error {
	select {
	case <-c.done:
		return errors.New("halfConn: read side ended")
	default:
		return nil
	}
}

// Shutdown is Close: this test's peer does not see the end of the stream.
func (c *halfConn) Shutdown(context.Context) error { return c.Close() }

func (c *halfConn) Close() error {
	err := c.nc.Close()
	<-c.done
	return err
}

// A Send that writes through while a Disconnect is being served: the
// connection takes part of the message (a nearly full socket), and the
// writer, woken to finish it, must not drop the connection before it has:
// the peer would see the sink close the stream inside a frame. The
// Disconnect asked the writer to stop once everything enqueued before it
// is written, and the message came after; but its first half is already
// on this connection. Without the writer's midFrame check, nearly every
// run of this test fails.
func TestDisconnectDuringPartialWriteThrough(t *testing.T) {
	if runtime.GOMAXPROCS(0) < 2 {
		t.Skip("needs two processors: one to send while the other serves the Disconnect")
	}
	p := sinktest.ListenStream(t, "unix")
	s := newSink(t, lazy.Config{Endpoint: p.Endpoint(), Idle: lazy.IdlePark, Dialer: dialFunc(dialHalf)})
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	b := sourceBuilder(1, 200)
	for round := range 20 {
		// A connected sink whose writer is parked.
		if err := s.Send(b.next()); err != nil {
			t.Fatal(err)
		}
		flush(t, s)
		waitFor(t, "the writer to park", func() bool { return s.State() == sink.StateConnected && lazy.Parked(s) })
		// The Disconnect's goroutine and this one meet at a barrier,
		// spinning without yielding, so that both are on a processor at
		// once: then this one sees the request the moment it is made and
		// sends while the writer, kicked onto the other processor, has
		// yet to run; the Send finds it parked and writes through. The
		// meeting is not certain on a busy machine, hence the rounds.
		var started, set atomic.Bool
		errc := make(chan error, 1)
		go func() {
			started.Store(true)
			for !set.Load() {
			}
			errc <- s.Disconnect(ctx)
		}()
		for !started.Load() {
		}
		set.Store(true)
		for i := 1; !lazy.DisconnectRequested(s); i++ {
			if i%(1<<16) == 0 && len(errc) > 0 {
				break // served before we looked: this round proves nothing
			}
		}
		if err := s.Send(b.next()); err != nil {
			t.Fatal(err)
		}
		if err := <-errc; err != nil {
			t.Fatal(err)
		}
		if t.Failed() {
			t.FailNow()
		}
		if err := p.Err(); err != nil {
			t.Fatalf("round %d: %v", round, err)
		}
	}
	flush(t, s)
	assertBalanced(t, s)
}
