package config

import (
	"fmt"
	"math"
	"slices"
	"strconv"
	"strings"
	"time"

	"github.com/msgsink/msgsink/lazy"
	"github.com/msgsink/msgsink/ring"
	"github.com/msgsink/msgsink/sink"
	"github.com/msgsink/msgsink/tlv"
)

// places says where a key may be written: a bit per kind of table.
type places uint8

const (
	inDefaults places = 1 << iota
	inRelay
	inDirect
	inComposite

	inSink     = inRelay | inDirect
	inSettings = inDefaults | inSink
	inService  = inSink | inComposite
)

// key is one row of the table of services.toml keys: its name, where it may
// be written and, for a setting of a relay or direct sink, how its value is
// read and where it goes in the lazy.Config (apply). The lists of valid keys,
// the "did you mean" suggestions and the hints all come from these rows; the
// enumerations' names and the defaults in the hints come from the packages
// that own them. Keys without apply (type, endpoint, metadata, the TLS and
// composite keys) are read by the code for their table, because each depends
// on another (an endpoint on the type, the TLS keys on the endpoint).
type key struct {
	name  string
	in    places
	apply func(p *parser, sc scope, v any, c *lazy.Config)
}

// keyTable holds every key of a [defaults] or [services.NAME] table, in the
// order messages list them.
var keyTable = []key{
	{name: "type", in: inService},
	{name: "endpoint", in: inSink},
	setting("domain", inSink, enumOf(tlv.DomainNames(), tlv.ParseDomain),
		func(c *lazy.Config, d tlv.Domain) { c.Validator.Domain = d }),
	{name: "metadata", in: inService},
	setting("buffer_size", inSettings, integer(1, ring.MaxCapacity, strconv.Itoa(lazy.DefaultBufferSize)),
		func(c *lazy.Config, n int) { c.BufferSize = n }),
	setting("max_batch", inSettings, integer(1, lazy.MaxBatchLimit, strconv.Itoa(lazy.DefaultMaxBatch)),
		func(c *lazy.Config, n int) { c.MaxBatch = n }),
	setting("idle", inSettings, enumOf(lazy.IdleNames(), lazy.ParseIdle),
		func(c *lazy.Config, i lazy.Idle) { c.Idle = i }),
	setting("connect_timeout", inSettings, durationAtLeast(minConnectTimeout, lazy.DefaultConnectTimeout),
		func(c *lazy.Config, d time.Duration) { c.ConnectTimeout = d }),
	setting("backlog", inSettings, enumOf(lazy.BacklogNames(), lazy.ParseBacklog),
		func(c *lazy.Config, b lazy.Backlog) { c.Backlog = b }),
	setting("delivery", inSettings, enumOf(lazy.DeliveryNames(), lazy.ParseDelivery),
		func(c *lazy.Config, d lazy.Delivery) { c.Delivery = d }),
	setting("validation", inSettings, enumOf(tlv.LevelNames(), tlv.ParseLevel),
		func(c *lazy.Config, l tlv.Level) { c.Validator.Level = l }),
	setting("precision", inSettings, enumOf(tlv.PrecisionNames(), tlv.ParsePrecision),
		func(c *lazy.Config, pr tlv.Precision) { c.Validator.Precision = pr }),
	setting("single_producer", inSettings, boolean,
		func(c *lazy.Config, b bool) { c.SingleProducer = b }),
	{name: "retry", in: inSettings, apply: (*parser).retry},
	{name: "tls_ca_file", in: inDirect},
	{name: "insecure_skip_verify", in: inDirect},
	{name: "pattern", in: inComposite},
	{name: "targets", in: inComposite},
}

// retryTable holds the keys of a retry table, [defaults.retry] or
// [services.NAME.retry].
var retryTable = []key{
	setting("initial", inSettings, duration, func(c *lazy.Config, d time.Duration) { c.Retry.Initial = d }),
	setting("max", inSettings, duration, func(c *lazy.Config, d time.Duration) { c.Retry.Max = d }),
	setting("multiplier", inSettings,
		number(1, math.MaxFloat64, "a growth factor of at least 1, e.g. multiplier = "+decimal(lazy.DefaultMultiplier)),
		func(c *lazy.Config, f float64) { c.Retry.Multiplier = f }),
	setting("jitter", inSettings,
		number(0, 1, "a fraction from 0 (none) to 1, e.g. jitter = "+decimal(lazy.DefaultJitter)),
		func(c *lazy.Config, f float64) {
			if f == 0 {
				f = -1 // lazy reads 0 as "default" and a negative jitter as none
			}
			c.Retry.Jitter = f
		}),
	setting("max_attempts", inSettings, integer(0, math.MaxInt32, "0 (retry forever)"),
		func(c *lazy.Config, n int) { c.Retry.MaxAttempts = n }),
}

