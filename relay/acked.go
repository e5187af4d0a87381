package relay

import (
	"net"
	"sync"
	"time"

	"github.com/msgsink/msgsink/tlv"
)

// The pace of Acks (SPEC section 3, Delivery): an acked producer hears
// from the relay every ackEvery frames, and ackInterval after the last Ack
// while frames arrive, and within ackInterval of its last frame.
const (
	ackEvery    = 1024
	ackInterval = time.Millisecond
	// acksPerFrame bounds the Ack records of one frame, so that a frame
	// stays small for the sink that reads it (transport.MaxInboundFrame).
	acksPerFrame = 64
)

// dedupe is the relay's memory of the sequences of acked producers,
// shared by all their connections: a sink that reconnects sends again what
// was not acknowledged, and what this relay already forwarded is dropped.
// Like the source package's tracker, a sequence at or below the last one of
// its source is a duplicate, except 1 after higher ones: the producer
// restarted and numbers again from the start. A relay that restarts
// remembers nothing, so what a sink resends to it is forwarded again;
// receivers drop those duplicates by (source, sequence).
//
// An acked producer holds mu from the first frame it admits to the forward
// of the last one of a scan: admitting and forwarding in one piece is what
// keeps two connections of one source (a reconnect racing the old
// connection's last bytes) from forwarding its frames out of order. Acked
// producers' scans therefore take turns; others do not wait.
type dedupe struct {
	mu   sync.Mutex
	seen [256]bool
	last [256]uint64
}

// admit reports whether the frame of src numbered seq is new, and records
// it. With mu held.
func (d *dedupe) admit(src uint8, seq uint64) bool {
	if last := d.last[src]; d.seen[src] && seq <= last && (seq != 1 || last <= 1) {
		return false
	}
	d.seen[src], d.last[src] = true, seq
	return true
}

// acker acknowledges the frames of one acked producer: the stream's scan
// records each frame it accepts (take) and then lets it send the Acks that
// are due (due); a timer sends the rest when the frames stop.
type acker struct {
	r  *Relay
	nc net.Conn

	// mu orders the producer's goroutine and the timer's; the producer
	// holds it for a whole scan.
	mu      sync.Mutex
	hw      [256]uint64 // per source: the highest sequence received, to acknowledge
	dirty   []uint8     // sources whose hw has not been acknowledged yet
	isDirty [256]bool
	frames  int   // frames received since the last Ack
	last    int64 // relay clock at the last Ack
	timer   *time.Timer
	armed   bool
	closed  bool
	failed  bool // a write failed: the connection is going, send nothing more
	b       *tlv.Builder
}

func newAcker(r *Relay, nc net.Conn) *acker {
	a := &acker{r: r, nc: nc, dirty: make([]uint8, 0, 256), b: tlv.NewBuilder(tlv.DomainSystem, ControlSource)}
	a.last = r.now()
	a.timer = time.AfterFunc(time.Hour, a.fire)
	a.timer.Stop()
	return a
}

// take records frame f, which is whole and valid, and reports whether it
// is new: a duplicate is acknowledged too (it arrived), but not forwarded.
// It is called with mu held.
func (a *acker) take(f []byte) bool {
	h := tlv.Header(f[:tlv.HeaderSize])
	src, seq := h.Source(), h.Sequence()
	a.hw[src] = max(a.hw[src], seq)
	if !a.isDirty[src] {
		a.isDirty[src] = true
		a.dirty = append(a.dirty, src)
	}
	a.frames++
	return a.r.dups.admit(src, seq)
}

// due sends the Acks due after a scan that took frames, or arms the timer
// for them; it is called with mu held, after the frames were forwarded.
func (a *acker) due() {
	if len(a.dirty) == 0 {
		return
	}
	now := a.r.now()
	if a.frames >= ackEvery || now-a.last >= int64(ackInterval) {
		a.send(now)
		return
	}
	if !a.armed {
		a.armed = true
		a.timer.Reset(time.Duration(int64(ackInterval) - (now - a.last)))
	}
}

// fire is the timer's: the frames stopped before an Ack was due.
func (a *acker) fire() {
	a.mu.Lock()
	defer a.mu.Unlock()
	a.armed = false
	if !a.closed {
		a.send(a.r.now())
	}
}

// send writes one Ack per source received since the last Ack, at most
// acksPerFrame to a frame. With mu held.
func (a *acker) send(now int64) {
	a.last, a.frames = now, 0
	for i := 0; i < len(a.dirty) && !a.failed; i += acksPerFrame {
		for _, src := range a.dirty[i:min(i+acksPerFrame, len(a.dirty))] {
			a.b.AppendAck(src, a.hw[src])
		}
		m, err := a.b.Finish()
		if err != nil { // cannot happen: the builder's settings are fixed
			a.failed = true
			break
		}
		_, err = a.nc.Write(m.Bytes())
		m.Release()
		if err != nil {
			a.failed = true // the read side will end the producer
			break
		}
		a.r.count.acks.Add(1)
	}
	for _, src := range a.dirty {
		a.isDirty[src] = false
	}
	a.dirty = a.dirty[:0]
}

// close sends what is still due, if the connection takes it, and stops the
// timer; a timer already firing finds the acker closed.
func (a *acker) close() {
	a.mu.Lock()
	defer a.mu.Unlock()
	a.send(a.r.now())
	a.closed = true
	a.timer.Stop()
}
