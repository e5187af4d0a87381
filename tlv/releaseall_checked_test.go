//go:build msgsink_checked

package tlv_test

import (
	"strings"
	"testing"

	"github.com/msgsink/msgsink/tlv"
)

// In the checked build, a message released through ReleaseAll panics when
// touched again, as after Release: a built one waiting on its builder's
// free list, and a copy back in the pool.
func TestCheckedUseAfterReleaseAll(t *testing.T) {
	a, b := tlv.NewBuilder(tlv.DomainMarketData, 1), tlv.NewBuilder(tlv.DomainMarketData, 2)
	a1, b1, a2 := build(t, a), build(t, b), build(t, a)
	c, err := tlv.Validator{}.Copy(a1.Bytes())
	if err != nil {
		t.Fatal(err)
	}
	held := build(t, b)
	held.Retain()
	tlv.ReleaseAll([]*tlv.Message{a1, b1, a2, c, held})
	for name, m := range map[string]*tlv.Message{"a1": a1, "b1": b1, "a2": a2, "copy": c} {
		if msg := mustPanic(t, func() { _ = m.Bytes() }); !strings.Contains(msg, "Bytes after the last Release") {
			t.Fatalf("%s: panic %q", name, msg)
		}
		if msg := mustPanic(t, m.Retain); !strings.Contains(msg, "Retain after the last Release") {
			t.Fatalf("%s: panic %q", name, msg)
		}
	}
	_ = held.Bytes() // one reference left: still live
	held.Release()
}
