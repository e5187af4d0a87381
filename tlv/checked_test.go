//go:build msgsink_checked

package tlv_test

import (
	"fmt"
	"strings"
	"testing"

	"github.com/msgsink/msgsink/tlv"
)

func mustPanic(t *testing.T, f func()) (msg string) {
	t.Helper()
	defer func() {
		r := recover()
		if r == nil {
			t.Fatal("no panic")
		}
		msg = fmt.Sprint(r)
	}()
	f()
	return ""
}

func released(t *testing.T) *tlv.Message {
	t.Helper()
	b := tlv.NewBuilder(tlv.DomainMarketData, 1)
	b.AppendTrade(&tlv.Trade{Instrument: 1, Price: tlv.PriceScale, Volume: tlv.PriceScale})
	m, err := b.Finish()
	if err != nil {
		t.Fatal(err)
	}
	m.Release() // back on its builder's free list, not reused yet
	return m
}

// In the checked build, touching a released message panics at the call
// that does it, naming the misuse.
func TestCheckedUseAfterRelease(t *testing.T) {
	for name, use := range map[string]func(m *tlv.Message){
		"Bytes":   func(m *tlv.Message) { _ = m.Bytes() },
		"Frame":   func(m *tlv.Message) { _ = m.Frame() },
		"Header":  func(m *tlv.Message) { _ = m.Header() },
		"Len":     func(m *tlv.Message) { _ = m.Len() },
		"Retain":  func(m *tlv.Message) { m.Retain() },
		"RetainN": func(m *tlv.Message) { m.RetainN(2) },
	} {
		t.Run(name, func(t *testing.T) {
			m := released(t)
			msg := mustPanic(t, func() { use(m) })
			if !strings.Contains(msg, name+" after the last Release") {
				t.Fatalf("panic %q does not name the misuse", msg)
			}
		})
	}
}

func TestCheckedDoubleRelease(t *testing.T) {
	m := released(t)
	if msg := mustPanic(t, m.Release); !strings.Contains(msg, "released more times than it was retained") {
		t.Fatalf("panic %q", msg)
	}
}

// A copy goes back to a pool rather than to a builder: the same checks hold.
func TestCheckedCopyUseAfterRelease(t *testing.T) {
	b := tlv.NewBuilder(tlv.DomainMarketData, 1)
	b.AppendTrade(&tlv.Trade{Instrument: 1, Price: tlv.PriceScale, Volume: tlv.PriceScale})
	orig, _ := b.Finish()
	m, err := tlv.Validator{}.Copy(orig.Bytes())
	orig.Release()
	if err != nil {
		t.Fatal(err)
	}
	m.Release()
	if msg := mustPanic(t, func() { _ = m.Bytes() }); !strings.Contains(msg, "Bytes after the last Release") {
		t.Fatalf("panic %q", msg)
	}
}
