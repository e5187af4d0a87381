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
	nc, pc, rc := socketPair(t)
	got := make(chan []byte)
	go func() {
		b, _ := io.ReadAll(pc)
		got <- b
	}()
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

// Writer.Try on a full socket takes what fits and returns at once, with no
// error; Write then sends the rest through the poller, and both leave the
// vector empty. The bytes arrive whole and in order.
func TestWriterTryThenWrite(t *testing.T) {
	_, pc, rc := socketPair(t)
	var w iovec.Writer
	w.Init()
	p := bytes.Repeat([]byte("0123456789abcdef"), 1<<16) // far more than the socket holds
	set := func(b []byte) {
		w.Iov[0].Base = &b[0]
		w.Iov[0].SetLen(len(b))
		w.N = 1
	}
	set(p)
	n, err := w.Try(rc)
	if err != nil || n <= 0 || n >= len(p) || w.N != 0 {
		t.Fatalf("Try = %d, %v (N %d); want a short write of the %d bytes, no error, an empty vector", n, err, w.N, len(p))
	}
	got := make(chan []byte)
	go func() {
		b := make([]byte, len(p))
		_, _ = io.ReadFull(pc, b)
		got <- b
	}()
	set(p[n:])
	m, err := w.Write(rc)
	if err != nil || m != len(p)-n || w.N != 0 {
		t.Fatalf("Write = %d, %v (N %d); want %d, no error, an empty vector", m, err, w.N, len(p)-n)
	}
	if b := <-got; !bytes.Equal(b, p) {
		t.Fatal("the bytes arrived changed")
	}
}

// socketPair connects a Unix socket pair, whose sending side nc (rc) has
// the smallest send buffer, so that little fills it. Both close at cleanup.
func socketPair(t *testing.T) (nc, pc net.Conn, rc syscall.RawConn) {
	t.Helper()
	ln, err := net.Listen("unix", filepath.Join(t.TempDir(), "s.sock"))
	if err != nil {
		t.Fatal(err)
	}
	defer ln.Close()
	if nc, err = net.Dial("unix", ln.Addr().String()); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { nc.Close() })
	if pc, err = ln.Accept(); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { pc.Close() })
	_ = nc.(*net.UnixConn).SetWriteBuffer(1)
	if rc, err = nc.(syscall.Conn).SyscallConn(); err != nil {
		t.Fatal(err)
	}
	return nc, pc, rc
}
