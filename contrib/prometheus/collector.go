package sinkprom

import (
	"github.com/prometheus/client_golang/prometheus"

	"github.com/msgsink/msgsink/sink"
)

var states = []sink.State{sink.StateIdle, sink.StateConnecting, sink.StateConnected, sink.StateBackoff, sink.StateClosed}

// Collector reads sink.Info snapshots at each scrape.
type Collector struct {
	infos func() []sink.Info

	enqueued, written, writtenBytes, through, pending, refused, dropped,
	acked, unacked, resent,
	attempts, reconnects, bufferSize, state *prometheus.Desc
}

var _ prometheus.Collector = (*Collector)(nil)

// NewCollector returns a collector over the sinks infos returns at each
// scrape: (*factory.Factory).Infos, or a function over any set of sinks.
func NewCollector(infos func() []sink.Info) *Collector {
	labels := []string{"sink", "kind"}
	desc := func(name, help string, extra ...string) *prometheus.Desc {
		return prometheus.NewDesc("msgsink_sink_"+name, help, append(labels, extra...), nil)
	}
	return &Collector{
		infos:        infos,
		enqueued:     desc("enqueued_total", "Messages Send accepted."),
		written:      desc("written_total", "Messages written whole to a connection (or taken by a composite's targets)."),
		writtenBytes: desc("written_bytes_total", "Bytes of the messages written."),
		through:      desc("written_through_total", "Messages written by the Send itself, the writer goroutine being parked."),
		pending:      desc("pending", "Messages enqueued and neither written nor dropped yet."),
		refused:      desc("refused_total", "Messages Send refused, by reason; the caller kept them.", "reason"),
		dropped:      desc("dropped_total", "Messages enqueued and then dropped, by reason.", "reason"),
		acked:        desc("acked_total", "Messages the peer acknowledged (delivery = \"acked\"; 0 otherwise)."),
		unacked:      desc("unacked", "Messages written and waiting for the peer's Ack (delivery = \"acked\")."),
		resent:       desc("resent_total", "Writes of unacknowledged messages again after a reconnect (delivery = \"acked\")."),
		attempts:     desc("connect_attempts_total", "Dials started."),
		reconnects:   desc("reconnects_total", "Connections lost while connected."),
		bufferSize:   desc("buffer_size", "Ring capacity in messages."),
		state:        desc("state", "1 for the sink's current connection state, 0 for the others.", "state"),
	}
}

// Describe sends every metric's description.
func (c *Collector) Describe(ch chan<- *prometheus.Desc) {
	for _, d := range []*prometheus.Desc{c.enqueued, c.written, c.writtenBytes, c.through, c.pending, c.refused,
		c.dropped, c.acked, c.unacked, c.resent, c.attempts, c.reconnects, c.bufferSize, c.state} {
		ch <- d
	}
}

// Collect reads every sink's Info once and sends its metrics.
func (c *Collector) Collect(ch chan<- prometheus.Metric) {
	for _, in := range c.infos() {
		l := []string{in.Name, string(in.Kind)}
		counter := func(d *prometheus.Desc, v uint64, extra ...string) {
			ch <- prometheus.MustNewConstMetric(d, prometheus.CounterValue, float64(v), append(l, extra...)...)
		}
		gauge := func(d *prometheus.Desc, v float64, extra ...string) {
			ch <- prometheus.MustNewConstMetric(d, prometheus.GaugeValue, v, append(l, extra...)...)
		}
		counter(c.enqueued, in.Enqueued)
		counter(c.written, in.Written)
		counter(c.writtenBytes, in.WrittenBytes)
		counter(c.through, in.WrittenThrough)
		gauge(c.pending, float64(in.Pending))
		r := in.Refused
		counter(c.refused, r.BufferFull, "buffer_full")
		counter(c.refused, r.Closed, "closed")
		counter(c.refused, r.Domain, "domain")
		counter(c.refused, r.Precision, "precision")
		counter(c.refused, r.Malformed, "malformed")
		d := in.Dropped
		counter(c.dropped, d.ConnectFailed, "connect_failed")
		counter(c.dropped, d.Stale, "stale")
		counter(c.dropped, d.Closed, "closed")
		counter(c.acked, in.Acked)
		gauge(c.unacked, float64(in.Unacked))
		counter(c.resent, in.Resent)
		counter(c.attempts, in.ConnectAttempts)
		counter(c.reconnects, in.Reconnects)
		gauge(c.bufferSize, float64(in.BufferSize))
		for _, st := range states {
			v := 0.0
			if in.State == st {
				v = 1
			}
			gauge(c.state, v, st.String())
		}
	}
}
