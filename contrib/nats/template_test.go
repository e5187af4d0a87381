package natssink

import (
	"strings"
	"testing"

	"github.com/msgsink/msgsink/tlv"
)

func TestTemplate(t *testing.T) {
	for _, c := range []struct {
		tmpl, name string
		d          tlv.Domain
		src        uint8
		want, err  string
	}{
		{tmpl: DefaultSubject, d: tlv.DomainSignal, src: 12, want: "msgsink.signal.12"},
		{tmpl: "feeds.{name}.{source}.{domain}", name: "md", d: tlv.DomainMarketData, src: 0, want: "feeds.md.0.market_data"},
		{tmpl: "fixed.subject", want: "fixed.subject"},
		{tmpl: "x.{nme}", err: "unknown placeholder {nme}"},
		{tmpl: "x.{source", err: "unclosed"},
		{tmpl: "x..{source}", err: "empty token"},
		{tmpl: "x.*", err: "wildcard"},
		{tmpl: "x.>", err: "wildcard"},
		{tmpl: "x y", err: "whitespace"},
		{tmpl: "{name}.x", name: "", err: "empty token"},
	} {
		tp, err := parseTemplate(c.tmpl, c.name)
		if c.err != "" {
			if err == nil || !strings.Contains(err.Error(), c.err) {
				t.Errorf("parseTemplate(%q): %v, want an error with %q", c.tmpl, err, c.err)
			}
			continue
		}
		if err != nil {
			t.Errorf("parseTemplate(%q): %v", c.tmpl, err)
			continue
		}
		if got := tp.render(c.d, c.src); got != c.want {
			t.Errorf("%q renders %q, want %q", c.tmpl, got, c.want)
		}
	}
}
