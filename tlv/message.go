package tlv

import (
	"sync"
	"sync/atomic"

	"github.com/valyala/bytebufferpool"

	"github.com/msgsink/msgsink/internal/checked"
)

// maxPooledCap bounds the buffers returned to the pool: one 1 MiB message must
// not pin a megabyte per pooled buffer for the life of the process.
const maxPooledCap = 64 << 10

var (
	// A private pool, so that our message sizes calibrate it and nobody else's.
	// It supplies the buffers of new messages; messages from a Builder then
	// keep theirs across reuse (see freeList).
	bufPool bytebufferpool.Pool
	// msgPool recycles the messages of Copy, which have no Builder to go home to.
	msgPool = sync.Pool{New: func() any { return new(Message) }}
)

// Message is one encoded message in a pooled buffer, shared by reference count.
// A Builder hands it out with one reference; Retain adds one for each extra
// holder (a fan-out target, a retry queue) and every holder calls Release once.
// The last Release recycles the buffer and the Message, so a Message must not
// be touched after its holder's Release.
//
// The bytes of a Message must not be modified after Finish: sinks rely on the
// builder's proof of validity, and the same bytes may be in flight to several
// peers at once.
type Message struct {
	buf *bytebufferpool.ByteBuffer
	// b is the encoded message, buf.B as Finish or Copy left it. Readers go
	// through b, so that a sink's writer on another core reads this
	// struct's line and the bytes, and never the ByteBuffer, which the
	// building goroutine writes while it builds the next message in it.
	b []byte
	// refs is accessed atomically while the message is shared. Its owner
	// (a Builder after taking it from the free list, whose Swap orders
	// memory, or Copy) sets it with a plain store: an atomic store is an
	// XCHG that costs a build ~15% on the reference machine.
	refs int32
	// built is set when a Builder wrote the message, so it is known to pass
	// LevelStandard without being parsed again.
	built bool
	// home is the free list of the Builder that made the message, which gets
	// it back on the last Release; nil for messages made by Copy.
	home *freeList
	next *Message // link while on a free list
}

// freeList returns released messages to the Builder that made them. Any
// goroutine pushes; only the Builder takes, and it takes everything at once
// with one Swap, so the stack needs no ABA protection. Compared with
// sync.Pool this costs one CAS per message and stays cheap when messages are
// released on another P than the one that built them, which is the normal
// case: a producer builds, a sink's writer goroutine releases.
type freeList struct{ head atomic.Pointer[Message] }

func (l *freeList) push(m *Message) { l.pushChain(m, m) }

// pushChain pushes the messages first→…→last, already linked through next,
// with one compare-and-swap for the lot.
func (l *freeList) pushChain(first, last *Message) {
	for {
		old := l.head.Load()
		last.next = old
		if l.head.CompareAndSwap(old, first) {
			return
		}
	}
}

func (l *freeList) takeAll() *Message { return l.head.Swap(nil) }

// live panics, in the checked build, when m has been released: it waits for
// its Builder to reuse it, and its bytes will soon be another message's. A
// use after the reuse cannot be told from a use by the new holder.
func (m *Message) live(op string) {
	if checked.On && atomic.LoadInt32(&m.refs) <= 0 {
		panic("tlv: Message." + op + " after the last Release (use after release)")
	}
}

// Bytes returns the encoded message: header and payload.
func (m *Message) Bytes() []byte {
	m.live("Bytes")
	return m.b
}

// Frame returns the message as a Frame view.
func (m *Message) Frame() Frame {
	m.live("Frame")
	return Frame(m.b)
}

// Header returns the header view.
func (m *Message) Header() Header {
	m.live("Header")
	return Header(m.b[:HeaderSize:HeaderSize])
}

// Len returns the encoded size in bytes.
func (m *Message) Len() int {
	m.live("Len")
	return len(m.b)
}

// Retain adds a reference for one more holder.
func (m *Message) Retain() {
	if n := atomic.AddInt32(&m.refs, 1); checked.On && n <= 1 {
		panic("tlv: Message.Retain after the last Release (use after release)")
	}
}

// RetainN adds n references at once, for n more holders: a fan-out to k
// targets calls RetainN(k-1) and pays one atomic add instead of k-1. Each
// holder still calls Release once. RetainN(0) does nothing; a negative n
// panics, as releasing through it would bypass Release's checks.
func (m *Message) RetainN(n int) {
	if n < 0 {
		panic("tlv: Message.RetainN with a negative count")
	}
	if n > 0 {
		if r := atomic.AddInt32(&m.refs, int32(n)); checked.On && r <= int32(n) {
			panic("tlv: Message.RetainN after the last Release (use after release)")
		}
	}
}

