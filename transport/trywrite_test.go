package transport

import (
	"errors"
	"io"
	"net"
	"syscall"
	"testing"

	"github.com/msgsink/msgsink/tlv"
)

// tryUntilRefused calls TryWrite on ms in turn, on a socket whose peer is
// not reading, until the kernel takes less than a whole message. It returns
// the index of that message, which the next WriteBatch must begin with.
func tryUntilRefused(t *testing.T, c *StreamConn, ms []*tlv.Message) int {
	t.Helper()
	for i, m := range ms {
		whole, err := c.TryWrite(m)
		if err != nil {
			t.Fatalf("TryWrite %d: %v", i, err)
		}
		if !whole {
			return i
		}
		if c.skip != 0 {
			t.Fatalf("TryWrite %d took the whole message but left skip = %d", i, c.skip)
		}
	}
	t.Fatalf("the socket took all %d messages (%d bytes) without a reader", len(ms), totalLen(ms))
	return 0
}

func totalLen(ms []*tlv.Message) int {
	n := 0
	for _, m := range ms {
		n += m.Len()
	}
	return n
}

// fillable makes the socket between c and peer fill up after a few KiB
// that the peer does not read. TCP gets a small send buffer only: with a
// small receive window too, a window that closed while the peer was not
// reading reopens on the sender's persist timer, seconds later.
func fillable(t *testing.T, c *StreamConn, peer net.Conn) {
	t.Helper()
	if _, ok := peer.(*net.TCPConn); !ok {
		smallBuffers(t, c, peer)
		return
	}
	if err := c.conn.(*net.TCPConn).SetWriteBuffer(16 << 10); err != nil {
		t.Fatal(err)
	}
}

// TryWrite on a socket whose peer does not read: whole messages go until
// the socket is full, then one goes in part or not at all; while part of it
// is out TryWrite writes nothing more; and a WriteBatch that starts with
// that message finishes it: the peer, reading at last, finds every frame
// whole, in order, and nothing else.
func TestTryWriteThenWriteBatch(t *testing.T) {
	sizes := []struct {
		name  string
		sizes []int
	}{
		{"small", repeat(3000, 64)},
		// Unix sockets split a write into buffers of half the socket's
		// size: a 9000-byte one is taken in part. TCP takes part of a
		// 3000-byte one.
		{"large", repeat(300, 9000)},
		{"mixed", mixedSizes(1000, 8)},
	}
	partial := 0 // subtests in which the socket took part of a message
	defer func() {
		if !t.Failed() && partial == 0 {
			t.Error("no TryWrite took part of a message: the test never exercised the rest left to WriteBatch")
		}
	}()
	for _, transport := range transports {
		for _, sz := range sizes {
			if transport == "tcp" && sz.name == "large" {
				sz.sizes = repeat(600, 3000)
			}
			for _, mode := range coalesceModes {
				t.Run(transport+"/"+sz.name+"/"+mode.name, func(t *testing.T) {
					c, peer := connPair(t, transport)
					c.coalesceMax = mode.max
					fillable(t, c, peer)
					ms := newBatch(t, sz.sizes...)
					k := tryUntilRefused(t, c, ms)
					part := c.skip
					if part < 0 || part >= ms[k].Len() {
						t.Fatalf("TryWrite refused message %d of %d bytes with skip = %d", k, ms[k].Len(), part)
					}
					if part > 0 {
						partial++
						// Part of ms[k] is out: nothing else may follow it
						// but the rest of it, which is WriteBatch's to send.
						if whole, err := c.TryWrite(ms[k+1]); whole || err != nil || c.skip != part {
							t.Fatalf("TryWrite after a partial one = %v, %v (skip %d -> %d); want false, nil, unchanged",
								whole, err, part, c.skip)
						}
					}
					t.Logf("the socket took %d whole messages, then %d of %d bytes of the next", k, part, ms[k].Len())

					// The rest of that message and a few more: enough to
					// see the stream go on whole after it.
					ms = ms[:min(len(ms), k+40)]
					got := make(chan received, 1)
					go func() { got <- readFrames(peer, ms) }()
					rest := ms[k:]
					split := len(rest) / 3
					// An empty batch in between writes nothing and keeps
					// the place in the half-written message.
					if n, err := c.WriteBatch(nil, nil); n != 0 || err != nil || c.skip != part {
						t.Fatalf("WriteBatch(nil, nil) after a partial TryWrite = %d, %v, skip %d -> %d; want 0, nil, unchanged",
							n, err, part, c.skip)
					}
					n, err := c.WriteBatch(rest[:split], rest[split:])
					if err != nil || n != len(rest) {
						t.Fatalf("WriteBatch after TryWrite = %d, %v; want %d, nil", n, err, len(rest))
					}
					if c.skip != 0 {
						t.Fatalf("skip = %d after the WriteBatch that finished the message", c.skip)
					}
					c.Close()
					r := <-got
					checkAgree(t, len(ms), ms, r)
					if r.torn != 0 {
						t.Fatalf("%d stray bytes after the last frame", r.torn)
					}
				})
			}
		}
	}
}

