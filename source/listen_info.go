package source

import (
	"errors"
	"strconv"
	"sync"
	"sync/atomic"

	"github.com/gobwas/ws"

	"github.com/msgsink/msgsink/tlv"
)

// ErrProtocol is matched by a *ProtocolError: a producer broke the rules of
// its connection (RFC 6455 on a WebSocket, or a Subscribe a Listener does
// not take), and the Listener closed it.
var ErrProtocol = errors.New("source: protocol violation by a producer")

// ProtocolError says what a producer did wrong. It matches ErrProtocol.
type ProtocolError struct {
	// Code is the WebSocket close code the Listener sent (1002 protocol
	// error, 1003 unsupported data, 1009 too big), 0 on unix and tcp.
	Code   int
	Reason string
}

func (e *ProtocolError) Error() string {
	s := "protocol violation by the producer: " + e.Reason
	if e.Code != 0 {
		s += " (closed with WebSocket code " + strconv.Itoa(e.Code) + ")"
	}
	return s
}

// Unwrap makes errors.Is(err, ErrProtocol) true.
func (e *ProtocolError) Unwrap() error { return ErrProtocol }

// RejectError is why a Listener closed a producer's connection, as
// ListenerInfo.LastReject reports it. It unwraps to the cause: a tlv error
// (matching tlv.ErrMalformed, tlv.ErrDomain, tlv.ErrPrecision or
// tlv.ErrChecksum) for a bad frame, a *ProtocolError, or the WebSocket
// handshake's error.
type RejectError struct {
	Listener string // the Listener's name
	Endpoint string
	Remote   string // the producer's address
	Reason   string // the ListenerInfo.Rejected counter it was counted in
	Err      error
}

func (e *RejectError) Error() string {
	return "source " + strconv.Quote(e.Listener) + ": " + e.Endpoint + ": closed the connection of " +
		e.Remote + " (" + e.Reason + "): " + e.Err.Error()
}

// Unwrap returns the cause.
func (e *RejectError) Unwrap() error { return e.Err }

// ListenerInfo is a snapshot of a Listener. Counters are monotonic, never
// reset by reading them; Producers is a gauge. Next publishes its counts
// whenever it finishes a run of frames and before it waits, so at a quiet
// point they are exact.
type ListenerInfo struct {
	Name     string
	Endpoint string // with the port chosen for port 0
	Closed   bool

	Producers    int    // producer connections now
	Accepted     uint64 // connections accepted, ever
	AcceptErrors uint64 // failed accepts (out of descriptors), each followed by a pause

	// SourceCounts are the totals over every producer: frames returned by
	// Next, gaps, duplicates dropped, restarts.
	SourceCounts
	Bytes uint64 // bytes of the frames returned
	// PerSource holds the counts of every producer (header source) heard from.
	PerSource map[uint8]SourceCounts

	// Acks counts the Ack frames sent to producers that asked for them.
	Acks uint64
	// Rejected counts connections closed for what they sent, by reason.
	Rejected Rejects
	// Truncated counts producers that hung up in the middle of a frame: the
	// partial frame is dropped, as a torn frame must be. Not a rejection:
	// it is what a sink's broken connection looks like.
	Truncated uint64
	// LastReject is the last rejection, a *RejectError; nil if none.
	LastReject error
}

// Rejects counts the connections a Listener closed for what they sent, by
// reason. The frame that closed a connection is never returned; the frames
// before it were.
type Rejects struct {
	Malformed uint64 // not a Protocol V2 frame (tlv.ErrMalformed)
	Checksum  uint64 // a non-zero checksum that does not match (tlv.ErrChecksum)
	Domain    uint64 // outside the Validator's domain, or a type its level refuses (tlv.ErrDomain)
	Precision uint64 // a type refused by the precision setting (tlv.ErrPrecision)
	Oversize  uint64 // a frame larger than Validator.MaxSize
	// Protocol: a WebSocket client that broke RFC 6455, or a first frame
	// that is a Subscribe with a role other than tlv.RoleProducer.
	Protocol uint64
	// Unsupported: a WebSocket text or fragmented message; a producer sends
	// each frame as one binary message.
	Unsupported uint64
	// Handshake: a WebSocket upgrade that failed (wrong path, not a
	// WebSocket request, timeout).
	Handshake uint64
}

