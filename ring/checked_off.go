//go:build !msgsink_checked

package ring

import "sync/atomic"

// checks is empty outside the checked build, and its methods are empty so that
// they inline to nothing: the misuse checks cost the release hot path no
// instruction and no byte of the ring's cache lines.
type checks struct{}

func (*checks) enterPush(*atomic.Uint64) {}
func (*checks) exitPush()                {}
func (*checks) lockedShared()            {}
func (*checks) enterConsume()            {}
func (*checks) exitConsume()             {}
