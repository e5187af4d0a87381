// Package examples embeds the example configuration, so that the msgsink
// command's demo runs on it from any directory, and so that the file the
// README points to is the file the demo and the tests load.
package examples

import _ "embed"

// ServicesTOML is examples/services.toml: every sink type and every key,
// each commented.
//
//go:embed services.toml
var ServicesTOML []byte
