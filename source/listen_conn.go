package source

import (
	"encoding/binary"
	"errors"
	"io"
	"math/bits"
	"net"
	"strconv"
	"sync"
	"sync/atomic"
	"time"

	"github.com/gobwas/ws"

	"github.com/msgsink/msgsink/internal/inbound"
	"github.com/msgsink/msgsink/tlv"
)

// closeGrace bounds the courtesy writes of a closing connection (a
// WebSocket Close frame): a producer that does not take a few bytes in that
// time is not reading, and Close must not wait on it.
const closeGrace = 100 * time.Millisecond

// ListenerAckSource is the header source of the Ack frames a Listener
// sends back to producers: a system service type (SPEC section 1, system
// 60–79).
const ListenerAckSource = 61

// ackWriteTimeout bounds a write back to a producer (acks, a Pong): one
// that has not read what it asked for in that long is broken, and is
// disconnected.
const ackWriteTimeout = 10 * time.Second

// errClosing ends a reader when the Listener closes while it hands a span.
var errClosing = errors.New("source: listener closing")

// lconn is one producer connection. Its reader goroutine (run) owns the
// read side: the chunk, the unread bytes c.Buf[off:w] (from a frame
// boundary), and what the last read returned.
type lconn struct {
	l  *Listener
	id uint64
	nc net.Conn
	ws bool
	// upgraded: the WebSocket handshake is done (ServeHTTP's), not the
	// reader's to do.
	upgraded bool
	gone     chan struct{} // closed when the reader returns

	// ack is set once, by the reader, when the first frame asks for acks,
	// before any span of the connection reaches Next.
	ack atomic.Pointer[acker]

	// wmu orders what is written back: acks, and a WebSocket's control
	// frames. closeSent (under wmu) stops every write after a Close frame.
	wmu       sync.Mutex
	closeSent bool
	ctl       [2 + 125]byte // an unmasked control frame

	// Reader side.
	c      *inbound.Chunk
	off, w int
	need   int // bytes the frame at off needs in the chunk, once framed
	err    error
	first  bool // the first frame is still to come
}

// run reads the connection until it ends, is rejected, or the Listener
// closes.
func (cn *lconn) run() {
	l := cn.l
	defer l.wg.Done()
	defer l.forget(cn)
	defer close(cn.gone)
	defer func() { _ = cn.nc.Close() }()
	if cn.ws && !cn.upgraded && !cn.upgrade() {
		return
	}
	l.count.producers.Add(1)
	defer l.count.producers.Add(-1)
	l.log.Info("source: producer connected", "name", l.name, "conn", cn.id, "remote", cn.remote())
	cn.c, cn.first = inbound.GetChunk(0), true
	defer func() { cn.c.Release() }()
	var err error
	if cn.ws {
		err = cn.readWS()
	} else {
		err = cn.readRaw()
	}
	switch {
	case err == errClosing || err == errPeerClosed || l.closed.Load():
		// Not the producer's doing.
	case err != nil:
		cn.reject(err)
	case cn.w > cn.off:
		l.count.truncated.Add(1)
		l.log.Warn("source: producer hung up in the middle of a frame; dropped the partial frame",
			"name", l.name, "conn", cn.id, "bytes", cn.w-cn.off)
	}
	attrs := []any{"name", l.name, "conn", cn.id}
	if err == nil && !errors.Is(cn.err, io.EOF) && !l.closed.Load() {
		attrs = append(attrs, "err", cn.err)
	}
	l.log.Info("source: producer disconnected", attrs...)
}

// remote names the producer: its address, or for a unix peer, which has
// none, the connection's number.
func (cn *lconn) remote() string {
	if a := cn.nc.RemoteAddr(); a != nil && a.String() != "" && a.String() != "@" {
		return a.String()
	}
	return "connection " + strconv.FormatUint(cn.id, 10)
}

// fill reads once into the chunk, after making room for the frame in
// progress.
func (cn *lconn) fill() {
	cn.c, cn.off, cn.w = inbound.MakeRoom(cn.c, cn.off, cn.w, cn.need)
	n, err := cn.nc.Read(cn.c.Buf[cn.w:])
	cn.w += n
	cn.err = err
}

// readRaw reads a stream of back-to-back frames.
func (cn *lconn) readRaw() error {
	cn.need = tlv.HeaderSize
	for {
		if err := cn.scanRaw(); err != nil {
			return err
		}
		if cn.err != nil {
			return nil
		}
		cn.fill()
	}
}

// scanRaw validates the whole frames in c.Buf[off:w], hands the valid run
// from off to Next in one piece, and returns the error of the first invalid
// frame.
func (cn *lconn) scanRaw() error {
	v := &cn.l.validator
	start := cn.off
	var err error
	cn.need = tlv.HeaderSize
	for cn.w-cn.off >= tlv.HeaderSize {
		b := cn.c.Buf[cn.off:cn.w]
		// When the frame the header announces is all here, Parse checks
		// its framing too; FrameSize only runs for the partial frame at
		// the end, whose header must be sound before waiting for the rest.
		if n := uint64(inbound.FrameLen(b)); n <= uint64(cn.l.validator.MaxSize) && n <= uint64(len(b)) {
			if cn.first {
				cn.first = false
				if role, ok := inbound.Subscription(b[:n]); ok {
					if err = cn.subscribed(role); err != nil {
						break
					}
					cn.off += int(n)
					start = cn.off
					continue
				}
			}
			if _, err = v.Parse(b[:n]); err != nil {
				break
			}
			cn.off += int(n)
			continue
		}
		n, ferr := v.FrameSize(b)
		if ferr != nil {
			err = ferr
			break
		}
		cn.need = n
		break
	}
	if cn.off > start && !cn.hand(start, cn.off) {
		return errClosing
	}
	return err
}

