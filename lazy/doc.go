// Package lazy is msgsink's sink for Unix, TCP and WebSocket endpoints: it
// connects when the first message flows ("wake on data"), so services start
// in any order, and it reconnects by itself after failures (SPEC section 4).
//
// # Shape
//
// Send validates a message, pushes its reference onto a lock-free ring and
// returns; it never dials and never blocks. One writer goroutine per sink
// drains the ring in batches and hands each batch to the transport, which
// writes it with one writev (or one coalesced write). The writer exists only
// while the sink is in use: a sink never sent to has no goroutine, socket or
// file descriptor, and Disconnect ends it again.
//
// # Producers
//
// Send is safe for concurrent use: producers are serialised on the ring
// with a compare-and-swap. A sink fed by one goroutine at a time (an
// adapter's feed loop) sets Config.SingleProducer and Send uses the plain
// single-producer push instead; the checked build panics, naming the sink,
// if two goroutines send at once. Send never waits: a full ring is
// ErrBufferFull, and the message stays the caller's to drop or keep.
// SendWait waits for room instead, asleep until the writer frees slots, so
// a producer that must not lose a message does not spin on Send and take
// the processor the writer and Go's netpoller need.
//
// # Writing through
//
// A writer that finds its ring empty spins, yields and then parks (Idle).
// Waking a parked goroutine costs tens of microseconds on a small machine,
// more than the write itself, so a Send that finds the writer parked on a
// Unix or TCP connection writes its message itself with one non-blocking
// write, and the writer sleeps on. When the socket takes only part, or the
// message comes within a few microseconds of the last one written through
// (dense traffic, which the writer batches better), the Send wakes the
// writer instead. The order of messages and the accounting are the same
// either way: what is written through leaves the ring exactly as the
// writer's batches do. WebSocket connections always go through the writer.
//
// # State
//
// The connection state (idle, connecting, connected, backoff, closed) and
// the writer's flags (parked, writing through) share one atomic word. The first Send moves idle
// to connecting with one compare-and-swap and starts the writer, so any
// number of concurrent first sends start exactly one dial. While the writer
// is connected and awake, Send pays one load of that word beyond the ring
// push; only a parked writer costs the Send that wakes it a CAS and a channel
// send.
//
// # Failures
//
// Dials follow Config.Retry: exponential backoff with jitter, each dial
// bounded by ConnectTimeout. When MaxAttempts are spent, the pending messages
// are dropped as connect_failed, the error is kept in Info.LastError, and the
// sink goes idle until the next Send. A write error on a live connection moves
// to backoff and reconnects (counted in Reconnects); the message that was
// being written when the connection broke is sent again whole on the next one,
// so peers never see a torn frame. With Backlog = BacklogDrop, what was queued
// before the reconnect is dropped as stale instead.
//
// A peer that closes while the writer waits for work is noticed by the
// connection's reader; Info.LastError then says how it ended: EOF, a reset,
// or a WebSocket server's close code and reason (a *transport.CloseError).
//
// Close refuses new sends, flushes for up to CloseTimeout, drops and counts
// the rest, and waits for the writer. Every message is written or counted.
// Close and Disconnect end the connection gracefully
// (transport.Conn.Shutdown): a half-close after the last write, then reading
// until the peer closes or has everything, within the same CloseTimeout
// (what is left of Close's), so that a peer that pings or sends heartbeats
// loses nothing. A connection broken by Close at its deadline is not counted
// as a reconnect.
//
// # Acked delivery
//
// Written means the kernel took a message; a peer that dies loses what it
// had not read. With Delivery = DeliveryAcked (delivery = "acked") the
// sink sends Subscribe{role: producer} first on each connection and keeps
// every message it writes in its ring until the peer acknowledges it: the
// connection's reader goroutine (transport.InboundConn) takes the peer's
// Ack frames, cumulative per source (header byte 6), and kicks the writer,
// which releases from the head of the ring what they cover. The ring then
// holds, from its head, the messages written on this connection and not
// acknowledged, those written on an earlier connection and not yet on this
// one, and those never written; it bounds them together, so a peer that
// stops acknowledging fills it and Send returns ErrBufferFull.
// A new connection starts writing again at the head: the unacknowledged
// messages go first, unchanged and in order, counted in Info.Resent.
// Messages never leave the ring by a write through. Flush, Disconnect and
// Close wait for Acks, not for the kernel. At a quiet point
// Enqueued = Acked + Dropped + Unacked + Pending.
//
// A connection whose peer confirms by count instead, in write order (a
// transport.ConfirmingConn: natssink's core NATS connection, confirmed by
// the server's PONGs), gets no Subscribe: the writer asks it to confirm
// (Confirm) before it waits for work, and releases from the head of the
// ring what the count covers. Everything else above holds.
package lazy
