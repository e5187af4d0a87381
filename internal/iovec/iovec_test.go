package iovec_test

import (
	"bytes"
	"io"
	"net"
	"path/filepath"
	"syscall"
	"testing"

	"go.uber.org/goleak"
	"golang.org/x/sys/unix"

	"github.com/msgsink/msgsink/internal/iovec"
)

func TestMain(m *testing.M) { goleak.VerifyTestMain(m) }

// Buffers far larger than the socket's send buffer force short writes and
// EAGAIN; what arrives is every byte of every buffer, in order, and sent
// adds up to it.
func TestWritevShortWrites(t *testing.T) {
	path := filepath.Join(t.TempDir(), "s.sock")
	ln, err := net.Listen("unix", path)
	if err != nil {
		t.Fatal(err)
	}
	defer ln.Close()
	got := make(chan []byte)
	go func() {
		c, err := ln.Accept()
		if err != nil {
			got <- nil
			return
		}
		defer c.Close()
		b, _ := io.ReadAll(c)
		got <- b
	}()
	nc, err := net.Dial("unix", path)
	if err != nil {
		t.Fatal(err)
	}
	_ = nc.(*net.UnixConn).SetWriteBuffer(1)
	rc, err := nc.(syscall.Conn).SyscallConn()
	if err != nil {
		t.Fatal(err)
	}
	var want []byte
	v := iovec.Vec{Iov: make([]unix.Iovec, iovec.Max)}
	for i := range 300 {
		p := bytes.Repeat([]byte{byte(i)}, 1+i*97%4000)
		want = append(want, p...)
		v.Iov[v.N].Base = &p[0]
		v.Iov[v.N].SetLen(len(p))
		v.N++
	}
	total, calls := 0, 0
	var werr error
	if err := rc.Write(func(fd uintptr) bool {
		calls++
		done, n, err := v.Writev(fd)
		total += n
		werr = err
		return done
	}); err != nil || werr != nil {
		t.Fatal(err, werr)
	}
	nc.Close()
	if b := <-got; !bytes.Equal(b, want) || total != len(want) {
		t.Fatalf("received %d bytes (equal: %v), sent %d, want %d", len(b), bytes.Equal(b, want), total, len(want))
	}
	if calls < 2 {
		t.Errorf("one call wrote it all: the test did not force a short write")
	}
}
