package transport

import (
	"bufio"
	"context"
	"encoding/binary"
	"errors"
	"fmt"
	"io"
	"net"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	"github.com/gobwas/ws"
)

// chat writes junk to c every pause until a write fails (the other end
// closed) or stop is closed.
func chat(c net.Conn, pause time.Duration, stop <-chan struct{}) {
	junk := make([]byte, 4<<10)
	for {
		select {
		case <-stop:
			return
		default:
		}
		if _, err := c.Write(junk); err != nil {
			return
		}
		time.Sleep(pause)
	}
}

// Shutdown of a StreamConn delivers everything written, then EOF, to a peer
// that writes all the time; whether the peer closes its side at EOF (a
// relay) or not (a naive server), Shutdown returns nil without waiting for
// its context.
func TestShutdownStream(t *testing.T) {
	for _, network := range []string{"tcp", "unix"} {
		for _, closes := range []bool{true, false} {
			t.Run(fmt.Sprintf("transport=%s/peer_closes=%t", network, closes), func(t *testing.T) {
				c, peer := connPair(t, network)
				ms := newBatch(t, repeat(4000, 1000)...) // 4 MB: more than the socket buffers hold
				stop := make(chan struct{})
				var wg sync.WaitGroup
				wg.Go(func() { chat(peer, 50*time.Microsecond, stop) })
				got := make(chan received, 1)
				go func() {
					r := readFrames(peer, ms)
					if closes {
						peer.Close()
					}
					got <- r
				}()
				for i := 0; i < len(ms); i += 1000 {
					if n, err := c.WriteBatch(ms[i:i+1000], nil); n != 1000 || err != nil {
						t.Fatalf("WriteBatch = %d, %v", n, err)
					}
				}
				ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
				defer cancel()
				if err := c.Shutdown(ctx); err != nil {
					t.Fatalf("Shutdown = %v", err)
				}
				if ctx.Err() != nil {
					t.Fatal("Shutdown waited for its context")
				}
				r := <-got
				if network == "unix" && errors.Is(r.err, syscall.ECONNRESET) {
					// The peer read everything, and the sink closed with
					// the peer's junk unread before the peer read EOF:
					// Linux reports that to a Unix peer as a reset.
					r.err = nil
				}
				close(stop)
				wg.Wait()
				checkAgree(t, len(ms), ms, r)
				if r.torn != 0 {
					t.Fatalf("the stream ends in %d bytes of a torn frame", r.torn)
				}
				select {
				case <-c.Done():
				default:
					t.Fatal("Done is open after Shutdown")
				}
			})
		}
	}
}

// A peer that reads nothing and never closes holds Shutdown until its
// context ends: the error says so; Close from another goroutine ends it at
// once, with net.ErrClosed.
func TestShutdownPeerNeverReads(t *testing.T) {
	for _, network := range []string{"tcp", "unix"} {
		t.Run("transport="+network, func(t *testing.T) {
			t.Run("deadline", func(t *testing.T) {
				c, peer := connPair(t, network)
				smallBuffers(t, c, peer)
				// TryWrite until the socket is full: the rest stays queued.
				ms := newBatch(t, repeat(200, 1000)...)
				tryUntilRefused(t, c, ms)
				ctx, cancel := context.WithTimeout(context.Background(), 50*time.Millisecond)
				defer cancel()
				err := c.Shutdown(ctx)
				var oe *OpError
				if !errors.Is(err, context.DeadlineExceeded) || !errors.As(err, &oe) || oe.Op != "shutdown" ||
					!strings.Contains(err.Error(), "did not close its side within the close timeout") {
					t.Fatalf("Shutdown = %v, want an *OpError shutdown at the deadline, with its hint", err)
				}
			})
			t.Run("peer_closes_unread", func(t *testing.T) {
				// What the peer had not read is lost: Shutdown says so.
				c, peer := connPair(t, network)
				ms := newBatch(t, repeat(10, 1000)...)
				if n, err := c.WriteBatch(ms, nil); n != len(ms) || err != nil {
					t.Fatalf("WriteBatch = %d, %v", n, err)
				}
				peer.Close()
				<-c.Done()
				ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
				defer cancel()
				if err := c.Shutdown(ctx); !errors.Is(err, syscall.ECONNRESET) {
					t.Fatalf("Shutdown = %v, want the peer's reset", err)
				}
			})
			t.Run("close", func(t *testing.T) {
				c, peer := connPair(t, network)
				smallBuffers(t, c, peer)
				tryUntilRefused(t, c, newBatch(t, repeat(200, 1000)...))
				done := make(chan error, 1)
				go func() { done <- c.Shutdown(context.Background()) }()
				time.Sleep(10 * time.Millisecond) // most likely inside Shutdown by now; either way Close ends it
				if err := c.Close(); err != nil {
					t.Fatal(err)
				}
				if err := <-done; !errors.Is(err, net.ErrClosed) {
					t.Fatalf("Shutdown = %v, want net.ErrClosed", err)
				}
			})
		})
	}
}

