package relay

import (
	"cmp"
	"fmt"
	"log/slog"
	"os"
	"path/filepath"
	"strconv"
	"time"

	"github.com/msgsink/msgsink/internal/inbound"
	"github.com/msgsink/msgsink/ring"
	"github.com/msgsink/msgsink/tlv"
	"github.com/msgsink/msgsink/transport"
)

// Defaults of the Config fields left at zero.
const (
	// DefaultDir holds the default sockets; Listen creates it (mode 0700)
	// when it is missing.
	DefaultDir = "/tmp/torq"
	// DefaultSocketMode is the permission of the Unix socket file: only the
	// relay's user may connect.
	DefaultSocketMode os.FileMode = 0o600
	// DefaultConsumerQueue is how many frames may wait for one consumer: about
	// 26 ms of a 5 M msgs/s feed. On the 2-core reference VM, 13 ms (1<<16)
	// was not always enough to ride out a consumer descheduled by the
	// hypervisor; 1<<17 was. A queue that full takes 4 MiB; queues start at
	// 8 KiB and grow to it only as they fill, within DefaultQueueBudget.
	DefaultConsumerQueue = 1 << 17
	// DefaultConsumerQueueBytes bounds the bytes waiting for one consumer,
	// whatever the frame size: the memory a stalled consumer can pin.
	DefaultConsumerQueueBytes = 64 << 20
	// DefaultMaxLag is how old the oldest frame waiting for a consumer may get
	// before the consumer is disconnected.
	DefaultMaxLag = 2 * time.Second
	// DefaultMaxConns is how many connections, producers and consumers
	// together, the relay holds at once; one more is closed as soon as it is
	// accepted.
	DefaultMaxConns = 1024
	// DefaultPartialTimeout is how long a connection may hold a frame it has
	// sent only in part: a sink writes a frame whole within microseconds, so
	// a frame still partial after seconds comes from a stuck or hostile
	// peer, whose bytes the relay would otherwise keep forever.
	DefaultPartialTimeout = 5 * time.Second
	// DefaultQueueBudget bounds the memory of all consumer queues together:
	// 64 full queues of DefaultConsumerQueue frames.
	DefaultQueueBudget = 256 << 20
)

const (
	// minFrame is the smallest MaxFrame: a frame must at least hold a
	// Subscribe record, or no consumer could ever subscribe.
	minFrame = tlv.HeaderSize + 2 + tlv.SubscribeSize
	// minQueueBytes is the smallest ConsumerQueueBytes: the largest run of
	// frames one read can forward at once (the largest chunk), so that a
	// consumer with an empty queue never loses a frame.
	minQueueBytes = inbound.MaxChunkSize
)

