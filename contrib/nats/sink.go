package natssink

import (
	"github.com/msgsink/msgsink/lazy"
	"github.com/msgsink/msgsink/sink"
	"github.com/msgsink/msgsink/transport"
)

// Sink is a NATS sink: a lazy.Sink (its ring, writer, retry, backlog and
// accounting) whose connection is a NATS one. Every lazy.Sink method
// applies: Send never blocks nor dials, ErrBufferFull, exact counters, a
// clean Close. Its Info's Kind is "nats" and its Endpoint the configured
// "nats://host:port,…".
type Sink struct {
	*lazy.Sink
	d *dialer
}

var _ sink.Sink = (*Sink)(nil)

// New returns an idle NATS sink: nothing is dialed and no goroutine starts
// until the first Send (or Connect). A Config it cannot use gives a
// *sink.Error matching sink.ErrInvalidConfig.
func New(cfg Config) (*Sink, error) {
	cfg, urls, tmpl, err := cfg.resolved()
	if err != nil {
		return nil, err
	}
	ep := transport.Endpoint{Scheme: "nats", Addr: joinAddrs(urls)}
	d := &dialer{name: cfg.Sink.Name, urls: urls, endpoint: ep.String(), subj: newSubjects(tmpl), ackTimeout: cfg.AckTimeout,
		tls: cfg.TLS, maxFrame: cfg.MaxFrame}
	if cfg.JetStream {
		d.js = newInflight(cfg.MaxInflight, cfg.AckTimeout)
	}
	lc := cfg.Sink
	// Core frames stay in the ring until the server's PONG confirms them
	// (wireConn is a transport.ConfirmingConn); JetStream's wait for their
	// PubAck in the in-flight ring instead.
	lc.Delivery = lazy.DeliveryAcked
	if cfg.JetStream {
		lc.Delivery = lazy.DeliveryAtMostOnce
	}
	if v := &lc.Validator; v.MaxSize <= 0 || v.MaxSize > cfg.MaxFrame {
		v.MaxSize = cfg.MaxFrame // Send refuses what no server it may reach takes
	}
	lc.Kind = Kind
	lc.Endpoint = ep
	lc.Dialer = d
	ls, err := lazy.New(lc)
	if err != nil {
		return nil, err
	}
	return &Sink{Sink: ls, d: d}, nil
}

// joinAddrs is the host:port list of urls, for the endpoint Info shows.
func joinAddrs(urls []string) string {
	s := ""
	for i, u := range urls {
		if i > 0 {
			s += ","
		}
		s += u[len("nats://"):]
	}
	return s
}

// JetStreamInfo counts a JetStream sink's acks. Info's Written counts
// every message published; at a quiet point after a Flush,
// Written = Acked + Unacked + Abandoned.
type JetStreamInfo struct {
	Acked     uint64 // acked by the server (stored, or a duplicate it had)
	Resent    uint64 // publishes again: after a reconnect, or an ack overdue
	Unacked   uint64 // published, ack not yet received
	Abandoned uint64 // unacked when the sink closed
	// LastError is the last refusal the server answered a publish with
	// (e.g. no stream captures the subject), nil if none.
	LastError error
}

// JetStream returns the sink's JetStream counters; zero for core NATS.
func (s *Sink) JetStream() JetStreamInfo {
	f := s.d.js
	if f == nil {
		return JetStreamInfo{}
	}
	return JetStreamInfo{Acked: f.acked.Load(), Resent: f.resent.Load(), Unacked: f.unacked(),
		Abandoned: f.abandoned.Load(), LastError: f.err()}
}

// Info is lazy.Sink's: in core mode an acked sink's, whose Acked counts
// the frames the server's PONGs confirmed, and whose LastError is the
// server's refusal of a publish its permissions forbid, once there was one
// (see ErrServer); with JetStream, its Acked,
// Unacked and Resent are JetStream's, so that the factory's Infos and the
// Prometheus collector show them. Balanced keeps checking Enqueued =
// Written + Dropped + Pending: with JetStream, Written counts what was
// published, acked or not.
func (s *Sink) Info() sink.Info {
	i := s.Sink.Info()
	if p := s.d.refused.Load(); p != nil {
		i.LastError = &sink.Error{Sink: i.Name, Op: "publish", Err: *p}
	}
	if s.d.js != nil {
		j := s.JetStream()
		i.Acked, i.Unacked, i.Resent = j.Acked, j.Unacked, j.Resent
	}
	return i
}

// Close closes the sink as lazy.Sink.Close does; with JetStream, the
// close waits for the acks of what is in flight (up to the ack timeout),
// and counts what is still unacked then as abandoned. Idempotent.
func (s *Sink) Close() error {
	err := s.Sink.Close()
	if s.d.js != nil {
		s.d.js.abandon()
	}
	return err
}
