package transport_test

import (
	"context"
	"errors"
	"fmt"
	"io"
	"net"
	"os"
	"path/filepath"
	"syscall"
	"time"

	"github.com/gobwas/ws"

	"github.com/msgsink/msgsink/tlv"
	"github.com/msgsink/msgsink/transport"
)

func ExampleParseEndpoint() {
	for _, s := range []string{
		"unix:///run/msgsink/relay.sock",
		"tcp://Relay.Example.com:9000",
		"wss://feed.example.com/v2?compress=0",
		"tcp://relay.example.com",
		"unix://run/relay.sock",
	} {
		e, err := transport.ParseEndpoint(s)
		if err != nil {
			fmt.Println(errors.Is(err, transport.ErrInvalidEndpoint), err)
			continue
		}
		fmt.Printf("%s addr=%s path=%q: %s\n", e.Scheme, e.Addr, e.Path, e)
	}
	// Output:
	// unix addr=/run/msgsink/relay.sock path="": unix:///run/msgsink/relay.sock
	// tcp addr=relay.example.com:9000 path="": tcp://relay.example.com:9000
	// wss addr=feed.example.com:443 path="/v2?compress=0": wss://feed.example.com:443/v2?compress=0
	// true transport: invalid endpoint "tcp://relay.example.com": missing port: write host:port with a port from 1 to 65535
	// true transport: invalid endpoint "unix://run/relay.sock": socket path must be absolute: write unix:///abs/path.sock (three slashes)
}

// A writer sends a batch to a relay and releases what was written.
func ExampleDial() {
	dir, _ := os.MkdirTemp("", "example")
	defer os.RemoveAll(dir)
	l, err := net.Listen("unix", filepath.Join(dir, "relay.sock"))
	if err != nil {
		panic(err)
	}
	defer l.Close()
	relayDone := make(chan struct{})
	go relay(l, relayDone)

	e, err := transport.ParseEndpoint("unix://" + l.Addr().String())
	if err != nil {
		panic(err)
	}
	ctx, cancel := context.WithTimeout(context.Background(), time.Second) // the connect timeout
	defer cancel()
	c, err := transport.Dial(ctx, e)
	if err != nil {
		panic(err)
	}

	b := tlv.NewBuilder(tlv.DomainMarketData, 1)
	batch := make([]*tlv.Message, 3)
	for i := range batch {
		b.Append(5, []byte("opaque market data"))
		batch[i], _ = b.Finish()
	}
	n, err := c.WriteBatch(batch, nil)
	for _, m := range batch[:n] {
		m.Release() // written: the kernel has the bytes
	}
	// On an error, batch[n:] is still ours, to send again on a new connection.
	fmt.Println("wrote", n, "messages, error:", err)
	c.Close()
	<-relayDone
	// Output:
	// wrote 3 messages, error: <nil>
	// relay received sequence 1
	// relay received sequence 2
	// relay received sequence 3
}

// relay accepts one connection and prints the frames it reads.
func relay(l net.Listener, done chan<- struct{}) {
	defer close(done)
	c, err := l.Accept()
	if err != nil {
		return
	}
	defer c.Close()
	data, _ := io.ReadAll(c)
	var v tlv.Validator
	for len(data) > 0 {
		n, err := v.FrameSize(data)
		if err != nil || n > len(data) {
			fmt.Println("relay: torn stream")
			return
		}
		f, _ := v.Parse(data[:n])
		fmt.Println("relay received sequence", f.Header().Sequence())
		data = data[n:]
	}
}

func ExampleDial_error() {
	e, _ := transport.ParseEndpoint("unix:///nonexistent/relay.sock")
	_, err := transport.Dial(context.Background(), e)
	fmt.Println(errors.Is(err, syscall.ENOENT))
	fmt.Println(err)
	// Output:
	// true
	// transport: dial unix:///nonexistent/relay.sock: connect: no such file or directory (no socket at that path: is the server running, and is the path right?)
}

