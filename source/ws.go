package source

import (
	"bytes"
	"encoding/binary"
	"errors"
	"strconv"
	"time"
	"unicode/utf8"

	"github.com/gobwas/ws"

	"github.com/msgsink/msgsink/internal/inbound"
)

// maxWSHeader is the longest header of a client frame: 2 bytes, an 8-byte
// length and the 4-byte mask key (RFC 6455 section 5.2).
const maxWSHeader = 14

// errPeerClosed ends a WebSocket reader after the client's Close frame,
// answered: a clean end, not a rejection.
var errPeerClosed = errors.New("source: the WebSocket client closed")

// upgrade runs the server side of the RFC 6455 handshake (gobwas/ws) on
// the accepted connection, within the handshake timeout, and accepts only
// the endpoint's path.
func (cn *lconn) upgrade() bool {
	l := cn.l
	u := ws.Upgrader{OnRequest: func(uri []byte) error {
		if p, _, _ := bytes.Cut(uri, []byte{'?'}); string(p) != pathOf(l.wsPath) {
			return ws.RejectConnectionError(ws.RejectionStatus(404),
				ws.RejectionReason("no WebSocket endpoint at "+strconv.Quote(string(p))+": this one is "+strconv.Quote(pathOf(l.wsPath))))
		}
		return nil
	}}
	_ = cn.nc.SetDeadline(time.Now().Add(l.handshake))
	_, err := u.Upgrade(cn.nc)
	_ = cn.nc.SetDeadline(time.Time{})
	if err != nil {
		if !l.closed.Load() {
			cn.ws = false // no Close frame: there is no WebSocket to close
			cn.reject(&handshakeError{err: err})
		}
		return false
	}
	return true
}

// pathOf returns an endpoint path without its query.
func pathOf(p string) string {
	if i := bytes.IndexByte([]byte(p), '?'); i >= 0 {
		return p[:i]
	}
	return p
}

// readWS reads WebSocket frames, each a binary message holding one frame.
func (cn *lconn) readWS() error {
	cn.need = 2
	for {
		if err := cn.scanWS(); err != nil {
			return err
		}
		if cn.err != nil {
			return nil
		}
		cn.fill()
	}
}

// scanWS unmasks and validates the whole WebSocket frames in c.Buf[off:w]
// in place, hands each run of data frames to Next in one piece, answers
// control frames, and returns the error that ends the connection.
func (cn *lconn) scanWS() error {
	l := cn.l
	start := cn.off
	var err error
	cn.need = 2
	for {
		b := cn.c.Buf[cn.off:cn.w]
		h, ok := readClientHeader(b)
		if !ok {
			cn.need = h.hlen
			break
		}
		if err = h.check(l.validator.MaxSize); err != nil {
			break
		}
		n := h.hlen + int(h.plen)
		if len(b) < n {
			cn.need = n
			break
		}
		p := b[h.hlen:n]
		ws.Cipher(p, h.mask, 0)
		if h.op.IsControl() {
			// A control frame ends the run: spans hold data frames only.
			if cn.off > start && !cn.hand(start, cn.off) {
				return errClosing
			}
			cn.off += n
			start = cn.off
			if err = cn.control(h.op, p); err != nil {
				return err
			}
			continue
		}
		if cn.first {
			cn.first = false
			if role, ok := inbound.Subscription(p); ok {
				if err = cn.subscribed(role); err != nil {
					break
				}
				if cn.off > start && !cn.hand(start, cn.off) {
					return errClosing
				}
				cn.off += n
				start = cn.off
				continue
			}
		}
		if _, err = l.validator.Parse(p); err != nil {
			break
		}
		cn.off += n
	}
	if cn.off > start && !cn.hand(start, cn.off) {
		return errClosing
	}
	return err
}

// control answers a control frame whose payload p is unmasked: a Ping gets
// its Pong, a Close its Close (ending the connection), a Pong nothing.
func (cn *lconn) control(op ws.OpCode, p []byte) error {
	switch op {
	case ws.OpPing:
		if err := cn.writeControl(ws.OpPong, p, nil); err != nil {
			cn.err = err
		}
		return nil
	case ws.OpPong:
		return nil // unsolicited: ignored, as RFC 6455 section 5.5.3 allows
	case ws.OpClose:
		code, reason := parseCloseBody(p)
		if reason != "" {
			return &ProtocolError{Code: int(ws.StatusProtocolError), Reason: reason}
		}
		// Echo the code, as RFC 6455 section 5.5.1 suggests; none for none.
		_ = cn.writeControl(ws.OpClose, p[:min(len(p), 2)], nil)
		cn.l.log.Info("source: WebSocket client closed", "name", cn.l.name, "conn", cn.id, "code", code)
		return errPeerClosed
	}
	return &ProtocolError{Code: int(ws.StatusProtocolError), Reason: "unknown control opcode " + strconv.Itoa(int(op))}
}

// closeWS sends a Close frame with code and reason, once.
func (cn *lconn) closeWS(code ws.StatusCode, reason string) {
	if len(reason) > 123 {
		reason = reason[:123]
	}
	var c [2]byte
	binary.BigEndian.PutUint16(c[:], uint16(code))
	_ = cn.writeControl(ws.OpClose, c[:], []byte(reason))
}

// closeCodeOf is the close code that tells a WebSocket client why it is
// being closed.
func closeCodeOf(err error) ws.StatusCode {
	var pe *ProtocolError
	if errors.As(err, &pe) && pe.Code != 0 {
		return ws.StatusCode(pe.Code)
	}
	if reasonOf(err) == reasonOversize {
		return ws.StatusMessageTooBig
	}
	// A binary message that is not a valid frame: data inconsistent with
	// the message's type (RFC 6455 section 7.4.1).
	return ws.StatusInvalidFramePayloadData
}

