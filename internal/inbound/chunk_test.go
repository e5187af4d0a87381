package inbound

import (
	"bytes"
	"testing"

	"github.com/msgsink/msgsink/tlv"
)

// TestMakeRoom: the unread bytes stay where they are while there is room,
// start over at 0 when nobody else holds the chunk, and move whole to a
// fresh chunk (of a class that holds the frame) when there is not room.
func TestMakeRoom(t *testing.T) {
	c := GetChunk(0)
	copy(c.Buf, "abcdef")
	// Room enough: nothing moves.
	if n, off, w := MakeRoom(c, 2, 6, tlv.HeaderSize); n != c || off != 2 || w != 6 {
		t.Fatalf("MakeRoom with room = (%p, %d, %d), want the same chunk at 2..6", n, off, w)
	}
	// Everything read and nobody else holds it: start over.
	if n, off, w := MakeRoom(c, 6, 6, tlv.HeaderSize); n != c || off != 0 || w != 0 {
		t.Fatalf("MakeRoom of a drained chunk = (%p, %d, %d), want it from 0", n, off, w)
	}
	// A span holds it and the frame in progress does not fit: it moves.
	c.Retain()
	end := len(c.Buf)
	copy(c.Buf[end-10:], "0123456789")
	n, off, w := MakeRoom(c, end-10, end, 200_000)
	if n == c || off != 0 || w != 10 || !bytes.Equal(n.Buf[:10], []byte("0123456789")) || len(n.Buf) < 200_000 {
		t.Fatalf("MakeRoom of a full chunk = (len %d, %d, %d), want the 10 bytes at the start of a chunk of 200000 or more", len(n.Buf), off, w)
	}
	if c.refs.Load() != 1 {
		t.Fatalf("the old chunk has %d references, want the span's only", c.refs.Load())
	}
	c.Release()
	n.Release()
}

func TestClassFor(t *testing.T) {
	for _, tc := range []struct{ n, class int }{{1, 0}, {ChunkSize, 0}, {ChunkSize + 1, 1}, {MaxChunkSize, chunkClasses - 1}, {tlv.MaxMessageSize, chunkClasses - 1}} {
		if got := ClassFor(tc.n); got != tc.class {
			t.Errorf("ClassFor(%d) = %d, want %d", tc.n, got, tc.class)
		}
	}
}

// TestSubscription tells a Subscribe from a data frame and reads its role.
func TestSubscription(t *testing.T) {
	build := func(d tlv.Domain, sub bool, role uint8) []byte {
		b := tlv.NewBuilder(d, 60)
		if sub {
			b.AppendSubscribe(role)
		} else {
			b.Append(5, []byte{1})
		}
		m, err := b.Finish()
		if err != nil {
			t.Fatal(err)
		}
		defer m.Release()
		return bytes.Clone(m.Bytes())
	}
	for _, tc := range []struct {
		f    []byte
		role uint8
		ok   bool
	}{
		{build(tlv.DomainSystem, true, tlv.RoleProducer), tlv.RoleProducer, true},
		{build(tlv.DomainSystem, true, tlv.RoleConsumer), tlv.RoleConsumer, true},
		{build(tlv.DomainMarketData, false, 0), 0, false},
		{nil, 0, false},
		{[]byte{1, 2, 3}, 0, false},
	} {
		if role, ok := Subscription(tc.f); role != tc.role || ok != tc.ok {
			t.Errorf("Subscription(% x…) = %d, %v; want %d, %v", tc.f[:min(len(tc.f), 8)], role, ok, tc.role, tc.ok)
		}
	}
}
