package source

import (
	"errors"
	"fmt"
	"log/slog"
	"strconv"
	"time"

	"github.com/msgsink/msgsink/lazy"
	"github.com/msgsink/msgsink/sink"
	"github.com/msgsink/msgsink/tlv"
	"github.com/msgsink/msgsink/transport"
)

// Config configures a Source. Its zero value, with an Endpoint, works: the
// defaults are the lazy sinks' (lazy.DefaultConnectTimeout, and the retry
// schedule lazy.Config.Resolved fills in), so both sides of a relay back off
// alike.
type Config struct {
	Name string // shown in Info and errors
	// Endpoint is the relay to subscribe to: unix:// or tcp://, parsed once
	// with transport.ParseEndpoint (the same endpoint its producers send to).
	Endpoint transport.Endpoint
	// Retry is the reconnect schedule, lazy.Retry's: zero fields take the
	// sinks' defaults. MaxAttempts bounds the dials of one connect; when
	// they are exhausted Next returns the last error (matching
	// sink.ErrConnectFailed) and the next Next starts again.
	Retry lazy.Retry
	// ConnectTimeout bounds each dial and the Subscribe write; 0 means
	// lazy.DefaultConnectTimeout.
	ConnectTimeout time.Duration
	// Validator checks every frame before Next returns it: its Level, its
	// Domain when set, and its MaxSize, which also bounds the read buffer.
	// A frame that fails is counted (Info.Invalid), never returned, and the
	// connection is dropped and made again: after a bad frame the stream
	// cannot be trusted. The zero Validator checks at tlv.LevelStandard.
	Validator tlv.Validator
	// Logger gets one line per state change (connecting, connected, backoff
	// with the error behind it, idle, closed) and per dropped connection,
	// never one per frame. Nil logs nothing.
	Logger *slog.Logger
}

// settings is a Config with its defaults filled in and checked.
func (c Config) settings() (Config, error) {
	lc := lazy.Config{Retry: c.Retry, ConnectTimeout: c.ConnectTimeout}.Resolved()
	c.Retry, c.ConnectTimeout = lc.Retry, lc.ConnectTimeout
	if c.Logger == nil {
		c.Logger = slog.New(slog.DiscardHandler)
	}
	bad := func(err error) (Config, error) { return c, &Error{Source: c.Name, Op: "new", Err: err} }
	if err := c.Retry.Check(); err != nil {
		return bad(err)
	}
	switch {
	case c.Endpoint.Scheme == "":
		return bad(fmt.Errorf("%w: no endpoint: set Config.Endpoint with transport.ParseEndpoint(\"unix:///path.sock\")", sink.ErrInvalidConfig))
	case c.Endpoint.Scheme != "unix" && c.Endpoint.Scheme != "tcp":
		return bad(fmt.Errorf("%w: endpoint %s: a relay is subscribed to over unix:// or tcp:// only", sink.ErrInvalidConfig, c.Endpoint))
	case c.ConnectTimeout < 0:
		return bad(fmt.Errorf("%w: connect timeout %v: use a positive duration, or 0 for the default", sink.ErrInvalidConfig, c.ConnectTimeout))
	case c.Validator.Level > tlv.LevelAudit || c.Validator.Precision > tlv.PrecisionDEX:
		return bad(fmt.Errorf("%w: unknown validation level or precision", sink.ErrInvalidConfig))
	case c.Validator.Domain != 0 && !c.Validator.Domain.Valid():
		return bad(fmt.Errorf("%w: validator domain %d: use one of the tlv.Domain constants, or 0 for any", sink.ErrInvalidConfig, c.Validator.Domain))
	}
	if m := c.Validator.MaxSize; m <= 0 || m > tlv.MaxMessageSize {
		c.Validator.MaxSize = tlv.MaxMessageSize // what the Validator takes it for, so Next can compare
	}
	return c, nil
}

// ErrLagged is matched by the error Next returns when the relay dropped
// this consumer for lagging (a *LaggedError): it did not read fast enough,
// its queue at the relay overflowed (the frames lost show as gaps) and its
// oldest frame there got older than the relay's max_lag. The Source has
// dropped the connection; the next Next subscribes again.
var ErrLagged = errors.New("source: dropped by the relay for lagging")

// LaggedError is the error of Next after the relay dropped the Source for
// lagging. It matches ErrLagged.
type LaggedError struct {
	Source string // the Source's name
	// Dropped is how many frames the relay dropped for this consumer, on
	// the connection it closed, because its queue was full.
	Dropped uint64
}

func (e *LaggedError) Error() string {
	return "source " + strconv.Quote(e.Source) + ": dropped by the relay for lagging (" +
		strconv.FormatUint(e.Dropped, 10) + " frames dropped for it): read faster, or raise the relay's max_lag and consumer queue"
}

// Unwrap returns ErrLagged.
func (e *LaggedError) Unwrap() error { return ErrLagged }

// Error is a slow-path error of a named Source: a failed connect, a lost
// connection, a refused configuration, Next after Close. It unwraps to its
// cause (sink.ErrClosed, sink.ErrInvalidConfig, a *transport.OpError, ...)
// and, for a connect, to sink.ErrConnectFailed too.
type Error struct {
	Source string // the Source's name
	Op     string // "new", "connect", "read", "next"
	Err    error  // the cause
}

func (e *Error) Error() string {
	return "source " + strconv.Quote(e.Source) + ": " + e.Op + ": " + e.Err.Error()
}

// Unwrap returns the cause, and sink.ErrConnectFailed for a failed connect.
func (e *Error) Unwrap() []error {
	if e.Op == "connect" {
		return []error{sink.ErrConnectFailed, e.Err}
	}
	return []error{e.Err}
}
