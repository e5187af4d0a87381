//go:build !race

package tlv_test

import (
	"testing"

	"github.com/msgsink/msgsink/tlv"
)

// The hot path allocates nothing: these are the proofs (the race detector
// allocates on its own, hence the build tag).

func assertNoAllocs(t *testing.T, name string, f func()) {
	t.Helper()
	if n := testing.AllocsPerRun(1000, f); n != 0 {
		t.Errorf("%s: %v allocs/op, want 0", name, n)
	}
}

func TestAllocsParse(t *testing.T) {
	msg := message150(false)
	sum := message150(true)
	for _, v := range []tlv.Validator{{Level: tlv.LevelPerformance}, {}, {Level: tlv.LevelAudit}, {Precision: tlv.PrecisionExchange, Domain: tlv.DomainMarketData}} {
		assertNoAllocs(t, "Parse/"+v.Level.String(), func() {
			if _, err := v.Parse(msg); err != nil {
				t.Fatal(err)
			}
		})
	}
	assertNoAllocs(t, "Parse/checksum", func() {
		if _, err := tlv.Parse(sum); err != nil {
			t.Fatal(err)
		}
	})
	assertNoAllocs(t, "FrameSize", func() {
		if _, err := (tlv.Validator{}).FrameSize(msg); err != nil {
			t.Fatal(err)
		}
	})
}

func TestAllocsIterateAndViews(t *testing.T) {
	frames := everyRecordFrames()
	assertNoAllocs(t, "iterate+views", func() {
		for _, f := range frames {
			sinkU64 += readAll(f)
		}
	})
	assertNoAllocs(t, "header", func() {
		h := frames[0].Header()
		sinkU64 += uint64(h.Magic()) + uint64(h.Domain()) + uint64(h.Version()+h.Source()) + uint64(h.Flags()) +
			h.Sequence() + h.Timestamp() + uint64(h.PayloadSize()) + uint64(h.Checksum())
	})
}

func TestAllocsBuild(t *testing.T) {
	b := tlv.NewBuilder(tlv.DomainMarketData, 1)
	cases := map[string]func(){
		"trade":     func() { b.AppendTrade(&fxTrade) },
		"3 records": func() { build3(b) },
		"book": func() {
			b.AppendOrderBook(&tlv.OrderBook{}, make([]tlv.BookLevel, 50), make([]tlv.BookLevel, 50))
		},
		"pool swap": func() { b.AppendPoolSwap(&tlv.PoolSwap{}); b.AppendGasPrice(&tlv.GasPrice{}) },
	}
	for name, add := range cases {
		for _, checksum := range []bool{false, true} {
			b.Checksum = checksum
			assertNoAllocs(t, "build+finish+release/"+name, func() {
				add()
				m, err := b.Finish()
				if err != nil {
					t.Fatal(err)
				}
				m.Retain()
				m.Release()
				m.Release()
			})
		}
	}
	for d, add := range map[tlv.Domain]func(b *tlv.Builder){
		tlv.DomainSignal: func(b *tlv.Builder) {
			b.AppendSignalIdentity(&tlv.SignalIdentity{})
			b.AppendEconomics(&tlv.Economics{})
		},
		tlv.DomainExecution: func(b *tlv.Builder) { b.AppendOrderRequest(&tlv.OrderRequest{}); b.AppendFill(&tlv.Fill{}) },
		tlv.DomainSystem: func(b *tlv.Builder) {
			b.AppendHeartbeat(&tlv.Heartbeat{})
			b.AppendTraceContext(&tlv.TraceContext{})
			b.AppendSubscribe(tlv.RoleConsumer)
		},
	} {
		b := tlv.NewBuilder(d, 1)
		assertNoAllocs(t, "build/"+d.String(), func() {
			add(b)
			m, err := b.FinishAt(1)
			if err != nil {
				t.Fatal(err)
			}
			m.Release()
		})
	}
}

func TestAllocsCheckAndCopy(t *testing.T) {
	b := tlv.NewBuilder(tlv.DomainMarketData, 1)
	build3(b)
	m, _ := b.Finish()
	defer m.Release()
	v := tlv.Validator{Domain: tlv.DomainMarketData}
	assertNoAllocs(t, "Check", func() {
		if err := v.Check(m); err != nil {
			t.Fatal(err)
		}
	})
	assertNoAllocs(t, "Copy+Release", func() {
		c, err := v.Copy(m.Bytes())
		if err != nil {
			t.Fatal(err)
		}
		c.Release()
	})
}

// A fan-out's references: RetainN for the extra holders, one Release each,
// and the last one recycles the message to its builder.
func TestAllocsRetainN(t *testing.T) {
	b := tlv.NewBuilder(tlv.DomainMarketData, 1)
	assertNoAllocs(t, "build+RetainN+release", func() {
		b.AppendTrade(&fxTrade)
		m, err := b.FinishAt(1)
		if err != nil {
			t.Fatal(err)
		}
		m.RetainN(2)
		for range 3 {
			m.Release()
		}
	})
}

// A writer's batch release: two builders' messages interleaved in runs, a
// copy and a message with a reference left, all through ReleaseAll; once
// warm, building them again reuses the released ones and allocates nothing.
func TestAllocsReleaseAll(t *testing.T) {
	a, b := tlv.NewBuilder(tlv.DomainMarketData, 1), tlv.NewBuilder(tlv.DomainMarketData, 2)
	v := tlv.Validator{}
	batch := make([]*tlv.Message, 0, 16)
	next := func(from *tlv.Builder) *tlv.Message {
		from.AppendTrade(&fxTrade)
		m, err := from.FinishAt(1)
		if err != nil {
			t.Fatal(err)
		}
		return m
	}
	assertNoAllocs(t, "build+ReleaseAll", func() {
		batch = batch[:0]
		for i := range 12 {
			from := a
			if i/4%2 == 1 {
				from = b
			}
			batch = append(batch, next(from))
		}
		c, err := v.Copy(batch[0].Bytes())
		if err != nil {
			t.Fatal(err)
		}
		held := batch[5]
		held.Retain()
		batch = append(batch, c)
		tlv.ReleaseAll(batch)
		held.Release()
	})
}

// Refusing a nil or released message allocates nothing: a sink's Send
// returns the refusal on the hot path.
func TestAllocsCheckRefusal(t *testing.T) {
	b := tlv.NewBuilder(tlv.DomainMarketData, 1)
	build3(b)
	m, _ := b.Finish()
	m.Release()
	for _, c := range []struct {
		name string
		m    *tlv.Message
	}{{"nil", nil}, {"released", m}} {
		assertNoAllocs(t, "Check/"+c.name, func() {
			if err := (tlv.Validator{}).Check(c.m); err == nil {
				t.Fatal("accepted")
			}
		})
	}
}