// The keys valid in each place, read from the tables.
var (
	topKeys      = []string{"defaults", "services"}
	settingKeys  = keysIn(keyTable, inDefaults)
	sinkKeys     = keysIn(keyTable, inRelay)
	directKeys   = keysIn(keyTable, inDirect)
	allSvcKeys   = keysIn(keyTable, inService)
	tlsKeys      = slices.DeleteFunc(slices.Clone(directKeys), func(k string) bool { return slices.Contains(sinkKeys, k) })
	retryKeys    = keysIn(retryTable, inSettings)
	typeNames    = kindNames(sink.ServiceKinds())
	patternNames = kindNames(sink.Patterns())
)

// keysIn returns the names of the rows of table valid at a place, in order.
func keysIn(table []key, at places) []string {
	var names []string
	for _, k := range table {
		if k.in&at != 0 {
			names = append(names, k.name)
		}
	}
	return names
}

// kindNames returns the names of kinds, for messages and suggestions.
func kindNames(kinds []sink.Kind) []string {
	names := make([]string, len(kinds))
	for i, k := range kinds {
		names[i] = string(k)
	}
	return names
}

// placeOf is where the keys of a service of type t are written; 0 for a type
// that is not one.
func placeOf(t sink.Kind) places {
	switch t {
	case sink.KindRelay:
		return inRelay
	case sink.KindDirect:
		return inDirect
	case sink.KindComposite:
		return inComposite
	}
	return 0
}

// sinkSettings returns base with the settings of m that a service at at
// takes applied (a service's own keys over [defaults]), its retry table's
// order checked.
func (p *parser) sinkSettings(sc scope, m map[string]any, base lazy.Config, at places) lazy.Config {
	p.apply(sc, m, keyTable, at, &base)
	if _, own := m["retry"]; own {
		p.retryOrder(sc, m, base.Retry)
	}
	return base
}

// apply reads the keys of m that table holds for the place at into c.
func (p *parser) apply(sc scope, m map[string]any, table []key, at places, c *lazy.Config) {
	for _, k := range table {
		if v, ok := m[k.name]; ok && k.apply != nil && k.in&at != 0 {
			k.apply(p, sc, v, c)
		}
	}
}

// A value reads the value v of key, reporting what is wrong with it.
type value[T any] func(p *parser, sc scope, key string, v any) (T, bool)

// setting is the row of a key whose value, read by parse, set stores.
func setting[T any](name string, in places, parse value[T], set func(*lazy.Config, T)) key {
	return key{name: name, in: in, apply: func(p *parser, sc scope, v any, c *lazy.Config) {
		if x, ok := parse(p, sc, name, v); ok {
			set(c, x)
		}
	}}
}

// retry reads a retry table: its keys, checked against retryTable.
func (p *parser) retry(sc scope, v any, c *lazy.Config) {
	r, ok := v.(map[string]any)
	if !ok {
		p.errorf(sc, "retry", "write a retry table: [<table>.retry] with "+strings.Join(retryKeys, ", "),
			"retry must be a table, not %s", tomlType(v))
		return
	}
	rsc := sc.sub("retry")
	for _, k := range sortedKeys(r) {
		if !slices.Contains(retryKeys, k) {
			p.unknown(rsc, k, retryKeys)
		}
	}
	p.apply(rsc, r, retryTable, inSettings, c)
}

// decimal writes f with at least one decimal, as a TOML float.
func decimal(f float64) string {
	s := strconv.FormatFloat(f, 'f', -1, 64)
	if !strings.Contains(s, ".") {
		s += ".0"
	}
	return s
}

