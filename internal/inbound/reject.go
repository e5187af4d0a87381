package inbound

import (
	"errors"
	"syscall"
	"time"

	"github.com/msgsink/msgsink/tlv"
)

// Reason is why a reader closed a connection it did not want to close: the
// Rejected counters that relay.Stats and source.ListenerInfo share.
// source.Listen adds reasons of its own after NumReasons.
type Reason uint8

// The reasons ReasonOf tells apart, and ReasonProtocol for a peer that broke
// the protocol around valid frames.
const (
	ReasonMalformed Reason = iota
	ReasonChecksum
	ReasonDomain
	ReasonPrecision
	ReasonOversize
	ReasonProtocol
	NumReasons
)

var reasonNames = [NumReasons]string{"malformed", "checksum", "domain", "precision", "oversize", "protocol"}

// String returns the reason's name, as a log and a counter show it.
func (r Reason) String() string { return reasonNames[r] }

// ReasonOf classifies a validation error from tlv.
func ReasonOf(err error) Reason {
	var me *tlv.MalformedError
	switch {
	case errors.Is(err, tlv.ErrPrecision):
		return ReasonPrecision
	case errors.Is(err, tlv.ErrDomain):
		return ReasonDomain
	case errors.Is(err, tlv.ErrChecksum):
		return ReasonChecksum
	// FrameSize checks payload_size only against the size limit.
	case errors.As(err, &me) && me.Field == "payload_size":
		return ReasonOversize
	}
	return ReasonMalformed
}

// Temporary reports accept errors that a pause may cure: the caller waits
// AcceptPause and keeps accepting.
func Temporary(err error) bool {
	for _, e := range []error{syscall.EMFILE, syscall.ENFILE, syscall.ENOBUFS, syscall.ENOMEM, syscall.ECONNABORTED, syscall.EINTR} {
		if errors.Is(err, e) {
			return true
		}
	}
	return false
}

// AcceptPause is the wait after an accept error that Temporary cures, given
// the last one (0 after a successful accept): it doubles from 5ms up to one
// second, so that a listener out of descriptors neither spins nor stays
// deaf long once some are free.
func AcceptPause(last time.Duration) time.Duration {
	return min(max(2*last, 5*time.Millisecond), time.Second)
}
