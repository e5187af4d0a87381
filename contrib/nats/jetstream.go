package natssink

import (
	"bytes"
	"fmt"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"github.com/nats-io/nats.go"

	"github.com/msgsink/msgsink/tlv"
)

// msgIDHeader is the header by which JetStream drops a message it already
// stored (nats.MsgIdHdr).
const msgIDHeader = nats.MsgIdHdr

// inflight holds the JetStream messages published and not yet acked, in
// publish order, across connections: each is a copy of its frame (the sink
// releases the message once WriteBatch returns), published again when its
// ack does not come within the ack timeout or its connection breaks. A
// message is found by its publish number (pn), which its reply subject
// carries: the ring slot is pn % len(q).
type inflight struct {
	mu      sync.Mutex
	q       []entry
	head    uint64 // pn of the oldest entry held
	next    uint64 // pn of the next publish
	room    chan struct{}
	timeout time.Duration

	acked, resent, abandoned atomic.Uint64
	lastErr                  atomic.Pointer[error]
}

type entry struct {
	subj  string
	data  []byte // the frame, copied; the slot's buffer is reused
	id    string // "<pn>|<source>:<sequence>": reply token, then Nats-Msg-Id
	sent  time.Time
	acked bool
}

func newInflight(max int, timeout time.Duration) *inflight {
	return &inflight{q: make([]entry, max), room: make(chan struct{}, 1), timeout: timeout, head: 1, next: 1}
}

// attach prepares a new connection: it subscribes to the connection's ack
// inbox and publishes again, in order, every message still unacked, before
// the writer publishes anything new on it. It starts the goroutine that
// publishes again what is not acked in time.
func (f *inflight) attach(c *conn) error {
	c.inbox = c.nc.NewInbox()
	sub, err := c.nc.Subscribe(c.inbox+".*", f.onAck)
	if err != nil {
		return err
	}
	c.sub = sub
	c.msgID = make([]string, 1)
	c.msg.Header = nats.Header{msgIDHeader: c.msgID}
	if err := c.nc.FlushTimeout(f.timeout); err != nil { // the subscription is in place before any ack
		return err
	}
	f.mu.Lock()
	now := time.Now()
	for pn := f.head; pn < f.next; pn++ {
		e := &f.q[pn%uint64(len(f.q))]
		if !e.acked {
			if err := f.send(c, e, now); err != nil {
				f.mu.Unlock()
				return err
			}
			f.resent.Add(1)
		}
	}
	f.mu.Unlock()
	c.stop = make(chan struct{})
	c.wg.Add(1)
	go f.resendLate(c)
	return nil
}

// send publishes e on c. f.mu is held.
func (f *inflight) send(c *conn, e *entry, now time.Time) error {
	bar := 0
	for e.id[bar] != '|' {
		bar++
	}
	c.msg.Subject = e.subj
	c.msg.Reply = c.inbox + "." + e.id[:bar]
	c.msgID[0] = e.id[bar+1:]
	c.msg.Data = e.data
	e.sent = now
	return c.nc.PublishMsg(&c.msg)
}

// publish is WriteBatch for JetStream: every frame of a then b is copied
// into the in-flight ring and published. It returns how many were
// published; those are the in-flight ring's now, and the rest stay in the
// sink's ring. When MaxInflight are unacked it returns what it published
// so far, with a nil error, so that the sink frees their slots; a call
// that could publish nothing waits for room.
func (f *inflight) publish(c *conn, a, b []*tlv.Message) (int, error) {
	n := 0
	for _, part := range [2][]*tlv.Message{a, b} {
		for _, m := range part {
			f.mu.Lock()
			for f.next-f.head >= uint64(len(f.q)) { // full
				f.mu.Unlock()
				if n > 0 {
					return n, nil
				}
				if err := f.waitRoom(c); err != nil {
					return n, err
				}
				f.mu.Lock()
			}
			e := &f.q[f.next%uint64(len(f.q))]
			h := m.Header()
			e.subj = c.d.subj.of(h)
			e.data = append(e.data[:0], m.Bytes()...)
			e.id = strconv.FormatUint(f.next, 10) + "|" + strconv.Itoa(int(h.Source())) + ":" + strconv.FormatUint(h.Sequence(), 10)
			e.acked = false
			f.next++
			err := f.send(c, e, time.Now())
			f.mu.Unlock()
			n++ // held in flight: published again on the next connection if this one failed
			if err != nil {
				return n, err
			}
		}
	}
	return n, nil
}