// subscribed handles a first frame that is a Subscribe: a producer asking
// for acks gets an acker, any other role is refused.
func (cn *lconn) subscribed(role uint8) error {
	if role != tlv.RoleProducer {
		return &ProtocolError{Reason: "a Subscribe with role " + strconv.Itoa(int(role)) +
			": a producer may only ask for acks (role " + strconv.Itoa(tlv.RoleProducer) +
			"); consumers subscribe to a relay, not to a Listener"}
	}
	a := &acker{cn: cn, kick: make(chan struct{}, 1), b: tlv.NewBuilder(tlv.DomainSystem, ListenerAckSource)}
	cn.ack.Store(a)
	cn.l.wg.Add(1)
	go a.run()
	return nil
}

// hand passes c.Buf[start:end] to Next, waiting while Next's queue is full;
// it returns false when the Listener closes meanwhile.
func (cn *lconn) hand(start, end int) bool {
	cn.c.Retain()
	sp := span{c: cn.c, cn: cn, off: int32(start), end: int32(end)}
	select {
	case cn.l.spans <- sp:
		return true
	case <-cn.l.done:
		cn.c.Release()
		return false
	}
}

// reject counts and logs why the connection is closed, and tells a
// WebSocket client with a Close frame.
func (cn *lconn) reject(err error) {
	l := cn.l
	r := reasonOf(err)
	l.count.rejected[r].Add(1)
	re := &RejectError{Listener: l.name, Endpoint: l.endpoint, Remote: cn.remote(), Reason: r.String(), Err: err}
	l.count.lastReject.Store(re)
	l.log.Warn("source: closed a producer connection", "name", l.name, "conn", cn.id, "reason", r.String(), "err", err)
	if cn.ws {
		cn.closeWS(closeCodeOf(err), r.String())
	}
}

// shutdown closes the connection for Close: a WebSocket client first gets a
// Close frame (1001, going away), unless a write is blocked (the client is
// not reading), which the close then ends.
func (cn *lconn) shutdown() {
	if cn.ws && cn.wmu.TryLock() {
		if !cn.closeSent {
			cn.closeSent = true
			var c [2]byte
			binary.BigEndian.PutUint16(c[:], uint16(ws.StatusGoingAway))
			_ = cn.nc.SetWriteDeadline(time.Now().Add(closeGrace))
			_, _ = cn.nc.Write(append(appendServerHeader(cn.ctl[:0], ws.OpClose, len(c)), c[:]...))
		}
		cn.wmu.Unlock()
	}
	_ = cn.nc.Close()
}

// write sends acks unless a Close frame went out, within ackWriteTimeout.
func (cn *lconn) write(p []byte) error {
	cn.wmu.Lock()
	defer cn.wmu.Unlock()
	if cn.closeSent {
		return net.ErrClosed
	}
	_ = cn.nc.SetWriteDeadline(time.Now().Add(ackWriteTimeout))
	_, err := cn.nc.Write(p)
	return err
}

// writeControl sends a WebSocket control frame of opcode op whose payload
// is a then b, unless a Close frame went out. A Close frame is the last:
// it gets a short deadline, so that a client that stopped reading cannot
// hold the closing side.
func (cn *lconn) writeControl(op ws.OpCode, a, b []byte) error {
	cn.wmu.Lock()
	defer cn.wmu.Unlock()
	if cn.closeSent {
		return net.ErrClosed
	}
	timeout := ackWriteTimeout // the deadline of every write back, which the last one set
	if op == ws.OpClose {
		cn.closeSent = true
		timeout = closeGrace
	}
	_ = cn.nc.SetWriteDeadline(time.Now().Add(timeout))
	f := appendServerHeader(cn.ctl[:0], op, len(a)+len(b))
	f = append(append(f, a...), b...)
	_, err := cn.nc.Write(f)
	return err
}

// acker sends a producer that asked for them its Ack frames: Next posts the
// highest sequence it returned per source (seqs, dirty) and kicks; the
// acker writes one Ack frame per source posted since its last write.
type acker struct {
	cn   *lconn
	kick chan struct{}

	mu    sync.Mutex
	seqs  [256]uint64
	dirty [4]uint64

	// The acker's own.
	b   *tlv.Builder
	out []byte
}

// run writes acks until the connection ends.
func (a *acker) run() {
	defer a.cn.l.wg.Done()
	for {
		select {
		case <-a.kick:
		case <-a.cn.gone:
			return
		}
		if err := a.flush(); err != nil {
			a.cn.l.log.Warn("source: could not send acks; closing the producer's connection",
				"name", a.cn.l.name, "conn", a.cn.id, "err", err)
			_ = a.cn.nc.Close() // the reader sees it and ends the connection
			return
		}
	}
}

// flush writes an Ack frame for every source posted since the last flush.
func (a *acker) flush() error {
	a.out = a.out[:0]
	frames := uint64(0)
	a.mu.Lock()
	dirty := a.dirty
	a.dirty = [4]uint64{}
	for w, m := range dirty {
		for ; m != 0; m &= m - 1 {
			src := uint8(w<<6 | bits.TrailingZeros64(m))
			a.b.AppendAck(src, a.seqs[src])
			msg, err := a.b.Finish()
			if err != nil {
				a.mu.Unlock()
				return err
			}
			if a.cn.ws {
				a.out = appendServerHeader(a.out, ws.OpBinary, msg.Len())
			}
			a.out = append(a.out, msg.Bytes()...)
			msg.Release()
			frames++
		}
	}
	a.mu.Unlock()
	if len(a.out) == 0 {
		return nil
	}
	if err := a.cn.write(a.out); err != nil {
		return err
	}
	a.cn.l.count.acks.Add(frames)
	return nil
}