// Shutdown of a WebSocketConn sends the Close frame after the last batch
// and returns once the server has it, while the server pings and sends
// data; the server gets every frame, then 1000.
func TestWebSocketShutdown(t *testing.T) {
	for _, scheme := range []string{"ws", "wss"} {
		t.Run("transport="+scheme, func(t *testing.T) {
			ms := newBatch(t, repeat(3000, 1000)...)
			type result struct {
				frames, code int
				err          error
			}
			res := make(chan result, 1)
			handle := func(c net.Conn, r *bufio.Reader) {
				stop := make(chan struct{})
				var wmu sync.Mutex
				var wg sync.WaitGroup
				wg.Go(func() {
					for i := 0; ; i++ {
						select {
						case <-stop:
							return
						case <-time.After(100 * time.Microsecond):
						}
						wmu.Lock()
						err := ws.WriteFrame(c, ws.NewPingFrame(fmt.Appendf(nil, "%d", i)))
						if err == nil {
							err = ws.WriteFrame(c, ws.NewBinaryFrame(make([]byte, 512)))
						}
						wmu.Unlock()
						if err != nil {
							return
						}
					}
				})
				defer wg.Wait()
				defer close(stop)
				var got result
				for {
					f, err := readClientFrame(r)
					if err != nil {
						got.err = err
						res <- got
						return
					}
					switch f.h.OpCode {
					case ws.OpBinary:
						if got.frames >= len(ms) || string(f.payload) != string(ms[got.frames].Bytes()) {
							got.err = fmt.Errorf("frame %d is not message %d", got.frames+1, got.frames+1)
							res <- got
							return
						}
						got.frames++
					case ws.OpClose:
						got.code = int(binary.BigEndian.Uint16(f.payload))
						wmu.Lock()
						_ = ws.WriteFrame(c, ws.NewCloseFrame(f.payload))
						wmu.Unlock()
						res <- got
						return
					}
				}
			}
			var c *WebSocketConn
			if scheme == "ws" {
				c = dialWS(t, wsServer(t, handle), Dialer{})
			} else {
				e, _ := wssServer(t, handle)
				c = dialWS(t, e, insecure)
			}
			for i := 0; i < len(ms); i += 1000 {
				if n, err := c.WriteBatch(ms[i:i+1000], nil); n != 1000 || err != nil {
					t.Fatalf("WriteBatch = %d, %v", n, err)
				}
			}
			ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
			defer cancel()
			if err := c.Shutdown(ctx); err != nil {
				t.Fatalf("Shutdown = %v", err)
			}
			got := <-res
			if got.err != nil || got.frames != len(ms) || got.code != closeNormal {
				t.Fatalf("the server got %d of %d frames and close code %d (%v)", got.frames, len(ms), got.code, got.err)
			}
		})
	}
}

