package inbound

import (
	"bytes"
	"testing"

	"github.com/msgsink/msgsink/tlv"
)

// TestMakeRoom: the unread bytes stay where they are while there is room,
// start over at 0 when nobody else holds the chunk, and move whole to a
// fresh chunk when there is not room, one that grows with the bytes that
// have arrived of the frame, not with the size its header announces.
func TestMakeRoom(t *testing.T) {
	c := GetChunk(0)
	if len(c.Buf) != FirstChunkSize {
		t.Fatalf("a connection's first chunk holds %d bytes, want %d", len(c.Buf), FirstChunkSize)
	}
	copy(c.Buf, "abcdef")
	// Room enough: nothing moves.
	if n, off, w := MakeRoom(c, 2, 6, tlv.HeaderSize); n != c || off != 2 || w != 6 {
		t.Fatalf("MakeRoom with room = (%p, %d, %d), want the same chunk at 2..6", n, off, w)
	}
	// Everything read and nobody else holds it: start over.
	if n, off, w := MakeRoom(c, 6, 6, tlv.HeaderSize); n != c || off != 0 || w != 0 {
		t.Fatalf("MakeRoom of a drained chunk = (%p, %d, %d), want it from 0", n, off, w)
	}
	// A span holds it and a frame announced at 200000 bytes does not fit:
	// its 10 bytes move to a chunk of ChunkSize, not of the announced size.
	c.Retain()
	end := len(c.Buf)
	copy(c.Buf[end-10:], "0123456789")
	n, off, w := MakeRoom(c, end-10, end, 200_000)
	if n == c || off != 0 || w != 10 || !bytes.Equal(n.Buf[:10], []byte("0123456789")) || len(n.Buf) != ChunkSize {
		t.Fatalf("MakeRoom of a full chunk = (len %d, %d, %d), want the 10 bytes at the start of a chunk of %d", len(n.Buf), off, w, ChunkSize)
	}
	if c.refs.Load() != 1 {
		t.Fatalf("the old chunk has %d references, want the span's only", c.refs.Load())
	}
	c.Release()
	// The frame keeps arriving: once the chunk is full, it moves to one
	// twice what has arrived, then to one that holds it whole.
	n2, off, w := MakeRoom(n, 0, len(n.Buf), 200_000)
	if off != 0 || w != ChunkSize || len(n2.Buf) != 2*ChunkSize {
		t.Fatalf("MakeRoom of a full %d-byte chunk = (len %d, %d, %d), want %d bytes in a chunk of %d", ChunkSize, len(n2.Buf), off, w, ChunkSize, 2*ChunkSize)
	}
	n3, _, w := MakeRoom(n2, 0, len(n2.Buf), 200_000)
	if w != 2*ChunkSize || len(n3.Buf) < 200_000 {
		t.Fatalf("MakeRoom of a full %d-byte chunk = (len %d, w %d), want a chunk that holds the 200000-byte frame", 2*ChunkSize, len(n3.Buf), w)
	}
	// At the frame boundary, nobody else holding it, the large chunk is
	// given back for one of ChunkSize.
	n4, off, w := MakeRoom(n3, w, w, tlv.HeaderSize)
	if off != 0 || w != 0 || len(n4.Buf) != ChunkSize {
		t.Fatalf("MakeRoom of a drained large chunk = (len %d, %d, %d), want a chunk of %d from 0", len(n4.Buf), off, w, ChunkSize)
	}
	n4.Release()
}

func TestClassFor(t *testing.T) {
	for _, tc := range []struct{ n, class int }{
		{1, 0}, {FirstChunkSize, 0}, {FirstChunkSize + 1, baseClass}, {ChunkSize, baseClass}, {ChunkSize + 1, baseClass + 1},
		{MaxChunkSize, chunkClasses - 1}, {tlv.MaxMessageSize, chunkClasses - 1},
	} {
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