// retryOrder checks initial <= max once both are resolved, against the table
// that set one of them.
func (p *parser) retryOrder(sc scope, m map[string]any, r lazy.Retry) {
	if r.Initial <= r.Max {
		return
	}
	key := "initial"
	if rm, ok := m["retry"].(map[string]any); ok {
		if _, ok := rm["max"]; ok {
			key = "max"
		}
	}
	p.errorf(sc.sub("retry"), key, fmt.Sprintf("make retry.initial (%v) no larger than retry.max (%v)", r.Initial, r.Max),
		"retry initial %v is longer than max %v", r.Initial, r.Max)
}

func boolean(p *parser, sc scope, key string, v any) (bool, bool) {
	b, ok := v.(bool)
	if !ok {
		p.errorf(sc, key, "write "+key+" = true or false (no quotes)", "%s must be a boolean, not %s", key, tomlType(v))
	}
	return b, ok
}

// integer reads an integer from lo to hi; example is shown when v is not one.
func integer(lo, hi int64, example string) value[int] {
	return func(p *parser, sc scope, key string, v any) (int, bool) {
		n, ok := v.(int64)
		if !ok {
			p.errorf(sc, key, "write "+key+" = "+example+" (an integer, no quotes)", "%s must be an integer, not %s", key, tomlType(v))
			return 0, false
		}
		if n < lo || n > hi {
			p.errorf(sc, key, fmt.Sprintf("use a value from %d to %d", lo, hi), "%s %d is out of range", key, n)
			return 0, false
		}
		return int(n), true
	}
}

// number reads a number from lo to hi; want says what is wanted.
func number(lo, hi float64, want string) value[float64] {
	return func(p *parser, sc scope, key string, v any) (float64, bool) {
		var f float64
		switch v := v.(type) {
		case float64:
			f = v
		case int64:
			f = float64(v)
		default:
			p.errorf(sc, key, "want "+want, "%s must be a number, not %s", key, tomlType(v))
			return 0, false
		}
		if math.IsNaN(f) || f < lo || f > hi {
			p.errorf(sc, key, "want "+want, "%s %v is out of range", key, f)
			return 0, false
		}
		return f, true
	}
}

// duration reads a positive Go duration string.
func duration(p *parser, sc scope, key string, v any) (time.Duration, bool) {
	s, ok := v.(string)
	if !ok {
		p.errorf(sc, key, `write a quoted duration with a unit, e.g. `+key+` = "2s" or "10ms"`,
			"%s must be a duration string, not %s", key, tomlType(v))
		return 0, false
	}
	d, err := time.ParseDuration(s)
	if err != nil {
		p.errorf(sc, key, `write a duration such as "10ms", "2s" or "1m30s"`, "%s %q is not a duration", key, s)
		return 0, false
	}
	if d <= 0 {
		p.errorf(sc, key, `write a positive duration such as "10ms" or "2s"`, "%s %q must be greater than zero", key, s)
		return 0, false
	}
	return d, true
}

// minConnectTimeout is the shortest connect_timeout: no dial completes in
// less, so a shorter one ("1ns") would make every connect time out.
const minConnectTimeout = time.Millisecond

// durationAtLeast reads a duration of at least lo; def is the default shown
// in the hint.
func durationAtLeast(lo, def time.Duration) value[time.Duration] {
	return func(p *parser, sc scope, key string, v any) (time.Duration, bool) {
		d, ok := duration(p, sc, key, v)
		if ok && d < lo {
			p.errorf(sc, key, fmt.Sprintf("write %s = %q or longer (the default is %q)", key, lo.String(), def.String()),
				"%s %q is shorter than %v", key, v, lo)
			return 0, false
		}
		return d, ok
	}
}

// enumOf reads one of names, as parse maps it: the names and the parser
// are the owning package's.
func enumOf[T any](names []string, parse func(string) (T, bool)) value[T] {
	return func(p *parser, sc scope, key string, v any) (T, bool) {
		var zero T
		s, ok := p.enum(sc, key, v, names)
		if !ok {
			return zero, false
		}
		return parse(s)
	}
}

func (p *parser) enum(sc scope, key string, v any, names []string) (string, bool) {
	s, ok := v.(string)
	if !ok {
		p.errorf(sc, key, "write "+key+" = "+oneOf(names), "%s must be a string, not %s", key, tomlType(v))
		return "", false
	}
	if !slices.Contains(names, s) {
		p.errorf(sc, key, hintOr(didYouMean(s, names), "want "+oneOf(names)), "unknown %s %q", key, s)
		return "", false
	}
	return s, true
}
