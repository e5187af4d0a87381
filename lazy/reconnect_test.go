package lazy_test

import (
	"errors"
	"path/filepath"
	"runtime"
	"testing"
	"time"

	"github.com/msgsink/msgsink/lazy"
	"github.com/msgsink/msgsink/sink"
)

// The peer closes mid-stream after k frames; a new peer then listens on the
// same address. The new peer sees only whole frames, a gap-free run of
// sequences, and the gap between the peers is exactly what was written into
// the dead connection: nothing is lost without the counters saying so.
func TestFaultPeerHangsUpMidStream(t *testing.T) {
	for _, network := range []string{"unix", "tcp"} {
		for _, backlog := range []lazy.Backlog{lazy.BacklogReplay, lazy.BacklogDrop} {
			t.Run("transport="+network+"/backlog="+backlog.String(), func(t *testing.T) {
				testReconnect(t, network, backlog)
			})
		}
	}
}

func testReconnect(t *testing.T, network string, backlog lazy.Backlog) {
	addr := "127.0.0.1:0"
	if network == "unix" {
		addr = filepath.Join(t.TempDir(), "r.sock")
	}
	p1 := listenOnce(t, network, addr, 500)
	addr = p1.ln.Addr().String()
	ep := mustEndpoint(t, network+"://"+addr)
	s := newSink(t, lazy.Config{Endpoint: ep, BufferSize: 1 << 16, Backlog: backlog,
		Retry: lazy.Retry{Initial: time.Millisecond, Max: 10 * time.Millisecond}})

	b := newBuilder(200)
	const n = 20000
	send := func(count int) {
		for range count {
			m := b.next()
			for {
				err := s.Send(m)
				if err == nil {
					break
				}
				if !errors.Is(err, sink.ErrBufferFull) {
					t.Fatal(err)
				}
				runtime.Gosched()
			}
		}
	}
	send(n / 2)
	waitFor(t, "the first peer to hang up", func() bool { return p1.total() == 500 })
	// Keep sending into the broken connection until the sink notices.
	for s.Info().Reconnects == 0 {
		send(10)
		time.Sleep(time.Millisecond)
	}
	p1.close()
	// An outage: these queue while dials fail. Replay writes them to the
	// next peer; drop counts them stale.
	const outage = 100
	send(outage)
	p2 := listen(t, network, addr)
	waitFor(t, "the reconnect", func() bool { return s.Info().State == sink.StateConnected })
	send(n - int(s.Info().Enqueued))
	flush(t, s)
	i := assertBalanced(t, s)
	waitFor(t, "the last frame at the second peer", func() bool {
		two := p2.seqs()
		return len(two) == 1 && len(two[0]) > 0 && two[0][len(two[0])-1] == n
	})

	one, two := p1.seqs(), p2.seqs()
	if p2.bad != nil || p2.torn != 0 {
		t.Fatalf("second peer: bad frame %v, torn %d", p2.bad, p2.torn)
	}
	if len(one) != 1 || len(two) != 1 {
		t.Fatalf("connections: first peer %d, second %d", len(one), len(two))
	}
	for k, seq := range one[0] {
		if seq != uint64(k+1) {
			t.Fatalf("first peer frame %d has sequence %d", k, seq)
		}
	}
	got := two[0]
	for k := 1; k < len(got); k++ {
		if got[k] != got[k-1]+1 {
			t.Fatalf("second peer: gap %d -> %d", got[k-1], got[k])
		}
	}
	// The sequences tell the whole story: 1..500 read by the first peer, then
	// lost messages written into its dead connection, then (drop only) the
	// stale ones, then a gap-free run at the second peer up to n.
	first, last := got[0], got[len(got)-1]
	stale := i.Dropped.Stale
	if first <= 500+stale || last != n {
		t.Fatalf("second peer got %d..%d with %d stale", first, last, stale)
	}
	lostInFlight := first - 1 - 500 - stale
	if i.Enqueued != n || i.Reconnects != 1 || i.Dropped.ConnectFailed+i.Dropped.Closed != 0 {
		t.Fatalf("info %+v", i)
	}
	if i.Written != 500+lostInFlight+uint64(len(got)) || i.Written+stale != n {
		t.Fatalf("written %d, want first 500 + lost %d + second %d = %d - stale %d",
			i.Written, lostInFlight, len(got), n, stale)
	}
	switch backlog {
	case lazy.BacklogReplay:
		if stale != 0 {
			t.Fatalf("replay dropped %d as stale", stale)
		}
	case lazy.BacklogDrop:
		if stale < outage {
			t.Fatalf("drop: %d stale, want at least the %d queued in the outage", stale, outage)
		}
	}
	t.Logf("first peer 500, lost in flight %d, stale %d, second peer %d..%d", lostInFlight, i.Dropped.Stale, first, last)
}
