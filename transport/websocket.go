package transport

import (
	"bufio"
	"bytes"
	"context"
	"crypto/rand"
	"crypto/tls"
	"encoding/binary"
	"errors"
	"io"
	mrand "math/rand/v2"
	"net"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"time"
	"unicode/utf8"

	"github.com/gobwas/ws"

	"github.com/msgsink/msgsink/internal/iovec"
	"github.com/msgsink/msgsink/tlv"
)

const (
	// wsScratchMax bounds what one write carries: a batch whose frames need
	// more goes out in several writes. The scratch buffer grows to it (plus
	// one frame) once and is reused.
	wsScratchMax = 1 << 20
	// wsScratchInit holds a full batch of 1024 64-byte messages.
	wsScratchInit = 96 << 10
	// wsMaxControl is the largest control frame payload (RFC 6455 5.5).
	wsMaxControl = 125
	// wsReadBuf is the reader's buffer: large, so that a server that sends
	// a lot costs one read per 64 KiB (per TLS record under wss).
	wsReadBuf = 64 << 10
	// pongEvery bounds the Pongs sent to one a 10 ms, 100 a second: a
	// keepalive pings every few seconds and gets every answer at once,
	// while a server that floods Pings cannot make the client write more
	// than that. A Ping that comes sooner is answered when the interval
	// ends, and only the latest one waiting is, as RFC 6455 section 5.5.3
	// allows.
	pongEvery = 10 * time.Millisecond
	// wsCloseGrace bounds the Close frame that Close sends as a courtesy: a
	// server that does not take 8 bytes in that time is not reading, and
	// Close must not wait on it.
	wsCloseGrace = 100 * time.Millisecond
)

// Close codes the client sends (RFC 6455 section 7.4.1).
const (
	closeNormal   = 1000
	closeProtocol = 1002
)

// ErrWebSocketProtocol is matched by a *ProtocolError: the server broke RFC
// 6455, and the client closed the connection.
var ErrWebSocketProtocol = errors.New("transport: WebSocket protocol violation by the server")

// HandshakeError is the cause of a failed dial whose server answered the
// WebSocket upgrade with an HTTP status other than 101.
type HandshakeError struct {
	Status int // the HTTP status code, e.g. 403 or 503
}

func (e *HandshakeError) Error() string {
	return "WebSocket handshake refused with HTTP status " + strconv.Itoa(e.Status) +
		": check the path, and that the server accepts WebSocket clients there"
}

// CloseError is the cause reported once the server closed the WebSocket
// with a Close frame: by Err, and by the WriteBatch calls after it.
type CloseError struct {
	Code   int    // the close code, 1005 when the frame carried none
	Reason string // the server's reason, "" if none
}

func (e *CloseError) Error() string {
	s := "the server closed the WebSocket with code " + strconv.Itoa(e.Code)
	if e.Reason != "" {
		s += " (" + strconv.Quote(e.Reason) + ")"
	}
	return s
}

// ProtocolError says how the server broke RFC 6455. It matches
// ErrWebSocketProtocol.
type ProtocolError struct{ Reason string }

func (e *ProtocolError) Error() string {
	return "WebSocket protocol violation by the server: " + e.Reason
}

// Unwrap makes errors.Is(err, ErrWebSocketProtocol) true.
func (e *ProtocolError) Unwrap() error { return ErrWebSocketProtocol }

