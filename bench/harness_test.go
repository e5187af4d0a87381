package bench

import (
	"encoding/binary"
	"errors"
	"fmt"
	"io"
	"net"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/msgsink/msgsink/internal/testnet"

	"github.com/gobwas/ws"

	"github.com/msgsink/msgsink/internal/hist"
	"github.com/msgsink/msgsink/lazy"
	"github.com/msgsink/msgsink/tlv"
	"github.com/msgsink/msgsink/transport"
)

// waitLimit bounds every wait for a reader, so that a broken comparator
// fails the run instead of hanging it.
const waitLimit = time.Minute

// server is a listening socket that a receiver reads from, and the endpoint
// to reach it.
type server struct {
	ln net.Listener
	ep transport.Endpoint
}

// listen opens a server for network ("unix", "tcp" or "ws") on a fresh
// socket path or a loopback port, closed when the benchmark run ends. A ws
// server listens on TCP; its receiver does the WebSocket handshake.
func listen(tb testing.TB, network string) server {
	tb.Helper()
	lnet, addr, path := network, "127.0.0.1:0", ""
	switch network {
	case "ws":
		lnet, path = "tcp", "/"
	case "unix":
		addr = testnet.SocketPath(tb)
	}
	ln, err := net.Listen(lnet, addr)
	if err != nil {
		tb.Fatal(err)
	}
	tb.Cleanup(func() { ln.Close() })
	ep, err := transport.ParseEndpoint(network + "://" + ln.Addr().String() + path)
	if err != nil {
		tb.Fatal(err)
	}
	return server{ln, ep}
}

// frameBuilder makes market-data messages of exactly size bytes from one
// source, as an adapter's feed would: a single record of type 5
// (market-data range, no fixed layout) that carries the message's sequence
// number and timestamp, padded to the size, so that every message differs.
type frameBuilder struct {
	b    *tlv.Builder
	body []byte
	t0   uint64 // the feed's first timestamp, for next
}

func newFrameBuilder(size int, source uint8) *frameBuilder {
	body := size - tlv.HeaderSize - 2
	if body > 255 {
		body -= 3 // extended record head
	}
	return &frameBuilder{b: tlv.NewBuilder(tlv.DomainMarketData, source), body: make([]byte, max(body, 0)), t0: stamp()}
}

// build finishes the next message with header timestamp ts, the record
// carrying the same timestamp and the message's sequence number.
func (f *frameBuilder) build(ts uint64) *tlv.Message {
	if len(f.body) >= 16 {
		binary.LittleEndian.PutUint64(f.body, f.b.Sequence())
		binary.LittleEndian.PutUint64(f.body[8:], ts)
	}
	f.b.Append(5, f.body)
	m, err := f.b.FinishAt(ts)
	if err != nil {
		panic(err) // the sizes used here are all buildable
	}
	return m
}

// next builds the next message of a feed whose timestamps come with the
// data, as a vendor's do (the feed's start plus one nanosecond per
// message): a throughput benchmark that read the clock for every message
// would measure the clock. Latency reads it (stamp), since it measures with
// it.
func (f *frameBuilder) next() *tlv.Message { return f.build(f.t0 + f.b.Sequence()) }

// warm builds n messages and releases them all, so that the builder's free
// list reaches the most messages that can be in flight at once (a ring's
// worth) before a measurement: after that, building allocates nothing. The
// numbering starts again at 1.
func (f *frameBuilder) warm(n int) {
	ms := make([]*tlv.Message, n)
	for i := range ms {
		ms[i] = f.build(0)
	}
	for _, m := range ms {
		m.Release()
	}
	f.b.SetSequence(1)
}

// warmN is what warm is given for a builder feeding any of the pipes: a
// ring's worth and a batch in flight.
const warmN = lazy.DefaultBufferSize + lazy.DefaultMaxBatch

