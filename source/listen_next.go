package source

import (
	"fmt"
	"math/bits"
	"time"

	"github.com/msgsink/msgsink/internal/checked"
	"github.com/msgsink/msgsink/internal/inbound"
	"github.com/msgsink/msgsink/sink"
	"github.com/msgsink/msgsink/tlv"
)

const (
	// ackEvery and ackInterval are SPEC section 3's bounds on an acked
	// producer's wait: an Ack at least every 1,024 frames returned, or every
	// millisecond while frames are returned.
	ackEvery    = 1024
	ackInterval = time.Millisecond
	// ackClockEvery is how many calls of Next pass between two readings of
	// the clock for ackInterval: a clock read costs more than a frame.
	ackClockEvery = 16
)

// span is a run of whole, validated frames in one chunk, handed to Next;
// it holds one reference to the chunk. A WebSocket connection's span holds
// each frame inside its (unmasked) WebSocket frame.
type span struct {
	c        *inbound.Chunk
	cn       *lconn
	off, end int32 // c.Buf[off:end]
}

// nextState belongs to the goroutine that calls Next: the span being
// returned, the sequence tracker, and what is counted or owed to acked
// producers since it was last published.
type nextState struct {
	sp      span
	off     int // the next frame in sp.c.Buf
	end     int
	ws      bool
	ack     *acker // sp's producer's, when it asked for acks
	seq     Tracker
	closed  error // returned after Close: an error matching sink.ErrClosed
	bytes   uint64
	touched [4]uint64 // producers whose counts changed since publish, a bit each
	// Acks owed to sp's producer since the last post: a bit per source.
	owed     [4]uint64
	sinceAck int
	calls    int
	ackAt    time.Time
}

func (n *nextState) init(name string) {
	n.closed = &sink.Error{Sink: name, Op: "next", Err: sink.ErrClosed}
}

// Next returns the next frame from any producer, waiting for one. Frames of
// one producer come in the order it sent them; frames of different
// producers interleave in runs. The Frame is a view into the Listener's
// read buffer, valid until the next call to Next: copy what must outlive
// it. Frames whose (source, sequence) Next already returned (a producer
// resending after a reconnect) are dropped and counted as duplicates. After
// Close, and when Close ends a blocked Next, the error matches
// sink.ErrClosed. Next belongs to one goroutine.
func (l *Listener) Next() (tlv.Frame, error) {
	if checked.On {
		l.enterNext()
		defer l.exitNext()
	}
	n := &l.nx
	if l.closed.Load() {
		n.finish(l)
		return nil, n.closed
	}
	if n.ack != nil {
		n.calls++
		if n.sinceAck >= ackEvery || n.calls%ackClockEvery == 0 && n.sinceAck > 0 && time.Since(n.ackAt) >= ackInterval {
			n.postAcks()
		}
	}
	for {
		for n.off < n.end {
			b := n.sp.c.Buf[n.off:n.end]
			var f []byte
			if n.ws {
				hlen, plen := wsFrameAt(b)
				f = b[hlen : hlen+plen : hlen+plen]
				n.off += hlen + plen
			} else {
				m := inbound.FrameLen(b)
				f = b[:m:m]
				n.off += m
			}
			h := tlv.Header(f[:tlv.HeaderSize])
			src := h.Source()
			n.touched[src>>6] |= 1 << (src & 63)
			if n.ack != nil {
				n.owed[src>>6] |= 1 << (src & 63)
				n.sinceAck++
			}
			if n.seq.Observe(src, h.Sequence()) {
				continue
			}
			n.bytes += uint64(len(f))
			if n.off == n.end {
				// The span's last frame: what the producer is owed and the
				// counts are published now, so that they are exact while
				// the application holds it.
				n.flush(l)
			}
			return tlv.Frame(f), nil
		}
		if !n.take(l) {
			return nil, n.closed
		}
	}
}

// enterNext and exitNext bracket a Next in the checked build, to catch a
// second goroutine calling it at the same time.
func (l *Listener) enterNext() {
	if !l.nexting.CompareAndSwap(false, true) {
		panic(fmt.Sprintf("source: concurrent Next on Listener %q: Next belongs to one goroutine; "+
			"hand the frames to others from it, copied, since each is valid only until the next call", l.name))
	}
}

func (l *Listener) exitNext() { l.nexting.Store(false) }

// take finishes the current span and starts the next one, waiting for it;
// it returns false when Close ends the wait.
func (n *nextState) take(l *Listener) bool {
	n.finish(l)
	var sp span
	// A span that waits is taken by a plain receive; only when none does
	// is it the dearer select that Close also ends.
	select {
	case sp = <-l.spans:
	default:
		select {
		case sp = <-l.spans:
		case <-l.done:
			return false
		}
	}
	if l.closed.Load() {
		sp.c.Release()
		return false
	}
	n.sp, n.off, n.end = sp, int(sp.off), int(sp.end)
	n.ws = sp.cn.ws
	n.ack = sp.cn.ack.Load()
	if n.ack != nil {
		n.ackAt = time.Now()
	}
	return true
}

// finish ends the current span: the acks owed to its producer are posted,
// its chunk reference released, and the counters published.
func (n *nextState) finish(l *Listener) {
	n.flush(l)
	n.ack = nil
	if n.sp.c != nil {
		n.sp.c.Release()
		n.sp = span{}
		n.off, n.end = 0, 0
	}
}

// flush posts the acks owed and publishes the counts.
func (n *nextState) flush(l *Listener) {
	if n.ack != nil && n.sinceAck > 0 {
		n.postAcks()
	}
	n.publish(&l.count.pub)
}

// postAcks hands the current producer the highest sequence returned of
// every source it sent since the last post, for its acker to send.
func (n *nextState) postAcks() {
	a := n.ack
	a.mu.Lock()
	for w, m := range n.owed {
		a.dirty[w] |= m
		for ; m != 0; m &= m - 1 {
			src := uint8(w<<6 | bits.TrailingZeros64(m))
			a.seqs[src], _ = n.seq.Last(src)
		}
	}
	a.mu.Unlock()
	n.owed = [4]uint64{}
	n.sinceAck = 0
	n.ackAt = time.Now()
	select {
	case a.kick <- struct{}{}:
	default: // a kick is pending: the acker will see these too
	}
}

// publish copies the counts that changed since the last publish where
// Info reads them.
func (n *nextState) publish(p *listenPub) {
	if n.touched == [4]uint64{} {
		return
	}
	p.mu.Lock()
	p.bytes = n.bytes
	p.all = n.seq.all
	for w, m := range n.touched {
		for ; m != 0; m &= m - 1 {
			src := w<<6 | bits.TrailingZeros64(m)
			p.per[src] = n.seq.per[src]
			p.seen[src] = true
		}
	}
	p.mu.Unlock()
	n.touched = [4]uint64{}
}