// DialWebSocket connects to a ws:// or wss:// endpoint and completes the RFC
// 6455 client handshake (gobwas/ws), within ctx. Errors are *OpError with Op
// "dial", unwrapping to the cause: a *HandshakeError with the HTTP status
// when the server refuses the upgrade, the tls or x509 error when its
// certificate does not verify, context.DeadlineExceeded at the connect
// timeout, or the socket error. A wss:// connection uses d.TLS.
func (d *Dialer) DialWebSocket(ctx context.Context, e Endpoint) (*WebSocketConn, error) {
	if e.Scheme != "ws" && e.Scheme != "wss" {
		return nil, d.dialError(e, &EndpointError{
			Endpoint: e.String(), Reason: "not a ws:// or wss:// endpoint"})
	}
	ctx, cancel := d.bound(ctx)
	defer cancel()
	fail := func(err error) (*WebSocketConn, error) {
		var se ws.StatusError
		if errors.As(err, &se) {
			err = &HandshakeError{Status: int(se)}
		}
		return nil, d.dialError(e, unwrapNetOpError(err))
	}
	// The TCP connect and the TLS handshake are ours, so that TCP_NODELAY is
	// set and a certificate error surfaces as itself; gobwas then speaks
	// HTTP over the connection we give it, which is why it sees a ws:// URL,
	// whose host is only the Host header: without the scheme's default port,
	// as RFC 6455 section 4.1 writes it.
	authority := strings.TrimSuffix(e.Addr, ":80")
	if e.Scheme == "wss" {
		authority = strings.TrimSuffix(e.Addr, ":443")
	}
	wd := ws.Dialer{NetDial: func(ctx context.Context, _, _ string) (net.Conn, error) {
		var nd net.Dialer
		nc, err := nd.DialContext(ctx, "tcp", e.Addr)
		if err != nil {
			return nil, err
		}
		if err := nc.(*net.TCPConn).SetNoDelay(true); err != nil {
			nc.Close()
			return nil, err
		}
		if e.Scheme == "ws" {
			return nc, nil
		}
		cfg := &tls.Config{}
		if d.TLS != nil {
			cfg = d.TLS.Clone()
		}
		if cfg.ServerName == "" {
			cfg.ServerName, _, _ = net.SplitHostPort(e.Addr)
		}
		// The upgrade is HTTP/1.1: a config shared with an HTTP client may
		// offer h2 through ALPN, which the server would pick.
		cfg.NextProtos = []string{"http/1.1"}
		tc := tls.Client(nc, cfg)
		if err := tc.HandshakeContext(ctx); err != nil {
			nc.Close()
			return nil, err
		}
		return tc, nil
	}}
	nc, br, _, err := wd.Dial(ctx, "ws://"+authority+e.Path)
	if err != nil {
		return fail(err)
	}
	return newWebSocketConn(nc, br, e.String()), nil
}

// WebSocketConn is a Conn that sends each message as one masked binary
// frame. WriteBatch copies every frame, masked with a fresh key from a
// ChaCha8 stream seeded by crypto/rand, into a writer-owned buffer and sends
// the batch with one write: masking in place would modify a message another
// sink may be writing at the same time.
//
// A reader goroutine answers Ping with Pong (at most one per 10 ms: a Ping
// that comes sooner is answered when the interval ends, the latest one
// only) and a Close frame with Close, drops data frames unless an inbound
// handler (SetInbound) takes them, and ends the connection (Done) on a
// Close frame, EOF or a protocol violation. Its
// control frames are written under the same lock as the batches, so they go
// out whole, between frames.
//
// WriteBatch, SetWriteDeadline and Shutdown belong to one goroutine (the
// sink's writer); Done, Err, BytesDiscarded and Close may be called from
// any.
type WebSocketConn struct {
	conn     net.Conn // *net.TCPConn or *tls.Conn
	tcp      net.Conn // the *net.TCPConn under conn, which Close closes
	br       *bufio.Reader
	endpoint string

	// wmu orders the writer's batches and the reader's control frames.
	wmu sync.Mutex
	// Guarded by wmu.
	rng       *mrand.ChaCha8
	scratch   []byte
	ends      []int // end offset in scratch of each message's frame
	closeSent bool  // a Close frame went out: no frame may follow it
	failed    error // the write error that ended the connection, or why no more may be written
	ctl       [2 + 4 + wsMaxControl]byte

	// pmu guards the Pong owed for the latest Ping, which pongTimer sends
	// once pongEvery has passed since the last Pong: the reader only
	// records it, so that it never waits for the writer's lock, which a
	// batch blocked on a server that is not reading may hold.
	pmu       sync.Mutex
	lastPong  time.Time
	pongOwed  bool
	pongLen   int
	pongData  [wsMaxControl]byte
	pongTimer *time.Timer    // made on the first Ping
	pongArmed bool           // pongTimer will fire
	pongRuns  sync.WaitGroup // a pongTimer callback armed or running, which Close waits for
	closed    bool           // Close has begun: the timer is not armed again

	done      chan struct{}
	readErr   error // set before done is closed
	discarded atomic.Uint64
	in        inbound // the frames handler, when SetInbound set one
	closeOnce sync.Once
	closeErr  error
}

