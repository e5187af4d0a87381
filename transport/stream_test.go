package transport

import (
	"errors"
	"io"
	"math/rand/v2"
	"net"
	"os"
	"syscall"
	"testing"
	"time"

	"golang.org/x/sys/unix"
)

// coalesceModes covers both ways a frame can go out, and their mix: every
// frame as its own iovec, every frame copied, and the production threshold.
var coalesceModes = []struct {
	name string
	max  int
}{
	{"iovecs", 0},
	{"copy", coalesceBufSize},
	{"default", defaultCoalesceMax},
}

// mixedSizes returns n sizes from 40 bytes to 9 KiB, so that a batch mixes
// frames below and above every coalescing threshold.
func mixedSizes(n int, seed uint64) []int {
	r := rand.New(rand.NewPCG(seed, 1))
	s := make([]int, n)
	for i := range s {
		switch r.IntN(4) {
		case 0:
			s[i] = 40 + r.IntN(200)
		case 1:
			s[i] = 64
		case 2:
			s[i] = 300 + r.IntN(defaultCoalesceMax)
		default:
			s[i] = 3000 + r.IntN(6000)
		}
	}
	return s
}

func TestWriteBatchOrderAndContent(t *testing.T) {
	batches := []struct {
		name  string
		sizes []int
		split int // len(a); b is the rest
	}{
		{"one", []int{64}, 1},
		{"small", repeat(64, 64), 40},
		{"mixed", mixedSizes(200, 1), 77},
		// over IOV_MAX iovecs, and over the coalescing buffer
		{"many-small", repeat(3000, 64), 1500},
		{"many-mixed", mixedSizes(2500, 2), 2000},
		{"only-b", repeat(10, 100), 0},
	}
	for _, transport := range transports {
		for _, mode := range coalesceModes {
			for _, bt := range batches {
				t.Run(transport+"/"+mode.name+"/"+bt.name, func(t *testing.T) {
					c, peer := connPair(t, transport)
					c.coalesceMax = mode.max
					ms := newBatch(t, bt.sizes...)
					got := make(chan received, 1)
					go func() { got <- readFrames(peer, ms) }()

					n, err := c.WriteBatch(ms[:bt.split], ms[bt.split:])
					if err != nil || n != len(ms) {
						t.Fatalf("WriteBatch = %d, %v; want %d, nil", n, err, len(ms))
					}
					// A second batch on the same connection: no state left over.
					n, err = c.WriteBatch(nil, nil)
					if err != nil || n != 0 {
						t.Fatalf("empty WriteBatch = %d, %v", n, err)
					}
					c.Close()
					r := <-got
					checkAgree(t, n+len(ms), ms, r)
					if r.torn != 0 {
						t.Fatalf("%d stray bytes after the last frame", r.torn)
					}
				})
			}
		}
	}
}

// TestShortWrites makes the socket take each batch in many parts: with tiny
// socket buffers and a peer reading 1000 bytes at a time, no writev can take
// more than a few KiB of the batch.
func TestShortWrites(t *testing.T) {
	for _, transport := range transports {
		for _, mode := range coalesceModes {
			t.Run(transport+"/"+mode.name, func(t *testing.T) {
				c, peer := connPair(t, transport)
				c.coalesceMax = mode.max
				smallBuffers(t, c, peer)
				ms := newBatch(t, mixedSizes(600, 3)...)
				total := 0
				for _, m := range ms {
					total += m.Len()
				}
				if sb := sockBuf(t, c.conn, unix.SO_SNDBUF) + sockBuf(t, peer, unix.SO_RCVBUF); total < 10*sb {
					t.Fatalf("batch of %d bytes is not much larger than the socket buffers (%d bytes): writes might not be short", total, sb)
				}
				got := make(chan received, 1)
				go func() { got <- readFrames(&smallReader{peer}, ms) }()

				n, err := c.WriteBatch(ms[:123], ms[123:])
				if err != nil || n != len(ms) {
					t.Fatalf("WriteBatch = %d, %v; want %d, nil", n, err, len(ms))
				}
				c.Close()
				checkAgree(t, n, ms, <-got)
			})
		}
	}
}

// smallBuffers shrinks the socket buffers between c and peer. Unix sockets go
// to the kernel's minimum; TCP stays at 16 KiB, because a window of a few bytes
// makes it crawl on persist timers and delayed ACKs.
func smallBuffers(t *testing.T, c *StreamConn, peer net.Conn) {
	t.Helper()
	size := 1
	if _, ok := peer.(*net.TCPConn); ok {
		size = 16 << 10
	}
	if err := c.conn.(interface{ SetWriteBuffer(int) error }).SetWriteBuffer(size); err != nil {
		t.Fatal(err)
	}
	if err := peer.(interface{ SetReadBuffer(int) error }).SetReadBuffer(size); err != nil {
		t.Fatal(err)
	}
}

type smallReader struct{ r io.Reader }

