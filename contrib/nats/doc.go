// Package natssink is the "nats" sink of SPEC section 9b: frames go to NATS
// (core or JetStream) behind the same factory API as every other sink, for
// users who outgrow one host. It lives in a module of its own
// (contrib/nats) so that the library's go.mod carries no NATS dependency.
//
// # Enabling it
//
// One option adds type = "nats" to a factory:
//
//	f, err := factory.FromFile("services.toml", natssink.Option())
//
//	[services.md_cloud]
//	type = "nats"
//	endpoint = "nats://10.0.0.1:4222,10.0.0.2:4222"
//	subject = "msgsink.{domain}.{source}"   # the default
//	jetstream = false
//	max_inflight = 4096                      # JetStream: unacked at most
//	max_frame = 1048576                      # the default; at most the servers' max_payload
//
// A nats service takes every key a relay service takes but endpoint and
// delivery (domain, buffer_size, retry, backlog, single_producer,
// metadata, ...) and [defaults] applies to it; its keys are checked at load
// with lines and suggestions.
// Composites may target it (a fanout to the local relay and to NATS).
// Without the option, loading such a file says which module and option to
// add. New makes a sink from a Config without a file.
//
// # How it works
//
// A Sink is a lazy.Sink: its ring, writer goroutine, retry schedule,
// backlog policy and counters, and so its whole contract (Send never blocks
// nor dials, ErrBufferFull, single_producer, exact accounting, a clean
// Close). Only its connection differs. In a cluster, a dial tries the
// configured servers in the order given, then those the cluster announced,
// each with an equal share of the connect timeout, so a sink whose server
// dies fails over on its next dial.
//
// Each frame is one NATS message, never split nor joined with another,
// published on the subject its template gives: {domain} and {source} from
// the frame's header, {name} the sink's. A subject is rendered once per
// (domain, source) and kept, so publishing renders and allocates nothing.
//
// Core NATS: the sink speaks the client protocol itself (INFO, CONNECT,
// PUB, PING/PONG) on its own TCP connection: a batch from the ring is one
// write of PUB commands, with a PING after every 256 frames and after the
// last one before the writer waits. The server answers each PING once it
// has processed everything before it, so its PONGs confirm frames by
// count (a transport.ConfirmingConn), and the sink keeps each frame in its
// ring until confirmed: the sink is acked (Info's AckedDelivery, Acked,
// Unacked, Resent), and Flush returns once the server has processed every
// frame. When the connection breaks first, the frames not confirmed are
// published again, first and in order, on the next connection, so a frame
// the server had routed may reach a subscriber twice: a receiver drops
// those by (source, sequence), as Reader does, and a server restart then
// loses nothing the sink took but what it counts as dropped. A PING
// unanswered within the ack timeout ends the connection in the same way (a
// server, or a path to it, that stalled). A publish the server's
// permissions refuse is lost at the server, as NATS has it: the connection
// stays, and Info.LastError says what was refused. The ring, not
// a batch, bounds the frames awaiting confirmation, so a round trip never
// stalls publishing. nats.go is not used for this: its Publish takes a
// lock and copies per message and leaves the write to a flusher goroutine,
// the cost that decides throughput on a host whose cores also run the
// producer and the server. TLS is as nats.go does it: taken up after the
// server's INFO when the server requires it (the system's roots, the
// endpoint's host) or when Config.TLS is set (then every server must offer
// it). There is no credentials setting: a server that requires
// authentication refuses the connect with an error that says what to
// change.
//
// JetStream (jetstream = true): each frame is published with a reply inbox
// and Nats-Msg-Id "<source>:<sequence>", and copied into an in-flight ring
// of max_inflight until its ack; the writer waits for room when it is full
// (so the sink's ring fills and Send refuses with ErrBufferFull). A frame
// whose ack does not come within the ack timeout, or whose connection
// broke, is published again, with the same id, which the server drops if it
// stored it already: nothing lost, nothing stored twice. An overdue ack
// makes every unacked frame go again, in order, before anything new, so
// frames the server refused for a while (no stream yet, a stream
// recovering after a restart) are stored in the order sent. JetStream counts
// the acks, resends and what Close abandoned unacked; at a quiet point
// Written = Acked + Unacked + Abandoned (Sink.JetStream, and in Info). It
// uses nats.go, for the headers and the ack subscription.
//
// A nats service's delivery follows jetstream; services.toml refuses a
// delivery key in one, and New sets Config.Sink.Delivery.
//
// # The receive side
//
// Subscribe returns a Reader of a subject: Next returns one frame at a time
// as a tlv.Frame view, drops duplicates, and Info counts frames, gaps and
// duplicates per producer, as the source package does for a relay.
//
// # Costs
//
// Send is lazy's and allocates nothing. The core writer allocates nothing
// either: its batch buffer and the subjects are reused. JetStream allocates
// per frame (the message id, and nats.go's handling of each ack).
// PERFORMANCE.md has the figures; in the benchmarks, which embed the
// server, the server's own allocations per message dominate what is left.
package natssink