var _ InboundConn = (*WebSocketConn)(nil)

// SetInbound implements InboundConn: the payloads of the server's data
// messages, in order, are the byte stream its frames are read from.
func (c *WebSocketConn) SetInbound(fn func(frame []byte)) { c.in.set(fn) }

func newWebSocketConn(nc net.Conn, br *bufio.Reader, endpoint string) *WebSocketConn {
	var seed [32]byte
	_, _ = rand.Read(seed[:]) // never fails (crypto/rand.Read)
	tcp := nc
	if tc, ok := nc.(*tls.Conn); ok {
		tcp = tc.NetConn()
	}
	c := &WebSocketConn{
		conn:     nc,
		tcp:      tcp,
		br:       br,
		endpoint: endpoint,
		rng:      mrand.NewChaCha8(seed),
		scratch:  make([]byte, 0, wsScratchInit),
		ends:     make([]int, 0, iovec.Max), // the largest batch a sink drains
		done:     make(chan struct{}),
	}
	go c.readLoop()
	return c
}

// WriteBatch implements Conn: one binary frame per message, a then b, in one
// write (several when the frames exceed 1 MiB). It does not allocate unless
// it fails or meets a batch larger than any before. Errors are *OpError with
// Op "write"; after the server's Close frame it is the *CloseError.
func (c *WebSocketConn) WriteBatch(a, b []*tlv.Message) (int, error) {
	c.wmu.Lock()
	defer c.wmu.Unlock()
	if c.failed != nil {
		return 0, c.failed
	}
	written := 0
	for i, n := 0, len(a)+len(b); i < n; i++ {
		var p []byte
		if i < len(a) {
			p = a[i].Bytes()
		} else {
			p = b[i-len(a)].Bytes()
		}
		if len(c.scratch) > 0 && len(c.scratch)+14+len(p) > wsScratchMax {
			k, err := c.flush()
			written += k
			if err != nil {
				return written, err
			}
		}
		c.scratch = c.appendFrame(c.scratch, ws.OpBinary, p)
		c.ends = append(c.ends, len(c.scratch))
	}
	k, err := c.flush()
	return written + k, err
}

// appendFrame appends one final, masked frame of opcode op carrying p.
func (c *WebSocketConn) appendFrame(dst []byte, op ws.OpCode, p []byte) []byte {
	dst = append(dst, 0x80|byte(op))
	switch n := len(p); {
	case n < 126:
		dst = append(dst, 0x80|byte(n))
	case n <= 0xFFFF:
		dst = append(dst, 0x80|126, byte(n>>8), byte(n))
	default:
		dst = append(dst, 0x80|127)
		dst = binary.BigEndian.AppendUint64(dst, uint64(n))
	}
	var mask [4]byte
	binary.LittleEndian.PutUint32(mask[:], uint32(c.rng.Uint64()))
	dst = append(dst, mask[:]...)
	start := len(dst)
	dst = append(dst, p...)
	ws.Cipher(dst[start:], mask, 0)
	return dst
}

// flush writes the scratch buffer and returns how many of its frames went
// out whole.
func (c *WebSocketConn) flush() (int, error) {
	if len(c.scratch) == 0 {
		return 0, nil
	}
	n, err := c.conn.Write(c.scratch)
	whole := 0
	for whole < len(c.ends) && c.ends[whole] <= n {
		whole++
	}
	c.scratch, c.ends = c.scratch[:0], c.ends[:0]
	if err != nil {
		c.failed = &OpError{Op: "write", Endpoint: c.endpoint, Err: unwrapNetOpError(err)}
		return whole, c.failed
	}
	return whole, nil
}

// control writes one control frame between batches. Nothing more is written
// after a Close frame, nor after a failed write, which may have stopped
// inside a frame.
func (c *WebSocketConn) control(op ws.OpCode, payload []byte) error {
	c.wmu.Lock()
	defer c.wmu.Unlock()
	return c.controlLocked(op, payload)
}

