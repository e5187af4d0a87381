// Package factory hands out sinks by name (SPEC section 7).
//
// A service never learns where its messages go: it asks for a name and sends.
//
//	f, err := factory.FromFile("services.toml")
//	...
//	defer f.Close()
//	md, err := f.Sink("market_data_relay")
//	...
//	err = md.Send(m) // the first Send wakes the connection
//
// Where a name leads comes from a Resolver. Today that is the validated
// services.toml (*config.File); later a service-discovery runtime implements
// the same one-method interface and FromFile becomes New(discovery), with no
// change to code that calls Sink.
//
// One sink per name per process: every caller of Sink("x") gets the same
// instance, so one connection serves them all and its counters describe the
// whole process. Composites are built from the shared sinks of their targets
// (a target named by two composites is one sink). Creating a sink never dials
// and holds no goroutine, socket or file descriptor until its first Send.
//
// The receive side goes by the same names: Source("market_data_relay")
// returns the one source.Source that reads that relay service, never
// dialing before its first Next. Its Next belongs to one goroutine, which
// hands frames on to the rest of the service.
//
// Service types from modules of their own (contrib/nats's "nats") are added
// with an Option made by WithKind: FromFile(path, natssink.Option()) checks
// their keys at load and Sink makes them; composites may target them.
//
// Concurrency: all methods are safe for concurrent use. Sink takes a mutex;
// call it once at start-up and keep the sink, not once per message.
//
// Ownership: the factory owns every sink and source it made. Callers must
// not Close them; Factory.Close closes them all: sources first, which ends a
// Next blocked on one, then composites before the sinks they feed, so that
// nothing is sent to a closed target while closing.
package factory
