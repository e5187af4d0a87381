// Package sinkprom exports msgsink sinks' Info counters as Prometheus
// metrics. It lives in a module of its own (contrib/prometheus) so that the
// library's go.mod carries no Prometheus dependency.
//
// Register one Collector over a factory's sinks:
//
//	reg.MustRegister(sinkprom.NewCollector(f.Infos))
//
// Every metric has the labels sink (the service name) and kind ("relay",
// "direct" or a composite pattern):
//
//	msgsink_sink_enqueued_total            messages Send accepted
//	msgsink_sink_written_total             messages written whole
//	msgsink_sink_written_bytes_total       their bytes
//	msgsink_sink_pending                   enqueued, not yet written or dropped
//	msgsink_sink_refused_total{reason}     refused by Send: buffer_full, closed, domain, precision, malformed
//	msgsink_sink_dropped_total{reason}     enqueued then dropped: connect_failed, stale, closed
//	msgsink_sink_acked_total               acknowledged by the peer (delivery = "acked")
//	msgsink_sink_unacked                   written, waiting for their Ack (delivery = "acked")
//	msgsink_sink_resent_total              unacknowledged messages written again after a reconnect
//	msgsink_sink_connect_attempts_total    dials started
//	msgsink_sink_reconnects_total          connections lost while connected
//	msgsink_sink_buffer_size               ring capacity
//	msgsink_sink_state{state}              1 for the current state, 0 for the others
//
// The identity enqueued = written + dropped + pending holds at quiet points,
// as for sink.Info; with delivery = "acked" it is
// enqueued = acked + dropped + unacked + pending (written then counts
// resends too).
package sinkprom
