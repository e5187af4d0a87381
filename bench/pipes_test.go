package bench

import (
	"bufio"
	"context"
	"errors"
	"fmt"
	"net"
	"runtime"
	"sync"
	"sync/atomic"
	"time"

	"github.com/msgsink/msgsink/internal/handoff"
	"github.com/msgsink/msgsink/lazy"
	"github.com/msgsink/msgsink/ring"
	"github.com/msgsink/msgsink/sink"
	"github.com/msgsink/msgsink/tlv"
	"github.com/msgsink/msgsink/transport"
)

// A pipe moves messages from producers to a connected socket: the lazy sink,
// or one of the designs it is measured against.
type pipe interface {
	// send takes over one reference to m, waiting (by the pipe's own means)
	// while the pipe is full. Safe for concurrent use.
	send(m *tlv.Message) error
	// flush pushes out what the producer's side holds back (bufio's buffer);
	// the other pipes write on their own.
	flush() error
	// close writes what is left, closes the connection and stops every
	// goroutine the pipe started.
	close() error
}

// setup is what a pipe is opened with.
type setup struct {
	ep        transport.Endpoint
	producers int       // goroutines that will call send at once
	idle      lazy.Idle // the sink's idle strategy; the comparators have none
}

// impl is one way of moving messages, named as in the benchmark keys.
type impl struct {
	name string
	open func(setup) (pipe, error)
}

var (
	implSink       = impl{"sink", openSinkWith(false)}
	implSinkSingle = impl{"sink-single", openSinkWith(true)}   // lazy.Config.SingleProducer
	implDirect     = impl{"direct", rawWith(true, true, true)} // dials with transport.Dial, as the lazy sink does
	implRaw        = impl{"raw", rawWith(false, false, false)}
	// raw with one part of the sink contract put back each.
	implRawCheck     = impl{"raw+check", rawWith(true, false, false)}
	implRawShared    = impl{"raw+shared", rawWith(false, true, false)}
	implRawTransport = impl{"raw+transport", rawWith(false, false, true)}
	implBufio        = impl{"bufio", openBufio(false)}
	implBufioFlush   = impl{"bufio-flush", openBufio(true)}
	implChan         = impl{"chan", openChan}
	// The channel design as a user who builds every message writes it: a
	// fresh byte slice per message on the channel, left to the garbage
	// collector after the write. Named chan too: E2E's msg=built rows and
	// Latency use it, msg=prebuilt uses implChan.
	implChanAlloc   = impl{"chan", openChanAlloc}
	implWritePerMsg = impl{"write-per-msg", openWritePerMsg}
)

// sinkPipe is the library: a lazy sink, connected before the measurement so
// that the dial (a one-off) is not in it. Its producers wait for room with
// SendWait, which sleeps until the writer frees slots: what an adapter that
// must not lose a message uses, instead of retrying ErrBufferFull.
type sinkPipe struct{ s *lazy.Sink }

// openSinkWith opens the sink with its defaults, or with SingleProducer set
// (for one producer only). openSink is the default one.
func openSinkWith(single bool) func(setup) (pipe, error) {
	return func(st setup) (pipe, error) {
		if single && st.producers != 1 {
			return nil, errors.New("a SingleProducer sink takes one producer")
		}
		s, err := lazy.New(lazy.Config{Name: "bench", Endpoint: st.ep, Idle: st.idle, SingleProducer: single})
		if err != nil {
			return nil, err
		}
		ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
		defer cancel()
		if err := s.Connect(ctx); err != nil {
			s.Close()
			return nil, err
		}
		return sinkPipe{s}, nil
	}
}

func openSink(st setup) (pipe, error) { return implSink.open(st) }

func (p sinkPipe) send(m *tlv.Message) error { return p.s.SendWait(context.Background(), m) }

func (sinkPipe) flush() error { return nil }

func (p sinkPipe) close() error { return p.s.Close() }

// yieldTries is how many times sendWaiting yields before it sleeps.
const yieldTries = 8

