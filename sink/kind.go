package sink

// Kind says what a sink is: a connection to a relay or a direct peer, or a
// composite and its pattern. It is the one vocabulary for a services.toml
// service's type and pattern keys, lazy.Config.Kind and Info.Kind; its
// values are the names services.toml uses.
type Kind string

// The kinds of a connection: a services.toml service's type, and its Info.Kind.
const (
	KindRelay  Kind = "relay"  // a relay's socket (unix:// or tcp://)
	KindDirect Kind = "direct" // a peer that reads the stream itself (any scheme)
)

// KindComposite is the type of a services.toml service that puts several
// sinks behind one; its pattern (below) says how, and is its Info.Kind.
const KindComposite Kind = "composite"

// The composite patterns: a composite service's pattern, and its Info.Kind.
const (
	KindFanout     Kind = "fanout"      // every message to every target
	KindRoundRobin Kind = "round_robin" // each message to the next target that takes it
	KindFailover   Kind = "failover"    // every message to the first usable target
)

// ServiceKinds returns the kinds a services.toml service's type may name, in
// the order messages list them.
func ServiceKinds() []Kind { return []Kind{KindRelay, KindDirect, KindComposite} }

// Patterns returns the composite patterns, in the order messages list them.
func Patterns() []Kind { return []Kind{KindFanout, KindRoundRobin, KindFailover} }