func (s *smallReader) Read(p []byte) (int, error) { return s.r.Read(p[:min(len(p), 1000)]) }

func sockBuf(t *testing.T, c net.Conn, opt int) int {
	t.Helper()
	rc, err := c.(syscall.Conn).SyscallConn()
	if err != nil {
		t.Fatal(err)
	}
	var v int
	var serr error
	if err := rc.Control(func(fd uintptr) { v, serr = unix.GetsockoptInt(int(fd), unix.SOL_SOCKET, opt) }); err != nil {
		t.Fatal(err)
	}
	if serr != nil {
		t.Fatal(serr)
	}
	return v
}

// TestPeerCloseMidBatch checks the count WriteBatch returns when the peer goes
// away in the middle of a batch against what the peer received.
func TestPeerCloseMidBatch(t *testing.T) {
	for _, mode := range coalesceModes {
		// On a Unix socket the count is exact: shutdown(SHUT_RD) on the peer
		// makes every later write fail with EPIPE, while what the socket took
		// before stays readable, so the peer gets every byte the kernel
		// accepted.
		t.Run("unix/"+mode.name, func(t *testing.T) {
			c, peer := connPair(t, "unix")
			c.coalesceMax = mode.max
			smallBuffers(t, c, peer)
			ms := newBatch(t, mixedSizes(1000, 4)...)
			got := make(chan received, 1)
			go func() {
				// Read an odd number of bytes, likely mid-frame, then stop the
				// writer and take what is left.
				buf := make([]byte, 100_001)
				if _, err := io.ReadFull(peer, buf); err != nil {
					got <- received{err: err}
					return
				}
				peer.(*net.UnixConn).CloseRead()
				got <- readFrames(io.MultiReader(bytesReader(buf), peer), ms)
			}()

			n, err := c.WriteBatch(ms[:500], ms[500:])
			if !errors.Is(err, syscall.EPIPE) || n == len(ms) {
				t.Fatalf("WriteBatch = %d, %v; want fewer than %d, EPIPE", n, err, len(ms))
			}
			checkAgree(t, n, ms, <-got)
		})
		// TCP cannot be exact: the kernel accepts bytes the closing peer
		// never reads (they are lost with its RST), so the peer may have
		// fewer frames than the count, never more, and never a torn one
		// followed by another.
		t.Run("tcp/"+mode.name, func(t *testing.T) {
			c, peer := connPair(t, "tcp")
			c.coalesceMax = mode.max
			smallBuffers(t, c, peer)
			ms := newBatch(t, mixedSizes(1000, 5)...)
			got := make(chan received, 1)
			go func() {
				buf := make([]byte, 100_001)
				_, err := io.ReadFull(peer, buf)
				peer.Close()
				if err != nil {
					got <- received{err: err}
					return
				}
				got <- readFrames(bytesReader(buf), ms)
			}()

			n, err := c.WriteBatch(ms[:500], ms[500:])
			if !errors.Is(err, syscall.EPIPE) && !errors.Is(err, syscall.ECONNRESET) || n == len(ms) {
				t.Fatalf("WriteBatch = %d, %v; want fewer than %d, EPIPE or ECONNRESET", n, err, len(ms))
			}
			r := <-got
			if r.err != nil {
				t.Fatalf("peer: %v", r.err)
			}
			if len(r.seqs) > n {
				t.Fatalf("peer received %d whole frames, more than the %d WriteBatch counted", len(r.seqs), n)
			}
		})
	}
}

func bytesReader(b []byte) io.Reader { return &sliceReader{b} }

type sliceReader struct{ b []byte }

func (s *sliceReader) Read(p []byte) (int, error) {
	if len(s.b) == 0 {
		return 0, io.EOF
	}
	n := copy(p, s.b)
	s.b = s.b[n:]
	return n, nil
}

// TestBlockedWrite blocks WriteBatch on a peer that does not read, ends it
// with Close or a deadline, and checks that the peer, reading afterwards,
// finds exactly the messages counted: what the kernel accepted is delivered.
func TestBlockedWrite(t *testing.T) {
	ends := []struct {
		name string
		end  func(c *StreamConn)
		want error
	}{
		{"close", func(c *StreamConn) {
			time.Sleep(50 * time.Millisecond) // let WriteBatch fill the socket and park
			c.Close()
		}, net.ErrClosed},
		{"deadline", func(c *StreamConn) {}, os.ErrDeadlineExceeded},
	}
	for _, transport := range transports {
		for _, end := range ends {
			t.Run(transport+"/"+end.name, func(t *testing.T) {
				c, peer := connPair(t, transport)
				smallBuffers(t, c, peer) // so that the batch cannot fit in them
				ms := newBatch(t, mixedSizes(2000, 6)...)
				if end.name == "deadline" {
					c.SetWriteDeadline(time.Now().Add(50 * time.Millisecond))
				}
				type result struct {
					n   int
					err error
				}
				res := make(chan result, 1)
				start := time.Now()
				go func() {
					n, err := c.WriteBatch(ms, nil)
					res <- result{n, err}
				}()
				end.end(c)
				var r result
				select {
				case r = <-res:
				case <-time.After(5 * time.Second):
					t.Fatal("WriteBatch still blocked 5s after " + end.name)
				}
				if !errors.Is(r.err, end.want) || r.n == len(ms) {
					t.Fatalf("WriteBatch = %d, %v; want fewer than %d, %v", r.n, r.err, len(ms), end.want)
				}
				if d := time.Since(start); d < 40*time.Millisecond {
					t.Fatalf("WriteBatch returned after %v, before it was ended", d)
				}
				var oe *OpError
				if !errors.As(r.err, &oe) || oe.Op != "write" || oe.Endpoint != c.endpoint {
					t.Fatalf("error %#v is not an *OpError for write on %s", r.err, c.endpoint)
				}
				if n, err := c.WriteBatch(ms[r.n:], nil); n != 0 || err != r.err {
					t.Fatalf("WriteBatch after a failed one = %d, %v; want 0, %v", n, err, r.err)
				}
				c.Close()
				checkAgree(t, r.n, ms, readFrames(peer, ms))
			})
		}
	}
}

