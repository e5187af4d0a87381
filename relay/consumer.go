package relay

import (
	"errors"
	"fmt"
	"math/bits"
	"net"
	"os"
	"runtime"
	"sync"
	"sync/atomic"
	"syscall"
	"time"
	"unsafe"

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
// rings); its writer goroutine (run) drains the rings into the socket with
// writev; the connection's own goroutine (watch) reads, to notice a hang-up.
//
// The queue is a chain of rings, each twice the size of the one before:
// it starts with initialQueueSlots slots and grows as it fills, up to a
// ring that holds ConsumerQueue spans, within the relay's QueueBudget. A
// consumer that keeps up never costs more than its first ring. Producers
// push to the newest ring only; the writer drains the oldest, and moves on
// (freeing it) once it is empty and a newer one exists, so no span is ever
// in two rings and the order holds.
type consumer struct {
	r  *Relay
	id uint64
	nc net.Conn
	rc syscall.RawConn

	// Producer side.
	mu     sync.Mutex
	closed bool     // under mu: no more spans are queued
	drops  uint64   // under mu: frames dropped for this consumer
	tail   *segment // under mu: the ring producers push to
	// pendFrames and pendBytes are what the ring holds: raised by producers
	// under mu before they push, lowered by the writer after it discards.
	pendFrames, pendBytes atomic.Int64
	// gate parks the writer and hands the writing side to a producer that
	// finds it parked (handoff); the low byte of its word is unused.
	gate handoff.Gate

	stop chan struct{} // closed by shutdown
	once sync.Once
	why  end // set once, by shutdown
	// lagged is set by the writer before it gives a lagging consumer its
	// notice: the consumer, reading the Disconnect, hangs up, and the
	// reader's shutdown(endHangup) can come first. It is still a lag.
	lagged atomic.Bool

	// Writer side, owned by run, or by a producer writing through.
	head    *segment     // the ring the writer drains
	w       iovec.Writer // the iovecs of the spans being written, and their writev
	skip    int          // bytes of the first queued span a write through left written
	written uint64
	// torn is the unsent rest of a frame, tornLen bytes whole, that a write
	// cut at the lag deadline: still counted as pending, for sayLagged to
	// finish (written) or give up (discarded).
	torn    []byte
	tornLen int
}

// segment is one ring of a consumer's queue.
type segment struct {
	q *ring.Ring[span]
	// next is the newer ring, set by the producer that made it, after its
	// last push to this one.
	next atomic.Pointer[segment]
}

// initialQueueSlots is the ring a consumer's queue starts with (at most
// ConsumerQueue slots): 8 KiB, against the 4 MiB of a full default queue.
const initialQueueSlots = 256

// spanSize is the memory of one queue slot.
const spanSize = int(unsafe.Sizeof(span{}))

// minQueueBudget is the smallest QueueBudget: one consumer's first ring.
const minQueueBudget = initialQueueSlots * spanSize

// newSegment allocates a ring of at least slots slots within the relay's
// QueueBudget, counted in Stats.QueueBytes, or returns nil, counting
// nothing, when the budget has no room for it. The budget is checked before
// the ring is allocated, so a queue that may not grow allocates nothing.
func (k *consumer) newSegment(slots int) *segment {
	n := int64(1<<bits.Len(uint(slots-1))) * int64(spanSize) // ring.New's capacity: a power of two
	c := &k.r.count
	if c.queueBytes.Add(n) > k.r.cfg.budget {
		c.queueBytes.Add(-n)
		return nil
	}
	return &segment{q: ring.New[span](slots)}
}

// free gives back the memory of a ring the writer left.
func (k *consumer) free(g *segment) {
	k.r.count.queueBytes.Add(-int64(g.q.Cap() * spanSize))
}

// front returns the ring the writer drains: the oldest that may hold spans.
// A ring that is empty once a newer one exists gets no more spans, so the
// writer frees it and moves on. Called by whoever owns the writing side.
func (k *consumer) front() *ring.Ring[span] {
	for {
		g := k.head
		// next before Len: a next that is set was set after the last push
		// to g, which Len then sees.
		next := g.next.Load()
		if next == nil || g.q.Len() > 0 {
			return g.q
		}
		k.head = next
		k.free(g)
	}
}

// push queues sp on the newest ring, growing the queue when that ring is
// full. It reports false, having queued nothing, when the queue may not grow
// within QueueBudget. Called under mu.
func (k *consumer) push(sp span) bool {
	if k.tail.q.Push(sp) {
		return true
	}
	// The queue holds fewer than ConsumerQueue frames, and each span at
	// least one: a ring of ConsumerQueue slots is never full.
	if k.tail.q.Cap() >= k.r.cfg.queue {
		panic("relay: consumer ring full below its frame limit")
	}
	g := k.newSegment(2 * k.tail.q.Cap())
	if g == nil {
		return false
	}
	k.tail.next.Store(g)
	k.tail = g
	return g.q.Push(sp)
}

// consume turns the connection into a consumer after its first frame, a
// Subscribe of frameLen bytes at the start of s's unread bytes, and watches
// it until it ends.
func (r *Relay) consume(cn *conn, s *stream, frameLen int, role uint8) {
	if role != tlv.RoleConsumer {
		r.reject(cn, "consumer", inbound.ReasonProtocol,
			fmt.Errorf("subscribe role %d: want %d (consumer) or %d (producer asking for acks)", role, tlv.RoleConsumer, tlv.RoleProducer))
		return
	}
	if extra := s.w - s.off - frameLen; extra > 0 {
		r.reject(cn, "consumer", inbound.ReasonProtocol,
			fmt.Errorf("%d bytes after the Subscribe frame: a consumer sends nothing else", extra))
		return
	}
	s.done()
	k := r.subscribe(cn)
	if k == nil {
		return // the relay is closing, or has no memory for its queue
	}
	if s.err == nil {
		k.watch(cn)
	}
	k.shutdown(endHangup)
}

// subscribe registers cn as a consumer and starts its writer, or returns nil
// when the relay is closing or QueueBudget has no room for its first ring.
func (r *Relay) subscribe(cn *conn) *consumer {
	// Accepted Unix and TCP connections are syscall.Conns, whose
	// SyscallConn fails only for a nil connection.
	rc, _ := cn.nc.(syscall.Conn).SyscallConn()
	k := &consumer{
		r:    r,
		id:   cn.id,
		nc:   cn.nc,
		rc:   rc,
		stop: make(chan struct{}),
	}
	k.gate.Init()
	k.w.Init()
	k.tail = k.newSegment(min(r.cfg.queue, initialQueueSlots))
	if k.tail == nil {
		r.count.refused.Add(1)
		r.cfg.log.Warn("relay: consumer refused: the consumer queues take all of queue_budget; closing its connection",
			"conn", cn.id, "queue_budget", r.cfg.budget)
		return nil
	}
	k.head = k.tail
	r.mu.Lock()
	if r.closed {
		r.mu.Unlock()
		k.free(k.head)
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
	r.cfg.log.Info("relay: consumer subscribed", "conn", k.id, "consumers", len(subs))
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
			k.r.reject(cn, "consumer", inbound.ReasonProtocol,
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
		if k.lagged.Load() {
			why = endLagged
		}
		k.why = why
		if why == endLagged {
			// Counted before the consumer leaves: a Stats snapshot that
			// sees it gone, or its frames discarded, sees it lagged.
			k.r.count.lagged.Add(1)
		}
		k.r.unsubscribe(k)
		k.mu.Lock()
		k.closed = true
		k.mu.Unlock()
		close(k.stop)
		_ = k.nc.Close()
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
	budget := false
	if take.frames > 0 {
		// Retained and counted before the push: the writer may write
		// and release the span at once.
		take.c.Retain()
		k.pendFrames.Add(int64(take.frames))
		k.pendBytes.Add(int64(take.end - take.off))
		if !k.push(take) {
			k.pendBytes.Add(-int64(take.end - take.off))
			k.pendFrames.Add(-int64(take.frames))
			take.c.Release() // the producer holds the chunk too: never the last
			take.frames, budget = 0, true
		}
	}
	dropped := sp.frames - take.frames
	k.drops += uint64(dropped)
	k.mu.Unlock()
	if dropped > 0 {
		if budget {
			c.budgetDrops.Add(uint64(dropped)) // before drops, as Stats reads them
		}
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
	if a, _ := k.front().Peek(1); len(a) == 1 {
		whole = k.write(a, nil, true) == nil
	}
	if k.gate.EndThrough(whole) && k.front().Len() > 0 {
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
	why := k.pump()
	if why == endLagged {
		k.lagged.Store(true)
		k.sayLagged()
	}
	k.shutdown(why)
	k.drain()
	// No producer grows the queue after shutdown: what is left is freed.
	for g := k.head; g != nil; g = g.next.Load() {
		k.free(g)
	}
	k.mu.Lock()
	drops := k.drops
	k.mu.Unlock()
	k.r.cfg.log.Info("relay: consumer disconnected", "conn", k.id, "reason", k.why.String(),
		"frames_out", k.written, "drops", drops)
}

// pump writes what the queue holds until the consumer ends, and returns why
// it did.
func (k *consumer) pump() end {
	maxLag := int64(k.r.cfg.maxLag)
	rounds := 0
	for {
		a, b := k.front().Peek(iovec.Max)
		if len(a) == 0 {
			if !k.idle(&rounds) {
				return endRelayClosed // shutdown came first and set the reason
			}
			continue
		}
		rounds = 0
		head := a[0].at
		if k.r.now()-head > maxLag {
			if k.skip > 0 {
				// A write through left a frame half out: finish its span
				// within the notice's time, so the consumer sees no torn
				// frame before the Disconnect (sayLagged).
				_ = k.nc.SetWriteDeadline(time.Now().Add(lagNoticeTimeout))
				_ = k.write(a[:1], nil, false)
			}
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
	if k.front().Len() > 0 {
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
	held, heldBytes := 0, 0 // a torn frame kept pending for sayLagged
	if err != nil {
		var torn []byte
		outFrames, outBytes, torn = wholeFrames(a, b, sent)
		if torn != nil && !try && errors.Is(err, os.ErrDeadlineExceeded) {
			// sayLagged sends the unsent rest before its notice.
			k.torn, k.tornLen = append([]byte(nil), torn[sent-outBytes:]...), len(torn)
			held, heldBytes = 1, k.tornLen
		}
	}
	for _, ss := range [2][]span{a, b} {
		for i := range ss {
			ss[i].c.Release()
		}
	}
	k.head.q.Discard(len(a) + len(b))
	// The order is Stats's: bytes before frames, and both before the frames
	// leave Pending, so that a snapshot that sees them gone from Pending, or
	// sees the frames counted, also sees their bytes.
	c := &k.r.count
	c.bytesOut.Add(uint64(outBytes))
	c.framesOut.Add(uint64(outFrames))
	if frames > outFrames+held {
		c.discards.Add(uint64(frames - outFrames - held))
	}
	k.pendBytes.Add(-int64(bytes - heldBytes))
	k.pendFrames.Add(-int64(frames - held))
	k.written += uint64(outFrames)
	return err
}

// errShort is write's answer when a write through left part of its span
// unwritten; the writer writes the rest.
var errShort = errors.New("relay: write through was short")

// wholeFrames counts the frames of a then b, and their bytes, that end
// within the first sent bytes, and returns the frame those bytes end inside
// (a view of its span), nil when they end between frames. Spans hold whole
// frames.
func wholeFrames(a, b []span, sent int) (frames, bytes int, torn []byte) {
	for _, ss := range [2][]span{a, b} {
		for i := range ss {
			p := ss[i].bytes()
			if bytes+len(p) <= sent {
				frames += int(ss[i].frames)
				bytes += len(p)
				continue
			}
			n := inbound.FrameLen(p)
			for ; bytes+n <= sent; n = inbound.FrameLen(p) {
				frames++
				bytes += n
				p = p[n:]
			}
			if bytes < sent {
				torn = p[:n]
			}
			return frames, bytes, torn
		}
	}
	return frames, bytes, nil
}

// drain discards what the queue still holds after shutdown, when no producer
// pushes any more.
func (k *consumer) drain() {
	for {
		q := k.front()
		a, b := q.Peek(q.Cap())
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
		q.Discard(len(a) + len(b))
		k.r.count.discards.Add(uint64(frames)) // counted before they leave Pending, as in write
		k.pendBytes.Add(-int64(bytes))
		k.pendFrames.Add(-int64(frames))
	}
}
