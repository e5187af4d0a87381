package sink

import (
	"context"
	"errors"
	"fmt"
	"strconv"

	"github.com/msgsink/msgsink/internal/enum"
	"github.com/msgsink/msgsink/tlv"
)

// Sink is the destination a service sends to. All methods are safe for
// concurrent use.
type Sink interface {
	// Send enqueues m and takes the caller's reference on success. It never
	// blocks and never dials: ErrBufferFull when the ring is full, ErrClosed
	// after Close, ErrDomain/ErrMalformed when m fails the sink's validation.
	Send(m *tlv.Message) error
	// SendBatch sends ms in order and returns how many were taken; on error,
	// ms[n:] stay with the caller.
	SendBatch(ms []*tlv.Message) (n int, err error)
	// Connect connects now instead of on the first Send, and waits until the
	// sink is connected, gives up, or ctx ends.
	Connect(ctx context.Context) error
	// Flush returns once everything enqueued before the call is written or
	// counted as dropped, or when ctx ends.
	Flush(ctx context.Context) error
	// Disconnect flushes, then drops the connection and the writer goroutine;
	// the next Send wakes the sink again.
	Disconnect(ctx context.Context) error
	// Close flushes within the sink's close timeout, drops (and counts) what is
	// left, and releases everything. It is final and idempotent.
	Close() error
	// Info returns a snapshot of the sink's identity, state and counters.
	Info() Info
}

// Sentinel errors, usable with errors.Is.
var (
	ErrBufferFull    = errors.New("msgsink: buffer full (the writer is behind or the peer is down; raise buffer_size or slow the producer)")
	ErrClosed        = errors.New("msgsink: sink closed")
	ErrNotConnected  = errors.New("msgsink: not connected")
	ErrConnectFailed = errors.New("msgsink: connect failed")
	// ErrDomain, ErrPrecision and ErrMalformed are the tlv package's, so one
	// errors.Is works whichever layer refused the message.
	ErrDomain    = tlv.ErrDomain
	ErrPrecision = tlv.ErrPrecision
	ErrMalformed = tlv.ErrMalformed
)

// Error is a slow-path error of a named sink: a failed connect, a broken
// connection. It unwraps to its cause and, for connects, to ErrConnectFailed.
type Error struct {
	Sink string // the sink's name
	Op   string // "connect", "write", "flush", ...
	Err  error  // the cause
}

func (e *Error) Error() string {
	return "msgsink: sink " + strconv.Quote(e.Sink) + ": " + e.Op + ": " + e.Err.Error()
}

// Unwrap returns the cause, and ErrConnectFailed for a failed connect.
func (e *Error) Unwrap() []error {
	if e.Op == "connect" {
		return []error{ErrConnectFailed, e.Err}
	}
	return []error{e.Err}
}

// State is where a sink is in its connection life (SPEC section 4).
type State uint32

const (
	StateIdle       State = iota // no connection, no goroutine: the next Send wakes it
	StateConnecting              // dialing
	StateConnected               // writing
	StateBackoff                 // waiting to dial again after a failure
	StateClosed                  // final
)

var stateNames = [...]string{"idle", "connecting", "connected", "backoff", "closed"}

func (s State) String() string { return enum.Name(stateNames[:], int(s), "state") }

// Info is a snapshot of a sink. Counters are monotonic and exact; a snapshot
// taken while messages flow may see them at slightly different instants, so
// the accounting identity holds at quiet points (see the package doc).
type Info struct {
	Name     string
	Kind     string // "relay", "direct", or a composite pattern
	Endpoint string
	State    State
	// BufferSize is the ring's capacity after rounding up to a power of two.
	BufferSize int
	Metadata   map[string]string

	Enqueued     uint64 // messages accepted by Send
	Written      uint64 // messages written whole to a connection
	WrittenBytes uint64
	Pending      uint64 // messages enqueued and neither written nor dropped
	Refused      Refused
	Dropped      Dropped

	ConnectAttempts uint64 // dials started
	Reconnects      uint64 // connections lost while connected
	// LastError is the most recent connect or write failure, nil if none.
	LastError error
}

// Refused counts messages Send did not take, by reason; the caller kept them.
type Refused struct {
	BufferFull uint64
	Closed     uint64
	Domain     uint64 // outside the sink's domain or the message's own
	Precision  uint64
	Malformed  uint64
}

// Total is the sum of all reasons.
func (r Refused) Total() uint64 {
	return r.BufferFull + r.Closed + r.Domain + r.Precision + r.Malformed
}

// Dropped counts messages that were enqueued and then abandoned, by reason.
type Dropped struct {
	ConnectFailed uint64 // retry attempts exhausted
	Stale         uint64 // backlog = "drop": queued before a reconnect
	Closed        uint64 // Close gave up at its deadline
}

// Total is the sum of all reasons.
func (d Dropped) Total() uint64 { return d.ConnectFailed + d.Stale + d.Closed }

// Balanced reports whether the accounting identity holds in this snapshot.
func (i Info) Balanced() bool { return i.Enqueued == i.Written+i.Dropped.Total()+i.Pending }

func (i Info) String() string {
	return fmt.Sprintf("%s (%s %s) %s: enqueued %d written %d (%d B) pending %d dropped %d refused %d",
		i.Name, i.Kind, i.Endpoint, i.State, i.Enqueued, i.Written, i.WrittenBytes, i.Pending,
		i.Dropped.Total(), i.Refused.Total())
}
