package sink

import (
	"context"
	"encoding/json"
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
	// A nil or released m is refused with ErrMalformed (tlv.Message.CheckLive),
	// counted as refused; it never reaches a writer.
	Send(m *tlv.Message) error
	// SendWait is Send that waits, asleep, for room instead of returning
	// ErrBufferFull: woken by the writer when it frees slots, so that a
	// producer that must not drop a message neither spins nor starves the
	// writer. When ctx ends first it returns ctx.Err(), counted as refused
	// for a full buffer, and the caller still owns m; after Close it
	// returns ErrClosed. It does not allocate.
	SendWait(ctx context.Context, m *tlv.Message) error
	// SendBatch sends ms in order and returns how many were taken; on error,
	// ms[n:] stay with the caller. An empty batch does nothing (it wakes
	// nothing).
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

// Sentinel errors, usable with errors.Is. Like every error of msgsink, their
// messages start with the name of the package that defines them.
var (
	ErrBufferFull    = errors.New("sink: buffer full (the writer is behind or the peer is down; raise buffer_size or slow the producer)")
	ErrClosed        = errors.New("sink: closed")
	ErrNotConnected  = errors.New("sink: not connected")
	ErrConnectFailed = errors.New("sink: connect failed")
	// ErrInvalidConfig is matched by every invalid-configuration error of
	// every package: a services.toml problem (config), a lazy.Config that
	// lazy.New refuses, a composite's target list, a relay setting. Those
	// packages alias it where their callers need the name (config.ErrInvalidConfig),
	// so that one errors.Is answers "is this a configuration mistake?"
	// whichever layer found it.
	ErrInvalidConfig = errors.New("sink: invalid configuration")
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
	return "sink " + strconv.Quote(e.Sink) + ": " + e.Op + ": " + e.Err.Error()
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

// MarshalText writes the state's name, for JSON and text encodings.
func (s State) MarshalText() ([]byte, error) { return []byte(s.String()), nil }

// Info is a snapshot of a sink. Counters are monotonic and exact; a snapshot
// taken while messages flow may see them at slightly different instants, so
// the accounting identity holds at quiet points (see the package doc). It
// marshals to JSON with snake_case keys, the state as its name and the last
// error as its message, for expvar and logs.
type Info struct {
	// Name is the sink's service name (services.toml's [services.NAME]).
	Name string `json:"name"`
	// Kind is KindRelay or KindDirect for a connection, or the pattern of a
	// composite: KindFanout, KindRoundRobin, KindFailover.
	Kind Kind `json:"kind"`
	// Endpoint is where a connection leads, as configured; for a composite,
	// its targets' names.
	Endpoint string `json:"endpoint"`
	// State is the connection state now (for a composite, the best of its
	// targets').
	State State `json:"state"`
	// BufferSize is the ring's capacity after rounding up to a power of two;
	// 0 for a composite, which has no ring of its own.
	BufferSize int `json:"buffer_size"`
	// Metadata holds the free-form strings of [services.NAME.metadata]; a
	// composite lists its targets and, per target, the messages it accepted
	// and refused ("target.NAME.accepted", "target.NAME.refused").
	Metadata map[string]string `json:"metadata,omitempty"`

	// Enqueued counts messages Send accepted: the sink owns them.
	Enqueued uint64 `json:"enqueued"`
	// Written counts messages handed whole to the kernel on a connection
	// (on TCP, the peer may still lose what it had not read when it died).
	// A composite counts the messages its targets took; what they wrote or
	// dropped is in their own Info, and per target in Metadata.
	Written uint64 `json:"written"`
	// WrittenBytes is the size of the Written messages.
	WrittenBytes uint64 `json:"written_bytes"`
	// WrittenThrough counts the Written messages that a Send wrote itself,
	// with one non-blocking write, because it found the writer goroutine
	// parked on an idle connection (see package lazy).
	WrittenThrough uint64 `json:"written_through"`
	// Pending counts messages enqueued and neither written nor dropped yet:
	// in the ring, or in the batch being written. With acked delivery it
	// counts the messages not written yet on any connection.
	Pending uint64 `json:"pending"`
	// Acked, Unacked and Resent are acked delivery's (delivery = "acked",
	// SPEC section 3), and 0 otherwise. Acked counts messages the peer
	// acknowledged, which the sink then released; Unacked the messages
	// written at least once and waiting for their Ack, which the sink keeps
	// in its ring to send again after a reconnect; Resent the writes of such
	// messages on a later connection (Written counts them too). At a quiet
	// point Enqueued == Acked + Dropped.Total() + Unacked + Pending.
	// AckedDelivery says which identity Balanced checks.
	AckedDelivery bool   `json:"acked_delivery,omitempty"`
	Acked         uint64 `json:"acked,omitempty"`
	Unacked       uint64 `json:"unacked,omitempty"`
	Resent        uint64 `json:"resent,omitempty"`
	// Refused counts messages Send did not take, by reason; the caller kept
	// them. They are not in Enqueued.
	Refused Refused `json:"refused"`
	// Dropped counts messages enqueued and then abandoned, by reason.
	Dropped Dropped `json:"dropped"`

	// ConnectAttempts counts dials started, first connects and reconnects.
	ConnectAttempts uint64 `json:"connect_attempts"`
	// Reconnects counts connections lost while connected (a write failed or
	// the peer went away), each followed by a new connect.
	Reconnects uint64 `json:"reconnects"`
	// LastError is the most recent failure: a connect, a write, the peer's end of
	// the connection (EOF, a reset, a WebSocket close code and reason, as a
	// *transport.CloseError) or a Shutdown that timed out; nil if none.
	// It stays after the sink recovers: compare State to know if it is
	// current.
	LastError error `json:"-"`
}

// MarshalJSON writes i as described on Info.
func (i Info) MarshalJSON() ([]byte, error) {
	type plain Info // without this method
	out := struct {
		plain
		LastError string `json:"last_error,omitempty"`
	}{plain: plain(i)}
	if i.LastError != nil {
		out.LastError = i.LastError.Error()
	}
	return json.Marshal(out)
}

// Refused counts messages Send did not take, by reason; the caller kept them.
type Refused struct {
	BufferFull uint64 `json:"buffer_full"` // the ring was full (ErrBufferFull)
	Closed     uint64 `json:"closed"`      // Send after Close (ErrClosed)
	Domain     uint64 `json:"domain"`      // outside the sink's domain or the message's own (ErrDomain)
	Precision  uint64 `json:"precision"`   // a price type the precision setting refuses (ErrPrecision)
	Malformed  uint64 `json:"malformed"`   // not a valid frame at the sink's validation level (ErrMalformed)
}

// Total is the sum of all reasons.
func (r Refused) Total() uint64 {
	return r.BufferFull + r.Closed + r.Domain + r.Precision + r.Malformed
}

// Dropped counts messages that were enqueued and then abandoned, by reason.
type Dropped struct {
	ConnectFailed uint64 `json:"connect_failed"` // retry attempts exhausted
	Stale         uint64 `json:"stale"`          // backlog = "drop": queued before a reconnect
	Closed        uint64 `json:"closed"`         // Close gave up at its deadline
}

// Total is the sum of all reasons.
func (d Dropped) Total() uint64 { return d.ConnectFailed + d.Stale + d.Closed }

// Balanced reports whether the accounting identity holds in this snapshot:
// Enqueued == Written + Dropped + Pending, or with acked delivery
// Enqueued == Acked + Dropped + Unacked + Pending (Written then counts
// resends, and a message written and never acked may end dropped).
func (i Info) Balanced() bool {
	if i.AckedDelivery {
		return i.Enqueued == i.Acked+i.Dropped.Total()+i.Unacked+i.Pending
	}
	return i.Enqueued == i.Written+i.Dropped.Total()+i.Pending
}

func (i Info) String() string {
	return fmt.Sprintf("%s (%s %s) %s: enqueued %d written %d (%d B) pending %d dropped %d refused %d",
		i.Name, i.Kind, i.Endpoint, i.State, i.Enqueued, i.Written, i.WrittenBytes, i.Pending,
		i.Dropped.Total(), i.Refused.Total())
}
