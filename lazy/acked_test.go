package lazy_test

import (
	"context"
	"errors"
	"fmt"
	"net"
	"slices"
	"sync"
	"testing"
	"time"

	"github.com/msgsink/msgsink/internal/testnet"
	"github.com/msgsink/msgsink/lazy"
	"github.com/msgsink/msgsink/relay"
	"github.com/msgsink/msgsink/relay/relaytest"
	"github.com/msgsink/msgsink/sink"
	"github.com/msgsink/msgsink/source"
	"github.com/msgsink/msgsink/tlv"
	"github.com/msgsink/msgsink/transport"
)

// ackConn is one connection of an ackPeer, as the test drives it.
type ackConn struct {
	c      net.Conn
	frames chan uint64 // the data frames' sequences, as they arrive
	err    error       // why reading ended, once frames is closed
}

// ackPeer is a real Unix socket peer that speaks acked delivery by hand:
// each accepted connection must start with Subscribe{role: producer}; the
// test reads the data frames' sequences and decides when to Ack.
type ackPeer struct {
	ln    net.Listener
	conns chan *ackConn
	wg    sync.WaitGroup
}

func listenAck(t *testing.T) (*ackPeer, transport.Endpoint) {
	t.Helper()
	path := testnet.SocketPath(t)
	ln, err := net.Listen("unix", path)
	if err != nil {
		t.Fatal(err)
	}
	p := &ackPeer{ln: ln, conns: make(chan *ackConn, 16)}
	p.wg.Go(func() {
		for {
			c, err := ln.Accept()
			if err != nil {
				return
			}
			ac := &ackConn{c: c, frames: make(chan uint64, 1<<16)}
			p.wg.Go(func() { ac.read() })
			p.conns <- ac
		}
	})
	t.Cleanup(func() {
		_ = ln.Close()
		for {
			select {
			case ac := <-p.conns:
				_ = ac.c.Close()
				continue
			default:
			}
			break
		}
		p.wg.Wait()
	})
	return p, mustEndpoint(t, "unix://"+path)
}

// next returns the next connection the sink made.
func (p *ackPeer) next(t *testing.T) *ackConn {
	t.Helper()
	select {
	case ac := <-p.conns:
		t.Cleanup(func() { _ = ac.c.Close() })
		return ac
	case <-time.After(10 * time.Second):
		t.Fatal("the sink did not connect")
		return nil
	}
}

func (ac *ackConn) read() {
	defer close(ac.frames)
	v := tlv.Validator{}
	buf := make([]byte, 0, 1<<16)
	tmp := make([]byte, 1<<16)
	first := true
	for {
		n, err := ac.c.Read(tmp)
		buf = append(buf, tmp[:n]...)
		for len(buf) >= tlv.HeaderSize {
			size := tlv.HeaderSize + int(tlv.Header(buf).PayloadSize())
			if len(buf) < size {
				break
			}
			f, perr := v.Parse(buf[:size])
			if perr != nil {
				ac.err = perr
				return
			}
			if first {
				first = false
				it := f.Records()
				if f.Header().Domain() != tlv.DomainSystem || !it.Next() || it.Type() != tlv.TypeSubscribe {
					ac.err = errors.New("the first frame is not a Subscribe")
					return
				}
				if sv, _ := tlv.AsSubscribe(it.Value()); sv.Role() != tlv.RoleProducer {
					ac.err = fmt.Errorf("Subscribe role %d, want %d", sv.Role(), tlv.RoleProducer)
					return
				}
			} else {
				ac.frames <- f.Header().Sequence()
			}
			buf = buf[size:]
		}
		if err != nil {
			ac.err = err
			return
		}
	}
}

// take returns the next n sequences of the connection.
func (ac *ackConn) take(t *testing.T, n int) []uint64 {
	t.Helper()
	var got []uint64
	for len(got) < n {
		select {
		case s, ok := <-ac.frames:
			if !ok {
				t.Fatalf("connection ended after %v: %v", got, ac.err)
			}
			got = append(got, s)
		case <-time.After(10 * time.Second):
			t.Fatalf("got %d of %d frames: %v", len(got), n, got)
		}
	}
	return got
}

// ack acknowledges source 1 up to seq.
func (ac *ackConn) ack(t *testing.T, seq uint64) { t.Helper(); ac.ackSource(t, 1, seq) }

