// Package relay is the domain relay of SPEC section 9: it listens on a Unix
// socket (or TCP), takes Protocol V2 frames from producers, validates them, and
// forwards each one whole to every subscribed consumer, in order per producer.
// Its consumers read with source.Source, which subscribes, reconnects and
// tracks sequence gaps.
//
// # Roles
//
// The socket carries back-to-back frames and nothing else. A connection whose
// first frame is a Subscribe (system domain, TLV 109, role tlv.RoleConsumer) is
// a consumer: it receives every frame that arrives after that and must send
// nothing more; the relay reads its end only to notice that it hung up, so a
// consumer must not shut down its write side either. Any other connection is
// a producer: its frames are checked at the relay's validation level and
// precision and against its domain, and forwarded; nothing is sent back to
// it but the Acks below, when it asks. A frame that fails, a wrong domain, a
// header announcing more than MaxFrame, or (in a system-domain relay) a
// frame from ControlSource, which consumers would take for the relay's own,
// closes that connection alone, counted in Stats.Rejected by reason; the
// valid frames that came before it on the same connection are forwarded. A Subscribe later in a
// stream is a frame like any other.
//
// A producer whose first frame is a Subscribe with role tlv.RoleProducer
// (a sink with delivery = "acked") is an acked producer: the relay sends it
// Ack frames (system domain, source ControlSource, one TLV 110 per source),
// cumulative per source, once its frames are in the consumer queues, at
// least every 1,024 frames or millisecond while frames arrive and within a
// millisecond of the last. It also drops the frames of such producers whose
// (source, sequence) it has already forwarded, counted in Stats.Duplicates:
// what a sink resends after a reconnect. That memory is the relay's, shared
// by all connections, and dies with the process: a restarted relay
// forwards resent frames again, and receivers drop them by (source,
// sequence). Config.Journal sees the acked producers' frames before their Ack.
//
// # Why it is built this way
//
// A relay on a 2-core machine has to move several million 64-byte frames per
// second to each consumer, and a syscall costs about a microsecond, so nothing
// may happen per frame except validation. A producer's goroutine reads into a
// 64 KiB chunk from a pool (a connection starts with a 4 KiB one, enough for
// a Subscribe or the first frame header of a producer, and moves up once it
// sends more), validates every whole frame in what it read, and
// queues the validated run as one span (chunk, offsets, frame count) on each
// consumer's queue, taking one chunk reference per queue: no frame is copied
// or wrapped on its own. Each consumer's writer goroutine turns up to 1024
// queued spans into one writev (spans that follow each other in one chunk
// merge into one iovec) and releases them. The producer keeps reading into
// the rest of the chunk while consumers write out its start; only a partial
// frame at the end of a chunk is copied, to the start of the next one. A
// chunk that no consumer holds any more is read into again from its start
// without going back to the pool. A frame over 64 KiB moves to larger pooled
// chunks (128 KiB to 1 MiB) as its bytes arrive, each twice what has arrived,
// so a header announcing 1 MiB pins 64 KiB, not 1 MiB; such a frame may be
// copied once or twice on the way, and the large chunk goes back to its
// pool at the next frame boundary.
//
// Frames from different producers interleave in a consumer's stream only
// between spans, so only between whole frames; frames of one producer keep
// their order because one goroutine reads them and queues them in order on
// every queue.
//
// # Slow consumers
//
// A consumer never slows down a producer or another consumer: a producer only
// appends to each consumer's queue, under a mutex that orders producers on
// that queue and is never held across I/O. A queue holds at most
// ConsumerQueue frames and ConsumerQueueBytes bytes; what does not fit is
// dropped for that consumer in whole frames (the valid prefix of a span that
// fits is kept) and counted in Stats.ConsumerDrops, and the consumer sees the
// gap in the producers' sequence numbers.
//
// Lag is the age of the oldest frame waiting for a consumer: how far behind
// the live stream it is. A consumer whose lag exceeds MaxLag is disconnected
// and counted in Stats.ConsumersLagged. The writer checks the lag before each
// write and puts the same bound on the write as a socket deadline, so a
// consumer that stopped reading altogether (its socket buffer full, the
// write parked in the netpoller) is caught too, without a timer goroutine.
// Before it closes the connection, the writer finishes any frame the
// deadline cut and sends a system-domain Disconnect frame (source
// ControlSource, tlv.DisconnectLagged, the frames dropped for it), each within
// one second: a consumer still reading learns it was dropped for lagging, not
// that the relay went away.
// Dropping alone would keep a stalled consumer connected forever, losing
// everything; a limit on consecutive drops would spare a consumer that takes
// one frame in ten; the age of what it is being sent is what a market-data
// consumer cares about.
//
// # Limits
//
// A relay takes connections from whoever can reach its socket, so what one
// connection can make it hold is bounded, each limit configurable and
// counted when hit (SPEC section 9, "Hardening"):
//   - MaxConns connections at once; one more is closed as soon as it is
//     accepted (Stats.ConnsRefused).
//   - A frame sent in part must be whole within PartialTimeout, or its
//     connection is closed (Stats.PartialTimeouts); the deadline exists only
//     while a frame is partial, so a producer idle between frames, or a
//     consumer, is never cut. Stats.PartialBytes shows what partial frames
//     hold.
//   - Read buffers grow with the bytes a connection has sent, not with what
//     its headers announce, and shrink back (above).
//   - Consumer queues start at 256 slots (8 KiB) and double as they fill,
//     up to ConsumerQueue, all of them within QueueBudget
//     (Stats.QueueBytes); a queue that may not grow drops what does not
//     fit, counted in Stats.ConsumerDrops and Stats.BudgetDrops. A queue
//     keeps the size it grew to until its consumer leaves.
//   - Out of file descriptors (EMFILE), accept errors are counted
//     (Stats.AcceptErrors) and never spin: Serve keeps one descriptor spare
//     and spends it to accept each waiting connection and close it at once,
//     so that its client sees the relay hang up instead of waiting in the
//     backlog; other accept failures pause, doubling up to a second.
//
// # Concurrency contract
//
// Listen, Serve, Stats, Addr and Close are safe for concurrent use. Serve runs
// the accept loop on the caller's goroutine; the relay starts one goroutine
// per connection (the reader) and one more per consumer (the writer), and
// Close waits for all of them.
//
// # Who owns which buffer
//
// A chunk belongs to the producer goroutine that reads into it, and to every
// consumer queue holding a span of it, by reference count; the last release
// returns it to its pool. Bytes under a queued span are never written again
// until the chunk has come back from the pool. Frames are never modified:
// what leaves the relay is exactly what the producer sent.
//
// # Accounting
//
// Stats counts frames and bytes in and out, deliveries owed (Offered: each
// frame in, once per consumer subscribed when it arrived), drops by reason and
// connections, and at any quiet point FramesIn == Forwarded + Unsubscribed
// (frames that arrived while no consumer was subscribed) and Offered ==
// FramesOut + ConsumerDrops + ConsumerDiscards + Pending. The counters are exact: producers add once per
// read and writers once per batch, never per frame.
//
// # Sockets
//
// The socket's directory is created 0700 when missing; an existing one must
// be a directory (not a symbolic link) owned by the relay's user and not
// writable by group or others, or Listen refuses it (ErrUnsafeDir, with a
// *DirError that says what to change): whoever can write the directory can
// rename the socket away and bind their own, and producers would send to
// them. Only that directory is checked, not its parents. The socket is bound
// in a fresh private directory beside its path, given its mode (0600 unless
// configured) there, made to listen, and hard-linked into place, which fails
// rather than replace a file that appeared meanwhile: it has its mode from
// the moment it can be reached, and no chmod ever acts on a name another user
// could have swapped for a symbolic link. A relay killed in the middle of
// Listen may leave that private directory (.relayNNN) behind. A TCP relay
// listens on loopback when its endpoint has no host, and logs a warning when
// it listens on any other address, all interfaces included: a TCP socket has
// no permissions, so SocketMode is refused for it. A socket file that no one
// answers on, left by a relay that died, is replaced; one that answers is
// refused with ErrInUse, so two relays never share a path; a file that is not
// a socket is left alone (ErrNotSocket). Close removes the file only while it
// is still the one this relay created. The check and the link are two steps:
// of two relays started at the same instant on the same stale file, both may
// pass the check. The second to link its socket into place then usually gets
// ErrInUse; only when its removal of the stale file comes after the other's
// link does it remove the other's socket and take the path, leaving the other
// listening on a socket no one can reach.
//
// # Use
//
//	r, err := relay.Listen(relay.Config{
//		Endpoint: relay.DefaultEndpoint(tlv.DomainMarketData),
//		Domain:   tlv.DomainMarketData,
//	})
//	...
//	go r.Serve(ctx)
//	defer r.Close()
//
//	src, err := source.New(source.Config{Endpoint: relay.DefaultEndpoint(tlv.DomainMarketData)})
//	for {
//		f, err := src.Next() // valid until the next call
//		...
//	}
package relay
