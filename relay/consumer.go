package relay

import (
	"errors"
	"fmt"
	"net"
	"os"
	"runtime"
	"sync"
	"sync/atomic"
	"syscall"
	"time"

	"github.com/msgsink/msgsink/internal/handoff"
	"github.com/msgsink/msgsink/internal/inbound"
	"github.com/msgsink/msgsink/internal/iovec"
	"github.com/msgsink/msgsink/ring"
	"github.com/msgsink/msgsink/tlv"
)

// end is why a consumer's connection ended.
type end uint8

const (
	endHangup      end = iota // the consumer closed its end
	endLagged                 // its oldest queued frame got older than MaxLag
	endProtocol               // it sent something after its Subscribe
	endWriteFailed            // a write to it failed
	endRelayClosed            // Close
)

var endNames = [...]string{"hung up", "lagged past max_lag", "sent data after subscribing", "write failed", "relay closed"}

func (e end) String() string { return endNames[e] }

// consumer is one subscribed connection and its queue. Producers offer it
// spans (offer, under mu, which orders their pushes onto the single-producer
// ring); its writer goroutine (run) drains the ring into the socket with
// writev; the connection's own goroutine (watch) reads, to notice a hang-up.
type consumer struct {
	r  *Relay
	id uint64
	nc net.Conn
	rc syscall.RawConn
	q  *ring.Ring[span]

	// Producer side.
	mu     sync.Mutex
	closed bool   // under mu: no more spans are queued
	drops  uint64 // under mu: frames dropped for this consumer
	// pendFrames and pendBytes are what the ring holds: raised by producers
	// under mu before they push, lowered by the writer after it discards.
	pendFrames, pendBytes atomic.Int64
	// gate parks the writer and hands the writing side to a producer that
	// finds it parked (handoff); the low byte of its word is unused.
	gate handoff.Gate

	stop chan struct{} // closed by shutdown
	once sync.Once
	why  end // set once, by shutdown

	// Writer side, owned by run, or by a producer writing through.
	w       iovec.Writer // the iovecs of the spans being written, and their writev
	skip    int          // bytes of the first queued span a write through left written
	written uint64
}

// consume turns the connection into a consumer after its first frame, a
// Subscribe of frameLen bytes at the start of s's unread bytes, and watches
// it until it ends.
func (r *Relay) consume(cn *conn, s *stream, frameLen int, role uint8) {
	if role != tlv.RoleConsumer {
		r.reject(cn, "consumer", reasonProtocol,
			fmt.Errorf("subscribe role %d: only %d (consumer) is supported", role, tlv.RoleConsumer))
		return
	}
	if extra := s.w - s.off - frameLen; extra > 0 {
		r.reject(cn, "consumer", reasonProtocol,
			fmt.Errorf("%d bytes after the Subscribe frame: a consumer sends nothing else", extra))
		return
	}
	s.c.Release()
	s.c = nil
	k := r.subscribe(cn)
	if k == nil {
		return // the relay is closing
	}
	if s.err == nil {
		k.watch(cn)
	}
	k.shutdown(endHangup)
}

// subscribe registers cn as a consumer and starts its writer, or returns nil
// when the relay is closing.
func (r *Relay) subscribe(cn *conn) *consumer {
	// Accepted Unix and TCP connections are syscall.Conns, whose
	// SyscallConn fails only for a nil connection.
	rc, _ := cn.nc.(syscall.Conn).SyscallConn()
	k := &consumer{
		r:    r,
		id:   cn.id,
		nc:   cn.nc,
		rc:   rc,
		q:    ring.New[span](r.cfg.queue),
		stop: make(chan struct{}),
	}
	k.gate.Init()
	k.w.Init()
	r.mu.Lock()
	if r.closed {
		r.mu.Unlock()
		return nil
	}
	cn.k = k
	old := *r.subs.Load()
	subs := make([]*consumer, len(old), len(old)+1)
	copy(subs, old)
	subs = append(subs, k)
	r.subs.Store(&subs)
	r.count.consumers.Add(1)
	r.count.consumersTotal.Add(1)
	r.wg.Add(1)
	r.mu.Unlock()
	go k.run()
	r.log.Info("relay: consumer subscribed", "conn", k.id, "consumers", len(subs))
	return k
}

// unsubscribe removes k from the list producers forward to.
func (r *Relay) unsubscribe(k *consumer) {
	r.mu.Lock()
	defer r.mu.Unlock()
	old := *r.subs.Load()
	subs := make([]*consumer, 0, len(old))
	for _, o := range old {
		if o != k {
			subs = append(subs, o)
		}
	}
	r.subs.Store(&subs)
	r.count.consumers.Add(-1)
}

