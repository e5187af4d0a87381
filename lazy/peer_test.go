package lazy_test

import (
	"context"
	"io"
	"net"
	"path/filepath"
	"sync"
	"testing"
	"time"

	"github.com/msgsink/msgsink/lazy"
	"github.com/msgsink/msgsink/sink"
	"github.com/msgsink/msgsink/tlv"
	"github.com/msgsink/msgsink/transport"
)

// peer is a real listener that reads Protocol V2 frames the way a relay
// does, keeping the sequence numbers of every whole frame per connection and
// noticing any torn one.
type peer struct {
	t       testing.TB
	ln      net.Listener
	mu      sync.Mutex
	conns   [][]frameID // frames per accepted connection, in arrival order
	torn    int         // connections that ended inside a frame
	bad     error       // a frame that did not parse
	accepts int
	wg      sync.WaitGroup
	open    []net.Conn
	readMax int // frames per connection before closing it; 0 = unlimited
}

func listen(t testing.TB, network, addr string) *peer { return listenOnce(t, network, addr, 0) }

// listenOnce with readMax > 0 is a peer that takes one connection, reads
// readMax frames from it and hangs up mid-stream, and then stops listening.
func listenOnce(t testing.TB, network, addr string, readMax int) *peer {
	t.Helper()
	ln, err := net.Listen(network, addr)
	if err != nil {
		t.Fatal(err)
	}
	p := &peer{t: t, ln: ln, readMax: readMax}
	p.wg.Add(1)
	go p.accept()
	t.Cleanup(p.close)
	return p
}

func unixPeer(t testing.TB) (*peer, transport.Endpoint) {
	path := filepath.Join(t.TempDir(), "s.sock")
	p := listen(t, "unix", path)
	return p, mustEndpoint(t, "unix://"+path)
}

func mustEndpoint(t testing.TB, s string) transport.Endpoint {
	t.Helper()
	e, err := transport.ParseEndpoint(s)
	if err != nil {
		t.Fatal(err)
	}
	return e
}

func (p *peer) accept() {
	defer p.wg.Done()
	for {
		c, err := p.ln.Accept()
		if err != nil {
			return
		}
		p.mu.Lock()
		p.accepts++
		p.open = append(p.open, c)
		idx := len(p.conns)
		p.conns = append(p.conns, nil)
		p.mu.Unlock()
		p.wg.Add(1)
		go p.read(c, idx)
		if p.readMax > 0 {
			_ = p.ln.Close()
			return
		}
	}
}

func (p *peer) read(c net.Conn, idx int) {
	defer p.wg.Done()
	defer c.Close()
	buf := make([]byte, 0, 1<<16)
	tmp := make([]byte, 1<<16)
	var v tlv.Validator
	frames := 0
	for {
		n, err := c.Read(tmp)
		buf = append(buf, tmp[:n]...)
		for len(buf) >= tlv.HeaderSize {
			size, ferr := v.FrameSize(buf)
			if ferr != nil {
				p.fail(ferr)
				return
			}
			if len(buf) < size {
				break
			}
			f, perr := v.Parse(buf[:size])
			if perr != nil {
				p.fail(perr)
				return
			}
			p.mu.Lock()
			p.conns[idx] = append(p.conns[idx], frameID{f.Header().Source(), f.Header().Sequence()})
			p.mu.Unlock()
			buf = buf[size:]
			frames++
			if p.readMax > 0 && frames == p.readMax {
				return // close mid-stream, whatever is in flight
			}
		}
		if err != nil {
			// The sink closed (EOF) with part of a frame sent: a torn frame.
			if len(buf) > 0 && err == io.EOF {
				p.mu.Lock()
				p.torn++
				p.mu.Unlock()
			}
			return
		}
	}
}

func (p *peer) fail(err error) {
	p.mu.Lock()
	defer p.mu.Unlock()
	if p.bad == nil {
		p.bad = err
	}
}

// close stops listening and hangs up on every connection, as a peer process
// that exits would.
func (p *peer) close() {
	_ = p.ln.Close()
	p.mu.Lock()
	for _, c := range p.open {
		_ = c.Close()
	}
	p.mu.Unlock()
	p.wg.Wait()
}

// frameID names a frame: its producer (header source) and sequence.
type frameID struct {
	source uint8
	seq    uint64
}

// seqs returns the sequences received, per connection.
func (p *peer) seqs() [][]uint64 {
	p.mu.Lock()
	defer p.mu.Unlock()
	out := make([][]uint64, len(p.conns))
	for i, c := range p.conns {
		for _, f := range c {
			out[i] = append(out[i], f.seq)
		}
	}
	return out
}

