package source_test

import (
	"runtime"
	"testing"

	"github.com/msgsink/msgsink/source"
	"github.com/msgsink/msgsink/tlv"
)

// TestListenConnectionCost bounds what a quiet producer costs a Listener:
// 200 connections that each sent a small frame and the first bytes of the
// next header, and wait, hold a page of read buffer each (internal/inbound's
// first chunk), not a 64 KiB one (12.5 MiB).
func TestListenConnectionCost(t *testing.T) {
	const conns = 200
	l := startListener(t, "unix", source.ListenConfig{})
	before := heapInUse()
	for i := range conns {
		f := frame(t, tlv.NewBuilder(tlv.DomainMarketData, uint8(i+1)), 64)
		if _, err := dialRaw(t, l).Write(append(f, f[:8]...)); err != nil {
			t.Fatal(err)
		}
	}
	for range conns {
		checkListened(t, nextFrame(t, l)) // every connection has read into its chunk
	}
	grown := int64(heapInUse()) - int64(before)
	t.Logf("%d connections holding 8 bytes of a header: heap +%d KiB", conns, grown>>10)
	// A page of buffer, a goroutine's stack and the connection: 16 KiB.
	if limit := int64(conns * 16 << 10); grown > limit {
		t.Errorf("heap grew by %d KiB for %d connections, want at most %d KiB", grown>>10, conns, limit>>10)
	}
}

// heapInUse returns the heap in use after a full collection, which also
// empties the chunk pools.
func heapInUse() uint64 {
	var m runtime.MemStats
	runtime.GC()
	runtime.GC() // a sync.Pool keeps what it held for one more cycle
	runtime.ReadMemStats(&m)
	return m.HeapInuse
}