// full reports whether MaxInflight messages are held.
func (f *inflight) full() bool {
	f.mu.Lock()
	defer f.mu.Unlock()
	return f.next-f.head >= uint64(len(f.q))
}

// waitRoom waits until fewer than MaxInflight messages are unacked.
func (f *inflight) waitRoom(c *conn) error {
	for {
		if !f.full() {
			return nil
		}
		select {
		case <-f.room:
		case <-c.done:
			return errNotConnected
		}
	}
}

// onAck takes the server's answer to a publish (on nats.go's subscription
// goroutine): a PubAck (duplicate or not) acks the message; an error (no
// stream for the subject, a stream not ready) leaves it to be published
// again when its ack timeout ends.
func (f *inflight) onAck(m *nats.Msg) {
	tok := m.Subject[strings.LastIndexByte(m.Subject, '.')+1:]
	pn, err := strconv.ParseUint(tok, 10, 64)
	if err != nil {
		return
	}
	if st := m.Header.Get("Status"); st != "" || bytes.Contains(m.Data, []byte(`"error"`)) {
		e := fmt.Errorf("natssink: JetStream refused a publish: status %q %s", st, m.Data)
		if st == "503" {
			e = fmt.Errorf("natssink: no JetStream stream takes the subject (status 503): %w", nats.ErrNoResponders)
		}
		f.lastErr.Store(&e)
		return
	}
	f.mu.Lock()
	if pn >= f.head && pn < f.next {
		if e := &f.q[pn%uint64(len(f.q))]; !e.acked {
			e.acked = true
			f.acked.Add(1)
		}
		for f.head < f.next && f.q[f.head%uint64(len(f.q))].acked {
			f.head++
		}
	}
	f.mu.Unlock()
	select {
	case f.room <- struct{}{}:
	default:
	}
}

// resendLate looks, every quarter of the ack timeout, for a message whose
// ack is overdue; then it publishes again every unacked message, in order,
// and the writer publishes nothing new meanwhile (it waits for f.mu). So a
// message the server did not take (no stream yet, a stream recovering) is
// not overtaken by the ones after it, which the server drops as
// duplicates if it had them.
func (f *inflight) resendLate(c *conn) {
	defer c.wg.Done()
	t := time.NewTicker(f.timeout / 4)
	defer t.Stop()
	for {
		select {
		case <-c.stop:
			return
		case <-c.done:
			return
		case now := <-t.C:
			f.mu.Lock()
			overdue := false
			for pn := f.head; pn < f.next && !overdue; pn++ {
				e := &f.q[pn%uint64(len(f.q))]
				overdue = !e.acked && now.Sub(e.sent) >= f.timeout
			}
			for pn := f.head; overdue && pn < f.next; pn++ {
				if e := &f.q[pn%uint64(len(f.q))]; !e.acked {
					if f.send(c, e, now) != nil {
						break
					}
					f.resent.Add(1)
				}
			}
			f.mu.Unlock()
		}
	}
}

// settle waits, up to the ack timeout, for every message in flight to be
// acked: a clean close.
func (f *inflight) settle(c *conn) {
	_ = c.nc.FlushTimeout(f.timeout)
	deadline := time.NewTimer(f.timeout)
	defer deadline.Stop()
	for f.unacked() > 0 {
		select {
		case <-f.room:
		case <-c.done:
			return
		case <-deadline.C:
			return
		}
	}
}

// unacked counts the messages published and neither acked nor abandoned:
// every publish number below next is one of the three (each is acked or
// abandoned once, under f.mu), so no walk of the ring is needed, and an
// Info or a metrics scrape never holds the writer up.
func (f *inflight) unacked() uint64 {
	f.mu.Lock()
	defer f.mu.Unlock()
	return f.next - 1 - f.acked.Load() - f.abandoned.Load()
}

// abandon gives up what is unacked when the sink closes for good.
func (f *inflight) abandon() {
	f.mu.Lock()
	defer f.mu.Unlock()
	for pn := f.head; pn < f.next; pn++ {
		if e := &f.q[pn%uint64(len(f.q))]; !e.acked {
			e.acked = true
			f.abandoned.Add(1)
		}
	}
	f.head = f.next
}

func (f *inflight) err() error {
	if p := f.lastErr.Load(); p != nil {
		return *p
	}
	return nil
}