// Config configures a Relay. The zero value of every field but Endpoint and
// Domain selects the documented default.
type Config struct {
	// Endpoint is where the relay listens: unix:///path.sock (see
	// DefaultEndpoint) or tcp://host:port (port 0 picks a free one; see
	// Relay.Addr).
	Endpoint transport.Endpoint
	// Domain is the only relay domain accepted from producers.
	Domain tlv.Domain
	// Validator sets the validation Level and Precision of every frame from
	// a producer (SPEC section 2). Its Domain and MaxSize must be zero or
	// agree with Domain and MaxFrame: they are set from those.
	Validator tlv.Validator
	// SocketMode is the permission of the Unix socket file, 0 meaning
	// DefaultSocketMode. The socket has it from the moment it appears at its
	// path. A tcp endpoint has no file: setting it there is refused.
	SocketMode os.FileMode
	// MaxFrame is the largest frame accepted, header included; 0 means
	// tlv.MaxMessageSize (1 MiB), which is also the largest value allowed.
	// A producer that announces a larger frame is disconnected (Oversize).
	MaxFrame int
	// ConsumerQueue is how many frames may wait for one consumer; 0 means
	// DefaultConsumerQueue. Frames that would exceed it, or
	// ConsumerQueueBytes, are dropped for that consumer and counted in
	// Stats.ConsumerDrops. The queue reserves 32 bytes per frame of this
	// limit at most, allocated as the queue fills, within QueueBudget.
	ConsumerQueue int
	// ConsumerQueueBytes bounds the bytes of the frames waiting for one
	// consumer; 0 means DefaultConsumerQueueBytes. It must be at least
	// 1 MiB.
	ConsumerQueueBytes int
	// MaxLag is how long a frame may wait for a consumer: a consumer whose
	// oldest queued frame arrived more than MaxLag ago, whether it is slow
	// or has stopped reading, is disconnected and counted in
	// Stats.ConsumersLagged. 0 means DefaultMaxLag.
	MaxLag time.Duration
	// MaxConns is how many connections the relay holds at once, producers
	// and consumers together; 0 means DefaultMaxConns. A connection over the
	// limit is closed as soon as it is accepted and counted in
	// Stats.ConnsRefused.
	MaxConns int
	// PartialTimeout is how long a connection may hold a frame it has sent
	// only in part before the relay closes it, counted in
	// Stats.PartialTimeouts; 0 means DefaultPartialTimeout.
	PartialTimeout time.Duration
	// QueueBudget bounds the bytes of all consumer queues together; 0 means
	// DefaultQueueBudget. A queue starts small and doubles as it fills; a
	// queue that may not grow within the budget drops what does not fit, as
	// a full queue does, counted in Stats.QueueBudgetHits too. It must be at
	// least what one consumer's queue starts with, so that every consumer
	// can subscribe.
	QueueBudget int
	// Journal, when set, is given every run of frames an acked producer
	// sent (Subscribe with tlv.RoleProducer), validated and without
	// duplicates, before they are forwarded and before any Ack covers
	// them, on the producer's goroutine; frames is valid only during the
	// call. A relay that must not lose an acknowledged frame even when it
	// dies itself can persist them there; a test can see its intake. It
	// delays the producer's frames by what it takes.
	Journal func(frames []byte)
	// Logger receives state changes: listening, connections, rejections,
	// disconnections, the final counters. Never one line per message. Nil
	// discards.
	Logger *slog.Logger
}

// DefaultEndpoint returns the default socket of domain d's relay:
// /tmp/torq/market_data.sock, /tmp/torq/signals.sock, /tmp/torq/execution.sock,
// and /tmp/torq/system.sock for the system domain. It returns the zero
// Endpoint, which Listen refuses, for an invalid domain.
func DefaultEndpoint(d tlv.Domain) transport.Endpoint {
	var name string
	switch d {
	case tlv.DomainMarketData:
		name = "market_data.sock"
	case tlv.DomainSignal:
		name = "signals.sock"
	case tlv.DomainExecution:
		name = "execution.sock"
	case tlv.DomainSystem:
		name = "system.sock"
	default:
		return transport.Endpoint{}
	}
	return transport.Endpoint{Scheme: "unix", Addr: filepath.Join(DefaultDir, name)}
}

// settings is a Config with every default filled in and every field checked.
type settings struct {
	endpoint   transport.Endpoint
	domain     tlv.Domain
	validator  tlv.Validator // its MaxSize is MaxFrame, with the default filled in
	mode       os.FileMode
	queue      int
	queueBytes int
	maxLag     time.Duration
	maxConns   int
	partial    time.Duration
	budget     int64
	journal    func(frames []byte)
	log        *slog.Logger
}

