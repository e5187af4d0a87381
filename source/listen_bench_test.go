package source_test

import (
	"bufio"
	"errors"
	"io"
	"net"
	"testing"

	"github.com/gobwas/ws"
	"github.com/gobwas/ws/wsutil"

	"github.com/msgsink/msgsink/internal/testnet"
	"github.com/msgsink/msgsink/source"
	"github.com/msgsink/msgsink/tlv"
	"github.com/msgsink/msgsink/transport"
)

// Benchmarks are named key=value for benchstat, e.g.
//
//	go test -run '^$' -bench Listen -count=10 ./source > new.txt
//	benchstat -col /impl new.txt
//
// impl=listener is source.Listen; impl=conn is what a user would write
// instead on the same socket: a bufio.Reader over the accepted connection
// (unix) or a gobwas wsutil.Reader (ws), reading each frame into a buffer of
// its own and checking it with tlv.Parse. Both read what the same lazy
// sink sends (produce), its producer building every 64-byte message.

// BenchmarkListen measures Next over a real socket fed by a lazy direct
// sink, beside a plain reader of the same socket.
func BenchmarkListen(b *testing.B) {
	for _, scheme := range []string{"unix", "ws"} {
		b.Run("transport="+scheme+"/size=64/impl=listener", func(b *testing.B) {
			l := startListener(b, scheme, source.ListenConfig{})
			produce(b, listenerEndpoint(b, l), 1, 64, 0)
			b.ReportAllocs()
			b.SetBytes(64)
			n := 0
			for b.Loop() {
				if _, err := l.Next(); err != nil {
					b.Fatal(err)
				}
				n++
			}
			b.ReportMetric(float64(n)/b.Elapsed().Seconds(), "msgs/s")
		})
		b.Run("transport="+scheme+"/size=64/impl=conn", func(b *testing.B) {
			next := plainReader(b, scheme)
			b.ReportAllocs()
			b.SetBytes(64)
			n := 0
			for b.Loop() {
				if _, err := next(); err != nil {
					b.Fatal(err)
				}
				n++
			}
			b.ReportMetric(float64(n)/b.Elapsed().Seconds(), "msgs/s")
		})
	}
}

// plainReader is the user's own server: it listens, accepts the sink's
// connection (upgrading it for ws) and returns a function that reads one
// frame into a reused buffer and checks it.
func plainReader(b *testing.B, scheme string) func() (tlv.Frame, error) {
	var ln net.Listener
	var err error
	var e transport.Endpoint
	switch scheme {
	case "unix":
		e = transport.Endpoint{Scheme: "unix", Addr: testnet.SocketPath(b)}
		ln, err = net.Listen("unix", e.Addr)
	case "ws":
		ln, err = net.Listen("tcp", "127.0.0.1:0")
		e = transport.Endpoint{Scheme: "ws", Addr: "", Path: "/feed"}
	}
	if err != nil {
		b.Fatal(err)
	}
	if scheme == "ws" {
		e.Addr = ln.Addr().String()
	}
	b.Cleanup(func() { _ = ln.Close() })
	produce(b, e, 1, 64, 0)
	nc, err := ln.Accept()
	if err != nil {
		b.Fatal(err)
	}
	b.Cleanup(func() { _ = nc.Close() })
	buf := make([]byte, tlv.MaxMessageSize)
	br := bufio.NewReaderSize(nc, 64<<10)
	if scheme == "unix" {
		return func() (tlv.Frame, error) {
			if _, err := io.ReadFull(br, buf[:tlv.HeaderSize]); err != nil {
				return nil, err
			}
			n, err := tlv.Validator{}.FrameSize(buf)
			if err != nil {
				return nil, err
			}
			if _, err := io.ReadFull(br, buf[tlv.HeaderSize:n]); err != nil {
				return nil, err
			}
			return tlv.Parse(buf[:n])
		}
	}
	if _, err := ws.Upgrade(nc); err != nil {
		b.Fatal(err)
	}
	r := wsutil.NewServerSideReader(br)
	return func() (tlv.Frame, error) {
		for {
			h, err := r.NextFrame()
			if err != nil {
				return nil, err
			}
			if h.OpCode.IsControl() || h.OpCode != ws.OpBinary || h.Length > int64(len(buf)) {
				if err := r.Discard(); err != nil {
					return nil, err
				}
				if h.OpCode == ws.OpClose {
					return nil, errors.New("closed")
				}
				continue
			}
			n := int(h.Length)
			if _, err := io.ReadFull(r, buf[:n]); err != nil {
				return nil, err
			}
			return tlv.Parse(buf[:n])
		}
	}
}
