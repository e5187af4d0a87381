package sinktest

import (
	"bufio"
	"errors"
	"fmt"
	"io"
	"net"
	"path/filepath"
	"sync"
	"testing"

	"github.com/gobwas/ws"

	"github.com/msgsink/msgsink/tlv"
	"github.com/msgsink/msgsink/transport"
)

// Peer is the far end of a sink: a server its endpoint points at, which
// records what it receives. StreamPeer is one for unix://, tcp:// and, made
// by ListenWebSocket, ws://; a peer for another transport keeps a Recorder
// and feeds it the bytes it receives.
type Peer interface {
	// Received returns the frames received whole so far: one slice per
	// connection, in the order the connections were accepted, each in
	// arrival order. A connection accepted and not yet sent to has an
	// empty slice.
	Received() [][]FrameID
	// Err returns the first violation seen on any connection: bytes that
	// do not parse as a whole, valid frame where one should start, or a
	// connection the sink closed in the middle of a frame (a torn frame).
	Err() error
	// Stall stops reading, leaving the connections open, so that the
	// sink's socket buffers fill and its writes stop part way through a
	// batch, and a frame. Stop ends the stall.
	Stall()
	// Stop stops listening and hangs up every connection, as a peer
	// process that exits would. When it returns, nothing more is received
	// until Start. Stopping a stopped peer does nothing.
	Stop()
	// Start listens again at the same address. It fails the test the peer
	// was made for if it cannot.
	Start()
}

// FrameID names a frame: its producer (the header's source) and sequence.
type FrameID struct {
	Source uint8
	Seq    uint64
}

func (f FrameID) String() string { return fmt.Sprintf("%d/%d", f.Source, f.Seq) }

// Recorder cuts the bytes a peer receives into frames, per connection, and
// keeps the first violation. Every connection must carry whole frames from
// its first byte: the start of a frame that was cut short by a broken
// connection must never appear on the next one. A frame is checked at
// LevelStandard, which includes the checksum when the sender set one. The
// zero value is ready; it is safe for concurrent use, one goroutine per
// connection.
type Recorder struct {
	mu    sync.Mutex
	conns [][]FrameID
	err   error
}

// Conn starts recording a new connection. Feed it the bytes the connection
// delivers, in order, then call End.
func (r *Recorder) Conn() *ConnRecorder {
	r.mu.Lock()
	defer r.mu.Unlock()
	r.conns = append(r.conns, []FrameID{})
	return &ConnRecorder{r: r, idx: len(r.conns) - 1}
}

// Received returns a copy of the frames received, per connection.
func (r *Recorder) Received() [][]FrameID {
	r.mu.Lock()
	defer r.mu.Unlock()
	out := make([][]FrameID, len(r.conns))
	for i, c := range r.conns {
		out[i] = append([]FrameID{}, c...)
	}
	return out
}

// Err returns the first violation recorded, nil if none.
func (r *Recorder) Err() error {
	r.mu.Lock()
	defer r.mu.Unlock()
	return r.err
}

func (r *Recorder) fail(err error) {
	r.mu.Lock()
	defer r.mu.Unlock()
	if r.err == nil {
		r.err = err
	}
}

// ConnRecorder records one connection; it belongs to the goroutine reading
// that connection.
type ConnRecorder struct {
	r   *Recorder
	idx int
	buf []byte // the start of a frame not yet received whole
	err error
}

// Write takes the next bytes the connection delivered and records the
// frames they complete. It returns an error, and records it in the
// Recorder, when they do not continue a stream of whole, valid frames; the
// connection is then of no further interest.
func (c *ConnRecorder) Write(p []byte) (int, error) {
	if c.err != nil {
		return 0, c.err
	}
	c.buf = append(c.buf, p...)
	var v tlv.Validator
	off := 0
	for len(c.buf)-off >= tlv.HeaderSize {
		rest := c.buf[off:]
		size, err := v.FrameSize(rest)
		if err == nil && len(rest) < size {
			break
		}
		var f tlv.Frame
		if err == nil {
			f, err = v.Parse(rest[:size])
		}
		if err != nil {
			c.err = fmt.Errorf("connection %d, after %d whole frames: not a whole frame: %w", c.idx, c.frames(), err)
			c.r.fail(c.err)
			return 0, c.err
		}
		h := f.Header()
		c.r.mu.Lock()
		c.r.conns[c.idx] = append(c.r.conns[c.idx], FrameID{h.Source(), h.Sequence()})
		c.r.mu.Unlock()
		off += size
	}
	// Keep the partial frame at the front, so that the buffer does not
	// creep along its backing array.
	c.buf = append(c.buf[:0], c.buf[off:]...)
	return len(p), nil
}

