//go:build !race

package dashboard

import (
	"testing"
	"time"

	"github.com/msgsink/msgsink/source"
	"github.com/msgsink/msgsink/transport"
)

// The intake's aggregation allocates nothing per frame, whether the
// instrument is on the board or evicts another.
func TestObserveAllocs(t *testing.T) {
	ta := newTally(DefaultBoardSize)
	f := newFrames(t, 1, 1)
	id, seq := uint64(0), uint64(0)
	n := testing.AllocsPerRun(10_000, func() {
		id++
		seq++
		setInstrument(f.trade, id)
		setSequence(f.trade, seq)
		ta.observe(f.trade, 2)
		ta.observe(f.quote, 2)
		ta.observe(f.book, 2)
	})
	if n != 0 {
		t.Fatalf("observe allocates %v times per frame", n)
	}
}

// The whole intake loop of /ws, on a real WebSocket connection: the
// Listener's Next and the aggregation, with a producer writing
// continuously, allocate nothing per frame.
func TestIntakeAllocs(t *testing.T) {
	l, err := source.Listen(source.ListenConfig{Endpoint: transport.Endpoint{Scheme: "ws", Addr: "127.0.0.1:0", Path: "/ws"}})
	if err != nil {
		t.Fatal(err)
	}
	defer l.Close()
	stream, _ := benchFrames(t)
	wsProducer(t, l.Addr().String(), stream)
	ta := newTally(DefaultBoardSize)
	step := func() {
		f, err := l.Next()
		if err != nil {
			t.Fatal(err)
		}
		ta.observe(f, time.Now().UnixNano())
	}
	for range 10_000 { // the Listener's chunks and the board warm up
		step()
	}
	if n := testing.AllocsPerRun(50_000, step); n != 0 {
		t.Fatalf("the intake allocates %v times per frame", n)
	}
}
