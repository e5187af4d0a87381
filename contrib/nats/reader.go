package natssink

import (
	"context"
	"errors"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"github.com/nats-io/nats.go"

	"github.com/msgsink/msgsink/sink"
	"github.com/msgsink/msgsink/source"
	"github.com/msgsink/msgsink/tlv"
)

// DefaultReadSubject is what a Reader subscribes to without a Subject:
// every subject of DefaultSubject.
const DefaultReadSubject = "msgsink.>"

// ReaderConfig configures a Reader.
type ReaderConfig struct {
	Name     string // the NATS connection's name, shown by the server
	Endpoint string // "nats://host:port[,host:port…]", as a sink's
	// Subject is the subject (wildcards allowed) to read; "" means
	// DefaultReadSubject.
	Subject string
	// Validator checks every frame; one it refuses is skipped and counted
	// as malformed.
	Validator tlv.Validator
	// ReconnectWait is the pause between nats.go's attempts to reconnect
	// to a server that went away; 0 means nats.go's default (2 s).
	ReconnectWait time.Duration
}

// Reader is the receive side of NATS sinks: it subscribes to a subject and
// returns its frames one at a time, as tlv.Frame views, dropping those it
// has already returned (by source and sequence, as a core sink publishes a
// batch again after a connection broke before the server confirmed it) and
// counting the sequences it never saw (gaps) per producer. nats.go
// reconnects it after a server restart or fails it over in a cluster.
// Next belongs to one goroutine; Info and Close may be called from any.
type Reader struct {
	nc  *nats.Conn
	sub *nats.Subscription
	v   tlv.Validator

	mu        sync.Mutex
	seq       source.Tracker
	bytes     uint64
	malformed atomic.Uint64
	closed    atomic.Bool
}

// Subscribe connects to the endpoint and subscribes, so that every frame
// published on the subject from then on reaches Next. The error matches
// sink.ErrInvalidConfig for a bad endpoint.
func Subscribe(cfg ReaderConfig) (*Reader, error) {
	urls, err := ParseEndpoint(cfg.Endpoint)
	if err != nil {
		return nil, &sink.Error{Sink: cfg.Name, Op: "subscribe", Err: errors.Join(sink.ErrInvalidConfig, err)}
	}
	if cfg.Subject == "" {
		cfg.Subject = DefaultReadSubject
	}
	opts := []nats.Option{nats.Name(cfg.Name), nats.MaxReconnects(-1)}
	if cfg.ReconnectWait > 0 {
		opts = append(opts, nats.ReconnectWait(cfg.ReconnectWait), nats.ReconnectJitter(0, 0))
	}
	nc, err := nats.Connect(strings.Join(urls, ","), opts...)
	if err != nil {
		return nil, &sink.Error{Sink: cfg.Name, Op: "subscribe", Err: err}
	}
	sub, err := nc.SubscribeSync(cfg.Subject)
	if err == nil {
		err = nc.Flush() // the subscription is in place when Subscribe returns
	}
	if err != nil {
		nc.Close()
		return nil, &sink.Error{Sink: cfg.Name, Op: "subscribe", Err: err}
	}
	return &Reader{nc: nc, sub: sub, v: cfg.Validator}, nil
}

// Next returns the next frame not returned before. The view is into the
// NATS message, valid until the next call. It blocks until a frame comes,
// ctx ends (ctx.Err()) or Close (an error matching sink.ErrClosed).
func (r *Reader) Next(ctx context.Context) (tlv.Frame, error) {
	for {
		m, err := r.sub.NextMsgWithContext(ctx)
		if err != nil {
			if r.closed.Load() {
				return nil, sink.ErrClosed
			}
			if ctx.Err() != nil {
				return nil, ctx.Err()
			}
			return nil, err
		}
		f, err := r.v.Parse(m.Data)
		if err != nil {
			r.malformed.Add(1)
			continue
		}
		h := f.Header()
		r.mu.Lock()
		dup := r.seq.Observe(h.Source(), h.Sequence())
		if !dup {
			r.bytes += uint64(len(f))
		}
		r.mu.Unlock()
		if !dup {
			return f, nil
		}
	}
}

// ReaderInfo is a snapshot of a Reader's counts.
type ReaderInfo struct {
	source.SourceCounts        // of every producer
	Bytes               uint64 // of the frames returned
	Malformed           uint64 // messages that were not a valid frame, skipped
	Reconnects          uint64 // nats.go's reconnects
	// Dropped counts the messages nats.go dropped because Next fell
	// behind (its pending limits); they are gaps too.
	Dropped   uint64
	PerSource map[uint8]source.SourceCounts // by producer, for those heard from
}

// Info returns the Reader's counts.
func (r *Reader) Info() ReaderInfo {
	r.mu.Lock()
	in := ReaderInfo{SourceCounts: r.seq.Total(), Bytes: r.bytes, PerSource: map[uint8]source.SourceCounts{}}
	for src := range 256 {
		if _, seen := r.seq.Last(uint8(src)); seen {
			in.PerSource[uint8(src)] = r.seq.Counts(uint8(src))
		}
	}
	r.mu.Unlock()
	in.Malformed = r.malformed.Load()
	in.Reconnects = r.nc.Stats().Reconnects
	if d, err := r.sub.Dropped(); err == nil {
		in.Dropped = uint64(d)
	}
	return in
}

// Close ends the subscription and the connection; a blocked Next returns
// sink.ErrClosed. Idempotent.
func (r *Reader) Close() error {
	if r.closed.Swap(true) {
		return nil
	}
	r.nc.Close()
	return nil
}
