package transport

import (
	"sync/atomic"

	"github.com/msgsink/msgsink/tlv"
)

// MaxInboundFrame is the largest frame an inbound handler is given. The
// frames a peer sends back to a sink are control frames (an Ack is 50
// bytes); a larger one is skipped whole, counted in BytesDiscarded, and the
// frames after it are framed as usual.
const MaxInboundFrame = 4 << 10

// An InboundConn is a Conn that can hand the Protocol V2 frames its peer
// sends to the caller instead of discarding them: how an acked sink reads
// the peer's Ack frames (SPEC section 3, Delivery). StreamConn and
// WebSocketConn (whose binary messages then carry the frames) are
// InboundConns.
type InboundConn interface {
	Conn
	// SetInbound makes the connection's reader goroutine call fn with each
	// whole frame the peer sends from now on. Frames are delimited by their
	// header only (magic and payload_size; the handler validates the rest)
	// and fn's slice is valid only during the call, which must not block:
	// the reader also notices the peer going away. Bytes that do not start
	// with the magic end the framing for good: a peer that speaks something
	// else is discarded, as it was before. Call it once, before the bytes it
	// should see can arrive (before sending what the peer answers).
	SetInbound(fn func(frame []byte))
}

// A ConfirmingConn is a Conn whose peer confirms the messages written on
// it by count, in write order, instead of by Ack frames: a NATS server
// answers each PING with a PONG once it has processed everything before
// it. An acked sink (SPEC section 3, Delivery) keeps each message it wrote
// in its ring until the connection confirms it, as it does until a relay's
// Ack on an InboundConn.
type ConfirmingConn interface {
	Conn
	// SetOnConfirm makes the connection call fn, on its reader goroutine,
	// each time Confirmed grows. fn must not block. Call it once, before
	// the first WriteBatch.
	SetOnConfirm(fn func())
	// Confirmed returns how many of the messages written on the
	// connection, from its first, the peer has confirmed. Safe to call
	// from any goroutine.
	Confirmed() uint64
	// Confirm asks the peer to confirm every message written so far,
	// unless it was asked already. The writer calls it before it waits
	// for work, so that its last messages do not wait for more to come.
	Confirm() error
}

// framer splits the inbound byte stream into frames for a handler. It
// belongs to the reader goroutine; inbound publishes it once.
type framer struct {
	fn   func(frame []byte)
	buf  []byte // the start of a frame that arrived in parts, cap MaxInboundFrame
	skip int    // bytes still to skip of a frame over MaxInboundFrame
	lost bool   // the stream stopped looking like frames: discard the rest
}

// inbound is the handler slot of a Conn: nil until SetInbound, then read by
// the reader goroutine after each read.
type inbound struct{ p atomic.Pointer[framer] }

func (in *inbound) set(fn func(frame []byte)) {
	in.p.Store(&framer{fn: fn, buf: make([]byte, 0, MaxInboundFrame)})
}

// feed frames p, bytes just read, and returns how many it did not hand to
// the handler (discarded).
func (in *inbound) feed(p []byte) (discarded int) {
	f := in.p.Load()
	if f == nil {
		return len(p)
	}
	return f.feed(p)
}

func (f *framer) feed(p []byte) (discarded int) {
	for len(p) > 0 {
		if f.lost {
			return discarded + len(p)
		}
		if f.skip > 0 {
			n := min(f.skip, len(p))
			f.skip -= n
			discarded += n
			p = p[n:]
			continue
		}
		if len(f.buf) == 0 && len(p) >= tlv.HeaderSize {
			// Whole frames straight from the read buffer, with no copy.
			n := f.size(p)
			if n > 0 && n <= len(p) {
				f.fn(p[:n])
				p = p[n:]
			} else if n > 0 {
				f.buf = append(f.buf, p...)
				p = nil
			}
			continue
		}
		// A frame that arrives in parts: gather its header, then the rest.
		if len(f.buf) < tlv.HeaderSize {
			take := min(tlv.HeaderSize-len(f.buf), len(p))
			f.buf = append(f.buf, p[:take]...)
			p = p[take:]
			if len(f.buf) < tlv.HeaderSize {
				continue
			}
			if f.size(f.buf) == 0 {
				// Lost, or too large: the header is gone, skip the rest.
				discarded += tlv.HeaderSize
				f.skip = max(0, f.skip-tlv.HeaderSize)
				f.buf = f.buf[:0]
				continue
			}
		}
		n := f.size(f.buf)
		take := min(n-len(f.buf), len(p))
		f.buf = append(f.buf, p[:take]...)
		p = p[take:]
		if len(f.buf) == n {
			f.fn(f.buf)
			f.buf = f.buf[:0]
		}
	}
	return discarded
}

// size returns the length of the frame whose header starts h, or 0 when it
// is not one to hand over: then it has set lost (no magic) or skip (a frame
// over MaxInboundFrame, header included).
func (f *framer) size(h []byte) int {
	hd := tlv.Header(h[:tlv.HeaderSize])
	if hd.Magic() != tlv.Magic {
		f.lost = true
		return 0
	}
	n := uint64(tlv.HeaderSize) + uint64(hd.PayloadSize())
	if n > MaxInboundFrame {
		f.skip = int(n)
		return 0
	}
	return int(n)
}