// A server that floods Pings gets at most one Pong per pongEvery, the
// latest Ping answered last: a flood cannot make the client write a Pong
// per Ping.
func TestWebSocketPongRate(t *testing.T) {
	const pings = 5000
	type result struct {
		pongs   int
		took    time.Duration
		lastAns bool
		err     error
	}
	res := make(chan result, 1)
	e := wsServer(t, func(c net.Conn, r *bufio.Reader) {
		var got result
		start := time.Now()
		flooded := make(chan error, 1)
		go func() {
			var err error
			for i := 1; i <= pings && err == nil; i++ {
				err = ws.WriteFrame(c, ws.NewPingFrame(fmt.Appendf(nil, "%d", i)))
			}
			flooded <- err
		}()
		for !got.lastAns {
			f, err := readClientFrame(r)
			if err != nil {
				got.err = err
				break
			}
			if f.h.OpCode == ws.OpPong {
				got.pongs++
				got.lastAns = string(f.payload) == fmt.Sprint(pings)
			}
		}
		got.took = time.Since(start)
		if err := <-flooded; err != nil && got.err == nil {
			got.err = err
		}
		res <- got
	})
	c := dialWS(t, e, Dialer{})
	defer c.Close()
	var got result
	select {
	case got = <-res:
	case <-time.After(time.Minute):
		t.Fatal("the last Ping was never answered")
	}
	if got.err != nil {
		t.Fatal(got.err)
	}
	// One Pong at once, then at most one per pongEvery of the flood (and
	// the last one after it); a margin for the timer.
	if most := 2 + int(got.took/pongEvery); got.pongs > most {
		t.Fatalf("%d Pongs for %d Pings in %v: want at most %d", got.pongs, pings, got.took, most)
	}
	t.Logf("%d Pongs for %d Pings in %v", got.pongs, pings, got.took)
}

// A server that reads nothing while it pings and sends data: the client's
// WriteBatch blocks on the full socket, and its reader still reads all the
// server sends (its Pings do not wait for the writer), so the server is
// never blocked by the client.
func TestWebSocketReaderNotBlockedByWriter(t *testing.T) {
	const sent = 32 << 20 // far more than the socket buffers hold
	stop := make(chan struct{})
	flood := make(chan struct{})
	flooded := make(chan error, 1)
	e := wsServer(t, func(c net.Conn, r *bufio.Reader) {
		<-flood // once the client's writer is blocked
		data := make([]byte, 64<<10)
		var err error
		for n := 0; n < sent && err == nil; n += len(data) {
			err = ws.WriteFrame(c, ws.NewPingFrame([]byte("ping")))
			if err == nil {
				err = ws.WriteFrame(c, ws.NewBinaryFrame(data))
			}
		}
		flooded <- err
		<-stop
	})
	defer close(stop)
	c := dialWS(t, e, Dialer{})
	ms := newBatch(t, repeat(64, 60000)...)
	errc := make(chan error, 1)
	go func() {
		for {
			if _, err := c.WriteBatch(ms, nil); err != nil {
				errc <- err
				return
			}
		}
	}()
	select {
	case err := <-errc:
		t.Fatalf("WriteBatch failed before the server sent anything: %v", err)
	case <-time.After(200 * time.Millisecond): // blocked on the full socket, most likely
	}
	close(flood)
	select {
	case err := <-flooded:
		if err != nil {
			t.Fatal(err)
		}
	case err := <-errc:
		t.Fatalf("WriteBatch failed: %v", err)
	case <-time.After(30 * time.Second):
		t.Fatalf("the server is blocked: the client read %d of %d bytes", c.BytesDiscarded(), sent)
	}
	for deadline := time.Now().Add(30 * time.Second); c.BytesDiscarded() < sent; time.Sleep(time.Millisecond) {
		if time.Now().After(deadline) {
			t.Fatalf("the client read %d bytes of %d", c.BytesDiscarded(), sent)
		}
	}
	c.Close()
	if err := <-errc; !errors.Is(err, net.ErrClosed) {
		t.Fatalf("blocked WriteBatch returned %v, want net.ErrClosed", err)
	}
}

// A server that reads the Close frame but neither answers nor hangs up
// holds Shutdown until its context ends, which the error says.
func TestWebSocketShutdownServerSilent(t *testing.T) {
	stop := make(chan struct{})
	e := wsServer(t, func(c net.Conn, r *bufio.Reader) {
		go func() { _, _ = io.Copy(io.Discard, r) }()
		<-stop
	})
	defer close(stop)
	c := dialWS(t, e, Dialer{})
	ctx, cancel := context.WithTimeout(context.Background(), 50*time.Millisecond)
	defer cancel()
	err := c.Shutdown(ctx)
	var oe *OpError
	if !errors.Is(err, context.DeadlineExceeded) || !errors.As(err, &oe) || oe.Op != "shutdown" {
		t.Fatalf("Shutdown = %v, want an *OpError shutdown at the deadline", err)
	}
}