// watch reads the consumer's connection until it ends. A consumer sends
// nothing after its Subscribe, so any byte is a protocol violation.
func (k *consumer) watch(cn *conn) {
	var b [64]byte
	for {
		n, err := k.nc.Read(b[:])
		if n > 0 {
			k.r.reject(cn, "consumer", reasonProtocol,
				errors.New("data after the Subscribe frame: a consumer sends nothing else"))
			k.shutdown(endProtocol)
			return
		}
		if err != nil {
			return
		}
	}
}

// shutdown ends the consumer, once: no span is queued after it returns, and
// the writer, woken or failing on the closed socket, discards what is left.
func (k *consumer) shutdown(why end) {
	k.once.Do(func() {
		k.why = why
		k.r.unsubscribe(k)
		k.mu.Lock()
		k.closed = true
		k.mu.Unlock()
		close(k.stop)
		_ = k.nc.Close()
		if why == endLagged {
			k.r.count.lagged.Add(1)
		}
	})
}

// offer queues sp for the consumer, or as much of it as the queue limits
// allow, in whole frames; the rest is dropped and counted. It never waits for
// the consumer. Called by producers.
func (k *consumer) offer(sp span) {
	c := &k.r.count
	k.mu.Lock()
	if k.closed {
		k.mu.Unlock()
		c.discards.Add(uint64(sp.frames))
		return
	}
	take := sp
	roomFrames := int64(k.r.cfg.queue) - k.pendFrames.Load()
	roomBytes := int64(k.r.cfg.queueBytes) - k.pendBytes.Load()
	if int64(sp.frames) > roomFrames || int64(sp.end-sp.off) > roomBytes {
		take = sp.prefix(roomFrames, roomBytes)
	}
	if take.frames > 0 {
		take.c.Retain()
		k.pendFrames.Add(int64(take.frames))
		k.pendBytes.Add(int64(take.end - take.off))
		if !k.q.Push(take) {
			// Every queued span holds at least one of the ConsumerQueue
			// frames the ring has room for.
			panic("relay: consumer ring full below its frame limit")
		}
	}
	dropped := sp.frames - take.frames
	k.drops += uint64(dropped)
	k.mu.Unlock()
	if dropped > 0 {
		c.drops.Add(uint64(dropped))
	}
	if take.frames > 0 {
		k.wakeWriter()
	}
}

// wakeWriter is offer's hand-off to a parked writer (see handoff). After a
// quiet spell the producer writes the oldest queued span itself with one
// non-blocking writev, as the lazy sink's Send does: the frame reaches the
// consumer without the ~20 µs wake-up of the writer goroutine. Otherwise, or
// when the socket does not take it all, the writer is kicked.
func (k *consumer) wakeWriter() {
	if r, _ := k.gate.Wake(k.gate.Word.Load()); r == handoff.WriteThrough {
		k.writeThrough()
	}
}

// writeThrough writes the oldest queued span with one non-blocking writev,
// by a producer that owns the writing side. A part the socket did not take
// stays queued, with k.skip saying how much of it is out.
func (k *consumer) writeThrough() {
	whole := false
	if a, _ := k.q.Peek(1); len(a) == 1 {
		whole = k.write(a, nil, true) == nil
	}
	if k.gate.EndThrough(whole) && k.q.Len() > 0 {
		k.wakeWriter()
	}
}

// prefix returns the longest run of whole frames from the start of s that
// holds at most frames frames and bytes bytes.
func (s span) prefix(frames, bytes int64) span {
	p := s
	p.end, p.frames = s.off, 0
	for p.frames < s.frames && int64(p.frames) < frames {
		n := int32(inbound.FrameLen(s.c.Buf[p.end:]))
		if int64(p.end+n-s.off) > bytes {
			break
		}
		p.end += n
		p.frames++
	}
	return p
}

// run is the consumer's writer goroutine.
func (k *consumer) run() {
	defer k.r.wg.Done()
	k.shutdown(k.pump())
	k.drain()
	k.mu.Lock()
	drops := k.drops
	k.mu.Unlock()
	k.r.log.Info("relay: consumer disconnected", "conn", k.id, "reason", k.why.String(),
		"frames_out", k.written, "drops", drops)
}

// pump writes what the queue holds until the consumer ends, and returns why
// it did.
func (k *consumer) pump() end {
	maxLag := int64(k.r.cfg.maxLag)
	rounds := 0
	for {
		a, b := k.q.Peek(iovec.Max)
		if len(a) == 0 {
			if !k.idle(&rounds) {
				return endRelayClosed // shutdown came first and set the reason
			}
			continue
		}
		rounds = 0
		head := a[0].at
		if k.r.now()-head > maxLag {
			return endLagged
		}
		// A write still blocked when the oldest frame in it turns MaxLag old
		// fails: a consumer that stopped reading is caught without a timer.
		_ = k.nc.SetWriteDeadline(k.r.epoch.Add(time.Duration(head + maxLag)))
		if err := k.write(a, b, false); err != nil {
			if errors.Is(err, os.ErrDeadlineExceeded) {
				return endLagged
			}
			return endWriteFailed
		}
	}
}

