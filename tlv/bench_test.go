package tlv_test

import (
	"testing"

	"github.com/msgsink/msgsink/tlv"
)

// Benchmarks are named key=value so that benchstat can pivot them, e.g.
//
//	go test -run '^$' -bench . -count=10 ./tlv > new.txt
//	benchstat -col /checksum old.txt new.txt

func BenchmarkParse(b *testing.B) {
	for _, checksum := range []bool{false, true} {
		msg := message150(checksum)
		for _, lvl := range []tlv.Level{tlv.LevelPerformance, tlv.LevelStandard, tlv.LevelAudit} {
			v := tlv.Validator{Level: lvl}
			name := "tlvs=3/size=150/level=" + lvl.String() + "/checksum=" + onOff(checksum)
			b.Run(name, func(b *testing.B) {
				b.SetBytes(int64(len(msg)))
				b.ReportAllocs()
				for b.Loop() {
					if _, err := v.Parse(msg); err != nil {
						b.Fatal(err)
					}
				}
			})
		}
	}
}

func BenchmarkIterate(b *testing.B) {
	f := tlv.Frame(message150(false))
	b.Run("tlvs=3", func(b *testing.B) {
		b.ReportAllocs()
		for b.Loop() {
			n := 0
			it := f.Records()
			for it.Next() {
				n += len(it.Value())
			}
			sinkU64 += uint64(n)
		}
	})
}

func BenchmarkViews(b *testing.B) {
	frames := everyRecordFrames()
	b.Run("types=all", func(b *testing.B) {
		b.ReportAllocs()
		for b.Loop() {
			for _, f := range frames {
				sinkU64 += readAll(f)
			}
		}
	})
	v := tlv.TradeView(fxTradeValue())
	b.Run("types=trade", func(b *testing.B) {
		b.ReportAllocs()
		for b.Loop() {
			sinkU64 += uint64(v.Price()) + uint64(v.Volume()) + v.Instrument()
		}
	})
}

func fxTradeValue() []byte {
	it := tlv.Frame(message150(false)).Records()
	it.Next()
	return it.Value()
}

// BenchmarkBuild measures build + finish + release of one message: the whole
// producer-side cost when no sink is involved. clock=given uses FinishAt with
// a timestamp the producer already holds; clock=now reads the wall clock.
func BenchmarkBuild(b *testing.B) {
	for _, msg := range []struct {
		name string
		add  func(b *tlv.Builder)
	}{
		{"trade", func(b *tlv.Builder) { b.AppendTrade(&fxTrade) }},
		{"tlvs=3", build3},
	} {
		for _, clock := range []string{"given", "now"} {
			for _, checksum := range []bool{false, true} {
				bld := tlv.NewBuilder(tlv.DomainMarketData, 1)
				bld.Checksum = checksum
				b.Run("msg="+msg.name+"/clock="+clock+"/checksum="+onOff(checksum), func(b *testing.B) {
					b.ReportAllocs()
					ts := uint64(1_700_000_000_000_000_000)
					for b.Loop() {
						msg.add(bld)
						var m *tlv.Message
						var err error
						if clock == "now" {
							m, err = bld.Finish()
						} else {
							ts++
							m, err = bld.FinishAt(ts)
						}
						if err != nil {
							b.Fatal(err)
						}
						m.Release()
					}
				})
			}
		}
	}
}

// BenchmarkBuildBatchRelease builds 64 Trades, then releases them together,
// as a sink's writer does after one writev: the producer's Swap that takes
// the released messages back is then paid once per 64 builds.
func BenchmarkBuildBatchRelease(b *testing.B) {
	bld := tlv.NewBuilder(tlv.DomainMarketData, 1)
	var batch [64]*tlv.Message
	b.Run("msg=trade/release=batch64", func(b *testing.B) {
		b.ReportAllocs()
		ts, i := uint64(1_700_000_000_000_000_000), 0
		for b.Loop() {
			bld.AppendTrade(&fxTrade)
			ts++
			m, err := bld.FinishAt(ts)
			if err != nil {
				b.Fatal(err)
			}
			batch[i] = m
			if i++; i == len(batch) {
				for _, m := range batch {
					m.Release()
				}
				i = 0
			}
		}
		for _, m := range batch[:i] {
			m.Release()
		}
	})
}

func BenchmarkCheck(b *testing.B) {
	bld := tlv.NewBuilder(tlv.DomainMarketData, 1)
	build3(bld)
	m, _ := bld.Finish()
	defer m.Release()
	for _, v := range []tlv.Validator{{Domain: tlv.DomainMarketData}, {Level: tlv.LevelAudit}} {
		b.Run("built=true/level="+v.Level.String(), func(b *testing.B) {
			b.ReportAllocs()
			for b.Loop() {
				if err := v.Check(m); err != nil {
					b.Fatal(err)
				}
			}
		})
	}
}

func onOff(on bool) string {
	if on {
		return "on"
	}
	return "off"
}