// retained returns a message of size bytes from source holding n references
// (n ≥ 1), so that a producer can hand it over n times without building: the
// cost measured is the pipe's, not the builder's.
func retained(size int, source uint8, n int) *tlv.Message {
	m := newFrameBuilder(size, source).build(stamp())
	m.RetainN(n - 1)
	return m
}

// The clock shared by senders and readers: Unix nanoseconds, advanced by the
// monotonic clock so that a wall-clock step cannot make a latency negative.
var (
	epoch     = time.Now()
	epochUnix = uint64(epoch.UnixNano())
)

func stamp() uint64 { return epochUnix + uint64(time.Since(epoch)) }

// receiver is the far end of every benchmark: it accepts one connection and
// reads it as a consumer would, cutting the stream into frames by their
// headers (over WebSocket, after a gobwas/ws server handshake, one message
// per binary frame). Every frame must be size bytes with the Protocol V2
// magic, so a torn or misaligned stream is caught at once.
type receiver struct {
	ws    bool // a WebSocket server: one masked binary frame per message
	size  int
	want  uint64
	lat   *hist.Histogram // when set, records the delay from each frame's header timestamp
	check bool            // also validate every frame and its per-source sequence (tests)

	frames atomic.Uint64
	all    chan struct{} // closed when frames reaches want
	done   chan struct{} // closed when the reading goroutine returns
	err    error         // why it returned early; read after done

	ln   net.Listener
	mu   sync.Mutex
	conn net.Conn
}

// newReceiver starts reading the first connection accepted by srv; it is
// closed when the benchmark run ends, after whatever was registered later
// (so the sender's side closes first).
func newReceiver(tb testing.TB, srv server, size int, want int, lat *hist.Histogram, check bool) *receiver {
	r := &receiver{ws: srv.ep.Scheme == "ws", size: size, want: uint64(want), lat: lat, check: check, ln: srv.ln,
		all: make(chan struct{}), done: make(chan struct{})}
	go r.run()
	tb.Cleanup(func() {
		if err := r.close(); err != nil {
			tb.Error(err)
		}
	})
	return r
}

func (r *receiver) run() {
	defer close(r.done)
	c, err := r.ln.Accept()
	if err != nil {
		r.err = fmt.Errorf("accept: %w", err)
		return
	}
	r.mu.Lock()
	r.conn = c
	r.mu.Unlock()
	r.err = r.read(c)
	// Hang up, as a consumer that finds a bad frame would: a writer blocked
	// on the full socket then fails instead of waiting forever.
	c.Close()
}

func (r *receiver) read(c net.Conn) error {
	if r.ws {
		if _, err := ws.Upgrade(c); err != nil {
			return fmt.Errorf("WebSocket upgrade: %w", err)
		}
	}
	buf := make([]byte, 256<<10)
	var last [256]uint64 // per-source sequence, for check
	have := 0
	for {
		n, rerr := c.Read(buf[have:])
		have += n
		var now uint64
		if r.lat != nil && n > 0 {
			now = stamp()
		}
		p := buf[:have]
		var frames uint64
		for {
			msg, rest, err := r.next(p)
			if err == errWSClose {
				return nil
			}
			if err != nil {
				return fmt.Errorf("frame %d: %w", r.frames.Load()+frames, err)
			}
			if msg == nil {
				break
			}
			if err := r.frame(msg, now, &last); err != nil {
				return fmt.Errorf("frame %d: %w", r.frames.Load()+frames, err)
			}
			p = rest
			frames++
		}
		have = copy(buf, p)
		if frames > 0 {
			total := r.frames.Add(frames)
			if total >= r.want && total-frames < r.want {
				close(r.all)
			}
		}
		if rerr != nil {
			if have > 0 {
				return fmt.Errorf("stream ends inside a frame (%d bytes left)", have)
			}
			if errors.Is(rerr, io.EOF) || errors.Is(rerr, net.ErrClosed) {
				return nil
			}
			return rerr
		}
	}
}

// errWSClose is a WebSocket Close frame: the client's clean end.
var errWSClose = errors.New("WebSocket close")