func TestDone(t *testing.T) {
	for _, transport := range transports {
		t.Run(transport, func(t *testing.T) {
			c, peer := connPair(t, transport)
			select {
			case <-c.Done():
				t.Fatal("Done closed on a live connection")
			case <-time.After(10 * time.Millisecond):
			}
			if err := c.Err(); err != nil {
				t.Fatalf("Err = %v on a live connection", err)
			}
			peer.Write([]byte("hello")) // peers should not send; it is discarded
			peer.Close()
			select {
			case <-c.Done():
			case <-time.After(5 * time.Second):
				t.Fatal("Done not closed 5s after the peer closed")
			}
			if !errors.Is(c.Err(), io.EOF) {
				t.Fatalf("Err = %v, want io.EOF", c.Err())
			}
			if got := c.BytesDiscarded(); got != 5 {
				t.Fatalf("BytesDiscarded = %d, want 5", got)
			}
		})
	}
}

func TestCloseTwice(t *testing.T) {
	for _, transport := range transports {
		t.Run(transport, func(t *testing.T) {
			c, _ := connPair(t, transport)
			if err := c.Close(); err != nil {
				t.Fatal(err)
			}
			if err := c.Close(); err != nil {
				t.Fatalf("second Close: %v", err)
			}
			select {
			case <-c.Done():
			default:
				t.Fatal("Done open after Close")
			}
			if !errors.Is(c.Err(), net.ErrClosed) {
				t.Fatalf("Err after Close = %v, want net.ErrClosed", c.Err())
			}
			ms := newBatch(t, 64, 64)
			if n, err := c.WriteBatch(ms, nil); n != 0 || !errors.Is(err, net.ErrClosed) {
				t.Fatalf("WriteBatch after Close = %d, %v; want 0, net.ErrClosed", n, err)
			}
		})
	}
}

func TestCloseConcurrent(t *testing.T) {
	c, _ := connPair(t, "unix")
	errs := make(chan error, 4)
	for range 4 {
		go func() { errs <- c.Close() }()
	}
	for range 4 {
		if err := <-errs; err != nil {
			t.Fatal(err)
		}
	}
}

func TestWholeMessages(t *testing.T) {
	ms := newBatch(t, 100, 40, 200, 64)
	a, b := ms[:2], ms[2:]
	tests := []struct {
		w    int64
		want int
	}{
		{0, 0}, {99, 0}, {100, 1}, {139, 1}, {140, 2}, {141, 2},
		{339, 2}, {340, 3}, {403, 3}, {404, 4}, {1 << 20, 4},
	}
	for _, tt := range tests {
		if got := wholeMessages(a, b, tt.w); got != tt.want {
			t.Errorf("wholeMessages(100 40 | 200 64, %d) = %d, want %d", tt.w, got, tt.want)
		}
	}
	if got := wholeMessages(nil, b, 264); got != 2 {
		t.Errorf("wholeMessages(nil | 200 64, 264) = %d, want 2", got)
	}
}

func TestNewStreamConn(t *testing.T) {
	l, _ := listen(t, "unix")
	ms := newBatch(t, 64, 500)
	errc := make(chan error, 1)
	go func() {
		c, err := l.Accept()
		if err != nil {
			errc <- err
			return
		}
		sc, err := NewStreamConn(c)
		if err != nil {
			c.Close()
			errc <- err
			return
		}
		_, err = sc.WriteBatch(ms, nil)
		sc.Close()
		errc <- err
	}()
	c, err := net.Dial("unix", l.Addr().String())
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	checkAgree(t, 2, ms, readFrames(c, ms))
	if err := <-errc; err != nil {
		t.Fatal(err)
	}
	if _, err := NewStreamConn(nil); err == nil {
		t.Fatal("NewStreamConn(nil) succeeded")
	}
}