// seqsBySource returns the frames received, per connection.
func (p *peer) seqsBySource() [][]frameID {
	p.mu.Lock()
	defer p.mu.Unlock()
	out := make([][]frameID, len(p.conns))
	for i, c := range p.conns {
		out[i] = append([]frameID(nil), c...)
	}
	return out
}

func (p *peer) total() int {
	n := 0
	for _, c := range p.seqs() {
		n += len(c)
	}
	return n
}

// waitFor polls cond for up to 10 s; tests assert behaviour, not speed.
func waitFor(t testing.TB, what string, cond func() bool) {
	t.Helper()
	deadline := time.Now().Add(10 * time.Second)
	for !cond() {
		if time.Now().After(deadline) {
			t.Fatalf("timed out waiting for %s", what)
		}
		time.Sleep(time.Millisecond)
	}
}

func newSink(t testing.TB, cfg lazy.Config) *lazy.Sink {
	t.Helper()
	if cfg.Name == "" {
		cfg.Name = t.Name()
	}
	s, err := lazy.New(cfg)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = s.Close() })
	return s
}

// builder makes numbered market-data messages of a given total size.
type builder struct {
	b    *tlv.Builder
	body []byte
}

func newBuilder(size int) *builder {
	body := size - tlv.HeaderSize - 2
	if body > 255 {
		body -= 3 // extended head
	}
	return &builder{b: tlv.NewBuilder(tlv.DomainMarketData, 1), body: make([]byte, max(body, 0))}
}

func (b *builder) next() *tlv.Message {
	b.b.Append(5, b.body)
	m, err := b.b.FinishAt(uint64(time.Now().UnixNano()))
	if err != nil {
		panic(err)
	}
	return m
}

func assertBalanced(t testing.TB, s sink.Sink) sink.Info {
	t.Helper()
	i := s.Info()
	if !i.Balanced() {
		t.Fatalf("accounting: %+v", i)
	}
	return i
}

func flush(t testing.TB, s sink.Sink) {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	if err := s.Flush(ctx); err != nil {
		t.Fatalf("flush: %v", err)
	}
}

// drainPeer accepts connections and reads them into a fixed buffer, counting
// bytes and allocating nothing per read: the far end for allocation tests
// and benchmarks.
//
// The returned stop takes how many connections the caller made: it waits for
// them to be accepted first, since closing the listener drops connections
// still in its backlog.
func drainPeer(t testing.TB, network string) (transport.Endpoint, func(conns int) int64) {
	t.Helper()
	addr := "127.0.0.1:0"
	if network == "unix" {
		addr = filepath.Join(t.TempDir(), "d.sock")
	}
	ln, err := net.Listen(network, addr)
	if err != nil {
		t.Fatal(err)
	}
	var wg sync.WaitGroup
	var mu sync.Mutex
	var total int64
	var conns []net.Conn
	expect := 0 // connections to wait for before closing the listener
	wg.Add(1)
	go func() {
		defer wg.Done()
		for {
			c, err := ln.Accept()
			if err != nil {
				return
			}
			mu.Lock()
			conns = append(conns, c)
			mu.Unlock()
			wg.Add(1)
			go func() {
				defer wg.Done()
				buf := make([]byte, 1<<20)
				var n int64
				for {
					k, err := c.Read(buf)
					n += int64(k)
					if err != nil {
						mu.Lock()
						total += n
						mu.Unlock()
						return
					}
				}
			}()
		}
	}()
	// stop waits for the readers to see EOF, which comes once the sink closed
	// its end, so that no byte in flight is missed; a sink still connected
	// after 5 s has its connections cut.
	once := sync.OnceValue(func() int64 {
		for deadline := time.Now().Add(5 * time.Second); ; time.Sleep(time.Millisecond) {
			mu.Lock()
			n := len(conns)
			mu.Unlock()
			if n >= expect || time.Now().After(deadline) {
				break
			}
		}
		_ = ln.Close()
		done := make(chan struct{})
		go func() { wg.Wait(); close(done) }()
		select {
		case <-done:
		case <-time.After(5 * time.Second):
			mu.Lock()
			for _, c := range conns {
				_ = c.Close()
			}
			mu.Unlock()
			<-done
		}
		return total
	})
	t.Cleanup(func() { once() })
	stop := func(conns int) int64 {
		expect = conns
		return once()
	}
	return mustEndpoint(t, network+"://"+ln.Addr().String()), stop
}
