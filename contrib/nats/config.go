package natssink

import (
	"crypto/tls"
	"fmt"
	"strconv"
	"strings"
	"time"

	"github.com/msgsink/msgsink/lazy"
	"github.com/msgsink/msgsink/sink"
	"github.com/msgsink/msgsink/tlv"
	"github.com/msgsink/msgsink/transport"
)

// Kind is the services.toml type of a NATS service and its sinks' Info.Kind.
const Kind sink.Kind = "nats"

// Defaults of SPEC section 9b; a zero field in Config means its default.
const (
	DefaultSubject     = "msgsink.{domain}.{source}"
	DefaultMaxInflight = 4096
	// DefaultAckTimeout bounds the wait for the server's word on what was
	// published: a JetStream ack before the message is published again,
	// and the PONG to a core PING before the connection is given up as
	// stalled (its unconfirmed frames then go again on a new one).
	DefaultAckTimeout = 2 * time.Second
	// DefaultPort is the NATS client port, for an endpoint host without one.
	DefaultPort = 4222
	// MaxInflightLimit bounds max_inflight: every unacked message is a copy.
	MaxInflightLimit = 1 << 20
	// MinMaxFrame is the smallest max_frame: a header and one empty record.
	MinMaxFrame = tlv.HeaderSize + 2
)

// Config configures a NATS sink. Its zero value, with an Endpoint, works.
type Config struct {
	// Sink holds the settings every sink shares: Name, BufferSize,
	// MaxBatch, Idle, timeouts, Backlog, Retry, SingleProducer, Validator,
	// Logger, OnStateChange. New sets its Kind, Endpoint and Dialer: the
	// lazy sink's ring, writer and accounting carry the frames, and its
	// connection is a NATS one.
	Sink lazy.Config
	// Endpoint is "nats://host:port[,host:port…]": the servers to try, in
	// any order, on every connect (the port defaults to DefaultPort).
	Endpoint string
	// Subject is the template of the subject each frame is published on:
	// {domain} is the frame's domain name ("market_data"), {source} its
	// producer number, {name} the sink's name. "" means DefaultSubject.
	Subject string
	// JetStream publishes with acks: each frame carries Nats-Msg-Id
	// "<source>:<sequence>" (the server drops a duplicate within the
	// stream's duplicate window), at most MaxInflight wait for their ack,
	// and one not acked within AckTimeout, or sent on a connection that
	// broke, is published again. A stream must capture the subjects.
	JetStream bool
	// MaxInflight bounds the JetStream messages published and not yet
	// acked; 0 means DefaultMaxInflight.
	MaxInflight int
	// AckTimeout: see DefaultAckTimeout; 0 means it.
	AckTimeout time.Duration
	// MaxFrame is the largest frame, header included, the sink takes: Send
	// refuses a larger one with tlv.ErrMalformed, counted in
	// Refused.Malformed. A server whose max_payload is below it refuses
	// the connect, so that no frame the sink took can be one the server
	// would refuse. 0 means tlv.MaxMessageSize, which a server's default
	// max_payload (1 MiB) takes.
	MaxFrame int
	// TLS configures TLS with the servers. nil: a server that requires TLS
	// (its INFO says so) gets it with the system's roots, verified against
	// the endpoint's host, as nats.go does; a server that does not, gets
	// plain TCP. Set: every server must offer TLS, and this configuration
	// (e.g. RootCAs for a private CA, Certificates for mutual TLS) is used.
	TLS *tls.Config
}

// resolved returns c with its defaults, or a *sink.Error matching
// sink.ErrInvalidConfig that names the setting to change.
func (c Config) resolved() (Config, []string, template, error) {
	bad := func(format string, args ...any) (Config, []string, template, error) {
		return c, nil, template{}, &sink.Error{Sink: c.Sink.Name, Op: "new",
			Err: fmt.Errorf("%w: "+format, append([]any{sink.ErrInvalidConfig}, args...)...)}
	}
	if c.Subject == "" {
		c.Subject = DefaultSubject
	}
	if c.MaxInflight == 0 {
		c.MaxInflight = DefaultMaxInflight
	}
	if c.AckTimeout == 0 {
		c.AckTimeout = DefaultAckTimeout
	}
	if c.MaxFrame == 0 {
		c.MaxFrame = tlv.MaxMessageSize
	}
	switch {
	case c.MaxFrame < MinMaxFrame || c.MaxFrame > tlv.MaxMessageSize:
		return bad("max_frame %d out of range %d..%d", c.MaxFrame, MinMaxFrame, tlv.MaxMessageSize)
	case c.MaxInflight < 1 || c.MaxInflight > MaxInflightLimit:
		return bad("max_inflight %d out of range 1..%d", c.MaxInflight, MaxInflightLimit)
	case c.AckTimeout < 0:
		return bad("ack timeout %v must be positive", c.AckTimeout)
	}
	urls, err := ParseEndpoint(c.Endpoint)
	if err != nil {
		return bad("%v", err)
	}
	tmpl, err := parseTemplate(c.Subject, c.Sink.Name)
	if err != nil {
		return bad("%v", err)
	}
	return c, urls, tmpl, nil
}

