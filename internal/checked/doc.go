// Package checked tells code whether this is the checked build (go build
// -tags msgsink_checked), in which misuse of messages and rings panics with a
// message saying what went wrong, at the call that did it. On is a constant,
// so the checks compile away entirely in the normal build.
package checked
