package inbound

import (
	"fmt"
	"syscall"
	"testing"
	"time"

	"github.com/msgsink/msgsink/tlv"
)

// TestReasonOf: each tlv error lands in its own counter; precision, which
// also matches ErrDomain, in its own.
func TestReasonOf(t *testing.T) {
	for _, tc := range []struct {
		err  error
		want Reason
	}{
		{fmt.Errorf("x: %w", tlv.ErrPrecision), ReasonPrecision},
		{fmt.Errorf("x: %w: %w", tlv.ErrDomain, tlv.ErrPrecision), ReasonPrecision},
		{tlv.ErrDomain, ReasonDomain},
		{tlv.ErrChecksum, ReasonChecksum},
		{&tlv.MalformedError{Field: "payload_size"}, ReasonOversize},
		{&tlv.MalformedError{Field: "magic"}, ReasonMalformed},
	} {
		if got := ReasonOf(tc.err); got != tc.want {
			t.Errorf("ReasonOf(%v) = %v, want %v", tc.err, got, tc.want)
		}
	}
	for r := Reason(0); r < NumReasons; r++ {
		if r.String() == "" {
			t.Errorf("reason %d has no name", r)
		}
	}
}

// TestTemporary: running out of descriptors or memory is worth a pause,
// a closed listener is not.
func TestTemporary(t *testing.T) {
	for _, tc := range []struct {
		err  error
		want bool
	}{
		{fmt.Errorf("accept: %w", syscall.EMFILE), true},
		{syscall.ECONNABORTED, true},
		{syscall.EBADF, false},
		{fmt.Errorf("accept: %w", syscall.EINVAL), false},
	} {
		if got := Temporary(tc.err); got != tc.want {
			t.Errorf("Temporary(%v) = %v, want %v", tc.err, got, tc.want)
		}
	}
}

// TestAcceptPause: the pause doubles from 5ms and stops at a second.
func TestAcceptPause(t *testing.T) {
	var got []time.Duration
	for p := time.Duration(0); len(got) < 10; {
		p = AcceptPause(p)
		got = append(got, p)
	}
	want := []time.Duration{5, 10, 20, 40, 80, 160, 320, 640, 1000, 1000}
	for i := range want {
		if got[i] != want[i]*time.Millisecond {
			t.Fatalf("pauses %v, want %v ms", got, want)
		}
	}
}
