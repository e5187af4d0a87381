package tlv_test

import (
	"strings"
	"sync"
	"testing"

	"github.com/msgsink/msgsink/tlv"
)

func build(t testing.TB, b *tlv.Builder) *tlv.Message {
	t.Helper()
	b.AppendTrade(&tlv.Trade{Instrument: 1, Price: tlv.PriceScale, Volume: tlv.PriceScale})
	m, err := b.FinishAt(1)
	if err != nil {
		t.Fatal(err)
	}
	return m
}

// buildSet builds n messages from b and returns them as a set.
func buildSet(t *testing.T, b *tlv.Builder, n int) map[*tlv.Message]bool {
	t.Helper()
	got := make(map[*tlv.Message]bool, n)
	for range n {
		m := build(t, b)
		if got[m] {
			t.Fatalf("the builder handed out %p twice", m)
		}
		got[m] = true
	}
	return got
}

func sameSet(a, b map[*tlv.Message]bool) bool {
	if len(a) != len(b) {
		return false
	}
	for m := range a {
		if !b[m] {
			return false
		}
	}
	return true
}

// ReleaseAll over a slice that mixes two builders' messages, interleaved
// in runs, copies, and messages with references left: each builder gets
// back exactly its own messages whose last reference went, once each; the
// retained ones stay readable until their last Release sends them home too.
func TestReleaseAllMixed(t *testing.T) {
	a, b := tlv.NewBuilder(tlv.DomainMarketData, 1), tlv.NewBuilder(tlv.DomainMarketData, 2)
	var v tlv.Validator
	a1, a2, a3, a4, a5 := build(t, a), build(t, a), build(t, a), build(t, a), build(t, a)
	b1, b2, b3, b4 := build(t, b), build(t, b), build(t, b), build(t, b)
	c1, err := v.Copy(a1.Bytes())
	if err != nil {
		t.Fatal(err)
	}
	c2, _ := v.Copy(b1.Bytes())
	c3, _ := v.Copy(b1.Bytes())
	a5.RetainN(2) // three holders: one goes in ReleaseAll, twice
	b4.Retain()   // two holders
	c3.Retain()   // a copy with two holders

	ms := []*tlv.Message{a1, b1, a2, a3, c1, b2, b3, a5, a4, c2, a5, b4, c3}
	tlv.ReleaseAll(ms)

	// a5 (one reference left), b4 and c3 (one each) are still readable.
	for name, m := range map[string]*tlv.Message{"a5": a5, "b4": b4, "c3": c3} {
		if _, err := tlv.Parse(m.Bytes()); err != nil {
			t.Fatalf("%s, still held, was recycled: %v", name, err)
		}
	}
	wantA := map[*tlv.Message]bool{a1: true, a2: true, a3: true, a4: true}
	wantB := map[*tlv.Message]bool{b1: true, b2: true, b3: true}
	gotA, gotB := buildSet(t, a, 4), buildSet(t, b, 3)
	if !sameSet(gotA, wantA) || !sameSet(gotB, wantB) {
		t.Fatalf("after ReleaseAll, builder a rebuilt in %v (want %v), b in %v (want %v)", gotA, wantA, gotB, wantB)
	}
	// The free lists hold nothing else: the next builds are new messages.
	extraA, extraB := build(t, a), build(t, b)
	if wantA[extraA] || extraA == a5 || wantB[extraB] || extraB == b4 {
		t.Fatal("a builder handed out a message twice, or one still held")
	}
	// The last references go: a5 and b4 go home (one run each), c3 to the
	// pool; then the builders take them.
	tlv.ReleaseAll([]*tlv.Message{a5, b4, c3})
	if m := build(t, a); m != a5 {
		t.Fatalf("a5's last reference went through ReleaseAll, but its builder made %p, not a5", m)
	}
	if m := build(t, b); m != b4 {
		t.Fatalf("b4's last reference went through ReleaseAll, but its builder made %p, not b4", m)
	}
	// And everything built here goes back through plain Release too.
	for m := range gotA {
		m.Release()
	}
	for m := range gotB {
		m.Release()
	}
	extraA.Release()
	extraB.Release()
	if again := buildSet(t, a, 6); !again[extraA] || !again[a1] {
		t.Fatal("Release after ReleaseAll did not return the messages to their builder")
	}
}

