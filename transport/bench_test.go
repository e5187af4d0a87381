package transport

import (
	"bufio"
	"io"
	"net"
	"runtime"
	"strconv"
	"sync/atomic"
	"testing"
	"time"

	"github.com/gobwas/ws"

	"github.com/msgsink/msgsink/internal/testnet"
	"github.com/msgsink/msgsink/tlv"
)

// The strategies for writing a batch that were measured to choose
// StreamConn's (see the package documentation for the numbers). Only "hybrid"
// is production code; "writev" and "coalesce" are StreamConn with its
// threshold at the extremes, and "buffers" is kept here, outside the package
// proper, so that the comparison can be run again:
//
//	go test -run '^$' -bench 'WriteBatch|Coalesce' -count 5 ./transport
var strategies = []struct {
	name string
	make func(c *StreamConn) batchWriter
}{
	// net.Buffers.WriteTo on the bare *net.UnixConn / *net.TCPConn: a real
	// writev through internal/poll, one iovec per message.
	{"buffers", func(c *StreamConn) batchWriter { return &buffersWriter{conn: c.conn} }},
	// RawConn.Write with writev called directly, one iovec per message.
	{"writev", func(c *StreamConn) batchWriter { c.coalesceMax = 0; return c }},
	// Every frame copied into the 64 KiB writer buffer, one iovec per chunk.
	{"coalesce", func(c *StreamConn) batchWriter { c.coalesceMax = coalesceBufSize; return c }},
	// Production: frames up to defaultCoalesceMax copied, larger ones as iovecs.
	{"hybrid", func(c *StreamConn) batchWriter { return c }},
}

type batchWriter interface {
	WriteBatch(a, b []*tlv.Message) (int, error)
}

// buffersWriter keeps the net.Buffers and its backing array across batches,
// because WriteTo consumes the slice and a fresh one would allocate.
type buffersWriter struct {
	conn net.Conn
	bufs net.Buffers
	back [][]byte
}

func (w *buffersWriter) WriteBatch(a, b []*tlv.Message) (int, error) {
	w.bufs = w.back[:0]
	for _, ms := range [...][]*tlv.Message{a, b} {
		for _, m := range ms {
			w.bufs = append(w.bufs, m.Bytes())
		}
	}
	w.back = w.bufs[:0]
	n, err := w.bufs.WriteTo(w.conn)
	clear(w.back[:cap(w.back)])
	if err != nil {
		return wholeMessages(a, b, n), err
	}
	return len(a) + len(b), nil
}

// BenchmarkWriteBatch writes batches of equal messages to a peer that drains
// the socket on another goroutine (so it competes for the CPUs, as a relay
// on the same host would).
func BenchmarkWriteBatch(b *testing.B) {
	for _, st := range strategies {
		for _, transport := range transports {
			for _, size := range []int{64, 200, 1024} {
				for _, batch := range []int{64, 512} {
					name := "strategy=" + st.name + "/transport=" + transport +
						"/size=" + strconv.Itoa(size) + "/batch=" + strconv.Itoa(batch)
					b.Run(name, func(b *testing.B) { benchWrite(b, st.make, transport, size, batch) })
				}
			}
		}
	}
}

// BenchmarkCoalesceThreshold finds the frame size above which an iovec of its
// own beats copying: defaultCoalesceMax comes from here.
func BenchmarkCoalesceThreshold(b *testing.B) {
	for _, st := range strategies[1:3] {
		for _, transport := range transports {
			for _, size := range []int{256, 512, 1024, 2048, 4096} {
				for _, batch := range []int{64, 512} {
					name := "strategy=" + st.name + "/transport=" + transport +
						"/size=" + strconv.Itoa(size) + "/batch=" + strconv.Itoa(batch)
					b.Run(name, func(b *testing.B) { benchWrite(b, st.make, transport, size, batch) })
				}
			}
		}
	}
}

