package relay

import (
	"fmt"
	"sync/atomic"

	"golang.org/x/sys/cpu"

	"github.com/msgsink/msgsink/internal/inbound"
)

// Stats is a snapshot of a relay's counters. Every counter is monotonic and
// never reset by reading it; Producers, Consumers and Pending are gauges.
// PartialBytes and QueueBytes are gauges too. A snapshot taken while frames
// flow reads the counters at slightly different instants; at a quiet point
// they are exact and
//
//	FramesIn == Forwarded + Unsubscribed
//	Offered  == FramesOut + ConsumerDrops + ConsumerDiscards + Pending
//
// (see Balanced), and with consumers subscribed throughout, Offered is
// FramesIn times their number.
type Stats struct {
	FramesIn uint64 // frames accepted from producers: validated and forwarded
	BytesIn  uint64
	// Forwarded counts the frames in that found at least one consumer
	// subscribed; Unsubscribed the others, accepted while no consumer was
	// connected and so forwarded nowhere.
	Forwarded    uint64
	Unsubscribed uint64
	// Offered counts deliveries owed: each frame in, once per consumer
	// subscribed when it arrived.
	Offered   uint64
	FramesOut uint64 // frames written whole to consumers, over all consumers
	BytesOut  uint64
	Pending   uint64 // frames queued for consumers and not yet written
	// ConsumerDrops counts frames dropped for a consumer whose queue was full
	// (ConsumerQueue or ConsumerQueueBytes): it sees the gap in sequence.
	ConsumerDrops uint64
	// ConsumerDiscards counts frames that were queued for a consumer when it
	// went away (it hung up, lagged, broke a rule, or the relay closed),
	// including a frame it received only in part.
	ConsumerDiscards uint64

	Producers      int    // producer connections now
	ProducersTotal uint64 // producer connections ever
	Consumers      int    // subscribed consumers now
	ConsumersTotal uint64 // consumers ever subscribed
	// ConsumersLagged counts consumers disconnected for exceeding MaxLag.
	ConsumersLagged uint64
	// Rejected counts connections closed for a bad frame, by reason.
	Rejected Rejected
	// Truncated counts producers that hung up in the middle of a frame; the
	// partial frame is dropped, as a torn frame must be. Not a rejection: it
	// is what a sink's broken connection looks like.
	Truncated uint64

	// PartialTimeouts counts connections closed for holding a partial frame
	// longer than PartialTimeout; the partial frame is dropped.
	PartialTimeouts uint64
	// PartialBytes is the bytes of partial frames the relay holds now, over
	// all connections: what peers have sent of frames not yet whole.
	PartialBytes uint64
	// ConnsRefused counts connections closed as soon as they were accepted:
	// over MaxConns, or accepted only to be closed while the relay is out of
	// file descriptors; and consumers refused because QueueBudget had no
	// room for their first queue.
	ConnsRefused uint64
	// AcceptErrors counts failed accepts (out of file descriptors, or of
	// memory), each retried after a pause.
	AcceptErrors uint64
	// QueueBytes is the memory the consumer queues hold now, within
	// QueueBudget; BudgetDrops counts the frames among ConsumerDrops that
	// were dropped because a queue could not grow within it.
	QueueBytes  uint64
	BudgetDrops uint64
	// AckedProducers counts the producer connections that asked for Acks
	// (Subscribe with tlv.RoleProducer, delivery = "acked"); they are in
	// ProducersTotal too. Acks counts the Ack frames sent to them.
	AckedProducers uint64
	Acks           uint64
	// Duplicates counts frames of acked producers dropped because the relay
	// had already forwarded their (source, sequence): a sink resends what
	// was not acknowledged when it reconnects. They are not in FramesIn.
	Duplicates uint64
}

// Rejected counts connections the relay closed for what they sent, by
// reason. The frame that closed a connection is never forwarded; the frames
// before it were.
type Rejected struct {
	Malformed uint64 // not a Protocol V2 frame (tlv.ErrMalformed)
	Checksum  uint64 // a checksummed frame whose CRC-32 does not match (tlv.ErrChecksum)
	Domain    uint64 // outside the relay's domain (tlv.ErrDomain), or a type the level refuses
	Precision uint64 // a type refused by the precision setting (tlv.ErrPrecision)
	Oversize  uint64 // a frame announced larger than MaxFrame
	// Protocol: a consumer that sent anything after its Subscribe frame, a
	// Subscribe with a role other than tlv.RoleConsumer or
	// tlv.RoleProducer, or a producer's system-domain frame from
	// ControlSource, which consumers would take for the relay's own.
	Protocol uint64
}

// Total is the sum of all reasons.
func (r Rejected) Total() uint64 {
	return r.Malformed + r.Checksum + r.Domain + r.Precision + r.Oversize + r.Protocol
}

// Balanced reports whether the delivery identity holds in this snapshot; it
// does at every quiet point.
func (s Stats) Balanced() bool {
	return s.FramesIn == s.Forwarded+s.Unsubscribed &&
		s.Offered == s.FramesOut+s.ConsumerDrops+s.ConsumerDiscards+s.Pending
}

