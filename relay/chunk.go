package relay

import "github.com/msgsink/msgsink/internal/inbound"

// span is a run of whole, validated frames in one chunk (the read buffers
// of internal/inbound, shared by reference count), queued for a consumer; it
// holds one reference to the chunk.
type span struct {
	c        *inbound.Chunk
	off, end int32 // c.Buf[off:end]
	frames   int32
	at       int64 // when the bytes were read, on the relay's clock (Relay.now)
}

func (s *span) bytes() []byte { return s.c.Buf[s.off:s.end] }