// sendWaiting is how a producer of ringSink (direct, raw and its steps),
// which has no SendWait, waits on ErrBufferFull: it yields a few times, then
// sleeps a microsecond at a time until the ring has room. Yielding alone is
// not enough: runtime.Gosched never lets the scheduler poll the network, so
// with as many yielding producers as Ps the writer and the reader wait for
// sysmon's poll (up to 10 ms) to learn that their socket is ready, and 4
// producers on 2 Ps got 10-180 k msgs/s instead of millions (more Ps than
// producers restored them). A sleeping producer leaves its P idle, and an
// idle P polls. The sink's own SendWait sleeps until its writer frees room.
func sendWaiting(s interface{ Send(*tlv.Message) error }, m *tlv.Message) error {
	for i := 0; ; i++ {
		err := s.Send(m)
		if err == nil || !errors.Is(err, sink.ErrBufferFull) {
			return err
		}
		if i < yieldTries {
			runtime.Gosched()
		} else {
			time.Sleep(time.Microsecond)
		}
	}
}

// ringSink is the lazy sink's design with connecting taken out: the same
// ring, one writer goroutine started on a connection made in advance, the
// idle schedule of lazy.IdleBackoff with the same parked-flag handshake, and
// no connect state, reconnect or close timeout.
//
// As "direct" it keeps the rest of the sink contract that costs on the hot
// path: Send validates, any number of producers may call it, and the batch
// goes through transport.Conn.WriteBatch. As "raw" it is what one
// would write by hand for one producer: a plain SPSC push, no validation,
// and a hand-written writev. The impls between the two (rawWith) add one
// part of the contract each, so that the gap between raw and direct can be
// put down to its causes.
type ringSink struct {
	validate  bool // Send checks each message, as the sink's does
	shared    bool // Send serialises producers (PushShared), as the sink's does
	validator tlv.Validator
	ring      *ring.Ring[*tlv.Message]
	write     func(a, b []*tlv.Message) (int, error)
	closeConn func() error
	parked    atomic.Bool
	wake      chan struct{} // capacity 1
	stop      atomic.Bool
	exited    chan struct{}
	err       error // why the writer stopped early; read after exited
}

func newRingSink(validate, shared bool, write func(a, b []*tlv.Message) (int, error), closeConn func() error) *ringSink {
	r := &ringSink{validate: validate, shared: shared, ring: ring.New[*tlv.Message](lazy.DefaultBufferSize), write: write,
		closeConn: closeConn, wake: make(chan struct{}, 1), exited: make(chan struct{})}
	go r.run()
	return r
}

// rawWith is raw with parts of the sink contract put back: validation in
// Send, PushShared instead of Push, transport.Conn instead of rawWriter.
func rawWith(validate, shared, transportConn bool) func(setup) (pipe, error) {
	return func(st setup) (pipe, error) {
		if st.producers != 1 && !shared {
			return nil, errors.New("raw is written for one producer")
		}
		if transportConn {
			ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
			defer cancel()
			c, err := transport.Dial(ctx, st.ep)
			if err != nil {
				return nil, err
			}
			return newRingSink(validate, shared, c.WriteBatch, c.Close), nil
		}
		c, err := net.Dial(st.ep.Scheme, st.ep.Addr)
		if err != nil {
			return nil, err
		}
		w := newRawWriter(c)
		return newRingSink(validate, shared, w.writeBatch, c.Close), nil
	}
}

// Send has lazy.Sink's contract and fast path: validate, push, and look at
// one atomic word to learn whether the writer needs waking.
func (r *ringSink) Send(m *tlv.Message) error {
	if r.validate {
		if err := r.validator.Check(m); err != nil {
			return err
		}
	}
	var ok bool
	if r.shared {
		ok = r.ring.PushShared(m)
	} else {
		ok = r.ring.Push(m)
	}
	if !ok {
		if r.ring.Closed() {
			return sink.ErrClosed
		}
		return sink.ErrBufferFull
	}
	if r.parked.Load() && r.parked.CompareAndSwap(true, false) {
		r.kick()
	}
	return nil
}

func (r *ringSink) kick() {
	select {
	case r.wake <- struct{}{}:
	default: // a wake-up is already pending
	}
}

func (r *ringSink) run() {
	defer close(r.exited)
	idle := 0
	for {
		a, b := r.ring.Peek(lazy.DefaultMaxBatch)
		if len(a) == 0 {
			if r.stop.Load() {
				return
			}
			// lazy.IdleBackoff's schedule, so that ringSink idles exactly
			// like the sink it is compared with.
			switch handoff.Backoff.Next(&idle) {
			case handoff.Yield:
				runtime.Gosched()
			case handoff.Park:
				r.park()
			}
			continue
		}
		idle = 0
		n, err := r.write(a, b)
		for _, m := range a[:min(n, len(a))] {
			m.Release()
		}
		for _, m := range b[:max(0, n-len(a))] {
			m.Release()
		}
		r.ring.Discard(n)
		if err != nil {
			r.err = err
			r.ring.Close() // producers get ErrClosed instead of waiting forever
			return
		}
	}
}

