package lazy

import (
	"context"
	"fmt"
	"log/slog"
	"maps"
	"math"
	"math/rand/v2"
	"slices"
	"time"

	"github.com/msgsink/msgsink/internal/enum"
	"github.com/msgsink/msgsink/ring"
	"github.com/msgsink/msgsink/sink"
	"github.com/msgsink/msgsink/tlv"
	"github.com/msgsink/msgsink/transport"
)

// Defaults of SPEC section 6; a zero field in Config means its default.
const (
	DefaultBufferSize     = 8192
	DefaultMaxBatch       = 1024 // the iovec limit of one writev
	DefaultConnectTimeout = 2 * time.Second
	DefaultCloseTimeout   = 5 * time.Second
	DefaultRetryInitial   = 10 * time.Millisecond
	DefaultRetryMax       = 5 * time.Second
	DefaultMultiplier     = 2.0
	DefaultJitter         = 0.2
	MaxBatchLimit         = 1024
)

// Idle is what the writer does when its ring is empty (SPEC section 4).
type Idle uint8

const (
	// IdleBackoff spins briefly, then yields, then parks until a Send wakes it.
	IdleBackoff Idle = iota
	// IdleSpin never parks, and so never lets a Send write through: it
	// costs a core while the sink is quiet, and pays only where the writer
	// has that core to itself. With GOMAXPROCS no larger than the
	// goroutines that are busy at once (the producers, the writer, and a
	// reader in the same process), the spinning writer takes the processor
	// that the others, and Go's netpoller, need, and latency grows to
	// milliseconds (PERFORMANCE.md measures it on two cores). Prefer the
	// default unless benchmarks on the target machine say otherwise.
	IdleSpin
	// IdlePark parks at once: the least CPU, and a wake-up (about 20 µs on
	// the reference machine) on the first message after a quiet spell.
	IdlePark
)

var idleNames = [...]string{"backoff", "spin", "park"}

func (i Idle) String() string { return enum.Name(idleNames[:], int(i), "idle") }

// IdleNames returns the services.toml names of the idle strategies, in the
// order of their values: the one list config checks, suggests and documents.
func IdleNames() []string { return slices.Clone(idleNames[:]) }

// ParseIdle maps a services.toml idle name to its Idle.
func ParseIdle(s string) (Idle, bool) { return enum.Parse[Idle](idleNames[:], s) }

// Backlog is what happens to queued messages after a lost connection comes back.
type Backlog uint8

const (
	// BacklogReplay writes them on the new connection, in order (the default).
	BacklogReplay Backlog = iota
	// BacklogDrop drops them, counted as stale: for data that is worthless late.
	BacklogDrop
)

var backlogNames = [...]string{"replay", "drop"}

func (b Backlog) String() string { return enum.Name(backlogNames[:], int(b), "backlog") }

// BacklogNames returns the services.toml names of the backlog policies, in
// the order of their values.
func BacklogNames() []string { return slices.Clone(backlogNames[:]) }

// ParseBacklog maps a services.toml backlog name to its Backlog.
func ParseBacklog(s string) (Backlog, bool) { return enum.Parse[Backlog](backlogNames[:], s) }

// Delivery is what a written message means (SPEC section 3, Delivery).
type Delivery uint8

const (
	// DeliveryAtMostOnce counts a message written once the kernel took it
	// whole, and releases it: a peer that dies loses what it had not read
	// (up to a socket buffer). The default.
	DeliveryAtMostOnce Delivery = iota
	// DeliveryAcked announces the sink with Subscribe{role: producer} on
	// each connection and keeps every written message in the ring until the
	// peer acknowledges it (Ack frames, cumulative per source); after a
	// reconnect the unacknowledged ones go again first, unchanged and in
	// order. The ring bounds written-unacknowledged plus pending messages,
	// so a peer that stops acknowledging fills it (ErrBufferFull), and
	// Flush, Disconnect and Close wait for Acks, not for the kernel. Each
	// source's sequence must grow for the sink's life, as a tlv.Builder's
	// does: an Ack of a sequence covers every earlier one of its source.
	// Over a transport.ConfirmingConn the peer confirms by count instead,
	// and no Subscribe is sent.
	DeliveryAcked
)

var deliveryNames = [...]string{"at_most_once", "acked"}

func (d Delivery) String() string { return enum.Name(deliveryNames[:], int(d), "delivery") }