// clientHeader is the header of a frame from a client.
type clientHeader struct {
	fin, masked bool
	rsv         byte
	op          ws.OpCode
	hlen        int   // header bytes, mask key included; when not ok, the bytes needed
	plen        int64 // payload bytes
	mask        [4]byte
}

// readClientHeader parses the frame header at the start of b; ok is false
// while b holds less than the whole header, whose length hlen then is.
func readClientHeader(b []byte) (h clientHeader, ok bool) {
	if len(b) < 2 {
		h.hlen = 2
		return h, false
	}
	h.fin, h.rsv, h.op = b[0]&0x80 != 0, b[0]>>4&7, ws.OpCode(b[0]&0x0F)
	h.masked = b[1]&0x80 != 0
	h.hlen, h.plen = 2, int64(b[1]&0x7F)
	switch h.plen {
	case 126:
		h.hlen += 2
	case 127:
		h.hlen += 8
	}
	if h.masked {
		h.hlen += 4
	}
	if len(b) < h.hlen {
		return h, false
	}
	switch h.plen {
	case 126:
		h.plen = int64(binary.BigEndian.Uint16(b[2:]))
	case 127:
		h.plen = int64(binary.BigEndian.Uint64(b[2:])) // negative with the MSB set: refused by check
	}
	if h.masked {
		copy(h.mask[:], b[h.hlen-4:h.hlen])
	}
	return h, true
}

// check refuses what a Listener does not take: RFC 6455 violations (1002),
// text and fragmented messages (1003), and frames over maxFrame (1009).
func (h *clientHeader) check(maxFrame int) error {
	proto := func(code ws.StatusCode, reason string) error {
		return &ProtocolError{Code: int(code), Reason: reason}
	}
	switch {
	case !h.masked:
		return proto(ws.StatusProtocolError, "an unmasked frame: clients must mask every frame (RFC 6455 section 5.1)")
	case h.rsv != 0:
		return proto(ws.StatusProtocolError, "reserved bits set, though no extension was negotiated (RFC 6455 section 5.2)")
	case h.plen < 0:
		return proto(ws.StatusProtocolError, "a 64-bit payload length with its most significant bit set (RFC 6455 section 5.2)")
	case h.op.IsControl():
		if h.plen > 125 || !h.fin {
			return proto(ws.StatusProtocolError, "a control frame of "+strconv.FormatInt(h.plen, 10)+
				" bytes or fragmented: at most 125 bytes, in one frame (RFC 6455 section 5.5)")
		}
		if h.op != ws.OpPing && h.op != ws.OpPong && h.op != ws.OpClose {
			return proto(ws.StatusProtocolError, "unknown control opcode "+strconv.Itoa(int(h.op)))
		}
	case h.op == ws.OpText:
		return proto(ws.StatusUnsupportedData, "a text message: send each Protocol V2 frame as one binary message")
	case h.op == ws.OpContinuation || !h.fin:
		return proto(ws.StatusUnsupportedData, "a fragmented message: send each Protocol V2 frame as one unfragmented binary message")
	case h.op != ws.OpBinary:
		return proto(ws.StatusProtocolError, "unknown opcode "+strconv.Itoa(int(h.op)))
	case h.plen > int64(maxFrame):
		return proto(ws.StatusMessageTooBig, "a message of "+strconv.FormatInt(h.plen, 10)+
			" bytes: the largest frame accepted is "+strconv.Itoa(maxFrame))
	}
	return nil
}

// wsFrameAt returns the header and payload lengths of the client frame at
// the start of b, which scanWS has checked: masked, and whole.
func wsFrameAt(b []byte) (hlen, plen int) {
	switch n := int(b[1] & 0x7F); n {
	case 126:
		return 8, int(binary.BigEndian.Uint16(b[2:]))
	case 127:
		return 14, int(binary.BigEndian.Uint64(b[2:]))
	default:
		return 6, n
	}
}

// appendServerHeader appends the header of a final, unmasked frame of
// opcode op with n payload bytes (servers do not mask).
func appendServerHeader(dst []byte, op ws.OpCode, n int) []byte {
	dst = append(dst, 0x80|byte(op))
	switch {
	case n < 126:
		return append(dst, byte(n))
	case n <= 0xFFFF:
		return append(dst, 126, byte(n>>8), byte(n))
	}
	return binary.BigEndian.AppendUint64(append(dst, 127), uint64(n))
}

// parseCloseBody reads a Close frame's payload: the code (1005, "no
// status", when there is none), or why the payload breaks RFC 6455.
func parseCloseBody(p []byte) (code int, violation string) {
	switch {
	case len(p) == 0:
		return 1005, ""
	case len(p) == 1:
		return 0, "a Close frame with a 1-byte payload: a code takes 2 (RFC 6455 section 5.5.1)"
	}
	code = int(binary.BigEndian.Uint16(p))
	if code < 1000 || code == 1004 || code == 1005 || code == 1006 || code > 1014 && code < 3000 || code > 4999 {
		return 0, "close code " + strconv.Itoa(code) + ", which no endpoint may send (RFC 6455 section 7.4)"
	}
	if !utf8.Valid(p[2:]) {
		return 0, "a close reason that is not UTF-8 (RFC 6455 section 5.5.1)"
	}
	return code, ""
}
