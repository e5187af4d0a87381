package relay

import (
	"errors"
	"io"
	"net"
	"os"
	"time"

	"github.com/msgsink/msgsink/internal/inbound"
	"github.com/msgsink/msgsink/tlv"
)

// stream is the read side of one connection: a chunk, the bytes read into it
// and not yet forwarded, and what the last read returned.
type stream struct {
	r  *Relay
	nc net.Conn
	c  *inbound.Chunk
	// c.Buf[off:w] has been read and not forwarded: it starts at a frame
	// boundary and holds less than one whole frame after scan.
	off, w int
	// need is the length of the frame at off when its header is in and has
	// been framed, else tlv.HeaderSize: how much of the chunk the frame needs.
	need   int
	at     int64  // relay clock at the last read
	err    error  // the error of the last read, which ends the stream
	frames uint64 // frames forwarded, for the log

	// c.Buf[off:w], when not empty, is a frame begun at partialAt (relay
	// clock) and not yet whole; deadline is the read deadline set for it, 0
	// for none; held is the part of Stats.PartialBytes this stream added.
	partialAt int64
	deadline  int64
	held      int

	ack *acker // an acked producer's, else nil
}

// fill reads once, after making room for the frame in progress (a chunk
// given up stays with the consumers that still hold spans of it) and giving
// a partial frame its deadline.
func (s *stream) fill() {
	s.c, s.off, s.w = inbound.MakeRoom(s.c, s.off, s.w, s.need)
	s.hold()
	fresh := s.w == s.off
	n, err := s.nc.Read(s.c.Buf[s.w:])
	s.w += n
	s.at = s.r.now()
	s.err = err
	if fresh && s.w > s.off {
		s.partialAt = s.at
	}
}

// hold counts the bytes of the partial frame in Stats.PartialBytes and sets
// the read deadline by which the frame must be whole: PartialTimeout after
// its first bytes arrived. The deadline moves only when a new partial frame
// starts, so a busy producer sets it at most once per read, and one that
// ends its reads at frame boundaries never.
func (s *stream) hold() {
	d := s.w - s.off
	if d != s.held {
		s.r.count.partialBytes.Add(int64(d - s.held))
		s.held = d
	}
	var dl int64
	if d > 0 {
		dl = s.partialAt + int64(s.r.cfg.partial)
	}
	if dl == s.deadline {
		return
	}
	s.deadline = dl
	t := time.Time{}
	if dl != 0 {
		t = s.r.epoch.Add(time.Duration(dl))
	}
	_ = s.nc.SetReadDeadline(t)
}

// done gives back what the stream holds: its chunk, its part of
// Stats.PartialBytes, and the deadline of its partial frame, which must not
// cut a consumer's connection after its Subscribe.
func (s *stream) done() {
	s.off = s.w
	s.hold()
	if s.c != nil {
		s.c.Release()
		s.c = nil
	}
}

// firstFrame reads until the connection's first frame is whole, its header
// fails framing, or the read side ends, and returns the frame when it is
// whole.
func (s *stream) firstFrame() []byte {
	for {
		if s.w-s.off >= tlv.HeaderSize {
			n, err := s.r.cfg.validator.FrameSize(s.c.Buf[s.off:s.w])
			if err != nil {
				return nil // scan rejects it
			}
			if s.w-s.off >= n {
				return s.c.Buf[s.off : s.off+n]
			}
			s.need = n
		}
		if s.err != nil {
			return nil
		}
		s.fill()
	}
}

// scan validates the whole frames in c.Buf[off:w], forwards the valid run
// from off in one piece, and returns the error of the first invalid frame.
func (s *stream) scan() error {
	v := &s.r.cfg.validator
	system := v.Domain == tlv.DomainSystem // only then can a frame pass as the relay's own
	begin := s.off
	start, frames := s.off, 0
	var err error
	s.need = tlv.HeaderSize
	if s.ack != nil {
		s.ack.mu.Lock()
		s.r.dups.mu.Lock()
	}
	for s.w-s.off >= tlv.HeaderSize {
		b := s.c.Buf[s.off:s.w]
		// When the frame the header announces is all here, Parse checks
		// its framing too: FrameSize only runs for the partial frame at the
		// end, whose header must be sound before the relay waits for the rest.
		if n := uint64(inbound.FrameLen(b)); n <= uint64(s.r.cfg.validator.MaxSize) && n <= uint64(len(b)) {
			if _, err = v.Parse(b[:n]); err != nil {
				break
			}
			if system && tlv.Frame(b[:n]).Header().Source() == ControlSource {
				err = errControlSource
				break
			}
			if s.ack != nil && !s.ack.take(b[:n]) {
				// A duplicate: what comes before it goes on, it does not.
				s.forward(start, frames)
				s.off += int(n)
				start, frames = s.off, 0
				s.r.count.duplicates.Add(1)
				continue
			}
			s.off += int(n)
			frames++
			if s.ack != nil && s.ack.frames >= ackEvery {
				// 1,024 frames since the last Ack: forward them and
				// acknowledge them now, not at the end of a long read.
				s.forward(start, frames)
				start, frames = s.off, 0
				s.r.dups.mu.Unlock()
				s.ack.send(s.r.now())
				s.r.dups.mu.Lock()
			}
			continue
		}
		n, ferr := v.FrameSize(b)
		if ferr != nil {
			err = ferr
			break
		}
		s.need = n
		break
	}
	if s.off > begin {
		// What is left, if anything, began in the last read.
		s.partialAt = s.at
	}
	s.forward(start, frames)
	if s.ack != nil {
		s.r.dups.mu.Unlock() // before due, whose write may wait for the producer
		s.ack.due()
		s.ack.mu.Unlock()
	}
	return err
}