// controlLocked is control with wmu held.
func (c *WebSocketConn) controlLocked(op ws.OpCode, payload []byte) error {
	if c.closeSent || c.failed != nil {
		return nil
	}
	if op == ws.OpClose {
		c.closeSent = true
	}
	f := c.appendFrame(c.ctl[:0], op, payload)
	if _, err := c.conn.Write(f); err != nil {
		c.failed = &OpError{Op: "write", Endpoint: c.endpoint, Err: unwrapNetOpError(err)}
		return err
	}
	return nil
}

// endWrites makes every later WriteBatch fail with cause, the reason the
// connection ended, unless a write already failed.
func (c *WebSocketConn) endWrites(cause error) {
	c.wmu.Lock()
	defer c.wmu.Unlock()
	if c.failed == nil {
		c.failed = &OpError{Op: "write", Endpoint: c.endpoint, Err: cause}
	}
}

// wsReaders holds the readers' 64 KiB buffers between connections, so that a
// sink reconnecting does not allocate one each time.
var wsReaders = sync.Pool{New: func() any { return bufio.NewReaderSize(nil, wsReadBuf) }}

// reader returns the buffered reader of the server's frames: first what the
// handshake's reader had buffered beyond the HTTP response, then the
// connection.
func (c *WebSocketConn) reader() *bufio.Reader {
	var src io.Reader = c.conn
	if c.br != nil {
		if n := c.br.Buffered(); n > 0 {
			early, _ := c.br.Peek(n)
			src = io.MultiReader(bytes.NewReader(bytes.Clone(early)), c.conn)
		}
		ws.PutReader(c.br)
		c.br = nil
	}
	r := wsReaders.Get().(*bufio.Reader)
	r.Reset(src)
	return r
}

// readLoop reads the server's frames until the connection ends. Frame by
// frame: control frames are handled here, data frames go to data.
func (c *WebSocketConn) readLoop() {
	defer close(c.done)
	r := c.reader()
	defer func() {
		r.Reset(nil) // the pool must not keep the connection
		wsReaders.Put(r)
	}()
	hdr := make([]byte, 2, ws.MaxHeaderSize-2)
	var payload [wsMaxControl]byte
	end := func(err error) {
		c.readErr = &OpError{Op: "read", Endpoint: c.endpoint, Err: err}
		c.endWrites(err)
	}
	violation := func(reason string) {
		var b [2]byte
		binary.BigEndian.PutUint16(b[:], closeProtocol)
		_ = c.control(ws.OpClose, b[:])
		end(&ProtocolError{Reason: reason})
	}
	fragmented := false // a data message's last frame is still to come
	for {
		h, err := ws.ReadHeaderBuffer(r, hdr)
		switch {
		case errors.Is(err, ws.ErrHeaderLengthMSB):
			violation("a 64-bit payload length with its most significant bit set (RFC 6455 section 5.2)")
			return
		case err != nil:
			end(unwrapNetOpError(err))
			return
		case h.Masked:
			violation("a masked frame: servers must not mask (RFC 6455 section 5.1)")
			return
		case h.Rsv != 0:
			violation("reserved bits set, though no extension was negotiated (RFC 6455 section 5.2)")
			return
		case h.OpCode.IsControl() && (h.Length > wsMaxControl || !h.Fin):
			violation("a control frame of " + strconv.FormatInt(h.Length, 10) +
				" bytes or fragmented: at most 125 bytes, in one frame (RFC 6455 section 5.5)")
			return
		case h.OpCode.IsControl():
			p := payload[:h.Length]
			if _, err := io.ReadFull(r, p); err != nil {
				end(unwrapNetOpError(err))
				return
			}
			switch h.OpCode {
			case ws.OpPing:
				c.pong(p)
			case ws.OpPong: // unsolicited: ignored, as the RFC allows
			case ws.OpClose:
				ce, reason := parseClose(p)
				if reason != "" {
					violation(reason)
					return
				}
				_ = c.control(ws.OpClose, p[:min(len(p), 2)]) // echo the code, as RFC 6455 section 5.5.1 suggests
				end(ce)
				return
			default:
				violation("unknown control opcode " + strconv.Itoa(int(h.OpCode)))
				return
			}
		case h.OpCode == ws.OpContinuation || h.OpCode == ws.OpText || h.OpCode == ws.OpBinary:
			// Section 5.4: a continuation frame continues a fragmented
			// message, and no other message starts before that one ends.
			if cont := h.OpCode == ws.OpContinuation; cont != fragmented {
				if cont {
					violation("a continuation frame with no fragmented message to continue (RFC 6455 section 5.4)")
				} else {
					violation("a new data message inside a fragmented one (RFC 6455 section 5.4)")
				}
				return
			}
			fragmented = !h.Fin
			if err := c.data(r, h); err != nil {
				end(unwrapNetOpError(err))
				return
			}
		default:
			violation("unknown opcode " + strconv.Itoa(int(h.OpCode)))
			return
		}
	}
}

