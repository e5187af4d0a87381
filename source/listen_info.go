package source

import (
	"encoding/json"
	"errors"
	"strconv"
	"sync"
	"sync/atomic"

	"github.com/gobwas/ws"

	"github.com/msgsink/msgsink/internal/inbound"
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
	Remote   string // the producer's address; for unix, "connection" and its number
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
	Name     string `json:"name"`
	Endpoint string `json:"endpoint"` // with the port chosen for port 0
	Closed   bool   `json:"closed"`

	Producers    int    `json:"producers"`     // producer connections now
	Accepted     uint64 `json:"accepted"`      // connections accepted, ever
	AcceptErrors uint64 `json:"accept_errors"` // failed accepts (out of descriptors), each followed by a pause

	// SourceCounts are the totals over every producer: frames returned by
	// Next, gaps, duplicates dropped, restarts.
	SourceCounts
	Bytes uint64 `json:"bytes"` // bytes of the frames returned
	// PerSource holds the counts of every producer (header source) heard from.
	PerSource map[uint8]SourceCounts `json:"per_source"`

	// Acks counts the Ack frames sent to producers that asked for them.
	Acks uint64 `json:"acks"`
	// Rejected counts connections closed for what they sent, by reason.
	Rejected Rejects `json:"rejected"`
	// Truncated counts producers that hung up in the middle of a frame: the
	// partial frame is dropped, as a torn frame must be. Not a rejection:
	// it is what a sink's broken connection looks like.
	Truncated uint64 `json:"truncated"`
	// LastReject is the last rejection, a *RejectError; nil if none. JSON
	// has its message, as last_reject.
	LastReject error `json:"-"`
}

// MarshalJSON writes i with snake_case keys and LastReject's message.
func (i ListenerInfo) MarshalJSON() ([]byte, error) {
	type plain ListenerInfo // without this method
	out := struct {
		plain
		LastReject string `json:"last_reject,omitempty"`
	}{plain: plain(i)}
	if i.LastReject != nil {
		out.LastReject = i.LastReject.Error()
	}
	return json.Marshal(out)
}

// Rejects counts the connections a Listener closed for what they sent, by
// reason. The frame that closed a connection is never returned; the frames
// before it were.
type Rejects struct {
	Malformed uint64 `json:"malformed"` // not a Protocol V2 frame (tlv.ErrMalformed)
	Checksum  uint64 `json:"checksum"`  // a non-zero checksum that does not match (tlv.ErrChecksum)
	Domain    uint64 `json:"domain"`    // outside the Validator's domain, or a type its level refuses (tlv.ErrDomain)
	Precision uint64 `json:"precision"` // a type refused by the precision setting (tlv.ErrPrecision)
	Oversize  uint64 `json:"oversize"`  // a frame larger than Validator.MaxSize
	// Protocol: a WebSocket client that broke RFC 6455, or a first frame
	// that is a Subscribe with a role other than tlv.RoleProducer.
	Protocol uint64 `json:"protocol"`
	// Unsupported: a WebSocket text or fragmented message; a producer sends
	// each frame as one binary message.
	Unsupported uint64 `json:"unsupported"`
	// Handshake: a WebSocket upgrade that failed (wrong path, not a
	// WebSocket request, timeout).
	Handshake uint64 `json:"handshake"`
}

// Total is the sum of all reasons.
func (r Rejects) Total() uint64 {
	return r.Malformed + r.Checksum + r.Domain + r.Precision + r.Oversize + r.Protocol + r.Unsupported + r.Handshake
}

// reason is a Rejects counter: internal/inbound's, which the relay counts
// too, and after them the WebSocket ones only a Listener has.
type reason uint8

const (
	reasonMalformed = reason(inbound.ReasonMalformed)
	reasonChecksum  = reason(inbound.ReasonChecksum)
	reasonDomain    = reason(inbound.ReasonDomain)
	reasonPrecision = reason(inbound.ReasonPrecision)
	reasonOversize  = reason(inbound.ReasonOversize)
	reasonProtocol  = reason(inbound.ReasonProtocol)
)

const (
	reasonUnsupported = reason(inbound.NumReasons) + iota
	reasonHandshake
	numReasons
)

var wsReasonNames = [numReasons - reason(inbound.NumReasons)]string{"unsupported", "handshake"}

func (r reason) String() string {
	if r < reason(inbound.NumReasons) {
		return inbound.Reason(r).String()
	}
	return wsReasonNames[r-reason(inbound.NumReasons)]
}

// handshakeError marks the error of a failed WebSocket upgrade.
type handshakeError struct{ err error }

func (e *handshakeError) Error() string { return "WebSocket handshake failed: " + e.err.Error() }
func (e *handshakeError) Unwrap() error { return e.err }

// reasonOf classifies why a connection was rejected: a WebSocket's failures
// here, a bad frame as internal/inbound classifies it.
func reasonOf(err error) reason {
	var (
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
	}
	return reason(inbound.ReasonOf(err))
}

// listenCounters are the Listener's totals, written by its goroutines and
// read by Info.
type listenCounters struct {
	accepted, acceptErrors, truncated, acks atomic.Uint64
	producers                               atomic.Int64
	rejected                                [numReasons]atomic.Uint64
	lastReject                              atomic.Pointer[RejectError]
	pub                                     listenPub
}

// listenPub holds what Next counted, as of its last publish.
type listenPub struct {
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