// Empty and nil slices are fine; a slice of one is Release.
func TestReleaseAllEdges(t *testing.T) {
	tlv.ReleaseAll(nil)
	tlv.ReleaseAll([]*tlv.Message{})
	b := tlv.NewBuilder(tlv.DomainMarketData, 1)
	m := build(t, b)
	tlv.ReleaseAll([]*tlv.Message{m})
	if again := build(t, b); again != m {
		t.Fatal("ReleaseAll of one message did not return it to its builder")
	}
}

// Releasing a message more often than it was retained panics through
// ReleaseAll as through Release, in every build.
func TestReleaseAllDoubleRelease(t *testing.T) {
	cases := map[string]func(m *tlv.Message){
		"ReleaseAll then Release": func(m *tlv.Message) {
			tlv.ReleaseAll([]*tlv.Message{m})
			m.Release()
		},
		"Release then ReleaseAll": func(m *tlv.Message) {
			m.Release()
			tlv.ReleaseAll([]*tlv.Message{m})
		},
		"twice in one ReleaseAll": func(m *tlv.Message) {
			tlv.ReleaseAll([]*tlv.Message{m, m})
		},
		"ReleaseAll twice": func(m *tlv.Message) {
			tlv.ReleaseAll([]*tlv.Message{m})
			tlv.ReleaseAll([]*tlv.Message{m})
		},
	}
	for name, misuse := range cases {
		for _, copied := range []bool{false, true} {
			kind := "built"
			if copied {
				kind = "copy"
			}
			t.Run(name+"/"+kind, func(t *testing.T) {
				m := build(t, tlv.NewBuilder(tlv.DomainMarketData, 1))
				if copied {
					c, err := tlv.Validator{}.Copy(m.Bytes())
					if err != nil {
						t.Fatal(err)
					}
					m.Release()
					m = c
				}
				defer func() {
					r := recover()
					if s, _ := r.(string); !strings.Contains(s, "released more times than it was retained") {
						t.Fatalf("recovered %v, want the double release panic", r)
					}
				}()
				misuse(m)
			})
		}
	}
}

// A builder's goroutine builds while another releases what it built in
// batches, as a sink's writer does: no message is handed out again while
// it is still held, and every one comes back (run it under -race).
func TestReleaseAllConcurrentWithBuilding(t *testing.T) {
	a, b := tlv.NewBuilder(tlv.DomainMarketData, 1), tlv.NewBuilder(tlv.DomainMarketData, 2)
	var (
		mu       sync.Mutex
		inFlight = make(map[*tlv.Message]bool)
		batches  = make(chan []*tlv.Message, 4)
		wg       sync.WaitGroup
	)
	wg.Go(func() {
		for batch := range batches {
			mu.Lock()
			for _, m := range batch {
				delete(inFlight, m)
			}
			mu.Unlock()
			tlv.ReleaseAll(batch)
		}
	})
	const rounds, size = 2000, 16
	for i := range rounds {
		batch := make([]*tlv.Message, size)
		for j := range batch {
			from := a
			if (i+j/3)%2 == 1 { // runs of three from each builder
				from = b
			}
			m := build(t, from)
			mu.Lock()
			if inFlight[m] {
				mu.Unlock()
				t.Fatalf("round %d: the builder handed out %p again while it was still held", i, m)
			}
			inFlight[m] = true
			mu.Unlock()
			batch[j] = m
		}
		batches <- batch
	}
	close(batches)
	wg.Wait()
}

// A giant message goes home without its buffer, which the GC takes; the
// builder builds the next message in it with a fresh one, whole and valid.
func TestReleaseAllGiant(t *testing.T) {
	b := tlv.NewBuilder(tlv.DomainMarketData, 1)
	body := make([]byte, 60000) // two records: more than the pool keeps
	b.Append(5, body)
	b.Append(5, body)
	giant, err := b.FinishAt(1)
	if err != nil {
		t.Fatal(err)
	}
	small := build(t, b)
	tlv.ReleaseAll([]*tlv.Message{giant, small})
	again := map[*tlv.Message]bool{build(t, b): true, build(t, b): true}
	if !again[giant] || !again[small] {
		t.Fatal("the giant and the small message did not both go back to their builder")
	}
	for m := range again {
		if _, err := tlv.Parse(m.Bytes()); err != nil || m.Len() > 1024 {
			t.Fatalf("rebuilt message of %d bytes: %v", m.Len(), err)
		}
		m.Release()
	}
}