// next cuts the first message from p: the bytes of one whole message and
// what follows, or nil when p holds only part of it. A stream header is
// checked as soon as it is in, so a torn stream fails at once.
func (r *receiver) next(p []byte) (msg, rest []byte, err error) {
	if r.ws {
		return r.nextWS(p)
	}
	if len(p) < tlv.HeaderSize {
		return nil, p, nil
	}
	if err := r.header(p); err != nil {
		return nil, p, err
	}
	if len(p) < r.size {
		return nil, p, nil
	}
	return p[:r.size], p[r.size:], nil
}

// nextWS cuts one client frame (RFC 6455 section 5.2) and unmasks its
// payload in place: every message must come as one final, masked binary
// frame.
func (r *receiver) nextWS(p []byte) (msg, rest []byte, err error) {
	hlen, plen, ok := testnet.ClientFrame(p)
	if !ok {
		return nil, p, nil
	}
	fin, op, masked := p[0]&0x80 != 0, ws.OpCode(p[0]&0x0F), p[1]&0x80 != 0
	switch {
	case op == ws.OpClose:
		return nil, p, errWSClose
	case !fin || op != ws.OpBinary || !masked || plen != r.size:
		return nil, p, fmt.Errorf("WebSocket frame fin=%v opcode=%v masked=%v length %d: want one final masked binary frame of %d bytes per message",
			fin, op, masked, plen, r.size)
	case len(p) < hlen+plen:
		return nil, p, nil
	}
	msg = p[hlen : hlen+plen]
	ws.Cipher(msg, [4]byte(p[hlen-4:hlen]), 0)
	return msg, p[hlen+plen:], r.header(msg)
}

// header checks the Protocol V2 header at the start of p.
func (r *receiver) header(p []byte) error {
	h := tlv.Header(p[:tlv.HeaderSize])
	if size := tlv.HeaderSize + int(h.PayloadSize()); h.Magic() != tlv.Magic || size != r.size {
		return fmt.Errorf("magic %#x, %d bytes: want %#x and %d: torn or misaligned stream", h.Magic(), size, tlv.Magic, r.size)
	}
	return nil
}

// frame takes one whole message, read at now.
func (r *receiver) frame(msg []byte, now uint64, last *[256]uint64) error {
	h := tlv.Header(msg[:tlv.HeaderSize])
	if r.lat != nil {
		r.lat.Record(time.Duration(now - h.Timestamp()))
	}
	if r.check {
		if _, err := tlv.Parse(msg); err != nil {
			return err
		}
		src, seq := h.Source(), h.Sequence()
		if seq != last[src]+1 {
			return fmt.Errorf("source %d: sequence %d after %d", src, seq, last[src])
		}
		last[src] = seq
	}
	return nil
}

// wait returns once want frames have arrived, or with an error if the
// stream ends first or takes longer than waitLimit.
func (r *receiver) wait() error {
	t := time.NewTimer(waitLimit)
	defer t.Stop()
	select {
	case <-r.all:
		return nil
	case <-r.done:
		select {
		case <-r.all:
			return nil
		default:
		}
		return fmt.Errorf("reader stopped after %d of %d frames: %v", r.frames.Load(), r.want, r.err)
	case <-t.C:
		return fmt.Errorf("reader got %d of %d frames in %v", r.frames.Load(), r.want, waitLimit)
	}
}

// close stops reading and reports a stream that broke or carried more
// frames than wanted.
func (r *receiver) close() error {
	r.ln.Close() // ends an Accept still waiting
	r.mu.Lock()
	if r.conn != nil {
		r.conn.Close()
	}
	r.mu.Unlock()
	<-r.done
	if r.err != nil && !errors.Is(r.err, net.ErrClosed) {
		return r.err
	}
	if got := r.frames.Load(); got > r.want {
		return fmt.Errorf("reader got %d frames, want %d", got, r.want)
	}
	return nil
}