// forward publishes the frames of c.Buf[start:off], if any: an acked
// producer's go to the Journal first.
func (s *stream) forward(start, frames int) {
	if frames == 0 {
		return
	}
	if s.ack != nil && s.r.cfg.journal != nil {
		s.r.cfg.journal(s.c.Buf[start:s.off])
	}
	s.r.publish(s.c, start, s.off, frames, s.at)
	s.frames += uint64(frames)
}

// handle runs one connection: its first frame makes it a consumer (a
// Subscribe) or a producer (anything else).
func (r *Relay) handle(cn *conn) {
	defer r.wg.Done()
	defer r.forget(cn)
	s := &stream{r: r, nc: cn.nc, c: inbound.GetChunk(0), need: tlv.HeaderSize}
	defer func() {
		s.done()
		_ = cn.nc.Close()
	}()
	first := s.firstFrame()
	if first == nil && s.w == s.off {
		return // hung up without a byte: a probe, or a client that gave up
	}
	if role, ok := inbound.Subscription(first); ok {
		if role == tlv.RoleProducer {
			// An acked producer: the Subscribe asks for Acks, and its
			// frames follow.
			s.off += len(first)
			s.partialAt = s.at // what follows the Subscribe, if anything, began in the last read
			s.ack = newAcker(r, cn.nc)
			defer s.ack.close()
			r.count.ackedProducers.Add(1)
			r.produce(cn, s)
			return
		}
		r.consume(cn, s, len(first), role)
		return
	}
	r.produce(cn, s)
}

// produce forwards a producer's frames until it hangs up or sends a bad one.
func (r *Relay) produce(cn *conn, s *stream) {
	// Gauge before total, and out of the gauge only after everything is
	// counted: Stats relies on the order.
	r.count.producers.Add(1)
	r.count.producersTotal.Add(1)
	defer r.count.producers.Add(-1)
	r.cfg.log.Info("relay: producer connected", "conn", cn.id)
	for {
		if err := s.scan(); err != nil {
			why := inbound.ReasonOf(err)
			if errors.Is(err, errControlSource) {
				why = inbound.ReasonProtocol
			}
			r.reject(cn, "producer", why, err)
			return
		}
		if s.err != nil {
			break
		}
		s.fill()
	}
	if errors.Is(s.err, os.ErrDeadlineExceeded) {
		r.count.partialTimeouts.Add(1)
		r.cfg.log.Warn("relay: producer held a partial frame past partial_timeout; closing its connection",
			"conn", cn.id, "bytes", s.w-s.off, "frame", s.need, "partial_timeout", r.cfg.partial)
		return
	}
	if s.w > s.off {
		r.count.truncated.Add(1)
		r.cfg.log.Warn("relay: producer hung up in the middle of a frame; dropped the partial frame",
			"conn", cn.id, "bytes", s.w-s.off, "frame", s.need)
	}
	attrs := []any{"conn", cn.id, "frames", s.frames}
	if !errors.Is(s.err, io.EOF) && !errors.Is(s.err, net.ErrClosed) {
		attrs = append(attrs, "err", s.err)
	}
	r.cfg.log.Info("relay: producer disconnected", attrs...)
}

// publish forwards the frames of c.Buf[off:end] to every consumer subscribed
// now.
func (r *Relay) publish(c *inbound.Chunk, off, end, frames int, at int64) {
	subs := *r.subs.Load()
	// Where frames go is counted before they are: a snapshot that counts
	// them in FramesIn also counts them forwarded or unsubscribed.
	if len(subs) == 0 {
		r.count.unsubscribed.Add(uint64(frames))
	} else {
		r.count.forwarded.Add(uint64(frames))
		r.count.offered.Add(uint64(frames * len(subs)))
	}
	r.count.bytesIn.Add(uint64(end - off)) // bytes before frames, as Stats reads them
	r.count.framesIn.Add(uint64(frames))
	if len(subs) == 0 {
		return
	}
	sp := span{c: c, off: int32(off), end: int32(end), frames: int32(frames), at: at}
	for _, k := range subs {
		k.offer(sp)
	}
}
