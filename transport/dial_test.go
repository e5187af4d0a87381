package transport

import (
	"context"
	"errors"
	"net"
	"os"
	"path/filepath"
	"strings"
	"syscall"
	"testing"
	"time"

	"golang.org/x/sys/unix"

	"github.com/msgsink/msgsink/internal/testnet"
)

func dialErr(t *testing.T, e Endpoint, timeout time.Duration) error {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), timeout)
	defer cancel()
	c, err := Dial(ctx, e)
	if err == nil {
		c.Close()
		t.Fatalf("Dial(%s) succeeded", e)
	}
	if c != nil {
		t.Fatalf("Dial(%s) returned a non-nil Conn with its error", e)
	}
	var oe *OpError
	if !errors.As(err, &oe) || oe.Op != "dial" || oe.Endpoint != e.String() {
		t.Fatalf("Dial(%s) error %#v is not an *OpError for dial on it", e, err)
	}
	return err
}

func checkErr(t *testing.T, err, target error, text string) {
	t.Helper()
	if !errors.Is(err, target) {
		t.Errorf("error %q does not match %v", err, target)
	}
	if !strings.Contains(err.Error(), text) {
		t.Errorf("error %q does not say %q", err, text)
	}
}

func TestDialRefused(t *testing.T) {
	dir, err := os.MkdirTemp("", "mst")
	if err != nil {
		t.Fatal(err)
	}
	defer os.RemoveAll(dir)

	t.Run("unix/no-file", func(t *testing.T) {
		e, _ := ParseEndpoint("unix://" + filepath.Join(dir, "none.sock"))
		checkErr(t, dialErr(t, e, time.Second), syscall.ENOENT, "no socket at that path: is the server running")
	})
	t.Run("unix/stale-file", func(t *testing.T) {
		// A socket file whose listener is gone, as a crashed relay leaves it.
		path := filepath.Join(dir, "stale.sock")
		l, err := net.ListenUnix("unix", &net.UnixAddr{Name: path, Net: "unix"})
		if err != nil {
			t.Fatal(err)
		}
		l.SetUnlinkOnClose(false)
		l.Close()
		e, _ := ParseEndpoint("unix://" + path)
		err = dialErr(t, e, time.Second)
		checkErr(t, err, syscall.ECONNREFUSED, "is the server running and listening there?")
		if want := "transport: dial unix://" + path + ": connect: connection refused (is the server running"; !strings.HasPrefix(err.Error(), want) {
			t.Errorf("error %q does not start with %q", err, want)
		}
	})
	t.Run("tcp", func(t *testing.T) {
		l, e := listen(t, "tcp")
		l.Close() // the port is free now, and nothing listens on it
		err := dialErr(t, e, time.Second)
		checkErr(t, err, syscall.ECONNREFUSED, "is the server running and listening there?")
		if strings.Contains(err.Error(), "relay") {
			t.Errorf("a dial that does not know it is for a relay speaks of one: %q", err)
		}
		// A relay's Dialer says so in its dial errors, whatever the scheme.
		d := Dialer{Relay: true, Timeout: time.Second}
		for _, e := range []Endpoint{e, {Scheme: "ws", Addr: e.Addr, Path: "/"}} {
			_, err := d.DialContext(context.Background(), e)
			checkErr(t, err, syscall.ECONNREFUSED, "is the relay running and listening there?")
		}
	})
}

// TestDialTimeout dials a TCP listener that never accepts and whose accept
// queue is full: Linux then drops the SYNs, and the connect hangs until ctx
// ends it.
func TestDialTimeout(t *testing.T) {
	e := Endpoint{Scheme: "tcp", Addr: testnet.Blackhole(t)}

	const timeout = 200 * time.Millisecond
	start := time.Now()
	err := dialErr(t, e, timeout)
	if d := time.Since(start); d < timeout || d > timeout+time.Second {
		t.Errorf("Dial returned after %v, want about %v", d, timeout)
	}
	checkErr(t, err, context.DeadlineExceeded, "the connect timed out: is the host reachable")
	checkErr(t, err, os.ErrDeadlineExceeded, "the connect timed out")
}

func TestDialCanceled(t *testing.T) {
	_, e := listen(t, "unix")
	ctx, cancel := context.WithCancel(context.Background())
	cancel()
	c, err := Dial(ctx, e)
	if err == nil {
		c.Close()
		t.Fatal("Dial with a canceled context succeeded")
	}
	if !errors.Is(err, context.Canceled) {
		t.Fatalf("error %q does not match context.Canceled", err)
	}
}

func TestDialInvalidEndpoint(t *testing.T) {
	checkErr(t, dialErr(t, Endpoint{}, time.Second), ErrInvalidEndpoint, "make it with ParseEndpoint")
}

func TestDialTCPNoDelay(t *testing.T) {
	c, _ := connPair(t, "tcp")
	rc, err := c.conn.(*net.TCPConn).SyscallConn()
	if err != nil {
		t.Fatal(err)
	}
	var v int
	var serr error
	rc.Control(func(fd uintptr) { v, serr = unix.GetsockoptInt(int(fd), unix.IPPROTO_TCP, unix.TCP_NODELAY) })
	if serr != nil || v == 0 {
		t.Fatalf("TCP_NODELAY = %d, %v; want on", v, serr)
	}
}

func TestOpErrorMessage(t *testing.T) {
	err := &OpError{Op: "write", Endpoint: "tcp://127.0.0.1:9000", Err: os.NewSyscallError("writev", syscall.EPIPE)}
	want := `transport: write tcp://127.0.0.1:9000: writev: broken pipe (the peer closed the connection)`
	if err.Error() != want {
		t.Errorf("Error() = %q\nwant       %q", err.Error(), want)
	}
	if !errors.Is(err, syscall.EPIPE) {
		t.Error("does not match EPIPE")
	}
}

// Dialer.Timeout bounds a dial that ctx leaves unbounded, as
// net.Dialer.Timeout does.
func TestDialerTimeout(t *testing.T) {
	e := Endpoint{Scheme: "tcp", Addr: testnet.Blackhole(t)}
	const timeout = 200 * time.Millisecond
	d := Dialer{Timeout: timeout}
	start := time.Now()
	c, err := d.DialContext(context.Background(), e)
	if err == nil {
		c.Close()
		t.Fatal("dialled a blackhole")
	}
	if el := time.Since(start); el < timeout || el > timeout+time.Second {
		t.Errorf("DialContext returned after %v, want about %v", el, timeout)
	}
	checkErr(t, err, context.DeadlineExceeded, "the connect timed out")
}