// data takes the payload of one data frame with header h from r, straight
// from the reader's buffer: the frames handler (SetInbound) gets it, or it
// is counted and dropped.
func (c *WebSocketConn) data(r *bufio.Reader, h ws.Header) error {
	for left := h.Length; left > 0; {
		p, err := r.Peek(int(min(left, wsReadBuf)))
		c.discarded.Add(uint64(c.in.feed(p)))
		_, _ = r.Discard(len(p))
		left -= int64(len(p))
		if err != nil {
			return err
		}
	}
	return nil
}

// pong records a Ping with payload p, to be answered at once when the last
// Pong went out pongEvery ago or more, else when that interval ends; a
// later Ping waiting meanwhile replaces it. pongTimer's callback writes the
// Pong, so that the reader never waits for the writer.
func (c *WebSocketConn) pong(p []byte) {
	c.pmu.Lock()
	defer c.pmu.Unlock()
	c.pongLen = copy(c.pongData[:], p)
	c.pongOwed = true
	if c.pongArmed || c.closed {
		return
	}
	c.pongArmed = true
	c.pongRuns.Add(1)
	wait := max(0, pongEvery-time.Since(c.lastPong))
	if c.pongTimer == nil {
		c.pongTimer = time.AfterFunc(wait, c.sendPong)
		return
	}
	c.pongTimer.Reset(wait)
}

// sendPong is pongTimer's callback: it writes the Pong owed. A failed write
// ends the connection, as any write does: the reader then meets the broken
// socket.
func (c *WebSocketConn) sendPong() {
	defer c.pongRuns.Done()
	c.wmu.Lock()
	defer c.wmu.Unlock()
	var p [wsMaxControl]byte
	c.pmu.Lock()
	c.pongArmed = false
	owed, n := c.pongOwed, copy(p[:], c.pongData[:c.pongLen])
	if owed {
		c.pongOwed = false
		c.lastPong = time.Now()
	}
	c.pmu.Unlock()
	if owed {
		_ = c.controlLocked(ws.OpPong, p[:n])
	}
}

// parseClose reads a Close frame's payload: the code (1005, "no status",
// when there is none) and the reason, or why the payload breaks RFC 6455.
func parseClose(p []byte) (*CloseError, string) {
	switch {
	case len(p) == 0:
		return &CloseError{Code: 1005}, ""
	case len(p) == 1:
		return nil, "a Close frame with a 1-byte payload: a code takes 2 (RFC 6455 section 5.5.1)"
	}
	code := int(binary.BigEndian.Uint16(p))
	if !validCloseCode(code) {
		return nil, "close code " + strconv.Itoa(code) + ", which no endpoint may send (RFC 6455 section 7.4)"
	}
	if !utf8.Valid(p[2:]) {
		return nil, "a close reason that is not UTF-8 (RFC 6455 section 5.5.1)"
	}
	return &CloseError{Code: code, Reason: string(p[2:])}, ""
}

// validCloseCode reports whether a Close frame may carry code: one defined
// by RFC 6455 section 7.4.1 or registered with IANA since (1012-1014), or
// one of the ranges left to libraries and applications (3000-4999); 1005,
// 1006 and 1015 only report what happened locally, and 1004 is reserved.
func validCloseCode(code int) bool {
	switch {
	case code >= 3000 && code <= 4999:
		return true
	case code < 1000 || code > 1014:
		return false
	}
	return code != 1004 && code != 1005 && code != 1006
}

