package transport

import (
	"bufio"
	"bytes"
	"context"
	"fmt"
	"io"
	"net"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"sync/atomic"
	"syscall"
	"testing"
	"time"

	"github.com/gobwas/ws"
)

// floodEnv makes the test binary BenchmarkChattyPeer's peer: a separate
// process, so that the CPU the benchmark's own process spends is the
// reader's alone.
const floodEnv = "MSGSINK_TRANSPORT_FLOOD"

// floodPeer listens on scheme ("tcp", "unix" or "ws"), prints its endpoint,
// and floods the one connection it accepts as fast as it can: 64 KiB of
// junk per write on a stream; on a WebSocket, a Ping and a 64 KiB binary
// frame per write. It exits when a write fails (the benchmark closed).
func floodPeer(scheme string) int {
	network, addr := "tcp", "127.0.0.1:0"
	if scheme == "unix" {
		dir, err := os.MkdirTemp("", "flood")
		if err != nil {
			fmt.Fprintln(os.Stderr, err)
			return 1
		}
		defer os.RemoveAll(dir)
		network, addr = "unix", filepath.Join(dir, "f.sock")
	}
	ln, err := net.Listen(network, addr)
	if err != nil {
		fmt.Fprintln(os.Stderr, err)
		return 1
	}
	url := network + "://" + ln.Addr().String()
	if scheme == "ws" {
		url = "ws://" + ln.Addr().String() + "/"
	}
	fmt.Println(url)
	c, err := ln.Accept()
	if err != nil {
		return 1
	}
	junk := make([]byte, 64<<10)
	if scheme == "ws" {
		if _, err := ws.Upgrade(c); err != nil {
			return 1
		}
		var b bytes.Buffer
		_ = ws.WriteFrame(&b, ws.NewPingFrame([]byte("are you there?")))
		_ = ws.WriteFrame(&b, ws.NewBinaryFrame(junk))
		junk = b.Bytes()
	}
	for {
		if _, err := c.Write(junk); err != nil {
			return 0
		}
	}
}

// cpuTime is the user plus system CPU time of this process so far.
func cpuTime(tb testing.TB) time.Duration {
	var ru syscall.Rusage
	if err := syscall.Getrusage(syscall.RUSAGE_SELF, &ru); err != nil {
		tb.Fatal(err)
	}
	return time.Duration(ru.Utime.Nano() + ru.Stime.Nano())
}

// BenchmarkChattyPeer measures what a peer that sends as fast as it can
// (another process) costs the connection's reader, which must read and
// drop it all: CPU time (user+sys, getrusage) per second of flood and per
// MB read. reader=conn is the Conn's own reader (64 KiB reads, bounded
// Pongs); reader=512B is the loop it replaced (512-byte reads), and
// reader=io.Copy what a user would write (io.Copy to io.Discard), on the
// same socket kind in the same run. Each op is 1 ms of flood.
//
//	go test -run '^$' -bench ChattyPeer -benchtime 3000x -count 5 ./transport
func BenchmarkChattyPeer(b *testing.B) {
	for _, c := range []struct{ scheme, reader string }{
		{"tcp", "conn"}, {"tcp", "512B"}, {"tcp", "io.Copy"},
		{"unix", "conn"}, {"unix", "512B"}, {"unix", "io.Copy"},
		{"ws", "conn"},
	} {
		b.Run("transport="+c.scheme+"/reader="+c.reader, func(b *testing.B) {
			benchChattyPeer(b, c.scheme, c.reader)
		})
	}
}

func benchChattyPeer(b *testing.B, scheme, reader string) {
	cmd := exec.Command(os.Args[0], "-test.run=^$")
	cmd.Env = append(os.Environ(), floodEnv+"="+scheme)
	cmd.Stderr = os.Stderr
	out, err := cmd.StdoutPipe()
	if err != nil {
		b.Fatal(err)
	}
	if err := cmd.Start(); err != nil {
		b.Fatal(err)
	}
	defer func() {
		_ = cmd.Process.Kill()
		_ = cmd.Wait()
	}()
	line, err := bufio.NewReader(out).ReadString('\n')
	if err != nil {
		b.Fatalf("flood peer: %v", err)
	}
	e, err := ParseEndpoint(strings.TrimSpace(line))
	if err != nil {
		b.Fatal(err)
	}
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	var received func() uint64
	switch reader {
	case "conn":
		c, err := Dial(ctx, e)
		if err != nil {
			b.Fatal(err)
		}
		defer c.Close()
		received = c.(interface{ BytesDiscarded() uint64 }).BytesDiscarded
	default:
		nc, err := net.Dial(e.Scheme, e.Addr)
		if err != nil {
			b.Fatal(err)
		}
		counter := &countingReader{r: nc}
		done := make(chan struct{})
		go func() {
			defer close(done)
			if reader == "io.Copy" {
				_, _ = io.Copy(io.Discard, counter)
				return
			}
			buf := make([]byte, 512)
			for {
				if _, err := counter.Read(buf); err != nil {
					return
				}
			}
		}()
		defer func() { nc.Close(); <-done }()
		received = counter.n.Load
	}
	// Measured from the first byte on, so that the dial is not counted.
	for received() == 0 {
		time.Sleep(time.Millisecond)
	}
	b.ResetTimer()
	start, cpu0, n0 := time.Now(), cpuTime(b), received()
	time.Sleep(time.Duration(b.N) * time.Millisecond)
	wall, cpu, n := time.Since(start), cpuTime(b)-cpu0, received()-n0
	b.StopTimer()
	mb := float64(n) / 1e6
	b.ReportMetric(cpu.Seconds()/wall.Seconds(), "cpu-s/s")
	b.ReportMetric(mb/wall.Seconds(), "MB/s")
	if mb > 0 {
		b.ReportMetric(float64(cpu.Nanoseconds())/mb, "cpu-ns/MB")
	}
}

// countingReader counts the bytes read through it, for another goroutine.
type countingReader struct {
	r io.Reader
	n atomic.Uint64
}

func (c *countingReader) Read(p []byte) (int, error) {
	n, err := c.r.Read(p)
	c.n.Add(uint64(n))
	return n, err
}