// park sleeps until a Send or close wakes it. The flag is set before the
// last look at the ring and Send looks at it after its push, so one of the
// two always sees the other.
func (r *ringSink) park() {
	r.parked.Store(true)
	if r.ring.Len() > 0 || r.stop.Load() {
		r.parked.Store(false)
		return
	}
	<-r.wake
}

// Flush waits until everything pushed so far is written. Like lazy.Sink's,
// it returns as soon as the last batch is consumed, so that the next burst of
// benchSend finds either writer in the same state (still spinning, not
// parked); polling on a timer instead cost direct a wake-up per burst.
func (r *ringSink) Flush(ctx context.Context) error {
	pushed, _ := r.ring.Counts()
	for {
		if _, removed := r.ring.Counts(); removed >= pushed {
			return nil
		}
		select {
		case <-r.exited:
			return fmt.Errorf("writer stopped: %w", r.err)
		case <-ctx.Done():
			return ctx.Err()
		default:
			runtime.Gosched()
		}
	}
}

// Close writes what is queued, then stops the writer and the connection.
func (r *ringSink) Close() error {
	r.ring.Close()
	r.stop.Store(true)
	r.kick()
	<-r.exited
	err := r.closeConn()
	if r.err != nil {
		return r.err
	}
	return err
}

func (r *ringSink) send(m *tlv.Message) error { return sendWaiting(r, m) }

func (*ringSink) flush() error { return nil }

func (r *ringSink) close() error { return r.Close() }

// rawCoalesceMax is the largest frame rawWriter copies, as StreamConn does
// (transport's defaultCoalesceMax): the same strategy, written by hand.
const rawCoalesceMax = 512

// rawWriter writes a batch the way a careful hand-written writer would:
// frames up to rawCoalesceMax bytes copied into one 64 KiB buffer, larger
// ones passed as they are, and the lot handed to net.Buffers.WriteTo on the
// bare *net.UnixConn or *net.TCPConn, which is one writev. The slices live
// in the struct because a fresh net.Buffers per batch would allocate.
type rawWriter struct {
	conn net.Conn
	buf  []byte // never grown, so that bufs may point into it
	bufs net.Buffers
	back [][]byte
}

func newRawWriter(c net.Conn) *rawWriter {
	return &rawWriter{conn: c, buf: make([]byte, 0, 64<<10), back: make([][]byte, 0, lazy.DefaultMaxBatch)}
}

func (w *rawWriter) writeBatch(a, b []*tlv.Message) (int, error) {
	w.bufs, w.buf = w.back[:0], w.buf[:0]
	run := 0 // start in buf of the frames not yet in bufs
	endRun := func() {
		if run < len(w.buf) {
			w.bufs = append(w.bufs, w.buf[run:])
		}
		run = len(w.buf)
	}
	for _, ms := range [...][]*tlv.Message{a, b} {
		for _, m := range ms {
			p := m.Bytes()
			if len(p) > rawCoalesceMax {
				endRun()
				w.bufs = append(w.bufs, p)
				continue
			}
			if len(w.buf)+len(p) > cap(w.buf) {
				endRun()
				if err := w.writeOut(); err != nil {
					return 0, err
				}
				run = 0
			}
			w.buf = append(w.buf, p...)
		}
	}
	endRun()
	if err := w.writeOut(); err != nil {
		return 0, err
	}
	return len(a) + len(b), nil
}

func (w *rawWriter) writeOut() error {
	w.back = w.bufs[:0]
	_, err := w.bufs.WriteTo(w.conn)
	clear(w.back[:cap(w.back)]) // forget the messages' buffers before they are released
	w.bufs, w.buf = w.back[:0], w.buf[:0]
	return err
}

// bufioPipe is the producer writing into a 64 KiB bufio.Writer on the
// socket itself: no goroutine, no queue, and a write syscall only when the
// buffer is full, or, as bufio-flush, a Flush after every message (what a
// producer that wants each message out at once writes). Several producers
// share it behind a mutex.
type bufioPipe struct {
	c         net.Conn
	w         *bufio.Writer
	mu        *sync.Mutex // nil for one producer, which needs none
	flushEach bool
}

