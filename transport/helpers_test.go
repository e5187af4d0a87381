package transport

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"io"
	"net"
	"testing"
	"time"

	"github.com/msgsink/msgsink/internal/testnet"

	"github.com/msgsink/msgsink/tlv"
)

var transports = []string{"unix", "tcp"}

// listen starts a listener for transport ("unix" or "tcp") on a fresh socket
// path or a loopback port, closed at the end of the test.
func listen(tb testing.TB, transport string) (net.Listener, Endpoint) {
	tb.Helper()
	var addr string
	switch transport {
	case "unix":
		addr = testnet.SocketPath(tb)
	case "tcp":
		addr = "127.0.0.1:0"
	default:
		tb.Fatalf("unknown transport %q", transport)
	}
	l, err := net.Listen(transport, addr)
	if err != nil {
		tb.Fatal(err)
	}
	tb.Cleanup(func() { l.Close() })
	e, err := ParseEndpoint(transport + "://" + l.Addr().String())
	if err != nil {
		tb.Fatal(err)
	}
	return l, e
}

// connPair dials a listener of transport and returns the StreamConn and the
// accepted peer, both closed at the end of the test.
func connPair(tb testing.TB, transport string) (*StreamConn, net.Conn) {
	tb.Helper()
	l, e := listen(tb, transport)
	accepted := make(chan net.Conn, 1)
	go func() {
		c, err := l.Accept()
		if err != nil {
			c = nil
		}
		accepted <- c
	}()
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	c, err := Dial(ctx, e)
	if err != nil {
		tb.Fatal(err)
	}
	tb.Cleanup(func() { c.Close() })
	peer := <-accepted
	if peer == nil {
		tb.Fatal("accept failed")
	}
	tb.Cleanup(func() { peer.Close() })
	return c.(*StreamConn), peer
}

// newMessage builds a message of exactly size bytes (size ≥ 34; sizes 290 to
// 292 cannot be made with one record) whose payload is filled with its
// sequence number, so that a frame in the wrong place is visible.
func newMessage(tb testing.TB, b *tlv.Builder, size int) *tlv.Message {
	tb.Helper()
	n := size - tlv.HeaderSize - 2
	if n > 255 {
		n = size - tlv.HeaderSize - 5
	}
	b.Append(5, bytes.Repeat([]byte{byte(b.Sequence())}, n))
	m, err := b.FinishAt(uint64(b.Sequence()))
	if err != nil {
		tb.Fatal(err)
	}
	if m.Len() != size {
		tb.Fatalf("built a %d-byte message, want %d", m.Len(), size)
	}
	return m
}

// newBatch builds messages numbered 1..len(sizes) with the given sizes,
// released at the end of the test.
func newBatch(tb testing.TB, sizes ...int) []*tlv.Message {
	tb.Helper()
	b := tlv.NewBuilder(tlv.DomainMarketData, 1)
	ms := make([]*tlv.Message, len(sizes))
	for i, s := range sizes {
		ms[i] = newMessage(tb, b, s)
	}
	tb.Cleanup(func() {
		for _, m := range ms {
			m.Release()
		}
	})
	return ms
}

func repeat(n, size int) []int {
	s := make([]int, n)
	for i := range s {
		s[i] = size
	}
	return s
}

// received is what a peer read from a stream of frames.
type received struct {
	bytes int      // bytes read in all
	seqs  []uint64 // sequence numbers of the whole frames, in order
	torn  int      // bytes of a trailing partial frame
	err   error    // the read error that ended the stream (nil for EOF)
}

// readFrames reads r until EOF or an error, cuts the stream into frames with
// tlv.Validator.FrameSize, checks each with Parse and against want (the
// messages it should be, in order), and returns what it saw.
func readFrames(r io.Reader, want []*tlv.Message) received {
	var (
		got received
		v   tlv.Validator
		buf = make([]byte, 0, 256<<10)
	)
	tmp := make([]byte, 64<<10)
	for {
		n, err := r.Read(tmp)
		got.bytes += n
		buf = append(buf, tmp[:n]...)
		for len(buf) >= tlv.HeaderSize {
			size, ferr := v.FrameSize(buf)
			if ferr != nil {
				got.err = fmt.Errorf("frame %d: %w", len(got.seqs)+1, ferr)
				return got
			}
			if len(buf) < size {
				break
			}
			f, perr := v.Parse(buf[:size])
			if perr != nil {
				got.err = fmt.Errorf("frame %d: %w", len(got.seqs)+1, perr)
				return got
			}
			i := len(got.seqs)
			if i >= len(want) || !bytes.Equal(f, want[i].Bytes()) {
				got.err = fmt.Errorf("frame %d (seq %d) is not message %d", i+1, f.Header().Sequence(), i+1)
				return got
			}
			got.seqs = append(got.seqs, f.Header().Sequence())
			buf = buf[size:]
		}
		if err != nil {
			got.torn = len(buf)
			if !errors.Is(err, io.EOF) {
				got.err = err
			}
			return got
		}
	}
}

// checkAgree checks that a peer that read everything the kernel accepted saw
// exactly the n messages WriteBatch counted, then at most a torn part of the
// next one.
func checkAgree(t *testing.T, n int, ms []*tlv.Message, got received) {
	t.Helper()
	if got.err != nil {
		t.Fatalf("peer: %v", got.err)
	}
	if len(got.seqs) != n {
		t.Fatalf("WriteBatch counted %d messages written whole, the peer received %d whole frames (+%d bytes)",
			n, len(got.seqs), got.torn)
	}
	if got.torn > 0 && (n == len(ms) || got.torn >= ms[n].Len()) {
		t.Fatalf("peer has %d bytes after frame %d, not a torn part of the next message", got.torn, n)
	}
}

// drain reads c into a fixed buffer until it fails; it allocates nothing, so
// that it does not disturb allocation counts.
func drain(c net.Conn) {
	buf := make([]byte, 256<<10)
	for {
		if _, err := c.Read(buf); err != nil {
			return
		}
	}
}