// DeliveryNames returns the services.toml names of the delivery modes, in
// the order of their values.
func DeliveryNames() []string { return slices.Clone(deliveryNames[:]) }

// ParseDelivery maps a services.toml delivery name to its Delivery.
func ParseDelivery(s string) (Delivery, bool) { return enum.Parse[Delivery](deliveryNames[:], s) }

// Retry is the reconnect schedule: exponential backoff with jitter.
type Retry struct {
	Initial    time.Duration // first delay; 0 means DefaultRetryInitial
	Max        time.Duration // cap on any delay; 0 means DefaultRetryMax
	Multiplier float64       // growth per attempt; 0 means DefaultMultiplier
	// Jitter spreads each delay uniformly over ±Jitter of itself so that
	// sinks restarted together do not dial together; 0 means DefaultJitter,
	// a negative value means none.
	Jitter float64
	// MaxAttempts bounds the dials of one connect; 0 means forever. When they
	// are exhausted the pending messages are dropped as connect_failed and the
	// sink goes idle until the next Send.
	MaxAttempts int
}

// Check refuses a resolved schedule (Config.Resolved) that Delay cannot
// follow, with an error matching sink.ErrInvalidConfig that names the
// setting.
func (r Retry) Check() error {
	switch {
	case r.Multiplier < 1:
		return invalid("retry multiplier %v must be >= 1", r.Multiplier)
	case r.Jitter > 1:
		return invalid("retry jitter %v must be <= 1", r.Jitter)
	case r.Initial < 0 || r.Max < r.Initial:
		return invalid("retry initial %v and max %v: want 0 <= initial <= max", r.Initial, r.Max)
	case r.MaxAttempts < 0:
		return invalid("retry max_attempts %d must be >= 0", r.MaxAttempts)
	}
	return nil
}

// invalid returns the error of a configuration mistake that format and
// args describe, around sink.ErrInvalidConfig: the one sentinel for every
// configuration mistake, so that callers need not know which layer refused
// it.
func invalid(format string, args ...any) error {
	return fmt.Errorf("%w: "+format, append([]any{sink.ErrInvalidConfig}, args...)...)
}

// Delay is the wait after the n-th failed attempt (n ≥ 1) of a resolved
// schedule (Config.Resolved): Initial × Multiplier^(n-1), capped at Max,
// spread by ±Jitter and capped again. A negative Jitter spreads nothing.
// Sinks and source.Source wait by it, so that both sides of a relay back
// off alike.
func (r Retry) Delay(n int) time.Duration {
	d := float64(r.Initial) * math.Pow(r.Multiplier, float64(n-1))
	d = min(d, float64(r.Max))
	if r.Jitter > 0 {
		d *= 1 + r.Jitter*(2*rand.Float64()-1)
	}
	return time.Duration(min(d, float64(r.Max)))
}

// Dialer connects a sink to its endpoint. *transport.Dialer is the one a
// configuration sets; it is an interface so that a test can substitute a
// dialer that wraps or breaks the connections it makes.
type Dialer interface {
	DialContext(ctx context.Context, e transport.Endpoint) (transport.Conn, error)
}

// defaultDialer is the Dialer of a Config without one, relayDialer that of
// a relay sink's (its dial errors' hints ask about the relay). Dialing does
// not modify them, so every sink may share them.
var (
	defaultDialer transport.Dialer
	relayDialer   = transport.Dialer{Relay: true}
)

