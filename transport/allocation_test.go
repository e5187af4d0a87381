//go:build !race

package transport

import (
	"bufio"
	"crypto/tls"
	"io"
	"net"
	"sync/atomic"
	"testing"
	"time"
)

// TestWriteBatchZeroAllocs holds the writer's steady state to zero allocations,
// on a real socket with a peer draining it: small frames (coalesced), large
// ones (iovecs), and batches over IOV_MAX and over the coalescing buffer, so
// that every path of WriteBatch, including waits in the netpoller, is taken.
func TestWriteBatchZeroAllocs(t *testing.T) {
	batches := []struct {
		name  string
		sizes []int
		split int
	}{
		{"small", repeat(64, 64), 20},
		{"mixed", mixedSizes(300, 7), 150},
		{"many-small", repeat(3000, 64), 1000},
	}
	for _, transport := range transports {
		for _, bt := range batches {
			t.Run(transport+"/"+bt.name, func(t *testing.T) {
				c, peer := connPair(t, transport)
				go drain(peer)
				ms := newBatch(t, bt.sizes...)
				a, b := ms[:bt.split], ms[bt.split:]
				allocs := testing.AllocsPerRun(100, func() {
					if n, err := c.WriteBatch(a, b); err != nil || n != len(ms) {
						t.Fatalf("WriteBatch = %d, %v", n, err)
					}
				})
				if allocs != 0 {
					t.Errorf("WriteBatch allocates %v times per batch, want 0", allocs)
				}
			})
		}
	}
}

// TestWebSocketWriteBatchZeroAllocs: masking into the writer's buffer and
// the one write per batch allocate nothing, for small and large frames, over
// ws and wss. The wss server discards the ciphertext under its TLS layer
// once the upgrade is done: crypto/tls allocates on the reading side, and
// AllocsPerRun counts the whole process.
func TestWebSocketWriteBatchZeroAllocs(t *testing.T) {
	for _, transport := range []string{"ws", "wss"} {
		for name, sizes := range map[string][]int{"small": repeat(1024, 64), "mixed": mixedSizes(300, 7)} {
			t.Run(transport+"/"+name, func(t *testing.T) {
				var c *WebSocketConn
				if transport == "ws" {
					var got atomic.Int64
					c = dialWS(t, wsServer(t, func(c net.Conn, r *bufio.Reader) { countFrames(r, &got) }), Dialer{})
				} else {
					e, _ := wssServer(t, func(c net.Conn, _ *bufio.Reader) { discardRaw(c.(*tls.Conn).NetConn()) })
					c = dialWS(t, e, insecure)
				}
				ms := newBatch(t, sizes...)
				allocs := testing.AllocsPerRun(100, func() {
					if n, err := c.WriteBatch(ms[:len(ms)/2], ms[len(ms)/2:]); err != nil || n != len(ms) {
						t.Fatalf("WriteBatch = %d, %v", n, err)
					}
				})
				if allocs != 0 {
					t.Errorf("WriteBatch allocates %v times per batch, want 0", allocs)
				}
			})
		}
	}
}

// discardRaw reads c until it fails, into one buffer.
func discardRaw(c net.Conn) {
	buf := make([]byte, 64<<10)
	for {
		if _, err := c.Read(buf); err != nil {
			return
		}
	}
}

// TestTryWriteZeroAllocs: a write through allocates nothing, whether the
// socket takes the whole message or, full, part or none of it (then the
// WriteBatch that finishes it allocates nothing either).
func TestTryWriteZeroAllocs(t *testing.T) {
	for _, transport := range transports {
		for name, size := range map[string]int{"small": 64, "large": 3000} {
			t.Run(transport+"/"+name, func(t *testing.T) {
				c, peer := connPair(t, transport)
				go drain(peer)
				ms := newBatch(t, size)
				allocs := testing.AllocsPerRun(1000, func() {
					whole, err := c.TryWrite(ms[0])
					if err != nil {
						t.Fatalf("TryWrite: %v", err)
					}
					if !whole {
						if n, err := c.WriteBatch(ms, nil); err != nil || n != 1 {
							t.Fatalf("WriteBatch = %d, %v", n, err)
						}
					}
				})
				if allocs != 0 {
					t.Errorf("TryWrite allocates %v times per message, want 0", allocs)
				}
			})
		}
		// A full socket: the write fails with EAGAIN, which is an answer.
		t.Run(transport+"/full", func(t *testing.T) {
			c, peer := connPair(t, transport)
			fillable(t, c, peer)
			ms := newBatch(t, repeat(5000, 64)...)
			k := tryUntilRefused(t, c, ms)
			if c.skip != 0 {
				t.Skipf("the socket took %d bytes of a 64-byte message; the full path needs none", c.skip)
			}
			allocs := testing.AllocsPerRun(1000, func() {
				if whole, err := c.TryWrite(ms[k]); whole || err != nil {
					t.Fatalf("TryWrite on a full socket = %v, %v", whole, err)
				}
			})
			if allocs != 0 {
				t.Errorf("TryWrite on a full socket allocates %v times, want 0", allocs)
			}
		})
	}
}

// TestReaderZeroAllocs holds the reader's steady state to zero allocations:
// a peer that sends 64 KiB at a time (a stream's bytes; a WebSocket Ping
// and a binary frame) costs reads, and Pongs, but no garbage.
func TestReaderZeroAllocs(t *testing.T) {
	junk := make([]byte, 64<<10)
	check := func(t *testing.T, discarded func() uint64, send func() error) {
		read := func() {
			want := discarded() + uint64(len(junk))
			if err := send(); err != nil {
				t.Fatal(err)
			}
			for discarded() < want {
				time.Sleep(10 * time.Microsecond) // not Gosched: it would starve the netpoller at GOMAXPROCS=1
			}
		}
		read() // the pooled buffer, the Pong timer
		if allocs := testing.AllocsPerRun(200, read); allocs != 0 {
			t.Errorf("the reader allocates %v times per 64 KiB, want 0", allocs)
		}
	}
	for _, network := range []string{"unix", "tcp"} {
		t.Run(network, func(t *testing.T) {
			c, peer := connPair(t, network)
			check(t, c.BytesDiscarded, func() error { _, err := peer.Write(junk); return err })
		})
	}
	t.Run("ws", func(t *testing.T) {
		var frames []byte
		frames = append(frames, 0x89, 4, 'p', 'i', 'n', 'g') // a Ping
		frames = append(frames, 0x82, 127, 0, 0, 0, 0, 0, 1, 0, 0)
		frames = append(frames, junk...) // a binary frame of 64 KiB
		server := make(chan net.Conn, 1)
		stop := make(chan struct{})
		e := wsServer(t, func(c net.Conn, r *bufio.Reader) {
			server <- c
			go func() { _, _ = io.Copy(io.Discard, r) }() // the Pongs
			<-stop
		})
		defer close(stop)
		c := dialWS(t, e, Dialer{})
		defer c.Close()
		sc := <-server
		check(t, c.BytesDiscarded, func() error { _, err := sc.Write(frames); return err })
	})
}
