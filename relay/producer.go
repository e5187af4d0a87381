package relay

import (
	"errors"
	"io"
	"net"

	"github.com/msgsink/msgsink/internal/inbound"
	"github.com/msgsink/msgsink/tlv"
)

// stream is the read side of one connection: a chunk, the bytes read into it
// and not yet forwarded, and what the last read returned.
type stream struct {
	r  *Relay
	nc net.Conn
	c  *inbound.Chunk
	// c.buf[off:w] has been read and not forwarded: it starts at a frame
	// boundary and holds less than one whole frame after scan.
	off, w int
	// need is the length of the frame at off when its header is in and has
	// been framed, else tlv.HeaderSize: how much of the chunk the frame needs.
	need   int
	at     int64  // relay clock at the last read
	err    error  // the error of the last read, which ends the stream
	frames uint64 // frames forwarded, for the log
}

// fill reads once, after making room for the frame in progress.
func (s *stream) fill() {
	s.makeRoom()
	n, err := s.nc.Read(s.c.Buf[s.w:])
	s.w += n
	s.at = s.r.now()
	s.err = err
}

// makeRoom makes sure the chunk has room to read into (inbound.MakeRoom);
// the old chunk stays with the consumers that still hold spans of it.
func (s *stream) makeRoom() {
	s.c, s.off, s.w = inbound.MakeRoom(s.c, s.off, s.w, s.need)
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

// scan validates the whole frames in c.buf[off:w], forwards the valid run
// from off in one piece, and returns the error of the first invalid frame.
func (s *stream) scan() error {
	v := &s.r.cfg.validator
	start, frames := s.off, 0
	var err error
	s.need = tlv.HeaderSize
	for s.w-s.off >= tlv.HeaderSize {
		b := s.c.Buf[s.off:s.w]
		// When the frame the header announces is all here, Parse checks
		// its framing too: FrameSize only runs for the partial frame at the
		// end, whose header must be sound before the relay waits for the rest.
		if n := uint64(inbound.FrameLen(b)); n <= uint64(s.r.cfg.maxFrame) && n <= uint64(len(b)) {
			if _, err = v.Parse(b[:n]); err != nil {
				break
			}
			s.off += int(n)
			frames++
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
	if frames > 0 {
		s.r.publish(s.c, start, s.off, frames, s.at)
		s.frames += uint64(frames)
	}
	return err
}

// handle runs one connection: its first frame makes it a consumer (a
// Subscribe) or a producer (anything else).
func (r *Relay) handle(cn *conn) {
	defer r.wg.Done()
	defer r.forget(cn)
	s := &stream{r: r, nc: cn.nc, c: inbound.GetChunk(0), need: tlv.HeaderSize}
	defer func() {
		if s.c != nil {
			s.c.Release()
		}
		_ = cn.nc.Close()
	}()
	first := s.firstFrame()
	if first == nil && s.w == s.off {
		return // hung up without a byte: a probe, or a client that gave up
	}
	if role, ok := inbound.Subscription(first); ok {
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
	r.log.Info("relay: producer connected", "conn", cn.id)
	for {
		if err := s.scan(); err != nil {
			r.reject(cn, "producer", reasonOf(err), err)
			return
		}
		if s.err != nil {
			break
		}
		s.fill()
	}
	if s.w > s.off {
		r.count.truncated.Add(1)
		r.log.Warn("relay: producer hung up in the middle of a frame; dropped the partial frame",
			"conn", cn.id, "bytes", s.w-s.off, "frame", s.need)
	}
	attrs := []any{"conn", cn.id, "frames", s.frames}
	if !errors.Is(s.err, io.EOF) && !errors.Is(s.err, net.ErrClosed) {
		attrs = append(attrs, "err", s.err)
	}
	r.log.Info("relay: producer disconnected", attrs...)
}

// publish forwards the frames of c.buf[off:end] to every consumer subscribed
// now.
func (r *Relay) publish(c *inbound.Chunk, off, end, frames int, at int64) {
	r.count.bytesIn.Add(uint64(end - off)) // bytes before frames, as Stats reads them
	r.count.framesIn.Add(uint64(frames))
	subs := *r.subs.Load()
	if len(subs) == 0 {
		return
	}
	r.count.offered.Add(uint64(frames * len(subs)))
	sp := span{c: c, off: int32(off), end: int32(end), frames: int32(frames), at: at}
	for _, k := range subs {
		k.offer(sp)
	}
}
