package lazy

// The notifier delivers a sink's state changes to its observers (a logger,
// a callback) from a goroutine of its own, so that the writer that changes
// state never waits for them. It lives here, beside its only user, rather
// than in a package of its own below lazy.

import (
	"log/slog"
	"sync"

	"github.com/msgsink/msgsink/sink"
)

// maxQueuedChanges bounds the changes waiting for a slow observer. A sink
// flapping faster than its observer reads loses the oldest ones, counted.
const maxQueuedChanges = 256

// notifier delivers state changes to a logger and a callback from a
// goroutine of its own, so that the goroutine that changes state (a sink's
// writer) never waits for an observer. The delivering goroutine runs only
// while changes are queued: an idle sink holds none. A nil *notifier
// delivers nothing and costs nothing.
type notifier struct {
	logger *slog.Logger
	fn     func(sink.StateChange)

	mu      sync.Mutex
	queue   []sink.StateChange
	running bool
	lost    uint64
	done    chan struct{} // closed when the running delivering goroutine exits
}

// newNotifier returns a notifier for logger and fn, either of which may be
// nil; with both nil it returns nil, which costs Notify nothing.
func newNotifier(logger *slog.Logger, fn func(sink.StateChange)) *notifier {
	if logger == nil && fn == nil {
		return nil
	}
	return &notifier{logger: logger, fn: fn, queue: make([]sink.StateChange, 0, maxQueuedChanges)}
}

// Notify queues c for delivery. It never blocks on the observer.
func (n *notifier) Notify(c sink.StateChange) {
	if n == nil || c.From == c.To {
		return
	}
	n.mu.Lock()
	defer n.mu.Unlock()
	if len(n.queue) == maxQueuedChanges {
		copy(n.queue, n.queue[1:])
		n.queue = n.queue[:len(n.queue)-1]
		n.lost++
	}
	n.queue = append(n.queue, c)
	if !n.running {
		n.running = true
		n.done = make(chan struct{})
		go n.deliver(n.done)
	}
}

// deliver hands the queued changes over in order, then exits.
func (n *notifier) deliver(done chan struct{}) {
	defer close(done)
	var batch []sink.StateChange
	for {
		n.mu.Lock()
		if len(n.queue) == 0 {
			n.running = false
			n.mu.Unlock()
			return
		}
		batch = append(batch[:0], n.queue...)
		n.queue = n.queue[:0]
		lost := n.lost
		n.lost = 0
		n.mu.Unlock()
		if lost > 0 && n.logger != nil {
			n.logger.Warn("msgsink: state changes not reported: the observer is slower than the sink changes state",
				"sink", batch[0].Sink, "lost", lost)
		}
		for _, c := range batch {
			n.log(c)
			if n.fn != nil {
				n.fn(c)
			}
		}
	}
}

func (n *notifier) log(c sink.StateChange) {
	if n.logger == nil {
		return
	}
	if c.Err != nil {
		n.logger.Warn("msgsink: sink state", "sink", c.Sink, "from", c.From.String(), "to", c.To.String(), "err", c.Err)
		return
	}
	n.logger.Info("msgsink: sink state", "sink", c.Sink, "from", c.From.String(), "to", c.To.String())
}

// Wait returns once every change queued so far has been delivered and the
// delivering goroutine has exited.
func (n *notifier) Wait() {
	if n == nil {
		return
	}
	for {
		n.mu.Lock()
		running, done := n.running, n.done
		n.mu.Unlock()
		if !running {
			return
		}
		<-done
	}
}