func (c *ConnRecorder) frames() int {
	c.r.mu.Lock()
	defer c.r.mu.Unlock()
	return len(c.r.conns[c.idx])
}

// End notes that the connection ended. closedBySink reports that the sink
// closed it (end of stream); a partial frame left then is a torn frame. A
// peer that hangs up itself passes false: the sink never had the chance to
// finish the frame, and must send it again whole on its next connection.
func (c *ConnRecorder) End(closedBySink bool) {
	if closedBySink && len(c.buf) > 0 {
		c.failf("closed by the sink %d bytes into a frame (a torn frame)", len(c.buf))
	}
}

// failf records a violation the peer saw in the transport's own framing.
func (c *ConnRecorder) failf(format string, args ...any) {
	if c.err == nil {
		c.err = fmt.Errorf("connection %d, after %d whole frames: %s", c.idx, c.frames(), fmt.Sprintf(format, args...))
		c.r.fail(c.err)
	}
}

// StreamPeer is a Peer on a Unix or TCP socket that reads what a sink
// sends, as a relay would, and never writes; or, made by ListenWebSocket, a
// WebSocket server (gobwas/ws) that reads one message per binary frame.
type StreamPeer struct {
	rec       Recorder
	tb        testing.TB
	network   string
	addr      string
	websocket bool

	mu    sync.Mutex
	ln    net.Listener // nil while stopped
	conns []net.Conn
	stall chan struct{} // readers wait on it while not nil; Stop closes it
	wg    sync.WaitGroup
}

var _ Peer = (*StreamPeer)(nil)

// ListenStream starts a StreamPeer on network "unix" (a socket in a
// temporary directory) or "tcp" (a free port on 127.0.0.1). It is stopped
// when tb ends; register it before the sinks that send to it, so that they
// close first.
func ListenStream(tb testing.TB, network string) *StreamPeer {
	tb.Helper()
	p := &StreamPeer{tb: tb, network: network}
	switch network {
	case "unix":
		p.addr = filepath.Join(tb.TempDir(), "peer.sock")
	case "tcp":
		p.addr = "127.0.0.1:0"
	default:
		tb.Fatalf("sinktest: ListenStream: network %q, want unix or tcp", network)
	}
	p.Start()
	p.addr = p.ln.Addr().String() // the port chosen, to listen there again
	tb.Cleanup(p.Stop)
	return p
}

// ListenWebSocket starts a StreamPeer that is a WebSocket server (gobwas/ws)
// on a free port of 127.0.0.1: it upgrades each connection, unmasks every
// binary frame and records its payload, answers Close, and is stopped when
// tb ends. Besides the checks of every peer, it reports a frame that is not
// masked, final and binary, one that does not carry exactly one message, and
// a connection the sink closed inside a WebSocket frame.
func ListenWebSocket(tb testing.TB) *StreamPeer {
	tb.Helper()
	p := &StreamPeer{tb: tb, network: "tcp", addr: "127.0.0.1:0", websocket: true}
	p.Start()
	p.addr = p.ln.Addr().String()
	tb.Cleanup(p.Stop)
	return p
}

// Received returns the frames received, per connection (see Peer).
func (p *StreamPeer) Received() [][]FrameID { return p.rec.Received() }

// Err returns the first violation seen (see Peer).
func (p *StreamPeer) Err() error { return p.rec.Err() }

// Endpoint returns the peer's address as a sink endpoint.
func (p *StreamPeer) Endpoint() transport.Endpoint {
	url := p.network + "://" + p.addr
	if p.websocket {
		url = "ws://" + p.addr + "/"
	}
	e, err := transport.ParseEndpoint(url)
	if err != nil {
		p.tb.Fatal(err)
	}
	return e
}

// Start listens at the peer's address, again after a Stop.
func (p *StreamPeer) Start() {
	p.tb.Helper()
	p.mu.Lock()
	defer p.mu.Unlock()
	if p.ln != nil {
		return
	}
	ln, err := net.Listen(p.network, p.addr)
	if err != nil {
		p.tb.Fatalf("sinktest: peer: %v", err)
	}
	p.ln = ln
	p.wg.Add(1)
	go p.accept(ln)
}