// After a TryWrite that took part of a message, a WriteBatch that fails
// counts whole messages from the start of that message, including the part
// TryWrite sent: the peer has exactly the frames counted, then at most a
// torn part of the next. Unix only, where the count is exact (see
// TestPeerCloseMidBatch).
func TestTryWriteThenFailingWriteBatch(t *testing.T) {
	c, peer := connPair(t, "unix")
	fillable(t, c, peer)
	ms := newBatch(t, mixedSizes(1000, 9)...)
	k := tryUntilRefused(t, c, ms)
	got := make(chan received, 1)
	go func() {
		buf := make([]byte, 100_001)
		if _, err := io.ReadFull(peer, buf); err != nil {
			got <- received{err: err}
			return
		}
		peer.(*net.UnixConn).CloseRead()
		got <- readFrames(io.MultiReader(bytesReader(buf), peer), ms)
	}()
	n, err := c.WriteBatch(ms[k:500], ms[500:])
	if !errors.Is(err, syscall.EPIPE) || n == len(ms)-k {
		t.Fatalf("WriteBatch = %d, %v; want fewer than %d, EPIPE", n, err, len(ms)-k)
	}
	checkAgree(t, k+n, ms, <-got)
}

// A TryWrite that fails ends the connection as a failed WriteBatch does:
// the error is an *OpError for write, and every later TryWrite and
// WriteBatch returns it at once. A TryWrite after a failed WriteBatch
// returns that failure too.
func TestTryWriteAfterFailure(t *testing.T) {
	for _, transport := range transports {
		t.Run(transport+"/trywrite", func(t *testing.T) {
			c, peer := connPair(t, transport)
			ms := newBatch(t, repeat(4, 64)...)
			peer.Close()
			<-c.Done() // the close has reached this end
			var err error
			for range 100 { // TCP may take a write or two before its reset
				if _, err = c.TryWrite(ms[0]); err != nil {
					break
				}
			}
			if !errors.Is(err, syscall.EPIPE) && !errors.Is(err, syscall.ECONNRESET) {
				t.Fatalf("TryWrite to a closed peer: %v, want EPIPE or ECONNRESET", err)
			}
			var oe *OpError
			if !errors.As(err, &oe) || oe.Op != "write" || oe.Endpoint != c.endpoint {
				t.Fatalf("error %#v is not an *OpError for write on %s", err, c.endpoint)
			}
			if whole, again := c.TryWrite(ms[1]); whole || again != err {
				t.Fatalf("TryWrite after a failed one = %v, %v; want false, %v", whole, again, err)
			}
			if n, again := c.WriteBatch(ms[1:], nil); n != 0 || again != err {
				t.Fatalf("WriteBatch after a failed TryWrite = %d, %v; want 0, %v", n, again, err)
			}
		})
		t.Run(transport+"/writebatch", func(t *testing.T) {
			c, peer := connPair(t, transport)
			ms := newBatch(t, repeat(4, 64)...)
			c.Close()
			peer.Close()
			_, err := c.WriteBatch(ms[:1], nil)
			if !errors.Is(err, net.ErrClosed) {
				t.Fatalf("WriteBatch after Close: %v, want net.ErrClosed", err)
			}
			if whole, again := c.TryWrite(ms[1]); whole || again != err {
				t.Fatalf("TryWrite after a failed WriteBatch = %v, %v; want false, %v", whole, again, err)
			}
		})
	}
}

// A TryWrite on a socket with room takes the whole message, and the peer
// reads it as a frame; TryWrite and WriteBatch may alternate freely.
func TestTryWriteAlternatesWithWriteBatch(t *testing.T) {
	for _, transport := range transports {
		t.Run(transport, func(t *testing.T) {
			c, peer := connPair(t, transport)
			ms := newBatch(t, mixedSizes(60, 10)...)
			got := make(chan received, 1)
			go func() { got <- readFrames(peer, ms) }()
			for i := 0; i < len(ms); {
				if i%3 == 0 {
					whole, err := c.TryWrite(ms[i])
					if err != nil {
						t.Fatal(err)
					}
					if whole {
						i++
						continue
					}
				}
				end := min(i+2, len(ms))
				if n, err := c.WriteBatch(ms[i:end], nil); err != nil || n != end-i {
					t.Fatalf("WriteBatch = %d, %v", n, err)
				}
				i = end
			}
			c.Close()
			r := <-got
			checkAgree(t, len(ms), ms, r)
			if r.torn != 0 {
				t.Fatalf("%d stray bytes after the last frame", r.torn)
			}
		})
	}
}