// ackSource acknowledges source src up to seq.
func (ac *ackConn) ackSource(t *testing.T, src uint8, seq uint64) {
	t.Helper()
	b := tlv.NewBuilder(tlv.DomainSystem, relay.ControlSource)
	b.AppendAck(src, seq)
	m, err := b.Finish()
	if err != nil {
		t.Fatal(err)
	}
	defer m.Release()
	if _, err := ac.c.Write(m.Bytes()); err != nil {
		t.Fatal(err)
	}
}

func seqRange(from, to uint64) []uint64 {
	var s []uint64
	for i := from; i <= to; i++ {
		s = append(s, i)
	}
	return s
}

func sendAll(t *testing.T, s *lazy.Sink, b *builder, n int) {
	t.Helper()
	for range n {
		if err := s.Send(b.next()); err != nil {
			t.Fatal(err)
		}
	}
}

// A peer that stops acknowledging fills the ring: the messages it has not
// acknowledged stay there, Send refuses with ErrBufferFull, Flush waits for
// the Acks, and Close drops what is left at its deadline, counted.
func TestAckedNoAckFillsBuffer(t *testing.T) {
	p, ep := listenAck(t)
	s := newSink(t, lazy.Config{Endpoint: ep, BufferSize: 16, Delivery: lazy.DeliveryAcked,
		CloseTimeout: 200 * time.Millisecond})
	b := newBuilder(64)
	sendAll(t, s, b, 16)
	ac := p.next(t)
	if got := ac.take(t, 16); !slices.Equal(got, seqRange(1, 16)) {
		t.Fatalf("received %v", got)
	}
	m := b.next()
	if err := s.Send(m); !errors.Is(err, sink.ErrBufferFull) {
		t.Fatalf("Send to a ring full of unacknowledged messages: %v, want ErrBufferFull", err)
	}
	i := assertBalanced(t, s)
	if i.Unacked != 16 || i.Pending != 0 || i.Written != 16 || i.Acked != 0 || i.Refused.BufferFull != 1 {
		t.Fatalf("info %+v: want 16 unacked, 16 written, 1 refused", i)
	}
	ctx, cancel := context.WithTimeout(context.Background(), 50*time.Millisecond)
	defer cancel()
	if err := s.Flush(ctx); !errors.Is(err, context.DeadlineExceeded) {
		t.Fatalf("Flush without Acks: %v, want the deadline", err)
	}

	ac.ack(t, 10) // room for 10
	waitFor(t, "10 acked", func() bool { return s.Info().Acked == 10 })
	if err := s.Send(m); err != nil {
		t.Fatalf("Send after an Ack: %v", err)
	}
	if got := ac.take(t, 1); got[0] != 17 {
		t.Fatalf("received %v, want 17", got)
	}
	if err := s.Close(); err == nil {
		t.Fatal("Close dropped 7 unacknowledged messages and said nothing")
	}
	i = assertBalanced(t, s)
	if i.Acked != 10 || i.Dropped.Closed != 7 || i.Unacked != 0 || i.Pending != 0 {
		t.Fatalf("info after Close %+v: want 10 acked, 7 dropped as closed", i)
	}
}

// After a reconnect the sink sends the messages that were not
// acknowledged first, unchanged and in order, then the rest; Flush returns
// once everything is acknowledged.
func TestAckedResendOrder(t *testing.T) {
	p, ep := listenAck(t)
	s := newSink(t, lazy.Config{Endpoint: ep, BufferSize: 1024, Delivery: lazy.DeliveryAcked,
		Retry: lazy.Retry{Initial: time.Millisecond, Max: 5 * time.Millisecond}})
	b := newBuilder(100)
	sendAll(t, s, b, 100)
	c1 := p.next(t)
	if got := c1.take(t, 100); !slices.Equal(got, seqRange(1, 100)) {
		t.Fatalf("first connection received %v", got)
	}
	c1.ack(t, 40)
	waitFor(t, "40 acked", func() bool { return s.Info().Acked == 40 })
	_ = c1.c.Close() // 41..100 were written and never acknowledged

	c2 := p.next(t)
	sendAll(t, s, b, 50)
	if got := c2.take(t, 110); !slices.Equal(got, seqRange(41, 150)) {
		t.Fatalf("second connection received %v, want 41..150", got)
	}
	c2.ack(t, 150)
	flush(t, s)
	i := assertBalanced(t, s)
	if i.Acked != 150 || i.Unacked != 0 || i.Pending != 0 || i.Resent < 60 || i.Written != 150+i.Resent || i.Reconnects != 1 {
		t.Fatalf("info %+v: want 150 acked, at least 60 resent, written = 150 + resent, 1 reconnect", i)
	}
	select {
	case s, ok := <-c2.frames:
		if ok {
			t.Fatalf("frame %d after 150: sent twice on one connection", s)
		}
	default:
	}
}

