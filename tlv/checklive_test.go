package tlv_test

import (
	"errors"
	"testing"

	"github.com/msgsink/msgsink/tlv"
)

// TestCheckLive: a nil or released message is refused as malformed, with a
// typed detail, by CheckLive and by Check at every level; it never panics
// (SPEC section 3, "Bad calls"). A held message passes.
func TestCheckLive(t *testing.T) {
	b := tlv.NewBuilder(tlv.DomainMarketData, 1)
	b.AppendTrade(&tlv.Trade{Instrument: 1, Price: tlv.PriceScale, Volume: tlv.PriceScale})
	live, err := b.Finish()
	if err != nil {
		t.Fatal(err)
	}
	defer live.Release()
	b.AppendTrade(&tlv.Trade{Instrument: 2, Price: tlv.PriceScale, Volume: tlv.PriceScale})
	gone, err := b.Finish()
	if err != nil {
		t.Fatal(err)
	}
	gone.Release() // on the builder's free list now, bytes intact
	copied, err := tlv.Validator{}.Copy(live.Bytes())
	if err != nil {
		t.Fatal(err)
	}
	copied.Release()

	if err := live.CheckLive(); err != nil {
		t.Fatalf("CheckLive of a held message: %v", err)
	}
	validators := []tlv.Validator{{}, {Level: tlv.LevelPerformance}, {Level: tlv.LevelAudit},
		{Domain: tlv.DomainMarketData}, {Precision: tlv.PrecisionExchange}}
	for _, c := range []struct {
		name  string
		m     *tlv.Message
		field string
	}{
		{"nil", nil, "message"},
		{"released", gone, "message reference count"},
		{"released copy", copied, "message reference count"},
	} {
		t.Run(c.name, func(t *testing.T) {
			errs := []error{c.m.CheckLive()}
			for _, v := range validators {
				errs = append(errs, v.Check(c.m))
			}
			for i, err := range errs {
				var me *tlv.MalformedError
				if !errors.Is(err, tlv.ErrMalformed) || !errors.As(err, &me) || me.Field != c.field {
					t.Fatalf("check %d: %v, want a *MalformedError for field %q", i, err, c.field)
				}
			}
		})
	}
}