func (p *StreamPeer) accept(ln net.Listener) {
	defer p.wg.Done()
	for {
		c, err := ln.Accept()
		if err != nil {
			return
		}
		p.mu.Lock()
		if p.ln != ln { // stopped meanwhile
			p.mu.Unlock()
			_ = c.Close()
			return
		}
		p.conns = append(p.conns, c)
		rec := p.rec.Conn()
		p.wg.Add(1)
		p.mu.Unlock()
		if p.websocket {
			go p.readWebSocket(c, rec)
		} else {
			go p.read(c, rec)
		}
	}
}

func (p *StreamPeer) read(c net.Conn, rec *ConnRecorder) {
	defer p.wg.Done()
	buf := make([]byte, 64<<10)
	for {
		p.waitStall()
		n, err := c.Read(buf)
		if _, werr := rec.Write(buf[:n]); werr != nil {
			_ = c.Close() // as a relay drops a client that sends garbage
			return
		}
		if err != nil {
			rec.End(errors.Is(err, io.EOF))
			return
		}
	}
}

// waitStall blocks while the peer is stalled.
func (p *StreamPeer) waitStall() {
	p.mu.Lock()
	stall := p.stall
	p.mu.Unlock()
	if stall != nil {
		<-stall
	}
}

// readWebSocket upgrades c and records the payload of every binary frame,
// as a stream's bytes are. It also holds the sink to RFC 6455 and to one
// message per frame: every frame masked, final, binary, and carrying one
// whole message; and a connection the sink closes inside a WebSocket frame
// is a torn frame, even when the messages before it were whole.
func (p *StreamPeer) readWebSocket(c net.Conn, rec *ConnRecorder) {
	defer p.wg.Done()
	if _, err := ws.Upgrade(c); err != nil {
		rec.End(false)
		return
	}
	r := bufio.NewReader(c)
	buf := make([]byte, 64<<10)
	// ended tells an EOF from the sink (which closed its end) from the
	// peer's own Stop or a reset.
	ended := func(err error) bool { return errors.Is(err, io.EOF) || errors.Is(err, io.ErrUnexpectedEOF) }
	for {
		p.waitStall()
		if _, err := r.Peek(1); err != nil { // between frames
			rec.End(ended(err))
			return
		}
		h, err := ws.ReadHeader(r)
		switch {
		case err != nil:
			if ended(err) {
				rec.failf("closed by the sink inside a WebSocket frame header (a torn frame)")
			}
			rec.End(false)
			return
		case !h.Masked:
			rec.failf("an unmasked client frame (RFC 6455 section 5.3)")
			_ = c.Close()
			return
		case h.OpCode == ws.OpClose:
			_ = ws.WriteFrame(c, ws.NewCloseFrame(nil))
			rec.End(true)
			return
		case h.OpCode != ws.OpBinary || !h.Fin:
			rec.failf("a frame with opcode %d, FIN %t: want one final binary frame per message", h.OpCode, h.Fin)
			_ = c.Close()
			return
		}
		before := rec.frames()
		for off := int64(0); off < h.Length; {
			n, err := r.Read(buf[:min(h.Length-off, int64(len(buf)))])
			ws.Cipher(buf[:n], h.Mask, int(off))
			off += int64(n)
			if _, werr := rec.Write(buf[:n]); werr != nil {
				_ = c.Close()
				return
			}
			if err != nil {
				if ended(err) {
					rec.failf("closed by the sink %d bytes into a WebSocket frame of %d (a torn frame)", off, h.Length)
				}
				rec.End(false)
				return
			}
		}
		if whole := rec.frames() - before; whole != 1 || len(rec.buf) > 0 {
			rec.failf("a WebSocket frame of %d whole messages and %d bytes more: want one message per frame", whole, len(rec.buf))
			_ = c.Close()
			return
		}
	}
}

// Stall makes the readers stop reading until Stop.
func (p *StreamPeer) Stall() {
	p.mu.Lock()
	defer p.mu.Unlock()
	if p.stall == nil {
		p.stall = make(chan struct{})
	}
}

// Stop closes the listener and every connection, ends a stall, and waits
// for the readers.
func (p *StreamPeer) Stop() {
	p.mu.Lock()
	if p.ln != nil {
		_ = p.ln.Close()
		p.ln = nil
	}
	for _, c := range p.conns {
		_ = c.Close()
	}
	p.conns = nil
	if p.stall != nil {
		close(p.stall)
		p.stall = nil
	}
	p.mu.Unlock()
	p.wg.Wait()
}
