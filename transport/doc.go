// Package transport moves batches of messages onto sockets: it parses endpoint
// strings, dials them, and gives a sink's writer goroutine a Conn whose
// WriteBatch puts everything the writer drained from its ring on the wire with
// as few syscalls as it can (see SPEC section 5).
//
// # Why
//
// A syscall costs far more than building a message, so a write per message
// caps a sink well below the rate a producer reaches (the figures are in
// PERFORMANCE.md and bench/ANALYSIS.md). A batch has to go in one syscall,
// without allocating, without blocking a thread, and with exact accounting of
// what went out when the connection breaks in the middle.
//
// StreamConn, the Conn for unix:// and tcp://, builds one writev per batch
// (at most 1024 iovecs, IOV_MAX) and issues it from a syscall.RawConn.Write
// callback: a short write advances the iovecs and writes again, and EAGAIN
// parks the goroutine in Go's netpoller until the socket is writable. Frames
// of up to 512 bytes are copied into a 64 KiB buffer owned by the connection,
// so that a run of small frames costs one iovec; larger frames go as their own
// iovec, straight from the message. BenchmarkWriteBatch compares this with
// net.Buffers.WriteTo (a writev by internal/poll, one iovec per message), the
// same writev from the RawConn callback, and copying every frame:
// BenchmarkCoalesceThreshold finds where copying stops paying, and the
// hybrid keeps the better of the two on each side of 512 bytes (the figures
// are in bench/ANALYSIS.md).
//
// WebSocketConn, the Conn for ws:// and wss://, speaks RFC 6455 as a client
// (the handshake by gobwas/ws, within the connect timeout). A client must
// mask every frame, and masking in place would change a message that other
// sinks may be writing at the same moment, so each message is copied into a
// writer-owned buffer as one binary frame (header encoded by hand, a mask key
// per frame from a ChaCha8 stream seeded by crypto/rand) and the batch goes
// out in one write: the copy that masking needs anyway makes writev pointless,
// and under TLS one coalesced write is one record run (BenchmarkWebSocket
// measures ws and wss; the figures are in bench/ANALYSIS.md). A reader
// goroutine answers Ping with Pong, at most one Pong per 10 ms (a Ping that
// comes sooner is answered when the interval ends, only the latest one
// waiting, as RFC 6455 allows), and Close with Close (under the writer's
// lock, so between frames), drops data frames unless an inbound handler
// (SetInbound) takes them, and ends the connection with a
// *CloseError or a *ProtocolError (oversized or fragmented control frames,
// masked server frames, reserved bits, unknown opcodes, a malformed Close
// payload, continuation frames out of place). A refused upgrade is a
// *HandshakeError with the HTTP status; a certificate that does not verify is
// the tls error, unless the Dialer's TLS config says otherwise.
//
// # Written means accepted by the kernel
//
// WriteBatch counts a message as written when the kernel took all its bytes.
// When a connection breaks mid-batch, the count stops before the first message
// the kernel did not take whole; the peer may have received the start of that
// message, and nothing after it on this connection, so the caller resends it
// whole on the next connection and the peer, which discards a torn frame with
// the dead connection, never sees a torn frame followed by another.
//
// Over a Unix socket what the kernel took is in the peer's queue: a peer that
// reads until EOF receives exactly the messages counted. Over TCP bytes the
// kernel took can still be lost when the peer dies (they go down with its
// reset), so a message counted as written may not have been received; only an
// acknowledgement from the application can close that gap. An InboundConn
// hands the frames the peer sends back (an acked sink's Acks) to a handler
// on its reader goroutine, framed by their headers, for that; a
// ConfirmingConn's peer confirms by count instead (a NATS server's PONGs).
//
// # Closing
//
// Shutdown ends a connection gracefully (SPEC section 3, "Clean close"): it
// half-closes after the last write (shutdown(SHUT_WR) on a stream, the Close
// frame on a WebSocket), keeps reading and discarding until the peer closes
// its side (or answers the Close frame), or, on a stream, the socket's send
// queue is empty (the peer has everything), or its context ends, and only
// then closes.
// Closing a socket that has unread input at once makes the kernel reset the
// connection and throw away what it still had to send: a peer that pings or
// sends heartbeats would otherwise lose the end of the stream at every
// close. Close is the abrupt end, for a broken connection or a deadline
// that has passed.
//
// # Concurrency
//
// A Conn belongs to one writer goroutine: WriteBatch, SetWriteDeadline and
// Shutdown must not be called concurrently with each other. Done, Err,
// BytesDiscarded and Close may be called from any goroutine at any time;
// Close makes a WriteBatch or a Shutdown blocked on a full socket return at
// once with an error matching net.ErrClosed and, for WriteBatch, the exact
// count of messages written. Each Conn runs one goroutine, which reads all
// the peer sends, so that the peer is never blocked and nothing is left
// unread at close, notices that the peer has gone, and closes Done; Close
// stops it before returning. It reads in 64 KiB reads (a StreamConn
// borrows the buffer from a pool only while the socket has input, so an
// idle connection holds none): a peer that floods the connection costs one
// system call per 64 KiB (BenchmarkChattyPeer measures the CPU). What the
// peer sends is counted (BytesDiscarded) and dropped, unless an inbound
// handler (InboundConn.SetInbound: an acked sink's Acks) takes its frames;
// StreamConn.inbound and WebSocketConn.data are where the bytes and the
// data frames arrive.
//
// # Buffers
//
// WriteBatch only reads the messages' bytes: StreamConn copies small frames
// into its own buffer and points iovecs at large ones, WebSocketConn copies
// every frame, masked, into its own; neither writes into a message, and both
// forget them before returning. It neither takes nor releases references:
// the caller releases the messages counted as written, and keeps the rest.
// The iovec array and the buffers belong to the Conn and are reused by every
// batch, so a batch allocates nothing (allocation_test.go); only errors (and,
// for WebSocketConn, a batch larger than any before, up to 1 MiB) allocate.
//
// # Errors
//
// ParseEndpoint returns *EndpointError (matching ErrInvalidEndpoint), whose
// reason says what to write instead. Dial, WriteBatch and Shutdown return
// *OpError, which names the operation and the endpoint, says what to check
// ("is the server running and listening there?"; "the relay" when the
// Dialer is a relay's, Dialer.Relay, as a relay service's sink's is), and
// unwraps to the cause for errors.Is:
// syscall.ECONNREFUSED, syscall.EPIPE, net.ErrClosed, context.DeadlineExceeded
// and os.ErrDeadlineExceeded (a timeout matches both). A WebSocket server's
// Close frame is a *CloseError with its code and reason, for errors.As.
//
// # Use
//
// A sink's writer goroutine:
//
//	e, err := transport.ParseEndpoint(cfg.Endpoint) // at configuration time
//	...
//	ctx, cancel := context.WithTimeout(ctx, cfg.ConnectTimeout)
//	c, err := transport.Dial(ctx, e)
//	cancel()
//	...
//	a, b := r.Peek(maxBatch)
//	n, err := c.WriteBatch(a, b)
//	release(a, b, n) // the n written messages go back to their pool
//	r.Discard(n)     // the rest stay first in the ring, for the next connection
//	if err != nil {
//		c.Close() // and reconnect
//	}
//	...
//	case <-c.Done(): // the peer went away while the ring was empty: c.Err() says how
//	...
//	err = c.Shutdown(closeCtx) // done: the peer gets everything, then the end
package transport
