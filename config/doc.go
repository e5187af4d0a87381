// Package config loads and validates services.toml (SPEC section 6): the
// [defaults] table, its [defaults.retry], and one [services.NAME] table per
// relay, direct or composite service.
//
// Validation is strict and happens once, at load, because a typo found at
// start-up costs a minute and one found on the first reconnect at 3 a.m. costs
// a trading session. Every problem in a file is reported in one run, each as a
// *Error carrying the file, line, service, key and what to change; several come
// back together as Errors. Both match ErrInvalidConfig with errors.Is.
//
// The TOML decoder (github.com/BurntSushi/toml) matches struct fields without
// regard to case, so BUFFER_SIZE would silently set buffer_size. This package
// therefore decodes into plain maps and compares every key exactly against the
// keys valid at that place, suggesting the nearest one ("did you mean"). Keys
// that belong to another service type (pattern on a relay, endpoint on a
// composite) are reported as such. The decoder records no positions for keys,
// so line numbers come from a small scan of the text for table headers and
// "key =" lines.
//
// What is checked: value types; durations (Go syntax, "10ms", "2s", greater
// than zero); endpoints with transport.ParseEndpoint (relay: unix:// or tcp://,
// direct: also ws:// and wss://; socket path length, ports, hosts); domain and
// every enumeration; buffer_size 1..ring.MaxCapacity and max_batch
// 1..lazy.MaxBatchLimit; retry multiplier >= 1, jitter 0..1, initial <= max;
// composite targets that exist, are not empty or repeated, at least two for a
// failover, and no cycles, reported with their whole path (a -> b -> a);
// tls_ca_file (a readable file of PEM certificates, relative to the
// services.toml) and insecure_skip_verify (a boolean), which only a direct
// service with a wss:// endpoint takes; connect_timeout of at least 1 ms;
// service names of ASCII letters, digits, '_', '.' and '-'; and no fanout
// that reaches a service through two of its targets (it would get every
// message twice), reported with both paths.
//
// Before decoding, Load refuses a path that is not a regular file or holds
// more than MaxFileSize bytes (judged on the opened file, without blocking
// on a named pipe and without reading past the limit), and Parse refuses
// tables, dotted keys, arrays and inline tables nested deeper than MaxDepth,
// whose cost in the TOML decoder grows far faster than their size.
//
// Each key is one row of a table (keys.go): its name, the tables it may be
// written in, how its value is read and which lazy.Config field it sets. The
// parser, the lists of valid keys behind the "did you mean" suggestions and
// the tests read that table; the enumerations' names come from the packages
// that own the types (lazy.IdleNames, tlv.LevelNames, sink.Patterns, ...),
// and the defaults from lazy (lazy.Config.Resolved, the Default* constants).
//
// A relay or direct Service carries fully resolved settings (Service.Sink):
// built-in defaults, overridden by [defaults], overridden by the service's
// own keys (a service's retry table overrides key by key). jitter = 0 means
// no jitter. Its identity (name, type, endpoint, metadata) is stated once,
// in the Service; Service.LazyConfig joins the two for lazy.New. A wss://
// service with TLS keys gets a *transport.Dialer with that TLS config.
//
// Service types that live in modules of their own, so that the library's
// go.mod carries none of their dependencies (contrib/nats's "nats"), are
// Extensions: Load and Parse take them, and a service of such a type
// gets the keys of a relay service but endpoint, plus the extension's own,
// checked by its Check into Service.Ext with the same lines and
// suggestions. A file naming a known extension type loaded without it says
// which module and option to add (Provider).
//
// Loading never dials: reachability is a separate, explicit probe. It reads
// the CA files, so that an unreadable one is reported at load.
package config
