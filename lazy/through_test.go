package lazy_test

import (
	"context"
	"errors"
	"fmt"
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

// pace is the pause between paced Sends: well over the 5 µs that must pass
// between two writes through, and long enough for a writer with nothing to
// do to park.
const pace = 100 * time.Microsecond

// sendPaced sends n messages from b, pace apart, each retried until taken,
// Errors other than ErrBufferFull fail the test.
func sendPaced(t *testing.T, s *lazy.Sink, b *builder, n int) {
	t.Helper()
	for range n {
		m := b.next()
		for {
			err := s.Send(m)
			if err == nil {
				break
			}
			if !errors.Is(err, sink.ErrBufferFull) {
				m.Release()
				t.Errorf("Send: %v", err)
				return
			}
			time.Sleep(pace)
		}
		time.Sleep(pace)
	}
}

// checkOnce checks what a StreamPeer received: whole valid frames (no torn
// one), each at most once over all connections, in order on each, and
// returns how many.
func checkOnce(t *testing.T, p *sinktest.StreamPeer) int {
	t.Helper()
	if err := p.Err(); err != nil {
		t.Fatal(err)
	}
	seen := make(map[sinktest.FrameID]bool)
	for ci, frames := range p.Received() {
		last := make(map[uint8]uint64)
		for _, f := range frames {
			if seen[f] {
				t.Fatalf("frame %v arrived twice", f)
			}
			seen[f] = true
			if prev, ok := last[f.Source]; ok && f.Seq <= prev {
				t.Fatalf("connection %d: frame %v after %d", ci, f, prev)
			}
			last[f.Source] = f.Seq
		}
	}
	return len(seen)
}

func received(p *sinktest.StreamPeer) int {
	n := 0
	for _, c := range p.Received() {
		n += len(c)
	}
	return n
}

// Paced Sends to a sink whose writer parks between them write their
// messages through, with the writer asleep: everything arrives in order,
// once, on one connection; each message was written exactly once, by a
// Send or by the writer; and Info counts the writes through as the
// connection saw them.
func TestWriteThroughPaced(t *testing.T) {
	for _, network := range []string{"unix", "tcp"} {
		for _, idle := range []lazy.Idle{lazy.IdlePark, lazy.IdleBackoff} {
			t.Run("transport="+network+"/idle="+idle.String(), func(t *testing.T) {
				p := sinktest.ListenStream(t, network)
				var w writeCounts
				s := newSink(t, lazy.Config{Endpoint: p.Endpoint(), Idle: idle, Dialer: countingDial(&w)})
				ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
				defer cancel()
				if err := s.Connect(ctx); err != nil {
					t.Fatal(err)
				}
				// Info, read while messages are written through, never
				// counts more written through than written.
				stopPoll := make(chan struct{})
				polled := make(chan error, 1)
				go func() {
					for {
						if i := s.Info(); i.WrittenThrough > i.Written {
							polled <- fmt.Errorf("Info: %d written through, %d written", i.WrittenThrough, i.Written)
							return
						}
						select {
						case <-stopPoll:
							polled <- nil
							return
						default:
							runtime.Gosched()
						}
					}
				}()
				const n = 300
				sendPaced(t, s, sourceBuilder(1, 64), n)
				close(stopPoll)
				if err := <-polled; err != nil {
					t.Fatal(err)
				}
				flush(t, s)
				waitFor(t, "every frame at the peer", func() bool { return received(p) >= n || p.Err() != nil })
				if got := checkOnce(t, p); got != n || len(p.Received()) != 1 {
					t.Fatalf("%d frames on %d connections, want %d on one", got, len(p.Received()), n)
				}
				i := assertBalanced(t, s)
				through, batched := w.through.Load(), w.batched.Load()
				t.Logf("%d of %d written through (%d tries), %d by the writer in %d batches",
					through, n, w.tries.Load(), batched, w.batches.Load())
				if i.Enqueued != n || i.Written != n || i.Refused != (sink.Refused{}) || i.Dropped.Total() != 0 {
					t.Fatalf("counters: %+v", i)
				}
				if through+batched != n {
					t.Fatalf("%d messages written through and %d by the writer: %d writes for %d messages",
						through, batched, through+batched, n)
				}
				if i.WrittenThrough != uint64(through) {
					t.Fatalf("Info.WrittenThrough = %d, the connection took %d whole messages through TryWrite",
						i.WrittenThrough, through)
				}
				// Once a Send writes through, the writer is not woken and
				// stays parked for the next one: only a socket that takes
				// part of a message (it does not, with the peer reading)
				// or a Send within 5 µs of the last write through (they
				// are paced further apart) wakes it.
				if through*2 < n {
					t.Fatalf("%d paced Sends, %v apart, and only %d found the writer parked and wrote through",
						n, pace, through)
				}
			})
		}
	}
}

// The peer hangs up and comes back while paced Sends write through: the
// sink reconnects, nothing arrives torn or twice, what is sent once it is
// back arrives, and the counters balance.
func TestWriteThroughPeerCloses(t *testing.T) {
	for _, network := range []string{"unix", "tcp"} {
		t.Run("transport="+network, func(t *testing.T) {
			p := sinktest.ListenStream(t, network)
			var w writeCounts
			s := newSink(t, lazy.Config{Endpoint: p.Endpoint(), Idle: lazy.IdlePark, Dialer: countingDial(&w),
				Retry: lazy.Retry{Initial: time.Millisecond, Max: 10 * time.Millisecond}})
			var stop atomic.Bool
			done := make(chan struct{})
			var sent atomic.Int64
			go func() {
				defer close(done)
				b := sourceBuilder(1, 64)
				for !stop.Load() {
					m := b.next()
					for s.Send(m) != nil { // a full ring while the peer is away
						if stop.Load() {
							m.Release()
							return
						}
						time.Sleep(pace)
					}
					sent.Add(1)
					time.Sleep(pace)
				}
			}()
			for round := range 3 {
				before := received(p)
				waitFor(t, "frames flowing", func() bool { return received(p) >= before+50 || p.Err() != nil })
				p.Stop()
				p.Start()
				if err := p.Err(); err != nil {
					t.Fatalf("round %d: %v", round, err)
				}
			}
			before := received(p)
			waitFor(t, "frames flowing after the last restart", func() bool { return received(p) >= before+50 || p.Err() != nil })
			stop.Store(true)
			<-done
			flush(t, s)
			// What is sent once the sink is connected again all arrives.
			waitFor(t, "the sink to be connected", func() bool { return s.State() == sink.StateConnected })
			last := sourceBuilder(2, 64)
			sendPaced(t, s, last, 20)
			flush(t, s)
			waitFor(t, "the last frames", func() bool {
				n := 0
				for _, c := range p.Received() {
					for _, f := range c {
						if f.Source == 2 {
							n++
						}
					}
				}
				return n == 20 || p.Err() != nil
			})
			checkOnce(t, p)
			i := assertBalanced(t, s)
			t.Logf("%d sent, %d written through, %+v", sent.Load(), w.through.Load(), i)
			if i.Enqueued != uint64(sent.Load())+20 || i.Reconnects == 0 {
				t.Fatalf("counters: %+v; %d sent", i, sent.Load()+20)
			}
			if i.WrittenThrough != uint64(w.through.Load()) || i.WrittenThrough > i.Written {
				t.Fatalf("Info.WrittenThrough = %d, the connections took %d through TryWrite, Written = %d",
					i.WrittenThrough, w.through.Load(), i.Written)
			}
		})
	}
}

// A WebSocket connection is not a TryWriter: a ws sink never writes
// through, and paced Sends all go through its writer, in order.
func TestWebSocketNeverWritesThrough(t *testing.T) {
	p := sinktest.ListenWebSocket(t)
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	c, err := transport.Dial(ctx, p.Endpoint())
	if err != nil {
		t.Fatal(err)
	}
	if _, ok := c.(transport.TryWriter); ok {
		t.Fatalf("%T is a TryWriter", c)
	}
	_ = c.Close()

	s := newSink(t, lazy.Config{Endpoint: p.Endpoint(), Idle: lazy.IdlePark})
	if err := s.Connect(ctx); err != nil {
		t.Fatal(err)
	}
	const n = 100
	sendPaced(t, s, sourceBuilder(1, 64), n)
	flush(t, s)
	waitFor(t, "every frame at the peer", func() bool { return received(p) >= n || p.Err() != nil })
	if got := checkOnce(t, p); got != n {
		t.Fatalf("%d frames, want %d", got, n)
	}
	if i := assertBalanced(t, s); i.Written != n || i.WrittenThrough != 0 {
		t.Fatalf("counters: %+v", i)
	}
}

// SendBatch and SendWait write through as Send does: a paced batch writes
// its first message through and leaves the rest to the writer, a paced
// SendWait writes its message through; each message is written once, in
// order, and counted.
func TestWriteThroughSendBatchAndSendWait(t *testing.T) {
	p := sinktest.ListenStream(t, "unix")
	var w writeCounts
	s := newSink(t, lazy.Config{Endpoint: p.Endpoint(), Idle: lazy.IdlePark, Dialer: countingDial(&w)})
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	if err := s.Connect(ctx); err != nil {
		t.Fatal(err)
	}
	const batches, size, waits = 50, 3, 100
	b := sourceBuilder(1, 64)
	batch := make([]*tlv.Message, size)
	for range batches {
		for i := range batch {
			batch[i] = b.next()
		}
		if n, err := s.SendBatch(batch); err != nil {
			t.Fatalf("SendBatch took %d of %d: %v", n, size, err)
		}
		time.Sleep(pace)
	}
	for range waits {
		if err := s.SendWait(ctx, b.next()); err != nil {
			t.Fatalf("SendWait: %v", err)
		}
		time.Sleep(pace)
	}
	const n = batches*size + waits
	flush(t, s)
	waitFor(t, "every frame at the peer", func() bool { return received(p) >= n || p.Err() != nil })
	if got := checkOnce(t, p); got != n || len(p.Received()) != 1 {
		t.Fatalf("%d frames on %d connections, want %d on one", got, len(p.Received()), n)
	}
	i := assertBalanced(t, s)
	through, batched := w.through.Load(), w.batched.Load()
	t.Logf("%d of %d written through, %d by the writer in %d batches", through, n, batched, w.batches.Load())
	if i.Written != n || through+batched != n || i.WrittenThrough != uint64(through) || through == 0 {
		t.Fatalf("counters: %+v; %d written through, %d by the writer", i, through, batched)
	}
}

// Paced Sends of messages larger than the socket's buffers (the smallest
// the kernel allows): each write through that finds the writer parked
// takes only part of its message, and the writer finishes it. Every frame
// still arrives whole, once, in order, and each message is counted written
// once, by the writer.
func TestWriteThroughInPart(t *testing.T) {
	var rec sinktest.Recorder
	ep, wait := serveOne(t, func(c *net.UnixConn) {
		_ = c.SetReadBuffer(1) // rounded up to the kernel's minimum
		record(c, rec.Conn(), 64<<10)
	})
	var w writeCounts
	s := newSink(t, lazy.Config{Endpoint: ep, Idle: lazy.IdlePark, BufferSize: 64,
		Dialer: dialFunc(func(ctx context.Context, e transport.Endpoint) (transport.Conn, error) {
			c, err := smallSendBuffer(nil)(ctx, e)
			if err != nil {
				return nil, err
			}
			return countingConn{c.(*transport.StreamConn), &w.tries, &w.through, &w.batches, &w.batched}, nil
		})})
	const n = 200
	sendPaced(t, s, sourceBuilder(1, 9000), n)
	flush(t, s)
	if err := s.Close(); err != nil {
		t.Fatal(err)
	}
	wait()
	if err := rec.Err(); err != nil {
		t.Fatal(err)
	}
	got := rec.Received()
	if len(got) != 1 || len(got[0]) != n {
		t.Fatalf("received %d connections, want one with %d frames", len(got), n)
	}
	for i, f := range got[0] {
		if f.Seq != uint64(i+1) {
			t.Fatalf("frame %d is %v", i+1, f)
		}
	}
	i := assertBalanced(t, s)
	tries, through, batched := w.tries.Load(), w.through.Load(), w.batched.Load()
	t.Logf("%d tries to write through, %d whole; %d messages by the writer in %d batches", tries, through, batched, w.batches.Load())
	if i.Written != n || through+batched != n || i.WrittenThrough != uint64(through) || i.Reconnects != 0 {
		t.Fatalf("counters: %+v; %d written through, %d by the writer", i, through, batched)
	}
	if tries == through {
		t.Fatalf("%d writes through, all whole: none exercised a message the socket took in part", tries)
	}
}
