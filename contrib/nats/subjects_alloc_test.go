//go:build !race

package natssink

import (
	"strconv"
	"testing"

	"github.com/msgsink/msgsink/tlv"
)

// A frame's subject is rendered once per (domain, source) and then looked
// up without allocating, whatever producer the frame comes from.
func TestAllocsSubjectOf(t *testing.T) {
	tp, err := parseTemplate(DefaultSubject, "md")
	if err != nil {
		t.Fatal(err)
	}
	s := newSubjects(tp)
	var hs []tlv.Header
	for src := 1; src < 256; src++ { // 0 is no producer
		b := tlv.NewBuilder(tlv.DomainMarketData, uint8(src))
		b.Append(5, []byte("x"))
		m, err := b.Finish()
		if err != nil {
			t.Fatal(err)
		}
		hs = append(hs, m.Header())
		if got, want := s.of(m.Header()), "msgsink.market_data."+strconv.Itoa(src); got != want {
			t.Fatalf("subject %q, want %q", got, want)
		}
	}
	i := 0
	if n := testing.AllocsPerRun(10000, func() { _ = s.of(hs[i%len(hs)]); i++ }); n != 0 {
		t.Fatalf("%v allocs per subject lookup", n)
	}
}
