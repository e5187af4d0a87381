package inbound

import (
	"errors"
	"net"
	"os"
	"testing"

	"github.com/msgsink/msgsink/internal/testnet"
)

// TestClearStale: a stale socket file goes, a live one and a regular file
// stay and are refused, a missing path is no error.
func TestClearStale(t *testing.T) {
	stale := testnet.SocketPath(t)
	ln, err := net.ListenUnix("unix", &net.UnixAddr{Name: stale, Net: "unix"})
	if err != nil {
		t.Fatal(err)
	}
	ln.SetUnlinkOnClose(false)
	_ = ln.Close()
	if removed, err := ClearStale(stale); !removed || err != nil {
		t.Errorf("stale socket: %v, %v; want removed", removed, err)
	}
	if _, err := os.Lstat(stale); !errors.Is(err, os.ErrNotExist) {
		t.Errorf("the stale socket is still there: %v", err)
	}
	if removed, err := ClearStale(stale); removed || err != nil {
		t.Errorf("missing path: %v, %v; want nothing done, no error", removed, err)
	}

	live := testnet.SocketPath(t)
	ln, err = net.ListenUnix("unix", &net.UnixAddr{Name: live, Net: "unix"})
	if err != nil {
		t.Fatal(err)
	}
	defer ln.Close()
	if removed, err := ClearStale(live); removed || !errors.Is(err, ErrInUse) {
		t.Errorf("live socket: %v, %v; want ErrInUse", removed, err)
	}

	regular := testnet.SocketPath(t)
	if err := os.WriteFile(regular, nil, 0o600); err != nil {
		t.Fatal(err)
	}
	if removed, err := ClearStale(regular); removed || !errors.Is(err, ErrNotSocket) {
		t.Errorf("regular file: %v, %v; want ErrNotSocket", removed, err)
	}
	if _, err := os.Lstat(regular); err != nil {
		t.Errorf("the regular file was removed: %v", err)
	}
}
