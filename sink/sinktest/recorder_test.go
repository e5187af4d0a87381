package sinktest_test

import (
	"errors"
	"strings"
	"testing"

	"github.com/msgsink/msgsink/sink/sinktest"
	"github.com/msgsink/msgsink/tlv"
)

// stream returns the wire bytes of n messages from source 1, numbered from
// 1, with checksums, and where each one starts.
func stream(t *testing.T, n int) ([]byte, []int) {
	t.Helper()
	b := tlv.NewBuilder(tlv.DomainMarketData, 1)
	b.Checksum = true
	var wire []byte
	var starts []int
	for i := range n {
		b.Append(5, make([]byte, 10+300*i)) // standard and extended records
		m, err := b.FinishAt(1)
		if err != nil {
			t.Fatal(err)
		}
		starts = append(starts, len(wire))
		wire = append(wire, m.Bytes()...)
		m.Release()
	}
	return wire, starts
}

func TestRecorder(t *testing.T) {
	wire, starts := stream(t, 3)
	first, second := starts[1], starts[2]
	for _, c := range []struct {
		name   string
		feed   func(c *sinktest.ConnRecorder)
		frames int
		err    string // in Err; "" for none
	}{
		{"whole_stream", func(c *sinktest.ConnRecorder) { c.Write(wire); c.End(true) }, 3, ""},
		{"byte_by_byte", func(c *sinktest.ConnRecorder) {
			for i := range wire {
				c.Write(wire[i : i+1])
			}
			c.End(true)
		}, 3, ""},
		{"hung_up_by_peer_inside_a_frame", func(c *sinktest.ConnRecorder) { c.Write(wire[:first+40]); c.End(false) }, 1, ""},
		{"closed_by_sink_inside_a_frame", func(c *sinktest.ConnRecorder) { c.Write(wire[:first+40]); c.End(true) },
			1, "torn frame"},
		// The start of the second frame, then the third whole: what a sink
		// that resumed a cut frame on the same stream would send.
		{"cut_frame_then_the_next", func(c *sinktest.ConnRecorder) {
			c.Write(wire[:first+40])
			c.Write(wire[second:])
		}, 1, "not a whole frame"},
		{"a_changed_byte", func(c *sinktest.ConnRecorder) {
			bad := append([]byte(nil), wire...)
			bad[first+tlv.HeaderSize+5] ^= 1
			c.Write(bad)
		}, 1, "checksum"},
		{"garbage", func(c *sinktest.ConnRecorder) { c.Write([]byte(strings.Repeat("x", 40))) }, 0, "not a whole frame"},
	} {
		t.Run(c.name, func(t *testing.T) {
			var r sinktest.Recorder
			c.feed(r.Conn())
			got := r.Received()
			if len(got) != 1 || len(got[0]) != c.frames {
				t.Fatalf("received %v, want %d frames on one connection", got, c.frames)
			}
			for i, f := range got[0] {
				if f != (sinktest.FrameID{Source: 1, Seq: uint64(i + 1)}) {
					t.Fatalf("frame %d is %v", i, f)
				}
			}
			err := r.Err()
			if (c.err == "") != (err == nil) || (err != nil && !strings.Contains(err.Error(), c.err)) {
				t.Fatalf("Err() = %v, want one saying %q", err, c.err)
			}
			if c.err == "checksum" && !errors.Is(err, tlv.ErrChecksum) {
				t.Fatalf("Err() = %v, want one matching tlv.ErrChecksum", err)
			}
		})
	}
}

// After a violation a connection records nothing more, and the others go on.
func TestRecorderConnections(t *testing.T) {
	wire, _ := stream(t, 2)
	var r sinktest.Recorder
	bad, good := r.Conn(), r.Conn()
	if _, err := bad.Write([]byte("not a frame, not a frame, not a frame")); err == nil {
		t.Fatal("Write took garbage")
	}
	if _, err := bad.Write(wire); err == nil {
		t.Fatal("Write went on after a violation")
	}
	if _, err := good.Write(wire); err != nil {
		t.Fatal(err)
	}
	if got := r.Received(); len(got[0]) != 0 || len(got[1]) != 2 {
		t.Fatalf("received %v", got)
	}
}