// SetWriteDeadline sets the deadline of the writes of WriteBatch.
func (c *WebSocketConn) SetWriteDeadline(t time.Time) error { return c.conn.SetWriteDeadline(t) }

// Done implements Conn. It is also closed once Close has returned.
func (c *WebSocketConn) Done() <-chan struct{} { return c.done }

// Err returns nil while Done is open, then why it closed: an *OpError with
// Op "read" whose cause is a *CloseError when the server closed the
// WebSocket, a *ProtocolError when it broke the protocol, io.EOF when it
// hung up without a Close frame, or net.ErrClosed after Close.
func (c *WebSocketConn) Err() error {
	select {
	case <-c.done:
		return c.readErr
	default:
		return nil
	}
}

// BytesDiscarded returns the payload bytes of the data frames the server
// sent, which were dropped.
func (c *WebSocketConn) BytesDiscarded() uint64 { return c.discarded.Load() }

// Shutdown implements Conn: it sends a Close frame (1000) after the last
// batch, goes on reading (and discarding, and answering nothing: no frame
// follows a Close) until the server's Close frame comes back or it hangs
// up, or ctx ends, then closes the TCP connection. A server that answers
// the Close frame has read every frame before it. Unlike a stream's peer,
// a server is not let off once its kernel has everything: RFC 6455 has it
// answer, and one that reads the Close frame only after a reset (sent by
// the client's kernel when a Ping arrives after the close) would see 1006,
// or on some systems lose what it had not read.
func (c *WebSocketConn) Shutdown(ctx context.Context) error {
	// The Close frame's write blocks while the server reads nothing: ctx
	// bounds it too, by closing.
	stop := context.AfterFunc(ctx, func() { _ = c.Close() })
	defer stop()
	var b [2]byte
	binary.BigEndian.PutUint16(b[:], closeNormal)
	c.wmu.Lock()
	failed := c.failed
	if failed == nil {
		_ = c.controlLocked(ws.OpClose, b[:])
		failed = c.failed
	}
	c.wmu.Unlock()
	if failed != nil {
		_ = c.Close()
		if ctx.Err() != nil {
			return &OpError{Op: "shutdown", Endpoint: c.endpoint, Err: ctx.Err()}
		}
		return failed
	}
	return endShutdown(ctx, c, nil, c.endpoint)
}

// Close implements Conn: it sends a Close frame (1000) if none was sent yet
// and no batch is blocked, giving it 100 ms, closes the socket at once
// (under wss without TLS's close_notify), which makes a blocked WriteBatch
// return an error matching net.ErrClosed, and waits for the reader goroutine
// and a delayed Pong. Shutdown is the graceful end: Close does not wait for
// the server, so its unread frames can make the kernel reset the
// connection. Later calls return the first call's result.
func (c *WebSocketConn) Close() error {
	c.closeOnce.Do(func() {
		if c.wmu.TryLock() { // a blocked batch holds it: the peer is not reading, skip the courtesy
			if !c.closeSent && c.failed == nil {
				c.closeSent = true
				var b [2]byte
				binary.BigEndian.PutUint16(b[:], closeNormal)
				_ = c.conn.SetWriteDeadline(time.Now().Add(wsCloseGrace))
				_, _ = c.conn.Write(c.appendFrame(c.ctl[:0], ws.OpClose, b[:]))
			}
			c.wmu.Unlock()
		}
		// The TCP connection, not the TLS one: tls.Conn.Close would send
		// close_notify, which waits up to 5 s for room in the socket of a
		// server that is not reading. The WebSocket Close frame already
		// says that the session is over.
		c.closeErr = c.tcp.Close()
		<-c.done
		c.pmu.Lock()
		c.closed = true
		if c.pongArmed && c.pongTimer.Stop() {
			c.pongArmed = false
			c.pongRuns.Done()
		}
		c.pmu.Unlock()
		c.pongRuns.Wait()
	})
	return c.closeErr
}