// idleSchedule is the consumer writer's: it never spins, since a relay
// runs a writer per consumer beside the producers' readers, and a spinning
// writer takes the core they need (see handoff.YieldThenPark).
var idleSchedule = handoff.YieldThenPark

// idle is one round of waiting for the queue to hold something, by
// idleSchedule. It reports false when the consumer was shut down instead.
func (k *consumer) idle(rounds *int) bool {
	switch idleSchedule.Next(rounds) {
	case handoff.Spin:
		return true
	case handoff.Yield:
		runtime.Gosched()
		return true
	}
	// A write through must not meet the deadline of the last batch, long
	// past by the time the next frame comes.
	_ = k.nc.SetWriteDeadline(time.Time{})
	k.gate.Park(true)
	defer k.gate.Unpark()
	if k.q.Len() > 0 {
		return true
	}
	select {
	case <-k.gate.C():
		return true
	case <-k.stop:
		return false
	}
}

// write writes the spans of a then b with writev and removes them from the
// queue, counting the frames the socket took whole as written and the rest as
// discarded. It does not allocate unless it fails.
//
// A write waits through the netpoller until all is written; a try (a
// write through) makes one attempt, and a part it leaves unwritten stays
// queued, with k.skip saying how much of the first span is out, for the
// next write to go on from.
func (k *consumer) write(a, b []span, try bool) error {
	skip := k.skip
	k.skip = 0
	sent := skip // what of a then b is on the socket
	frames, bytes := 0, 0
	var last *span
	for _, ss := range [2][]span{a, b} {
		for i := range ss {
			s := &ss[i]
			frames += int(s.frames)
			bytes += int(s.end - s.off)
			// Spans of one producer's read that follow each other in the
			// queue are one iovec.
			if last != nil && last.c == s.c && last.end == s.off {
				v := &k.w.Iov[k.w.N-1]
				v.SetLen(int(v.Len) + int(s.end-s.off))
			} else {
				k.w.Iov[k.w.N].Base = &s.c.Buf[int(s.off)+skip]
				k.w.Iov[k.w.N].SetLen(int(s.end-s.off) - skip)
				k.w.N++
			}
			skip = 0
			last = s
		}
	}
	var n int
	var err error
	if try {
		n, err = k.w.Try(k.rc)
	} else {
		n, err = k.w.Write(k.rc)
	}
	sent += n
	if err == nil && sent < bytes {
		k.skip = sent // a write through the socket did not take whole
		return errShort
	}
	outFrames, outBytes := frames, bytes
	if err != nil {
		outFrames, outBytes = wholeFrames(a, b, sent)
	}
	for _, ss := range [2][]span{a, b} {
		for i := range ss {
			ss[i].c.Release()
		}
	}
	k.q.Discard(len(a) + len(b))
	// The order is Stats's: bytes before frames, and both before the frames
	// leave Pending, so that a snapshot that sees them gone from Pending, or
	// sees the frames counted, also sees their bytes.
	c := &k.r.count
	c.bytesOut.Add(uint64(outBytes))
	c.framesOut.Add(uint64(outFrames))
	if frames > outFrames {
		c.discards.Add(uint64(frames - outFrames))
	}
	k.pendBytes.Add(-int64(bytes))
	k.pendFrames.Add(-int64(frames))
	k.written += uint64(outFrames)
	return err
}

// errShort is write's answer when a write through left part of its span
// unwritten; the writer writes the rest.
var errShort = errors.New("relay: write through was short")

// wholeFrames counts the frames of a then b, and their bytes, that end
// within the first sent bytes.
func wholeFrames(a, b []span, sent int) (frames, bytes int) {
	for _, ss := range [2][]span{a, b} {
		for i := range ss {
			p := ss[i].bytes()
			if bytes+len(p) <= sent {
				frames += int(ss[i].frames)
				bytes += len(p)
				continue
			}
			for n := inbound.FrameLen(p); bytes+n <= sent; n = inbound.FrameLen(p) {
				frames++
				bytes += n
				p = p[n:]
			}
			return frames, bytes
		}
	}
	return frames, bytes
}

// drain discards what the queue still holds after shutdown, when no producer
// pushes any more.
func (k *consumer) drain() {
	for {
		a, b := k.q.Peek(k.q.Cap())
		if len(a) == 0 {
			return
		}
		frames, bytes := 0, 0
		for _, ss := range [2][]span{a, b} {
			for i := range ss {
				frames += int(ss[i].frames)
				bytes += int(ss[i].end - ss[i].off)
				ss[i].c.Release()
			}
		}
		k.q.Discard(len(a) + len(b))
		k.r.count.discards.Add(uint64(frames)) // counted before they leave Pending, as in write
		k.pendBytes.Add(-int64(bytes))
		k.pendFrames.Add(-int64(frames))
	}
}