func (c *Config) settings() (settings, error) {
	s := settings{
		endpoint:   c.Endpoint,
		domain:     c.Domain,
		validator:  c.Validator,
		mode:       cmp.Or(c.SocketMode, DefaultSocketMode),
		queue:      cmp.Or(c.ConsumerQueue, DefaultConsumerQueue),
		queueBytes: cmp.Or(c.ConsumerQueueBytes, DefaultConsumerQueueBytes),
		maxLag:     cmp.Or(c.MaxLag, DefaultMaxLag),
		maxConns:   cmp.Or(c.MaxConns, DefaultMaxConns),
		partial:    cmp.Or(c.PartialTimeout, DefaultPartialTimeout),
		budget:     int64(cmp.Or(c.QueueBudget, DefaultQueueBudget)),
		journal:    c.Journal,
		log:        c.Logger,
	}
	if s.log == nil {
		s.log = slog.New(slog.DiscardHandler)
	}
	bad := func(field string, value any, reason string) (settings, error) {
		return settings{}, &ConfigError{Field: field, Value: fmt.Sprint(value), Reason: reason}
	}
	switch e := c.Endpoint; e.Scheme {
	case "unix":
		if !filepath.IsAbs(e.Addr) {
			return bad("Endpoint", strconv.Quote(e.String()), "the socket path must be absolute: unix:///path/to.sock")
		}
		if len(e.Addr) > transport.MaxUnixPathLen {
			return bad("Endpoint", strconv.Quote(e.String()),
				"the socket path is longer than the system's limit of "+strconv.Itoa(transport.MaxUnixPathLen)+" bytes: choose a shorter one")
		}
		if len(bindPath(filepath.Dir(e.Addr), privateDirPattern)) > transport.MaxUnixPathLen {
			return bad("Endpoint", strconv.Quote(e.String()),
				"the socket's directory is too long: the relay binds the socket first in a private directory inside it, "+
					strconv.Quote(bindPath(filepath.Dir(e.Addr), privateDirPattern))+", whose path must fit the system's limit of "+
					strconv.Itoa(transport.MaxUnixPathLen)+" bytes: choose a shorter directory")
		}
	case "tcp":
		if c.SocketMode != 0 {
			return bad("SocketMode", fmt.Sprintf("%#o", uint32(c.SocketMode)),
				"a tcp endpoint has no socket file to set a mode on: leave it 0, and bind to loopback (the default for an empty host) to keep others out")
		}
	case "":
		return bad("Endpoint", `""`, "set it, e.g. to DefaultEndpoint(domain), or parse one with transport.ParseEndpoint")
	default:
		return bad("Endpoint", strconv.Quote(e.String()), "a relay listens on unix:// or tcp:// only")
	}
	if !c.Domain.Valid() {
		return bad("Domain", c.Domain, "use one of tlv.DomainMarketData, DomainSignal, DomainExecution or DomainSystem")
	}
	if d := c.Validator.Domain; d != 0 && d != c.Domain {
		return bad("Validator.Domain", d, "leave it zero: the relay accepts only Config.Domain ("+c.Domain.String()+")")
	}
	maxFrame := cmp.Or(c.MaxFrame, tlv.MaxMessageSize)
	if maxFrame < minFrame || maxFrame > tlv.MaxMessageSize {
		return bad("MaxFrame", c.MaxFrame, "use 0 for the protocol's limit, or a size from "+
			strconv.Itoa(minFrame)+" to "+strconv.Itoa(tlv.MaxMessageSize)+" bytes")
	}
	if m := c.Validator.MaxSize; m != 0 && m != maxFrame {
		return bad("Validator.MaxSize", m, "leave it zero and set MaxFrame")
	}
	if c.SocketMode&^os.ModePerm != 0 {
		return bad("SocketMode", fmt.Sprintf("%#o", uint32(c.SocketMode)), "only permission bits, like 0600 or 0660")
	}
	if s.queue < 1 || s.queue > ring.MaxCapacity {
		return bad("ConsumerQueue", c.ConsumerQueue, "use 0 for the default, or from 1 to "+strconv.Itoa(ring.MaxCapacity)+" frames")
	}
	if s.queueBytes < minQueueBytes {
		return bad("ConsumerQueueBytes", c.ConsumerQueueBytes, "use 0 for the default, or at least "+strconv.Itoa(minQueueBytes)+" bytes")
	}
	if c.MaxLag < 0 {
		return bad("MaxLag", c.MaxLag, "use 0 for the default, or a positive duration")
	}
	if c.MaxConns < 0 {
		return bad("MaxConns", c.MaxConns, "use 0 for the default ("+strconv.Itoa(DefaultMaxConns)+"), or a positive number of connections")
	}
	if c.PartialTimeout < 0 {
		return bad("PartialTimeout", c.PartialTimeout, "use 0 for the default ("+DefaultPartialTimeout.String()+"), or a positive duration")
	}
	if s.budget < int64(minQueueBudget) {
		return bad("QueueBudget", c.QueueBudget, "use 0 for the default ("+strconv.Itoa(DefaultQueueBudget)+
			" bytes), or at least "+strconv.Itoa(minQueueBudget)+" bytes, what one consumer's queue starts with")
	}
	s.validator.Domain = c.Domain
	s.validator.MaxSize = maxFrame
	return s, nil
}