func openBufio(flushEach bool) func(setup) (pipe, error) {
	return func(st setup) (pipe, error) {
		c, err := net.Dial(st.ep.Scheme, st.ep.Addr)
		if err != nil {
			return nil, err
		}
		p := &bufioPipe{c: c, w: bufio.NewWriterSize(c, 64<<10), flushEach: flushEach}
		if st.producers > 1 {
			p.mu = new(sync.Mutex)
		}
		return p, nil
	}
}

func (p *bufioPipe) send(m *tlv.Message) error {
	if p.mu != nil {
		p.mu.Lock()
		defer p.mu.Unlock()
	}
	_, err := p.w.Write(m.Bytes())
	m.Release()
	if err == nil && p.flushEach {
		err = p.w.Flush()
	}
	return err
}

func (p *bufioPipe) flush() error {
	if p.mu != nil {
		p.mu.Lock()
		defer p.mu.Unlock()
	}
	return p.w.Flush()
}

func (p *bufioPipe) close() error {
	err := p.w.Flush()
	return errors.Join(err, p.c.Close())
}

// chanPipe is the common Go design: producers send on a buffered channel
// (as deep as the sink's ring) and a writer goroutine takes what is there,
// up to a batch, and writes it with net.Buffers (one writev). T is what
// travels on the channel: the message itself (implChan, released after the
// write) or a copy of its bytes in a fresh slice (implChanAlloc).
type chanPipe[T any] struct {
	c      net.Conn
	ch     chan T
	put    func(*tlv.Message) T // what send puts on the channel for m
	bytes  func(T) []byte
	done   func(T) // after the write
	exited chan struct{}
	err    error // the first write error; read after exited
}

func openChanOf[T any](st setup, put func(*tlv.Message) T, bytes func(T) []byte, done func(T)) (pipe, error) {
	c, err := net.Dial(st.ep.Scheme, st.ep.Addr)
	if err != nil {
		return nil, err
	}
	p := &chanPipe[T]{c: c, ch: make(chan T, lazy.DefaultBufferSize), put: put, bytes: bytes, done: done,
		exited: make(chan struct{})}
	go p.run()
	return p, nil
}

func openChan(st setup) (pipe, error) {
	return openChanOf(st, func(m *tlv.Message) *tlv.Message { return m }, (*tlv.Message).Bytes, (*tlv.Message).Release)
}

// openChanAlloc is the channel design with one allocation per message: the
// producer copies each built message into a new slice and recycles the
// message at once, as code that encodes into a fresh buffer per message
// does; the writer drops the slice after the write.
func openChanAlloc(st setup) (pipe, error) {
	return openChanOf(st, func(m *tlv.Message) []byte {
		b := append([]byte(nil), m.Bytes()...)
		m.Release()
		return b
	}, func(b []byte) []byte { return b }, func([]byte) {})
}

func (p *chanPipe[T]) run() {
	defer close(p.exited)
	batch := make([]T, 0, lazy.DefaultMaxBatch)
	back := make([][]byte, 0, lazy.DefaultMaxBatch)
	for m := range p.ch {
		batch = append(batch[:0], m)
	more:
		for len(batch) < cap(batch) {
			select {
			case m, ok := <-p.ch:
				if !ok {
					break more
				}
				batch = append(batch, m)
			default:
				break more
			}
		}
		bufs := net.Buffers(back[:0])
		for _, m := range batch {
			bufs = append(bufs, p.bytes(m))
		}
		if p.err == nil {
			_, p.err = bufs.WriteTo(p.c)
		}
		clear(back[:cap(back)])
		for _, m := range batch {
			p.done(m)
		}
		clear(batch)
	}
}

func (p *chanPipe[T]) send(m *tlv.Message) error {
	p.ch <- p.put(m)
	return nil
}

func (*chanPipe[T]) flush() error { return nil }

func (p *chanPipe[T]) close() error {
	close(p.ch)
	<-p.exited
	return errors.Join(p.err, p.c.Close())
}

// writePerMsgPipe makes one write syscall per message, from the producer.
// net.Conn.Write is safe for concurrent use and writes each call whole.
type writePerMsgPipe struct{ c net.Conn }

func openWritePerMsg(st setup) (pipe, error) {
	c, err := net.Dial(st.ep.Scheme, st.ep.Addr)
	if err != nil {
		return nil, err
	}
	return writePerMsgPipe{c}, nil
}

func (p writePerMsgPipe) send(m *tlv.Message) error {
	_, err := p.c.Write(m.Bytes())
	m.Release()
	return err
}

func (writePerMsgPipe) flush() error { return nil }

func (p writePerMsgPipe) close() error { return p.c.Close() }