func benchWrite(b *testing.B, mk func(*StreamConn) batchWriter, transport string, size, batch int) {
	c, peer := connPair(b, transport)
	go drain(peer)
	w := mk(c)
	ms := newBatch(b, repeat(batch, size)...)
	b.SetBytes(int64(size * batch))
	b.ReportAllocs()
	for b.Loop() {
		if n, err := w.WriteBatch(ms, nil); err != nil || n != batch {
			b.Fatalf("WriteBatch = %d, %v", n, err)
		}
	}
	b.ReportMetric(float64(b.N*batch)/b.Elapsed().Seconds(), "msgs/s")
	b.ReportMetric(float64(b.Elapsed().Nanoseconds())/float64(b.N*batch), "ns/msg")
}

// BenchmarkWebSocket is WebSocket end to end on loopback: batches of masked
// binary frames through WebSocketConn, over ws and wss, to a gobwas/ws
// server on the other core that parses and unmasks every frame. ns/op is the
// client's WriteBatch; msgs/s runs from the first batch measured to the last
// frame the server parsed. allocs/op counts the whole process: over wss it is
// the test server's, whose crypto/tls reads allocate (a memory profile puts
// them all in crypto/tls.(*Conn).readFromUntil under countFrames); the
// client's WriteBatch allocates nothing over wss either
// (TestWebSocketWriteBatchZeroAllocs).
//
//	go test -run '^$' -bench WebSocket -benchmem ./transport
func BenchmarkWebSocket(b *testing.B) {
	for _, transport := range []string{"ws", "wss"} {
		for _, size := range []int{64, 200, 1024} {
			for _, batch := range []int{64, 1024} {
				name := "transport=" + transport + "/size=" + strconv.Itoa(size) + "/batch=" + strconv.Itoa(batch)
				b.Run(name, func(b *testing.B) { benchWebSocket(b, transport, size, batch) })
			}
		}
	}
}

func benchWebSocket(b *testing.B, transport string, size, batch int) {
	var got atomic.Int64
	count := func(c net.Conn, r *bufio.Reader) { countFrames(r, &got) }
	var c *WebSocketConn
	if transport == "ws" {
		c = dialWS(b, wsServer(b, count), Dialer{})
	} else {
		e, _ := wssServer(b, count)
		c = dialWS(b, e, insecure)
	}
	ms := newBatch(b, repeat(batch, size)...)
	// One batch first, received whole: the writer's buffer has grown to the
	// batch, and the steady state is what is measured.
	if n, err := c.WriteBatch(ms, nil); err != nil || n != batch {
		b.Fatalf("WriteBatch = %d, %v", n, err)
	}
	for got.Load() < int64(batch) {
		runtime.Gosched()
	}
	b.SetBytes(int64(size * batch))
	b.ReportAllocs()
	sent := int64(0)
	start := time.Now()
	for b.Loop() {
		if n, err := c.WriteBatch(ms, nil); err != nil || n != batch {
			b.Fatalf("WriteBatch = %d, %v", n, err)
		}
		sent += int64(batch)
	}
	for got.Load() < int64(batch)+sent {
		runtime.Gosched()
	}
	b.ReportMetric(float64(sent)/time.Since(start).Seconds(), "msgs/s")
}

// countFrames reads client frames from r as a server would, unmasking each
// payload, and counts them until the stream ends.
func countFrames(r io.Reader, got *atomic.Int64) {
	buf := make([]byte, 256<<10)
	have := 0
	for {
		n, err := r.Read(buf[have:])
		have += n
		off := 0
		for {
			p := buf[off:have]
			hlen, plen, ok := testnet.ClientFrame(p)
			if !ok || len(p) < hlen+plen {
				break
			}
			ws.Cipher(p[hlen:hlen+plen], [4]byte(p[hlen-4:hlen]), 0)
			off += hlen + plen
			got.Add(1)
		}
		have = copy(buf, buf[off:have])
		if err != nil {
			return
		}
	}
}
