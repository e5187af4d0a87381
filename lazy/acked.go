package lazy

import (
	"errors"
	"sync/atomic"

	"github.com/msgsink/msgsink/tlv"
	"github.com/msgsink/msgsink/transport"
)

// acked is the state of acked delivery (DeliveryAcked). The ring then has
// three parts, by ring count: head..sent, written on this connection and
// not acknowledged; sent..high, written on an earlier connection and not
// yet on this one; high..tail, never written. The writer writes from sent,
// and releases from the head what the Acks cover; a new connection starts
// sent again at the head, so that what was not acknowledged goes first, in
// order.
type acked struct {
	on bool
	// seq holds, per source (header byte 6), the highest sequence
	// acknowledged plus one (0: none). The connection's reader goroutine
	// raises it; the writer reads it. gen counts the Ack frames taken, so
	// that the writer walks the ring only after one came.
	seq [256]atomic.Uint64
	gen atomic.Uint64

	// Writer side. seen is gen when it last looked; sent is the ring count
	// up to which this connection has written. high is the count up to
	// which any connection has, published for Info: the messages below it
	// and above the head are Unacked, those above it Pending.
	seen uint64
	sent uint64
	high atomic.Uint64

	acked, resent atomic.Uint64

	// conf is the connection's when it confirms by count (a
	// transport.ConfirmingConn) instead of by Ack frames; the ring count of
	// the first message it was given is base.
	conf transport.ConfirmingConn
	base uint64

	onFrame   func([]byte)    // the Sink's onFrame, bound once
	onConfirm func()          // the Sink's onConfirm, bound once
	sub       *tlv.Builder    // builds each connection's Subscribe
	batch     [1]*tlv.Message // holds the Subscribe for WriteBatch without allocating
}

// errNoInbound is why an acked sink cannot use a connection.
var errNoInbound = errors.New("lazy: delivery = \"acked\" needs a connection that reads the peer's frames " +
	"(a transport.InboundConn, as transport's Dialer makes): use transport.Dialer, or a Dialer whose Conns implement it")

func (s *Sink) initAcked() {
	s.ack.on = true
	s.ack.onFrame = s.onFrame
	s.ack.onConfirm = s.onConfirm
	s.ack.sub = tlv.NewBuilder(tlv.DomainSystem, tlv.SubscribeSource)
}

// onFrame takes a frame the peer sent, on the connection's reader
// goroutine: the Acks in it raise the acknowledged sequences, and the
// writer is kicked to release what they cover. Anything else is ignored.
func (s *Sink) onFrame(f []byte) {
	fr, err := tlv.Validator{Domain: tlv.DomainSystem}.Parse(f)
	if err != nil {
		return
	}
	took := false
	for it := fr.Records(); it.Next(); {
		if it.Type() != tlv.TypeAck {
			continue
		}
		v, err := tlv.AsAck(it.Value())
		if err != nil {
			continue
		}
		// One reader goroutine at a time writes seq (the connection's),
		// so a load and a store keep it monotonic.
		if p := &s.ack.seq[v.Source()]; v.Sequence()+1 > p.Load() {
			p.Store(v.Sequence() + 1)
			took = true
		}
	}
	if took {
		s.ack.gen.Add(1)
		s.gate.Kick()
	}
}

// onConfirm is told, on the connection's reader goroutine, that a
// ConfirmingConn's count grew: the writer is kicked to release what it
// covers.
func (s *Sink) onConfirm() {
	s.ack.gen.Add(1)
	s.gate.Kick()
}

// startAcked readies a new connection for acked delivery: writing starts
// again at the ring's head (what was not acknowledged goes first, in
// order). A connection that confirms by count (a NATS one) needs nothing
// more; otherwise the peer's frames go to onFrame and the connection's
// first frame is the sink's Subscribe.
func (s *Sink) startAcked(conn transport.Conn) error {
	s.ack.conf = nil
	_, s.ack.sent = s.ring.Counts()
	if cc, ok := conn.(transport.ConfirmingConn); ok {
		cc.SetOnConfirm(s.ack.onConfirm)
		s.ack.conf, s.ack.base = cc, s.ack.sent
		return nil
	}
	ic, ok := conn.(transport.InboundConn)
	if !ok {
		return errNoInbound
	}
	ic.SetInbound(s.ack.onFrame)
	return s.subscribe(conn)
}

// subscribe writes the connection's first frame, Subscribe{role:
// producer}, from the sink's own system-domain builder: its sequence and
// source are the sink's, never a producer's.
func (s *Sink) subscribe(conn transport.Conn) error {
	s.ack.sub.AppendSubscribe(tlv.RoleProducer)
	m, err := s.ack.sub.Finish()
	if err != nil {
		return err
	}
	s.ack.batch[0] = m
	_, err = conn.WriteBatch(s.ack.batch[:], nil)
	s.ack.batch[0] = nil
	m.Release()
	return err
}

// wroteAcked counts the first n messages of a then b as written, and
// those below high as resent, and moves sent past them. They stay in the
// ring until their Ack.
func (s *Sink) wroteAcked(a, b []*tlv.Message, n int) {
	if n == 0 {
		return
	}
	s.writtenBytes.Add(batchBytes(firstN(a, b, n)))
	s.written.Add(uint64(n))
	if high := s.ack.high.Load(); high > s.ack.sent {
		s.ack.resent.Add(min(uint64(n), high-s.ack.sent))
	}
	s.ack.sent += uint64(n)
	if s.ack.sent > s.ack.high.Load() {
		s.ack.high.Store(s.ack.sent)
	}
}

// releaseAcked releases the written messages at the head of the ring that
// Acks cover, counted as acked, once an Ack has come since it last looked.
// It stops at the first one not covered: the ring releases from its head.
func (s *Sink) releaseAcked() {
	g := s.ack.gen.Load()
	if g == s.ack.seen {
		return
	}
	s.ack.seen = g
	_, removed := s.ring.Counts()
	if s.ack.conf != nil {
		if upto := min(s.ack.base+s.ack.conf.Confirmed(), s.ack.sent); upto > removed {
			n := int(upto - removed)
			a, b := s.ring.Peek(n)
			s.consume(a, b, n, &s.ack.acked, nil)
		}
		return
	}
	a, b := s.ring.Peek(int(s.ack.sent - removed))
	n := s.covered(a)
	if n == len(a) {
		n += s.covered(b)
	}
	if n > 0 {
		s.consume(a, b, n, &s.ack.acked, nil)
	}
}

// covered returns how many of ms, from the first, Acks cover.
func (s *Sink) covered(ms []*tlv.Message) int {
	for i, m := range ms {
		h := m.Header()
		if s.ack.seq[h.Source()].Load() <= h.Sequence() {
			return i
		}
	}
	return len(ms)
}

// ackedDropped keeps the writer's positions at or past the head after
// dropAll released messages that were written and not acknowledged.
func (s *Sink) ackedDropped() {
	_, removed := s.ring.Counts()
	s.ack.sent = max(s.ack.sent, removed)
	if s.ack.high.Load() < removed {
		s.ack.high.Store(removed)
	}
}

// busyAcked is park's last look for acked delivery: messages not written
// on this connection, an Ack to take, or a control request it can serve now.
// A request that waits for Acks (Flush's, Disconnect's, Close's) does not
// keep the writer awake: the Acks wake it.
func (s *Sink) busyAcked() bool {
	pushed, _ := s.ring.Counts()
	c := s.ctl.Load()
	return pushed > s.ack.sent || s.ack.gen.Load() != s.ack.seen || (c != 0 && s.stopWriting(c))
}