// Release drops the caller's reference; the last one recycles the message.
// Releasing more often than retaining is a bug and panics when detected:
// while the message waits for reuse, in every build.
func (m *Message) Release() {
	if !m.drop() {
		return
	}
	if m.home != nil {
		m.home.push(m)
		return
	}
	m.recycle()
}

// ReleaseAll releases every message of ms, as a Release of each would, and
// is what a sink's writer calls for a batch it has written. The messages a
// Builder made go back to it in runs: consecutive messages of one Builder
// (the usual batch: one producer's stream) are linked locally and handed
// over with one compare-and-swap, instead of one per message on a free list
// that the building goroutine, on another core, is taking from.
func ReleaseAll(ms []*Message) {
	var home *freeList
	var first, last *Message
	for _, m := range ms {
		if !m.drop() {
			continue
		}
		switch {
		case m.home == nil:
			m.recycle()
		case m.home == home:
			last.next, last = m, m
		default:
			if home != nil {
				home.pushChain(first, last)
			}
			home, first, last = m.home, m, m
		}
	}
	if home != nil {
		home.pushChain(first, last)
	}
}

// drop takes away one reference and reports whether it was the last, in
// which case the message is reset for reuse and belongs to the caller.
func (m *Message) drop() bool {
	// A sole holder needs no locked decrement: with one reference, held by
	// the caller, nobody else can Retain concurrently.
	if n := atomic.LoadInt32(&m.refs); n != 1 {
		if n = atomic.AddInt32(&m.refs, -1); n > 0 {
			return false
		}
		if n < 0 {
			panic("tlv: Message released more times than it was retained")
		}
	}
	m.refs = 0
	m.built = false
	if cap(m.b) > maxPooledCap {
		m.buf, m.b = nil, nil // let a giant go to the GC; the next build takes a fresh one
	}
	return true
}

// recycle returns a message made by Copy, and its buffer, to their pools.
func (m *Message) recycle() {
	// Put the buffer as it is: bytebufferpool calibrates on its length and
	// resets it itself.
	if m.buf != nil {
		bufPool.Put(m.buf)
		m.buf, m.b = nil, nil
	}
	msgPool.Put(m)
}

// Copy validates b at v's level and copies it into a pooled Message, for
// receivers that must keep a frame beyond the life of their read buffer.
func (v Validator) Copy(b []byte) (*Message, error) {
	if _, err := v.Parse(b); err != nil {
		return nil, err
	}
	m := msgPool.Get().(*Message)
	m.buf = bufPool.Get()
	m.buf.B = append(m.buf.B[:0], b...)
	m.b = m.buf.B
	m.refs = 1
	return m, nil
}

// The refusals of CheckLive, made once: a sink's Send returns them, and Send
// must not allocate.
var (
	errNilMessage = &MalformedError{Field: "message", Want: "a *Message from a Builder or Validator.Copy, not nil"}
	errReleased   = &MalformedError{Field: "message reference count",
		Want: "a message the caller holds: this one was released, or sent, already (Retain it once per extra Send)"}
)

// CheckLive returns nil when m is a message that someone still holds, and a
// *MalformedError matching ErrMalformed when m is nil or its last reference
// was released: a sink that took such a message would write bytes that its
// Builder may be reusing for another. It costs one load, and it is what
// Check does first for every message it cannot vouch for; a sink that takes
// references before validating (a fanout's RetainN) calls it first. A
// message released and then reused by its Builder is the new message, and
// cannot be told from it.
func (m *Message) CheckLive() error {
	switch {
	case m == nil:
		return errNilMessage
	case atomic.LoadInt32(&m.refs) <= 0:
		return errReleased
	}
	return nil
}

// Check validates m at v's level, and refuses a nil or released message
// (CheckLive). A message from a Builder is known to pass LevelStandard, so
// below LevelAudit with mixed precision only the header's domain (and,
// under a MaxSize, the length) is compared: validation on Send costs next
// to nothing. The last Release clears that knowledge, so a released
// message takes the full path, where CheckLive refuses it.
func (v Validator) Check(m *Message) error {
	if m != nil && m.built && v.Level != LevelAudit && v.Precision == PrecisionMixed &&
		(v.MaxSize <= 0 || len(m.b) <= v.MaxSize) {
		if v.Domain == 0 || m.Header().Domain() == v.Domain {
			return nil
		}
	}
	if err := m.CheckLive(); err != nil {
		return err
	}
	_, err := v.Parse(m.b)
	return err
}