// String formats the counters as key=value pairs on one line, for logs and
// for scripts.
func (s Stats) String() string {
	return fmt.Sprintf("frames_in=%d bytes_in=%d forwarded=%d unsubscribed=%d offered=%d frames_out=%d bytes_out=%d pending=%d "+
		"consumer_drops=%d consumer_discards=%d producers=%d producers_total=%d consumers=%d "+
		"consumers_total=%d consumers_lagged=%d rejected=%d rejected_malformed=%d rejected_checksum=%d "+
		"rejected_domain=%d rejected_precision=%d rejected_oversize=%d rejected_protocol=%d truncated=%d "+
		"partial_timeouts=%d partial_bytes=%d conns_refused=%d accept_errors=%d queue_bytes=%d budget_drops=%d "+
		"acked_producers=%d acks=%d duplicates=%d",
		s.FramesIn, s.BytesIn, s.Forwarded, s.Unsubscribed, s.Offered, s.FramesOut, s.BytesOut, s.Pending,
		s.ConsumerDrops, s.ConsumerDiscards, s.Producers, s.ProducersTotal, s.Consumers,
		s.ConsumersTotal, s.ConsumersLagged, s.Rejected.Total(), s.Rejected.Malformed, s.Rejected.Checksum,
		s.Rejected.Domain, s.Rejected.Precision, s.Rejected.Oversize, s.Rejected.Protocol, s.Truncated,
		s.PartialTimeouts, s.PartialBytes, s.ConnsRefused, s.AcceptErrors, s.QueueBytes, s.BudgetDrops,
		s.AckedProducers, s.Acks, s.Duplicates)
}

// counters are the relay's totals. Producers write the first group, consumer
// writers the second, once per batch of frames, never per frame; the groups
// sit on separate cache lines so the two sides do not slow each other down.
type counters struct {
	framesIn, bytesIn       atomic.Uint64
	forwarded, unsubscribed atomic.Uint64
	offered, drops          atomic.Uint64
	duplicates, acks        atomic.Uint64
	partialBytes            atomic.Int64
	_                       cpu.CacheLinePad

	framesOut, bytesOut, discards atomic.Uint64
	_                             cpu.CacheLinePad

	producers, consumers           atomic.Int64
	producersTotal, consumersTotal atomic.Uint64
	lagged, truncated              atomic.Uint64
	ackedProducers                 atomic.Uint64
	rejected                       [inbound.NumReasons]atomic.Uint64

	partialTimeouts, refused, acceptErrors atomic.Uint64
	queueBytes                             atomic.Int64
	budgetDrops                            atomic.Uint64
}

// Stats returns a snapshot of the counters. It is safe from any goroutine at
// any time, also after Close, and costs a few atomic loads per consumer.
//
// The connection counts are read before everything else, each total before
// its gauge: a connection adds to the gauge before the total, and counts
// everything it did before it leaves the gauge, so a snapshot whose
// ProducersTotal includes a producer and whose Producers no longer does also
// holds every frame, rejection and truncation of that producer. Likewise
// frames are read before their bytes and Pending last, while the relay adds
// bytes before frames and counts frames out (or discarded) before they leave
// Pending: a snapshot that counts a frame counts its bytes, and one that is
// Balanced with Pending 0 holds every write that emptied the queues.
func (r *Relay) Stats() Stats {
	c := &r.count
	producersTotal := c.producersTotal.Load()
	producers := int(c.producers.Load())
	consumersTotal := c.consumersTotal.Load()
	consumers := int(c.consumers.Load())
	s := Stats{
		Producers:        producers,
		ProducersTotal:   producersTotal,
		Consumers:        consumers,
		ConsumersTotal:   consumersTotal,
		FramesIn:         c.framesIn.Load(),
		BytesIn:          c.bytesIn.Load(),
		Forwarded:        c.forwarded.Load(),
		Unsubscribed:     c.unsubscribed.Load(),
		Offered:          c.offered.Load(),
		FramesOut:        c.framesOut.Load(),
		BytesOut:         c.bytesOut.Load(),
		ConsumerDrops:    c.drops.Load(),
		ConsumerDiscards: c.discards.Load(),
		ConsumersLagged:  c.lagged.Load(),
		Truncated:        c.truncated.Load(),
		PartialTimeouts:  c.partialTimeouts.Load(),
		PartialBytes:     uint64(max(c.partialBytes.Load(), 0)),
		ConnsRefused:     c.refused.Load(),
		AcceptErrors:     c.acceptErrors.Load(),
		QueueBytes:       uint64(max(c.queueBytes.Load(), 0)),
		BudgetDrops:      c.budgetDrops.Load(),
		AckedProducers:   c.ackedProducers.Load(),
		Acks:             c.acks.Load(),
		Duplicates:       c.duplicates.Load(),
		Rejected: Rejected{
			Malformed: c.rejected[inbound.ReasonMalformed].Load(),
			Checksum:  c.rejected[inbound.ReasonChecksum].Load(),
			Domain:    c.rejected[inbound.ReasonDomain].Load(),
			Precision: c.rejected[inbound.ReasonPrecision].Load(),
			Oversize:  c.rejected[inbound.ReasonOversize].Load(),
			Protocol:  c.rejected[inbound.ReasonProtocol].Load(),
		},
	}
	for _, k := range *r.subs.Load() {
		s.Pending += uint64(k.pendFrames.Load())
	}
	return s
}
