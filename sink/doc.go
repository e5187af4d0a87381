// Package sink defines what every msgsink sink promises: the Sink interface,
// the sentinel errors, and the Info snapshot with its exact counters (SPEC
// section 3), and the composites that put several sinks behind one (Fanout,
// RoundRobin, Failover: SPEC section 8), which need nothing but the
// interface. The sink that owns a connection lives in package lazy (Unix,
// TCP and WebSocket endpoints); code that sends depends only on this package.
//
// # Ownership
//
// A *tlv.Message carries a reference count. A Send that returns nil takes the
// caller's reference: the sink releases it once the bytes are written or the
// message is dropped. A Send that returns an error leaves the reference with
// the caller, who may retry, send elsewhere, or Release it.
//
// # Never blocking
//
// Send pushes onto the sink's ring and returns. It never dials, never waits for
// the network, and reports a full ring as ErrBufferFull at once. These errors
// are bare sentinels, because wrapping allocates and Send is the hot path;
// slow paths (connect, Flush, Info.LastError) return typed errors that name the
// sink and unwrap to a sentinel.
//
// # Accounting
//
// Every message handed to a sink is counted exactly once: refused (it never
// entered; the caller keeps it), or enqueued and then written, dropped with a
// reason, or still pending. At any quiet point
//
//	Enqueued == Written + Dropped.Total() + Pending
//
// and after Flush or Close returns, Pending is 0. Counters only grow; Info
// never resets them.
//
// # Conformance
//
// Package sinktest holds the behaviour suite that every implementation and
// every composite runs against real peers: order, ownership of refused
// messages, ErrBufferFull, ErrClosed, Flush, reconnect, no torn frames,
// domain refusals, and these counters.
package sink
