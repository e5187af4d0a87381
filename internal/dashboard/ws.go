package dashboard

import (
	"encoding/binary"
	"errors"
	"io"
	"net"
	"net/http"
	"sync"

	"github.com/gobwas/ws"

	"github.com/msgsink/msgsink/tlv"
)

// ErrWebSocket is returned by the /ws intake's Next when the producer broke
// RFC 6455 or sent something other than one Protocol V2 frame per binary
// message (what transport's WebSocket sinks send); the connection closes.
var ErrWebSocket = errors.New("dashboard: /ws producer sent an unexpected WebSocket frame (send one Protocol V2 message per unfragmented, masked binary frame)")

// wsReadSize is the /ws intake's read buffer: one read takes a batch of
// small frames; it grows to hold a frame that does not fit.
const wsReadSize = 64 << 10

// wsMaxHeader is the longest WebSocket frame header: 2 bytes, an 8-byte
// length and a 4-byte mask.
const wsMaxHeader = 14

func (d *Dashboard) serveFrames(w http.ResponseWriter, r *http.Request) {
	d.mu.Lock()
	n, closed := len(d.intakes), d.closed
	d.mu.Unlock()
	if closed || n >= d.cfg.MaxIntakes {
		http.Error(w, ErrTooMany.Error(), http.StatusServiceUnavailable)
		return
	}
	conn, rw, _, err := ws.UpgradeHTTP(r, w)
	if err != nil {
		return // UpgradeHTTP answered the request with the reason
	}
	f := &wsFrames{conn: conn, buf: make([]byte, wsReadSize)}
	// Bytes the client sent right behind its handshake sit in rw's buffer.
	f.w, _ = rw.Reader.Read(f.buf[:min(rw.Reader.Buffered(), len(f.buf))])
	_ = d.Attach("ws", r.RemoteAddr, f) // on error Attach closed f, and with it conn
}

// wsFrames reads Protocol V2 frames from a WebSocket producer: it unmasks
// each message in its read buffer and returns a view of it, validated at the
// standard level. Next allocates nothing once the buffer is as large as the
// largest frame.
type wsFrames struct {
	conn net.Conn
	v    tlv.Validator
	buf  []byte
	r, w int // buf[r:w] is read and not yet returned
	once sync.Once
}

// Next returns the next frame, valid until the next call.
func (f *wsFrames) Next() (tlv.Frame, error) {
	for {
		if frame, n, err := f.parse(); err != nil || n > 0 {
			return frame, err
		} else if err := f.fill(); err != nil {
			return nil, err
		}
	}
}

// parse cuts the WebSocket frame at buf[r:] if it is whole: it returns
// n > 0 with the Protocol V2 frame in its payload, or n == 0 when it needs
// more bytes. Pings and pongs are skipped; a Close ends the stream.
func (f *wsFrames) parse() (tlv.Frame, int, error) {
	for {
		b := f.buf[f.r:f.w]
		if len(b) < 2 {
			return nil, 0, nil
		}
		fin, op, masked := b[0]&0x80 != 0, ws.OpCode(b[0]&0x0f), b[1]&0x80 != 0
		if !fin || !masked || b[0]&0x70 != 0 {
			return nil, 0, ErrWebSocket
		}
		hl, plen := 2, uint64(b[1]&0x7f)
		switch plen {
		case 126:
			hl += 2
		case 127:
			hl += 8
		}
		hl += 4
		if len(b) < hl {
			return nil, 0, nil
		}
		switch plen {
		case 126:
			plen = uint64(binary.BigEndian.Uint16(b[2:]))
		case 127:
			plen = binary.BigEndian.Uint64(b[2:])
		}
		if plen > tlv.MaxMessageSize {
			return nil, 0, ErrWebSocket
		}
		total := hl + int(plen)
		if len(b) < total {
			f.grow(total)
			return nil, 0, nil
		}
		p := b[hl:total:total]
		ws.Cipher(p, [4]byte(b[hl-4:hl]), 0)
		f.r += total
		switch op {
		case ws.OpBinary:
			frame, err := f.v.Parse(p)
			return frame, total, err
		case ws.OpClose:
			return nil, 0, io.EOF
		case ws.OpPing, ws.OpPong:
			continue // a producer's keepalive; the dashboard sends nothing back
		default:
			return nil, 0, ErrWebSocket
		}
	}
}

// grow makes room for a frame of need bytes at r.
func (f *wsFrames) grow(need int) {
	if len(f.buf)-f.r >= need {
		return
	}
	buf := f.buf
	if need > len(buf) {
		buf = make([]byte, max(need, 2*len(buf)))
	}
	f.w = copy(buf, f.buf[f.r:f.w])
	f.r, f.buf = 0, buf
}

// fill reads once into the free end of the buffer, moving what is left to
// the front first when the end is short.
func (f *wsFrames) fill() error {
	if f.r == f.w {
		f.r, f.w = 0, 0
	} else if len(f.buf)-f.w < wsMaxHeader+tlv.HeaderSize {
		f.w = copy(f.buf, f.buf[f.r:f.w])
		f.r = 0
	}
	n, err := f.conn.Read(f.buf[f.w:])
	f.w += n
	if n > 0 {
		return nil
	}
	return err
}

// Close closes the connection, ending a blocked Next. It is idempotent.
func (f *wsFrames) Close() error {
	var err error
	f.once.Do(func() { err = f.conn.Close() })
	return err
}
