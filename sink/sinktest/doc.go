// Package sinktest is the conformance suite that every sink kind and every
// composite runs: one Run over a Harness that builds the sink and its peers,
// in the spirit of golang.org/x/net/nettest and watermill's pubsub/tests.
//
// # Why
//
// The sink contract (SPEC section 3) is mostly about what happens at the
// edges: a full ring, a closed sink, a peer that goes away and comes back, a
// message refused for its domain, a connection that breaks in the middle of
// a frame. Each implementation used to test the edges it thought of, with
// its own fixtures. A new kind (a WebSocket transport, a composite pattern)
// would have had to rediscover all of them. Here they are written once,
// against the interface, and every kind is held to the same behaviour:
// order per producer, ownership of refused messages, ErrBufferFull,
// ErrClosed and an idempotent Close, Flush, reconnect after the peer
// restarts, no torn frames, domain refusals, bad calls (a nil or released
// message, an empty batch), and counters that add up. Run lists the checks.
//
// # Real parts, no timing
//
// The checks use real sockets and real peers, and they assert behaviour,
// never speed: a check waits (up to a generous bound) for something to
// happen, and fails only when it does not happen or the wrong thing does.
// Every message carries its producer (the header's source) and a sequence
// number from a tlv.Builder, and a checksum, so what a peer receives can be
// compared with what Send returned, frame by frame.
//
// Ownership is checked through the reference count's observable effect: a
// message released by its last holder goes back to its Builder, which hands
// out the same *tlv.Message again. A refused message that the caller
// releases must come back (the sink kept no reference) without a panic (the
// sink did not release it as well); messages that were sent must all come
// back once Flush returns.
//
// # Plugging in a sink kind
//
// A Harness has one function, New, which returns a Setup: the sink, its
// peers grouped by the sink in front of them (Groups), the sinks with rings
// behind a composite (Leaves), and how many messages it can hold with its
// peers down (Capacity). StreamPeer serves unix:// and tcp:// endpoints
// (ListenStream) and ws:// ones (ListenWebSocket, which also checks the
// WebSocket framing). A peer for another transport implements Peer around a
// Recorder, which turns the bytes it receives into frames and notices torn
// or malformed ones. A leaf sink's harness:
//
//	func TestConformance(t *testing.T) {
//		sinktest.Run(t, sinktest.Harness{New: func(t *testing.T, o sinktest.Options) sinktest.Setup {
//			p := sinktest.ListenStream(t, "unix")
//			s, err := lazy.New(lazy.Config{Endpoint: p.Endpoint(), BufferSize: o.BufferSize,
//				Validator: tlv.Validator{Domain: o.Domain},
//				Retry:     lazy.Retry{Initial: time.Millisecond, Max: 10 * time.Millisecond}})
//			if err != nil {
//				t.Fatal(err)
//			}
//			t.Cleanup(func() { s.Close() })
//			return sinktest.Setup{Sink: s, Capacity: o.BufferSize,
//				Groups: []sinktest.Group{{Peers: []sinktest.Peer{p}}}}
//		}})
//	}
//
// The suite's own tests run it against sinks broken on purpose, one way
// each (a refused message released, a reference kept, a full ring hidden, a
// miscount, a reordering, a failing second Close, a torn frame, a malformed
// message taken, an idle sink woken by an empty batch), and expect
// the check that should catch each to fail it.
//
// The package imports testing and is meant for tests only. Each check starts
// and stops its own goroutines and sinks; a test package that runs the suite
// can verify that with goleak.
package sinktest