// Config configures a Sink. Its zero value, with an Endpoint, works. New
// refuses a Config it cannot use with a *sink.Error (Op "new") that names
// the setting and matches sink.ErrInvalidConfig.
type Config struct {
	Name     string    // shown in Info and errors
	Kind     sink.Kind // sink.KindRelay or sink.KindDirect, shown in Info
	Endpoint transport.Endpoint
	Metadata map[string]string // free-form, shown in Info; New copies it

	BufferSize     int           // ring slots, rounded up to a power of two; 0 means DefaultBufferSize
	MaxBatch       int           // messages per write, 1..MaxBatchLimit; 0 means DefaultMaxBatch
	Idle           Idle          // writer idle strategy
	ConnectTimeout time.Duration // per dial; 0 means DefaultConnectTimeout
	CloseTimeout   time.Duration // how long Close flushes before dropping, and Close or Disconnect waits for the peer after the last write (Conn.Shutdown); 0 means DefaultCloseTimeout
	Backlog        Backlog
	Delivery       Delivery // at most once (the default) or acked
	Retry          Retry
	// SingleProducer declares that one goroutine at a time calls Send,
	// SendBatch and SendWait (single_producer = true): they then use the
	// ring's plain single-producer push, without the compare-and-swap that
	// serialises concurrent producers. A market-data adapter with one
	// goroutine per feed is this case. Concurrent sends to such a sink are
	// undefined (messages lost or duplicated); the checked build
	// (-tags msgsink_checked) panics on them, naming the sink.
	SingleProducer bool
	// Validator is applied to every Send: level, precision, and the sink's
	// domain (Validator.Domain) when one is set.
	Validator tlv.Validator

	// Dialer connects to the endpoint, within ConnectTimeout; nil means a
	// zero transport.Dialer, with Relay set for a relay sink (Kind
	// sink.KindRelay). A wss:// endpoint with a private CA sets a
	// *transport.Dialer with its TLS config.
	Dialer Dialer

	// Logger gets one line per state change (connecting, connected,
	// backoff with the error behind it, idle, closed), never one per
	// message. Nil logs nothing.
	Logger *slog.Logger
	// OnStateChange is called with every state change, in order, from a
	// goroutine that runs only while changes wait for it: never the
	// writer's, so a slow callback cannot delay a write. Close returns
	// after the last call. Nil means none.
	OnStateChange func(sink.StateChange)
}

// Resolved returns c with each zero field that has a default (the Default*
// constants) set to it, as New reads them: what a sink made from c will use.
// A negative Retry.Jitter (none) stays as it is. The config package resolves
// services.toml's settings with it, so that the defaults are stated here only.
func (c Config) Resolved() Config {
	def := func(v *time.Duration, d time.Duration) {
		if *v == 0 {
			*v = d
		}
	}
	if c.BufferSize == 0 {
		c.BufferSize = DefaultBufferSize
	}
	if c.MaxBatch == 0 {
		c.MaxBatch = DefaultMaxBatch
	}
	def(&c.ConnectTimeout, DefaultConnectTimeout)
	def(&c.CloseTimeout, DefaultCloseTimeout)
	def(&c.Retry.Initial, DefaultRetryInitial)
	def(&c.Retry.Max, DefaultRetryMax)
	if c.Retry.Multiplier == 0 {
		c.Retry.Multiplier = DefaultMultiplier
	}
	if c.Retry.Jitter == 0 {
		c.Retry.Jitter = DefaultJitter
	}
	return c
}

func (c Config) withDefaults() (Config, error) {
	c = c.Resolved()
	if c.Retry.Jitter < 0 {
		c.Retry.Jitter = 0 // none, from here on
	}
	// The sink keeps its own copy of the metadata: the map came from the
	// caller (a config.Service shares its own), and Info hands out copies.
	c.Metadata = maps.Clone(c.Metadata)
	if c.Dialer == nil {
		c.Dialer = &defaultDialer
		if c.Kind == sink.KindRelay {
			c.Dialer = &relayDialer
		}
	}
	bad := func(err error) (Config, error) {
		// A *sink.Error naming the sink, as the composite constructors
		// return.
		return c, &sink.Error{Sink: c.Name, Op: "new", Err: err}
	}
	retryErr := c.Retry.Check()
	switch {
	case c.BufferSize < 1 || c.BufferSize > ring.MaxCapacity:
		return bad(invalid("buffer_size %d out of range 1..%d", c.BufferSize, ring.MaxCapacity))
	case c.MaxBatch < 1 || c.MaxBatch > MaxBatchLimit:
		return bad(invalid("max_batch %d out of range 1..%d", c.MaxBatch, MaxBatchLimit))
	case c.Idle > IdlePark:
		return bad(invalid("unknown idle strategy %d", c.Idle))
	case c.Backlog > BacklogDrop:
		return bad(invalid("unknown backlog policy %d", c.Backlog))
	case c.Delivery > DeliveryAcked:
		return bad(invalid("unknown delivery %d", c.Delivery))
	case retryErr != nil:
		return bad(retryErr)
	case c.ConnectTimeout < 0 || c.CloseTimeout < 0:
		return bad(invalid("timeouts must be positive"))
	}
	return c, nil
}