// Acked delivery through a real relay: every message is acknowledged,
// the relay forwards each once, in order, and the counters add up.
func TestAckedThroughRelay(t *testing.T) {
	for _, network := range []string{"unix", "tcp"} {
		t.Run("transport="+network, func(t *testing.T) { ackedThroughRelay(t, network) })
	}
}

func ackedThroughRelay(t *testing.T, network string) {
	const n = 20000
	ep := transport.Endpoint{Scheme: "tcp", Addr: "127.0.0.1:0"} // port 0: the relay picks one
	if network == "unix" {
		ep = mustEndpoint(t, "unix://"+testnet.SocketPath(t))
	}
	r := relaytest.Serve(t, relay.Config{Endpoint: ep})
	ep = relaytest.Endpoint(r)
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	sub, err := source.New(source.Config{Endpoint: ep})
	if err != nil {
		t.Fatal(err)
	}
	defer sub.Close()
	if err := sub.Connect(ctx); err != nil {
		t.Fatal(err)
	}
	waitFor(t, "the consumer", func() bool { return r.Stats().Consumers == 1 })
	got := make(chan error, 1)
	go func() {
		for want := uint64(1); want <= n; want++ {
			f, err := sub.Next()
			if err != nil {
				got <- err
				return
			}
			if s := f.Header().Sequence(); s != want {
				got <- fmt.Errorf("consumer: sequence %d, want %d", s, want)
				return
			}
		}
		got <- nil
	}()

	s := newSink(t, lazy.Config{Endpoint: ep, BufferSize: 4096, Delivery: lazy.DeliveryAcked})
	b := newBuilder(64)
	for range n {
		if err := s.SendWait(ctx, b.next()); err != nil {
			t.Fatal(err)
		}
	}
	flush(t, s)
	i := assertBalanced(t, s)
	if i.Acked != n || i.Unacked != 0 || i.Pending != 0 || i.Written != n || i.Resent != 0 {
		t.Fatalf("info %+v: want %d acked and written, none resent", i, n)
	}
	if err := <-got; err != nil {
		t.Fatal(err)
	}
	if err := s.Close(); err != nil {
		t.Fatal(err)
	}
	st := r.Stats()
	if st.FramesIn != n || st.AckedProducers != 1 || st.Duplicates != 0 || st.Acks == 0 {
		t.Fatalf("relay stats %v", st)
	}
}

// ackedRelay serves a market-data relay in process with a consumer that
// reads and discards, and returns its endpoint; both stop with the test.
func ackedRelay(t *testing.T) transport.Endpoint {
	t.Helper()
	r := relaytest.Serve(t, relay.Config{})
	relaytest.Drain(t, r)
	return relaytest.Endpoint(r)
}

// Acks are per source: a message is released once its own source's Ack
// covers it, and the ring releases from its head, in order.
func TestAckedPerSource(t *testing.T) {
	p, ep := listenAck(t)
	s := newSink(t, lazy.Config{Endpoint: ep, Delivery: lazy.DeliveryAcked})
	b1, b2 := tlv.NewBuilder(tlv.DomainMarketData, 1), tlv.NewBuilder(tlv.DomainMarketData, 2)
	for _, b := range []*tlv.Builder{b1, b2, b1} { // 1/1, 2/1, 1/2
		b.Append(5, make([]byte, 30))
		m, err := b.Finish()
		if err != nil {
			t.Fatal(err)
		}
		if err := s.Send(m); err != nil {
			t.Fatal(err)
		}
	}
	ac := p.next(t)
	ac.take(t, 3)
	ac.ackSource(t, 1, 2) // covers 1/1 and 1/2, not 2/1 between them
	waitFor(t, "1/1 acked", func() bool { return s.Info().Acked == 1 })
	ac.ackSource(t, 7, 100) // another source's Ack releases nothing here
	ac.ackSource(t, 2, 1)
	flush(t, s)
	if i := assertBalanced(t, s); i.Acked != 3 || i.Unacked != 0 {
		t.Fatalf("info %+v: want 3 acked", i)
	}
}
