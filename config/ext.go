package config

import (
	"slices"
	"strconv"

	"github.com/msgsink/msgsink/lazy"
	"github.com/msgsink/msgsink/sink"
)

// Extension is a service type that a module outside the library provides
// (contrib/nats's "nats"), so that the library's go.mod does not carry that
// module's dependencies. Load and Parse take the extensions to accept. A service of its type takes the keys of a relay
// service but endpoint (type, domain, metadata and every setting of
// [defaults], read into Service.Sink as for a relay), plus its own Keys,
// which Check validates into Service.Ext. Unknown keys get the same "did you
// mean" suggestions and line numbers as every other service's.
type Extension struct {
	Type sink.Kind // the services.toml type, e.g. "nats"
	Keys []string  // its own keys, e.g. "endpoint", "subject"
	// Check reads the service's own keys from the decoded table m (values
	// as the TOML decoder gives them: string, int64, float64, bool, ...),
	// reports what is wrong through c, and returns the settings its
	// constructor needs, kept in Service.Ext. It is called once per service,
	// also when other keys have errors.
	Check func(c *Checker, m map[string]any) any
}

// provider is the module that provides an extension type and the option
// that enables it.
type provider struct{ module, option string }

// providers names the module of each type known to be an Extension, so that
// a file naming one without it loaded says what to add rather than
// "unknown type".
var providers = map[sink.Kind]provider{
	"nats": {"github.com/msgsink/msgsink/contrib/nats", "natssink.Option()"},
}

// Provider says what enables the extension type t ("needs MODULE: pass
// OPTION"), or returns "" for a type no known module provides.
func Provider(t sink.Kind) string {
	pr, ok := providers[t]
	if !ok {
		return ""
	}
	return "needs " + pr.module + ": pass " + pr.option
}

// Checker reports the problems of an extension service's own keys, with the
// file, line, service and key, as every other problem is reported, and reads
// their values with the messages every other key gets.
type Checker struct {
	p  *parser
	sc scope
}

// Errorf reports a problem with key: format says what is wrong, hint what
// to change.
func (c *Checker) Errorf(key, hint, format string, args ...any) {
	c.p.errorf(c.sc, key, hint, format, args...)
}

// String returns the string value of key in m; ok is false when it is
// absent or reported (not a string). example is a valid value, for the hint.
func (c *Checker) String(m map[string]any, key, example string) (s string, ok bool) {
	v, present := m[key]
	if !present {
		return "", false
	}
	if s, ok = v.(string); !ok {
		c.Errorf(key, "write "+key+" = "+strconv.Quote(example)+" (a quoted string)", "%s must be a string, not %s", key, tomlType(v))
	}
	return s, ok
}

// Bool returns the boolean value of key in m, as String does.
func (c *Checker) Bool(m map[string]any, key string) (b, ok bool) {
	v, present := m[key]
	if !present {
		return false, false
	}
	return boolean(c.p, c.sc, key, v)
}

// Int returns the integer value of key in m, from lo to hi, as String does.
func (c *Checker) Int(m map[string]any, key string, lo, hi int64, example string) (int, bool) {
	v, present := m[key]
	if !present {
		return 0, false
	}
	return integer(lo, hi, example)(c.p, c.sc, key, v)
}

// Missing reports a required key that m lacks, at the service's header line.
func (c *Checker) Missing(key, hint string) { c.p.missing(c.sc, key, hint) }

// missing reports a required key that a table lacks, at its header line.
func (p *parser) missing(sc scope, key, hint string) {
	p.errs = append(p.errs, &Error{File: p.file, Line: p.lines.line(sc.path...), Service: sc.service,
		Key: key, Msg: "missing required key " + strconv.Quote(key), Hint: hint})
}

// extension returns the registered extension for the type in m, or reports
// an extension type that is known but not registered; handled is false for
// the library's own types (and types nobody provides), which service reads.
func (p *parser) extension(sc scope, s *Service, m map[string]any) (e *Extension, handled bool) {
	t, _ := m["type"].(string)
	for i := range p.exts {
		if string(p.exts[i].Type) == t {
			return &p.exts[i], true
		}
	}
	if pr, ok := providers[sink.Kind(t)]; ok {
		s.Type = sink.Kind(t)
		p.errorf(sc, "type", "pass "+pr.option+" to factory.FromFile (or its Extension to config.Load)",
			"type %q needs %s", t, pr.module)
		return nil, true
	}
	return nil, false
}

// extService reads a service of extension type e: the keys it shares with a
// relay service into s.Sink, its own keys through e.Check into s.Ext.
func (p *parser) extService(sc scope, s Service, m map[string]any, base lazy.Config, e *Extension) Service {
	s.Type = e.Type
	valid := slices.DeleteFunc(slices.Clone(sinkKeys), func(k string) bool { return k == "endpoint" })
	valid = append(valid, e.Keys...)
	for _, k := range sortedKeys(m) {
		switch {
		case slices.Contains(valid, k):
		case slices.Contains(allSvcKeys, k):
			p.errorf(sc, k, "remove it", "key %q does not belong to a %s service", k, s.Type)
		default:
			p.unknown(sc, k, valid)
		}
	}
	if v, ok := m["metadata"]; ok {
		s.Metadata = p.metadata(sc, v)
	}
	s.Sink = p.sinkSettings(sc, m, base, inRelay)
	if e.Check != nil {
		s.Ext = e.Check(&Checker{p: p, sc: sc}, m)
	}
	return s
}
