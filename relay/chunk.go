package relay

import "github.com/msgsink/msgsink/internal/inbound"

// A producer reads into chunks of internal/inbound, shared by reference
// count with the consumer queues that hold spans of them: the producer holds
// one reference while it reads into the chunk, each queued span one more.

// span is a run of whole, validated frames in one chunk, queued for a
// consumer; it holds one reference to the chunk.
type span struct {
	c        *inbound.Chunk
	off, end int32 // c.buf[off:end]
	frames   int32
	at       int64 // when the bytes were read, on the relay's clock (Relay.now)
}

func (s *span) bytes() []byte { return s.c.Buf[s.off:s.end] }