// A relay writes to the subscribers it accepts with the same batch writer.
func ExampleNewStreamConn() {
	dir, _ := os.MkdirTemp("", "example")
	defer os.RemoveAll(dir)
	l, err := net.Listen("unix", filepath.Join(dir, "relay.sock"))
	if err != nil {
		panic(err)
	}
	defer l.Close()
	go func() {
		nc, err := l.Accept()
		if err != nil {
			return
		}
		c, err := transport.NewStreamConn(nc)
		if err != nil {
			nc.Close()
			return
		}
		defer c.Close()
		b := tlv.NewBuilder(tlv.DomainMarketData, 80)
		b.Append(5, []byte("replayed"))
		m, _ := b.Finish()
		defer m.Release()
		c.WriteBatch([]*tlv.Message{m}, nil)
	}()

	sub, err := net.Dial("unix", l.Addr().String())
	if err != nil {
		panic(err)
	}
	defer sub.Close()
	data, _ := io.ReadAll(sub)
	f, err := tlv.Parse(data)
	fmt.Println(f.Header().Source(), len(data), err)
	// Output: 80 42 <nil>
}

// A dashboard behind a WebSocket server: each message is one binary frame.
func ExampleDialer_DialWebSocket() {
	// A stand-in for the dashboard: a gobwas/ws server that prints the first
	// frame's type and the message it carries.
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		panic(err)
	}
	defer l.Close()
	done := make(chan struct{})
	go func() {
		defer close(done)
		c, err := l.Accept()
		if err != nil {
			return
		}
		defer c.Close()
		if _, err := ws.Upgrade(c); err != nil {
			return
		}
		h, _ := ws.ReadHeader(c)
		p := make([]byte, h.Length)
		_, _ = io.ReadFull(c, p)
		ws.Cipher(p, h.Mask, 0) // clients mask every frame
		f, err := tlv.Parse(p)
		fmt.Println(h.OpCode == ws.OpBinary, h.Masked, f.Header().Source(), err)
	}()

	e, _ := transport.ParseEndpoint("ws://" + l.Addr().String() + "/feed")
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Second)
	defer cancel()
	var d transport.Dialer // wss: set d.TLS for a private CA
	c, err := d.DialWebSocket(ctx, e)
	if err != nil {
		fmt.Println(err)
		return
	}
	defer c.Close()
	b := tlv.NewBuilder(tlv.DomainMarketData, 7)
	b.AppendTrade(&tlv.Trade{Instrument: 1, Price: tlv.PriceScale, Volume: tlv.PriceScale})
	m, _ := b.Finish()
	defer m.Release()
	n, err := c.WriteBatch([]*tlv.Message{m}, nil)
	<-done
	fmt.Println(n, err)
	// Output:
	// true true 7 <nil>
	// 1 <nil>
}

// The end of a stream to a peer that talks back (heartbeats here): Shutdown
// half-closes after the last batch and reads what the peer still sends
// until it has everything, so that the unread heartbeats do not make the
// kernel reset the connection and drop the end of the stream.
func ExampleStreamConn_Shutdown() {
	dir, _ := os.MkdirTemp("", "example")
	defer os.RemoveAll(dir)
	l, err := net.Listen("unix", filepath.Join(dir, "peer.sock"))
	if err != nil {
		panic(err)
	}
	defer l.Close()
	got := make(chan int)
	go func() {
		nc, err := l.Accept()
		if err != nil {
			return
		}
		defer nc.Close()
		go func() { // heartbeats, until the sink has gone
			for {
				if _, err := nc.Write([]byte("heartbeat\n")); err != nil {
					return
				}
				time.Sleep(time.Millisecond)
			}
		}()
		data, _ := io.ReadAll(nc) // up to the sink's EOF
		got <- len(data)
	}()

	e, _ := transport.ParseEndpoint("unix://" + l.Addr().String())
	c, err := transport.Dial(context.Background(), e)
	if err != nil {
		panic(err)
	}
	b := tlv.NewBuilder(tlv.DomainMarketData, 1)
	ms := make([]*tlv.Message, 1000)
	for i := range ms {
		b.Append(5, []byte("quote"))
		ms[i], _ = b.Finish()
	}
	n, err := c.WriteBatch(ms, nil)
	tlv.ReleaseAll(ms)
	fmt.Println("written", n, err)

	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	fmt.Println("shutdown:", c.Shutdown(ctx))
	fmt.Println("the peer read", <-got, "bytes")
	// Output:
	// written 1000 <nil>
	// shutdown: <nil>
	// the peer read 39000 bytes
}
