package source_test

import (
	"context"
	"io"
	"net"
	"sync"
	"testing"
	"time"

	"github.com/gobwas/ws"

	"github.com/msgsink/msgsink/source"
	"github.com/msgsink/msgsink/tlv"
)

// FuzzListen sends arbitrary bytes to a unix and a ws Listener, each input
// on a connection of its own (after the handshake, on ws), and holds the
// Listener to its contract: it never panics, Next returns only whole,
// valid frames, and every connection ends with the input.
func FuzzListen(f *testing.F) {
	b := tlv.NewBuilder(tlv.DomainMarketData, 1)
	one := frame(f, b, 16)
	two := append(frame(f, b, 0), frame(f, b, 300)...)
	masked := func(op ws.OpCode, fin bool, p []byte) []byte {
		out, err := ws.CompileFrame(ws.MaskFrameInPlace(ws.NewFrame(op, fin, append([]byte(nil), p...))))
		if err != nil {
			f.Fatal(err)
		}
		return out
	}
	for _, seed := range [][]byte{
		one, two, one[:20], append(append([]byte(nil), one...), 0xFF),
		append(subscribeFrame(f, tlv.RoleProducer), one...),
		masked(ws.OpBinary, true, one),
		append(masked(ws.OpPing, true, []byte("x")), masked(ws.OpBinary, true, one)...),
		masked(ws.OpBinary, false, one), masked(ws.OpText, true, []byte("hi")),
		masked(ws.OpClose, true, []byte{3, 232}), one[:3],
	} {
		f.Add(seed)
	}
	type target struct {
		l    *source.Listener
		send func(p []byte) error
	}
	var targets []target
	var wg sync.WaitGroup
	for _, scheme := range []string{"unix", "ws"} {
		l := startListener(f, scheme, source.ListenConfig{})
		send := func(p []byte) error {
			var nc net.Conn
			var err error
			if scheme == "unix" {
				nc, err = net.Dial("unix", l.Addr().String())
			} else {
				ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
				nc, _, _, err = ws.Dial(ctx, "ws://"+l.Addr().String()+"/feed")
				cancel()
			}
			if err != nil {
				return err
			}
			defer nc.Close()
			if _, err := nc.Write(p); err != nil {
				return nil // the Listener closed it already: fine
			}
			// Half-close and read to the end: the Listener closes its side
			// when it has read everything, or earlier, when it rejects.
			_ = nc.(interface{ CloseWrite() error }).CloseWrite()
			_ = nc.SetReadDeadline(time.Now().Add(10 * time.Second))
			_, err = io.Copy(io.Discard, nc)
			if isTimeout(err) {
				return err
			}
			return nil
		}
		targets = append(targets, target{l, send})
		wg.Go(func() {
			for {
				fr, err := l.Next()
				if err != nil {
					return // closed
				}
				if _, err := tlv.Parse(fr); err != nil {
					f.Errorf("%s: Next returned an invalid frame: %v", scheme, err)
				}
			}
		})
	}
	f.Cleanup(func() {
		for _, tg := range targets {
			_ = tg.l.Close()
		}
		wg.Wait()
	})
	f.Fuzz(func(t *testing.T, p []byte) {
		for _, tg := range targets {
			if err := tg.send(p); err != nil {
				t.Fatalf("the connection did not end: %v", err)
			}
		}
	})
}