// Total is the sum of all reasons.
func (r Rejects) Total() uint64 {
	return r.Malformed + r.Checksum + r.Domain + r.Precision + r.Oversize + r.Protocol + r.Unsupported + r.Handshake
}

// reason is a Rejects counter.
type reason uint8

const (
	reasonMalformed reason = iota
	reasonChecksum
	reasonDomain
	reasonPrecision
	reasonOversize
	reasonProtocol
	reasonUnsupported
	reasonHandshake
	numReasons
)

var reasonNames = [numReasons]string{"malformed", "checksum", "domain", "precision", "oversize", "protocol", "unsupported", "handshake"}

func (r reason) String() string { return reasonNames[r] }

// handshakeError marks the error of a failed WebSocket upgrade.
type handshakeError struct{ err error }

func (e *handshakeError) Error() string { return "WebSocket handshake failed: " + e.err.Error() }
func (e *handshakeError) Unwrap() error { return e.err }

// reasonOf classifies why a connection was rejected.
func reasonOf(err error) reason {
	var (
		me *tlv.MalformedError
		pe *ProtocolError
		he *handshakeError
	)
	switch {
	case errors.As(err, &he):
		return reasonHandshake
	case errors.As(err, &pe):
		switch pe.Code {
		case int(ws.StatusUnsupportedData):
			return reasonUnsupported
		case int(ws.StatusMessageTooBig):
			return reasonOversize
		}
		return reasonProtocol
	case errors.Is(err, tlv.ErrPrecision):
		return reasonPrecision
	case errors.Is(err, tlv.ErrDomain):
		return reasonDomain
	case errors.Is(err, tlv.ErrChecksum):
		return reasonChecksum
	// FrameSize checks payload_size only against the size limit.
	case errors.As(err, &me) && me.Field == "payload_size":
		return reasonOversize
	}
	return reasonMalformed
}

// listenCounters are the Listener's totals, written by its goroutines and
// read by Info.
type listenCounters struct {
	accepted, acceptErrors, truncated, acks atomic.Uint64
	producers                               atomic.Int64
	rejected                                [numReasons]atomic.Uint64
	lastReject                              atomic.Pointer[RejectError]
	pub                                     published
}

// published holds what Next counted, as of its last publish.
type published struct {
	mu    sync.Mutex
	bytes uint64
	all   SourceCounts
	per   [256]SourceCounts
	seen  [256]bool
}

// Info returns a snapshot of the Listener's counters. It is safe to call
// from any goroutine, and allocates the PerSource map.
func (l *Listener) Info() ListenerInfo {
	c := &l.count
	i := ListenerInfo{
		Name:         l.name,
		Endpoint:     l.endpoint,
		Closed:       l.closed.Load(),
		Producers:    int(c.producers.Load()),
		Accepted:     c.accepted.Load(),
		AcceptErrors: c.acceptErrors.Load(),
		Acks:         c.acks.Load(),
		Truncated:    c.truncated.Load(),
		PerSource:    make(map[uint8]SourceCounts),
	}
	p := &c.pub
	p.mu.Lock()
	i.SourceCounts, i.Bytes = p.all, p.bytes
	for src, seen := range p.seen {
		if seen {
			i.PerSource[uint8(src)] = p.per[src]
		}
	}
	p.mu.Unlock()
	r := func(x reason) uint64 { return c.rejected[x].Load() }
	i.Rejected = Rejects{
		Malformed: r(reasonMalformed), Checksum: r(reasonChecksum), Domain: r(reasonDomain),
		Precision: r(reasonPrecision), Oversize: r(reasonOversize), Protocol: r(reasonProtocol),
		Unsupported: r(reasonUnsupported), Handshake: r(reasonHandshake),
	}
	if e := c.lastReject.Load(); e != nil {
		i.LastReject = e
	}
	return i
}
