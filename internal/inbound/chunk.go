// Package inbound holds the read side of a Protocol V2 stream that accepts
// producers, shared by the relay and source.Listen: pooled,
// reference-counted read buffers (chunks) that whole frames are read into
// and handed on as spans without a copy, the growth policy of those
// buffers, the recognition of a connection's first frame (a Subscribe), the
// classification of a rejected frame, which accept errors a pause cures, and
// the removal of a stale Unix socket file left where a listener binds.
//
// A chunk belongs to the goroutine that reads into it and to every holder of
// a span of it, by reference count: bytes a span covers are never written
// again until the last reference is released and the chunk comes back from
// the pool. The reader keeps reading into the part of the buffer after every
// span; only a partial frame at the end of a chunk is copied, to the start
// of the next one.
//
// A connection starts with a small chunk, so one that sends little or
// nothing costs a page; its buffer grows with the bytes the peer has sent,
// never with the size a header announces, and shrinks back at a frame
// boundary once nobody else holds it.
package inbound

import (
	"sync"
	"sync/atomic"

	"github.com/msgsink/msgsink/tlv"
)

const (
	// FirstChunkSize is the read buffer a connection starts with: it holds
	// a Subscribe, or shows a producer's first frame header, for one page
	// of memory, so a connection that sends little or nothing costs little.
	FirstChunkSize = 4 << 10
	// ChunkSize is the read buffer of a producer once it sends more: one
	// read of a busy producer fills it, so a 64-byte feed costs one read
	// syscall and one hand-off per ~1000 frames.
	ChunkSize = 64 << 10
	// baseClass is the class of ChunkSize; the class before it holds
	// FirstChunkSize and the ones after ChunkSize << 1..4, up to
	// MaxChunkSize, for frames larger than ChunkSize.
	baseClass    = 1
	chunkClasses = 6
	// MaxChunkSize is the largest chunk: it holds the largest frame whole.
	MaxChunkSize = ChunkSize << (chunkClasses - 1 - baseClass)
	// MinRead is the least room a reader reads into; with less left, the
	// partial frame at the end moves to a fresh chunk. It bounds the waste
	// at the end of a chunk and the size of that copy.
	MinRead = 4 << 10
)

// A chunk's largest class must hold the largest frame whole.
var _ [MaxChunkSize - tlv.MaxMessageSize]struct{}

// Chunk is a reader's buffer, shared by reference count with the holders of
// spans of it. The reader holds one reference while it reads into the
// chunk; each span handed on holds one more.
type Chunk struct {
	Buf   []byte
	refs  atomic.Int32
	class uint8
}

var chunkPools [chunkClasses]sync.Pool

// classSize is the size of the chunks of class c.
func classSize(c int) int {
	if c < baseClass {
		return FirstChunkSize
	}
	return ChunkSize << (c - baseClass)
}

// ClassFor returns the smallest class whose chunks hold n bytes, n ≤
// MaxChunkSize.
func ClassFor(n int) int {
	c := 0
	for classSize(c) < n {
		c++
	}
	return c
}

// GetChunk returns a chunk of the class with one reference, the caller's.
func GetChunk(class int) *Chunk {
	c, _ := chunkPools[class].Get().(*Chunk)
	if c == nil {
		c = &Chunk{Buf: make([]byte, classSize(class)), class: uint8(class)}
	}
	c.refs.Store(1)
	return c
}

// Retain adds a reference, for a span handed on.
func (c *Chunk) Retain() { c.refs.Add(1) }

// Release drops one reference; the last one returns the chunk to its pool.
func (c *Chunk) Release() {
	switch n := c.refs.Add(-1); {
	case n == 0:
		chunkPools[c.class].Put(c)
	case n < 0:
		panic("inbound: chunk released more often than retained")
	}
}

// Held reports whether a reference other than the caller's is live: when it
// is not, the caller may reuse the whole buffer.
func (c *Chunk) Held() bool { return c.refs.Load() != 1 }

// MakeRoom makes sure c has room to read into after the unread bytes
// c.Buf[off:w], which start at a frame boundary: at least MinRead bytes, or
// the rest of a frame of need bytes (MinRead or more) that fits, or of any
// frame that fits the first chunk; need is the frame's length once its
// header is framed, else how many bytes framing it takes. Otherwise the
// unread bytes move to a fresh chunk that holds twice what has arrived of
// the frame, at least ChunkSize and at most need: a buffer grows with the
// bytes a peer has sent, not with the size a header announces, so a header
// alone pins no more than ChunkSize. The old chunk, which others may still
// hold spans of, is released. A chunk larger than ChunkSize that nobody
// else holds is given back at the next frame boundary. It returns the chunk
// to read into and the new off and w.
func MakeRoom(c *Chunk, off, w, need int) (*Chunk, int, int) {
	if off == w && !c.Held() {
		off, w = 0, 0 // nobody else holds any of it: start over
		if c.class > baseClass {
			c.Release()
			c = GetChunk(baseClass)
		}
	}
	size := len(c.Buf)
	// The first chunk is read into to its end while the frame at off fits:
	// it is small, and what trickles into it costs a page, not a chunk.
	fits := size-off >= need && (need >= MinRead || c.class < baseClass)
	if size-w >= MinRead || fits {
		return c, off, w
	}
	n := GetChunk(ClassFor(max(ChunkSize, min(need, 2*(w-off)))))
	w = copy(n.Buf, c.Buf[off:w])
	c.Release()
	return n, 0, w
}

// FrameLen returns the length of the frame whose header starts b, as the
// header announces it: the caller has framed it, or checks the result.
func FrameLen(b []byte) int {
	return tlv.HeaderSize + int(tlv.Header(b[:tlv.HeaderSize]).PayloadSize())
}

// Subscription reports whether f, a connection's first frame, is a
// Subscribe (a valid system-domain frame holding a TLV 109) and with which
// role: 0 for a Subscribe of the wrong size.
func Subscription(f []byte) (role uint8, ok bool) {
	if len(f) < tlv.HeaderSize || tlv.Header(f[:tlv.HeaderSize]).Domain() != tlv.DomainSystem {
		return 0, false
	}
	fr, err := tlv.Validator{Domain: tlv.DomainSystem}.Parse(f)
	if err != nil {
		return 0, false // a producer's bad frame: rejected as such
	}
	it := fr.Records()
	for it.Next() {
		if it.Type() == tlv.TypeSubscribe {
			if v, err := tlv.AsSubscribe(it.Value()); err == nil {
				return v.Role(), true
			}
			return 0, true
		}
	}
	return 0, false
}
