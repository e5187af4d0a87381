package sink

import (
	"context"
	"errors"

	"github.com/msgsink/msgsink/tlv"
)

// SendWait on a composite waits where Send would refuse for a full buffer:
// on the target that would have taken the message. A composite has no
// queue of its own to wait on; its targets (lazy sinks, or composites of
// them) wake the waiting producer themselves.

// refuseWait counts a message no target took in SendWait: an ended ctx
// counts as a full buffer, as in lazy.Sink, since the wait was for room.
func (c *composite) refuseWait(err error) error {
	if ended(err) {
		c.refFull.Add(1)
		return err
	}
	return c.refuse(err)
}

// commonWait is common for SendWait: a wait that its ctx ended says more
// than the other targets' refusals.
func commonWait(acc, err error) error {
	switch {
	case ended(acc):
		return acc
	case ended(err):
		return err
	}
	return common(acc, err)
}

func ended(err error) bool {
	return errors.Is(err, context.Canceled) || errors.Is(err, context.DeadlineExceeded)
}

// SendWait offers m to every target, waiting on each that is full, so that
// every target gets it unless ctx ends or a target refuses for another
// reason. References and errors are as in Send: nil when some target took
// m; otherwise the caller still owns it and the error is the targets'
// common one, or ctx's.
func (f *Fanout) SendWait(ctx context.Context, m *tlv.Message) error {
	if f.closed.Load() {
		return f.refuseClosed()
	}
	if err := m.CheckLive(); err != nil {
		return f.refuse(err)
	}
	ts := f.targets
	last := len(ts) - 1
	m.RetainN(last)
	taken := false
	var refusal error
	for i, t := range ts {
		err := t.SendWait(ctx, m)
		if err == nil {
			taken = true
			continue
		}
		f.counts[i].refused.Add(1)
		refusal = commonWait(refusal, err)
		if i < last || taken {
			m.Release() // the last target's reference is the caller's when none took m
		}
	}
	if !taken {
		return f.refuseWait(refusal)
	}
	f.enqueued.Add(1)
	return nil
}

// SendWait offers m as Send does, to each target in turn; when all of them
// refuse and the one whose turn it was is full, it waits on that one.
func (r *RoundRobin) SendWait(ctx context.Context, m *tlv.Message) error {
	return r.sendWaitOne(ctx, m, r)
}

// SendWait offers m as Send does, to the usable targets in order of
// preference; when none takes it, it gives m to the SendWait of the most
// preferred target that was full or passed over (down, reconnecting),
// which queues it or waits for room, unless every target refused for good
// (closed, or the wrong domain). So where Send refuses because no target
// is up, SendWait queues on the preferred one, to go when it reconnects.
func (f *Failover) SendWait(ctx context.Context, m *tlv.Message) error {
	return f.sendWaitOne(ctx, m, f)
}

// oneTarget is a composite that gives each message to one target: its
// offer tries the targets as Send does and names the one to wait on, and
// took records the target that took a message.
type oneTarget interface {
	offer(m *tlv.Message) (wait int, refused error)
	took(i int)
}

// sendWaitOne is the SendWait of a oneTarget composite: offer m as Send
// does and, when no target takes it, wait on the target offer names; a
// refusal is counted, an ended wait as a full buffer.
func (c *composite) sendWaitOne(ctx context.Context, m *tlv.Message, o oneTarget) error {
	if c.closed.Load() {
		return c.refuseClosed()
	}
	if err := m.CheckLive(); err != nil {
		return c.refuse(err)
	}
	wait, refused := o.offer(m)
	switch {
	case refused == nil:
		return nil
	case wait < 0:
		return c.refuse(refused)
	}
	if err := c.targets[wait].SendWait(ctx, m); err != nil {
		c.counts[wait].refused.Add(1)
		return c.refuseWait(err)
	}
	o.took(wait)
	return nil
}
