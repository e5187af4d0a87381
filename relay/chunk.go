package relay

import (
	"sync"
	"sync/atomic"

	"github.com/msgsink/msgsink/tlv"
)

const (
	// chunkSize is the read buffer of a producer: one read of a busy
	// producer fills it, so a 64-byte feed costs one read syscall and one
	// queue operation per consumer per ~1000 frames.
	chunkSize = 64 << 10
	// chunkClasses are the pooled sizes, chunkSize << 0..4, up to
	// maxChunkSize; a frame larger than chunkSize goes in the smallest class
	// that holds it whole.
	chunkClasses = 5
	maxChunkSize = chunkSize << (chunkClasses - 1)
	// minRead is the least room a producer reads into; with less left, the
	// partial frame at the end moves to a fresh chunk. It bounds the waste
	// at the end of a chunk and the size of that copy.
	minRead = 4 << 10
)

// A chunk's largest class must hold the largest frame whole.
var _ [maxChunkSize - tlv.MaxMessageSize]struct{}

// chunk is a producer's read buffer, shared by reference count with the
// consumer queues that hold spans of it. The producer holds one reference
// while it reads into the chunk; each queued span holds one more. Bytes that a
// span covers are never written again until the last reference is released
// and the chunk comes back from the pool; the producer keeps reading into the
// part of buf after every span.
type chunk struct {
	buf   []byte
	refs  atomic.Int32
	class uint8
}

var chunkPools [chunkClasses]sync.Pool

// classFor returns the smallest class whose chunks hold n bytes, n ≤
// maxChunkSize.
func classFor(n int) int {
	c := 0
	for chunkSize<<c < n {
		c++
	}
	return c
}

// getChunk returns a chunk of the class with one reference, the caller's.
func getChunk(class int) *chunk {
	c, _ := chunkPools[class].Get().(*chunk)
	if c == nil {
		c = &chunk{buf: make([]byte, chunkSize<<class), class: uint8(class)}
	}
	c.refs.Store(1)
	return c
}

// retain adds a reference, for a span queued for a consumer.
func (c *chunk) retain() { c.refs.Add(1) }

// release drops one reference; the last one returns the chunk to its pool.
func (c *chunk) release() {
	switch n := c.refs.Add(-1); {
	case n == 0:
		chunkPools[c.class].Put(c)
	case n < 0:
		panic("relay: chunk released more often than retained")
	}
}

// held reports whether a reference other than the caller's is live: when it
// is not, the caller may reuse the whole buffer.
func (c *chunk) held() bool { return c.refs.Load() != 1 }

// span is a run of whole, validated frames in one chunk, queued for a
// consumer; it holds one reference to the chunk.
type span struct {
	c        *chunk
	off, end int32 // c.buf[off:end]
	frames   int32
	at       int64 // when the bytes were read, on the relay's clock (Relay.now)
}

func (s *span) bytes() []byte { return s.c.buf[s.off:s.end] }

// frameLen returns the length of the frame whose header starts b, as the
// header announces it: the caller has framed it, or checks the result.
func frameLen(b []byte) int {
	return tlv.HeaderSize + int(tlv.Header(b[:tlv.HeaderSize]).PayloadSize())
}