// ParseEndpoint parses "nats://host:port[,host:port…]" into the server
// URLs nats.go dials ("nats://host:port" each). Each host:port is checked
// as a tcp:// endpoint is (transport.ParseEndpoint); a host without a port
// gets DefaultPort. The error says what to change.
func ParseEndpoint(s string) ([]string, error) {
	const form = "nats://host:port[,host:port…]"
	rest, ok := strings.CutPrefix(s, "nats://")
	if !ok {
		if s == "" {
			return nil, fmt.Errorf("empty endpoint: want %s", form)
		}
		return nil, fmt.Errorf("endpoint %q: want %s", s, form)
	}
	var urls []string
	for part := range strings.SplitSeq(rest, ",") {
		part = strings.TrimPrefix(strings.TrimSpace(part), "nats://")
		if part == "" {
			return nil, fmt.Errorf("endpoint %q: empty server between commas: want %s", s, form)
		}
		if !strings.Contains(part, ":") || strings.HasSuffix(part, "]") {
			part += ":" + strconv.Itoa(DefaultPort)
		}
		e, err := transport.ParseEndpoint("tcp://" + part)
		if err != nil {
			reason := err.Error()
			if ee, ok := err.(*transport.EndpointError); ok {
				reason = ee.Reason
			}
			return nil, fmt.Errorf("endpoint %q: server %q: %s", s, part, reason)
		}
		urls = append(urls, "nats://"+e.Addr)
	}
	return urls, nil
}

// template is a parsed subject template: literal text between the
// placeholders, which subjects renders once per (domain, source).
type template struct {
	parts []tpart
	// perFrame says whether the subject depends on the frame (a {domain}
	// or {source}), or is the same for every one.
	perFrame bool
}

type tpart struct {
	lit string
	ph  placeholder // after lit; phNone at the end
}

type placeholder uint8

const (
	phNone placeholder = iota
	phDomain
	phSource
)

var placeholders = []string{"{domain}", "{source}", "{name}"}

// parseTemplate parses a subject template for the sink called name
// ({name} is replaced now) and checks that every subject it renders is one
// a publisher may use.
func parseTemplate(s, name string) (template, error) {
	var t template
	lit := ""
	for rest := s; rest != ""; {
		i := strings.IndexByte(rest, '{')
		if i < 0 {
			lit += rest
			break
		}
		lit += rest[:i]
		rest = rest[i:]
		j := strings.IndexByte(rest, '}')
		if j < 0 {
			return t, fmt.Errorf("subject %q: unclosed %q: use %s", s, rest, strings.Join(placeholders, ", "))
		}
		switch ph := rest[:j+1]; ph {
		case "{domain}":
			t.parts = append(t.parts, tpart{lit, phDomain})
			lit, t.perFrame = "", true
		case "{source}":
			t.parts = append(t.parts, tpart{lit, phSource})
			lit, t.perFrame = "", true
		case "{name}":
			lit += name
		default:
			return t, fmt.Errorf("subject %q: unknown placeholder %s: use %s", s, ph, strings.Join(placeholders, ", "))
		}
		rest = rest[j+1:]
	}
	t.parts = append(t.parts, tpart{lit, phNone})
	if err := checkSubject(t.render(tlv.DomainMarketData, 0)); err != nil {
		return t, fmt.Errorf("subject %q: %v", s, err)
	}
	return t, nil
}

// render returns the subject of a frame of domain d from producer src.
func (t template) render(d tlv.Domain, src uint8) string {
	var b strings.Builder
	for _, p := range t.parts {
		b.WriteString(p.lit)
		switch p.ph {
		case phDomain:
			b.WriteString(d.String())
		case phSource:
			b.WriteString(strconv.Itoa(int(src)))
		}
	}
	return b.String()
}

// checkSubject refuses what NATS would: an empty subject or token,
// whitespace, and wildcards, which a publisher cannot use.
func checkSubject(s string) error {
	if s == "" {
		return fmt.Errorf("empty subject")
	}
	for tok := range strings.SplitSeq(s, ".") {
		switch {
		case tok == "":
			return fmt.Errorf("empty token in %q: no leading, trailing or double dots", s)
		case tok == "*" || tok == ">":
			return fmt.Errorf("wildcard %q in %q: a publisher names one subject", tok, s)
		case strings.ContainsAny(tok, " \t\r\n"):
			return fmt.Errorf("whitespace in %q", s)
		}
	}
	return nil
}

// subjects is the writer's cache of rendered subjects, one per (domain,
// source), so that publishing a frame never renders (nor allocates) after
// the first frame of each producer.
type subjects struct {
	t     template
	fixed string                            // the subject when !t.perFrame
	tab   [tlv.DomainSystem + 1][256]string // by domain, source; "" until rendered
}

func newSubjects(t template) *subjects {
	s := &subjects{t: t}
	if !t.perFrame {
		s.fixed = t.render(0, 0)
	}
	return s
}

// of returns the subject of the frame with header h. Only the writer
// goroutine calls it.
func (s *subjects) of(h tlv.Header) string {
	if !s.t.perFrame {
		return s.fixed
	}
	d, src := h.Domain(), h.Source()
	if !d.Valid() {
		// A frame the sink's validation level let through with a domain
		// out of range: rendered each time, never cached.
		return s.t.render(d, src)
	}
	p := &s.tab[d][src]
	if *p == "" {
		*p = s.t.render(d, src)
	}
	return *p
}
