package config

import (
	"bytes"
	"crypto/tls"
	"crypto/x509"
	"errors"
	"fmt"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"time"

	"github.com/BurntSushi/toml"

	"github.com/msgsink/msgsink/lazy"
	"github.com/msgsink/msgsink/sink"
	"github.com/msgsink/msgsink/transport"
)

// Service is one validated [services.NAME] table. Its identity (Name, Type,
// Endpoint, Metadata) is stated here once; Sink holds the settings only, so
// that a Resolver that moves a service changes one field.
type Service struct {
	Name string
	Type sink.Kind // sink.KindRelay, sink.KindDirect, sink.KindComposite or an Extension's type
	Line int       // the line of its table header

	// Endpoint is the parsed endpoint of a relay or direct service.
	Endpoint transport.Endpoint
	// Metadata holds the free-form strings of [services.NAME.metadata].
	Metadata map[string]string

	// Sink holds the fully resolved settings of a relay or direct service:
	// built-in defaults, then [defaults], then the service's own keys.
	// Validator is filled; Dialer is a *transport.Dialer with the TLS config
	// of a wss:// service with tls_ca_file or insecure_skip_verify, nil
	// otherwise (lazy's default, a relay's for a relay service). Its Name,
	// Kind, Endpoint and Metadata are left empty: they are the Service's,
	// and LazyConfig joins the two.
	Sink lazy.Config

	Pattern sink.Kind // composite: sink.KindFanout, KindRoundRobin or KindFailover
	Targets []string  // composite: the names of its member services, in order

	// Ext holds the settings of a service of an Extension type, as its
	// Check returned them; Sink holds its common settings.
	Ext any
}

// LazyConfig returns the configuration of a relay or direct service's sink:
// Sink with the service's identity.
func (s Service) LazyConfig() lazy.Config {
	c := s.Sink
	c.Name, c.Kind, c.Endpoint, c.Metadata = s.Name, s.Type, s.Endpoint, s.Metadata
	return c
}

// File is a validated services.toml.
type File struct {
	Path     string
	Services map[string]Service
}

// Names returns the service names in sorted order.
func (f *File) Names() []string {
	names := make([]string, 0, len(f.Services))
	for n := range f.Services {
		names = append(names, n)
	}
	slices.Sort(names)
	return names
}

// Load reads and validates a services.toml. A file that cannot be read gives
// the os error, wrapped; a file with problems gives a *Error (one problem) or
// Errors (several), both matching ErrInvalidConfig. A path that is not a
// regular file (a directory, a named pipe, a device) or holds more than
// MaxFileSize bytes is refused before it is read, with a *Error without a
// line. Load never dials, and never blocks on a named pipe.
func Load(path string, exts ...Extension) (*File, error) {
	data, err := readRegular(path, MaxFileSize)
	if err != nil {
		var fe *fileError
		if errors.As(err, &fe) {
			return nil, &Error{File: path, Msg: "this is " + fe.what, Hint: fe.hint}
		}
		return nil, fmt.Errorf("config: %w", err)
	}
	return Parse(path, data, exts...)
}

// Parse validates data as a services.toml named filename (used in messages
// only). Its errors are those of Load. Data over MaxFileSize bytes, or whose
// tables and arrays nest deeper than MaxDepth, is refused before it is
// decoded.
func Parse(filename string, data []byte, exts ...Extension) (*File, error) {
	if len(data) > MaxFileSize {
		return nil, &Error{File: filename, Msg: fmt.Sprintf("%d bytes, more than the %d a services.toml may have", len(data), MaxFileSize),
			Hint: "keep the file under 1 MiB: it needs far less"}
	}
	if line := tooDeep(data); line > 0 {
		return nil, &Error{File: filename, Line: line,
			Msg:  fmt.Sprintf("tables and arrays nest deeper than %d levels here", MaxDepth),
			Hint: "flatten it: a services.toml needs four levels at most ([services.NAME.metadata] is three)"}
	}
	p := &parser{file: filename, exts: exts}
	var root map[string]any
	if _, err := toml.Decode(string(data), &root); err != nil {
		p.syntax(err, data)
		return nil, p.result()
	}
	p.lines = indexLines(string(data))
	f := p.file0(root)
	if err := p.result(); err != nil {
		return nil, err
	}
	f.Path = filename
	return f, nil
}

type parser struct {
	file  string
	lines lineIndex
	errs  Errors
	exts  []Extension
}

func (p *parser) syntax(err error, data []byte) {
	var pe toml.ParseError
	if errors.As(err, &pe) {
		line, col := pe.Position.Line, pe.Position.Col
		// The decoder counts an error at a newline on the line after it;
		// the byte offset puts it at the end of the line where it happened.
		if s := pe.Position.Start; s >= 0 && s <= len(data) {
			pre := data[:s]
			line = bytes.Count(pre, []byte("\n")) + 1
			col = s - bytes.LastIndexByte(pre, '\n')
		}
		p.errs = append(p.errs, &Error{File: p.file, Line: line, Column: col,
			Msg: "malformed TOML: " + pe.Message, Hint: "fix the syntax at this position"})
		return
	}
	p.errs = append(p.errs, &Error{File: p.file, Msg: "malformed TOML: " + err.Error()})
}

func (p *parser) result() error {
	switch len(p.errs) {
	case 0:
		return nil
	case 1:
		return p.errs[0]
	}
	slices.SortStableFunc(p.errs, func(a, b *Error) int {
		if a.Line != b.Line {
			return a.Line - b.Line
		}
		return a.Column - b.Column
	})
	return p.errs
}

// scope is where a key lives: the path of its table from the top of the
// file, and the service it belongs to.
type scope struct {
	path    []string // e.g. ["services", "x", "retry"]
	service string
	keyBase string // prefix of Error.Key: "" in a service, "defaults." in [defaults]
}

func (s scope) sub(name string) scope {
	return scope{path: append(slices.Clone(s.path), name), service: s.service, keyBase: s.keyBase + name + "."}
}

func (p *parser) errorf(sc scope, key, hint, format string, args ...any) {
	p.errs = append(p.errs, &Error{
		File:    p.file,
		Line:    p.lines.line(append(slices.Clone(sc.path), key)...),
		Service: sc.service,
		Key:     sc.keyBase + key,
		Msg:     fmt.Sprintf(format, args...),
		Hint:    hint,
	})
}

// unknown reports a key that has no place here.
func (p *parser) unknown(sc scope, key string, valid []string) {
	p.errorf(sc, key, didYouMean(key, valid), "unknown key %q", key)
}

// sortedKeys returns the keys of m in order, so errors come out the same way
// every run.
func sortedKeys(m map[string]any) []string {
	ks := make([]string, 0, len(m))
	for k := range m {
		ks = append(ks, k)
	}
	slices.Sort(ks)
	return ks
}

// tomlType names the TOML type of a decoded value.
func tomlType(v any) string {
	switch v := v.(type) {
	case string:
		return "string " + strconv.Quote(v)
	case int64:
		return "integer " + strconv.FormatInt(v, 10)
	case float64:
		return "float " + strconv.FormatFloat(v, 'g', -1, 64)
	case bool:
		return "boolean " + strconv.FormatBool(v)
	case map[string]any:
		return "table"
	case []any, []map[string]any:
		return "array"
	case time.Time:
		return "datetime"
	}
	return fmt.Sprintf("%T", v)
}

func (p *parser) file0(root map[string]any) *File {
	f := &File{Services: map[string]Service{}}
	top := scope{}
	for _, k := range sortedKeys(root) {
		if !slices.Contains(topKeys, k) {
			p.errorf(top, k, hintOr(didYouMean(k, topKeys), "only [defaults] and [services.NAME] tables belong at the top level"),
				"unknown key %q", k)
		}
	}
	base := lazy.Config{}.Resolved() // lazy states the built-in defaults
	if v, ok := root["defaults"]; ok {
		dsc := scope{path: []string{"defaults"}, keyBase: "defaults."}
		if m, ok := v.(map[string]any); ok {
			for _, k := range sortedKeys(m) {
				if !slices.Contains(settingKeys, k) {
					hint := didYouMean(k, settingKeys)
					if slices.Contains(allSvcKeys, k) {
						hint = "set " + k + " on each service instead: [defaults] holds only " + oneOf(settingKeys)
					}
					p.errorf(dsc, k, hint, "unknown key %q", k)
				}
			}
			p.apply(dsc, m, keyTable, inDefaults, &base)
			p.retryOrder(dsc, m, base.Retry)
		} else {
			p.errorf(top, "defaults", "write a [defaults] table", "defaults must be a table, not %s", tomlType(v))
		}
	}

	svcs, ok := root["services"].(map[string]any)
	if v, present := root["services"]; present && !ok {
		p.errorf(top, "services", "write one [services.NAME] table per service", "services must be a table, not %s", tomlType(v))
		return f
	}
	if len(svcs) == 0 {
		p.errs = append(p.errs, &Error{File: p.file, Line: p.lines.line("services"), Key: "services",
			Msg: "no services defined", Hint: "add a [services.NAME] table with type = " + oneOf(typeNames)})
		return f
	}
	names := sortedKeys(svcs)
	for _, name := range names {
		sc := scope{path: []string{"services", name}, service: name}
		p.serviceName(name)
		m, ok := svcs[name].(map[string]any)
		if !ok {
			p.errorf(scope{path: []string{"services"}, service: name}, name, "write it as a [services."+quoteKey(name)+"] table",
				"service must be a table, not %s", tomlType(svcs[name]))
			continue
		}
		f.Services[name] = p.service(sc, name, m, base)
	}
	p.composites(f, names)
	return f
}

func (p *parser) service(sc scope, name string, m map[string]any, base lazy.Config) Service {
	s := Service{Name: name, Line: p.lines.line(sc.path...)}
	if e, ok := p.extension(sc, &s, m); ok {
		if e != nil {
			return p.extService(sc, s, m, base, e)
		}
		return s
	}
	if typ, ok := m["type"]; !ok {
		p.missing(sc, "type", "add type = "+oneOf(typeNames))
	} else if str, ok := p.enum(sc, "type", typ, typeNames); ok {
		s.Type = sink.Kind(str)
	}
	valid := allSvcKeys
	if at := placeOf(s.Type); at != 0 {
		valid = keysIn(keyTable, at)
	}
	for _, k := range sortedKeys(m) {
		switch {
		case slices.Contains(valid, k):
		case slices.Contains(tlsKeys, k):
			p.errorf(sc, k, `remove it: TLS settings belong to a type = "direct" service with a wss:// endpoint`,
				"key %q does not belong to a %s service", k, s.Type)
		case slices.Contains(allSvcKeys, k):
			other := `type = "composite"`
			if s.Type == sink.KindComposite {
				other = `type = "relay" or "direct"`
			}
			p.errorf(sc, k, "remove it, or set "+other, "key %q does not belong to a %s service", k, s.Type)
		default:
			p.unknown(sc, k, valid)
		}
	}
	if v, ok := m["metadata"]; ok {
		s.Metadata = p.metadata(sc, v)
	}
	switch s.Type {
	case sink.KindRelay, sink.KindDirect:
		s.Sink = p.sinkSettings(sc, m, base, placeOf(s.Type))
		s.Endpoint = p.endpoint(sc, s.Type, m)
		if s.Type == sink.KindDirect {
			p.tls(sc, m, &s)
		}
	case sink.KindComposite:
		s.Pattern, s.Targets = p.composite(sc, m)
	}
	return s
}

func hintOr(h, alt string) string {
	if h != "" {
		return h
	}
	return alt
}

func (p *parser) metadata(sc scope, v any) map[string]string {
	m, ok := v.(map[string]any)
	if !ok {
		p.errorf(sc, "metadata", "write a [services."+quoteKey(sc.service)+".metadata] table of strings",
			"metadata must be a table, not %s", tomlType(v))
		return nil
	}
	md := make(map[string]string, len(m))
	msc := sc.sub("metadata")
	for _, k := range sortedKeys(m) {
		s, ok := m[k].(string)
		if !ok {
			p.errorf(msc, k, "quote the value: metadata values are free-form strings",
				"metadata %q must be a string, not %s", k, tomlType(m[k]))
			continue
		}
		md[k] = s
	}
	return md
}

func (p *parser) endpoint(sc scope, typ sink.Kind, m map[string]any) transport.Endpoint {
	v, ok := m["endpoint"]
	if !ok {
		form := `"unix:///path.sock" or "tcp://host:port"`
		if typ == sink.KindDirect {
			form = `"unix:///path.sock", "tcp://host:port", "ws://host:port/path" or "wss://host:port/path"`
		}
		p.missing(sc, "endpoint", "add endpoint = "+form)
		return transport.Endpoint{}
	}
	s, ok := v.(string)
	if !ok {
		p.errorf(sc, "endpoint", `write endpoint = "tcp://host:port" (a quoted string)`, "endpoint must be a string, not %s", tomlType(v))
		return transport.Endpoint{}
	}
	e, err := transport.ParseEndpoint(s)
	if err != nil {
		reason := err.Error()
		var ee *transport.EndpointError
		if errors.As(err, &ee) {
			reason = ee.Reason
		}
		p.errorf(sc, "endpoint", "", "bad endpoint %q: %s", s, reason)
		return transport.Endpoint{}
	}
	if typ == sink.KindRelay && e.Scheme != "unix" && e.Scheme != "tcp" {
		p.errorf(sc, "endpoint", `use a unix:// or tcp:// endpoint, or set type = "direct" for a `+e.Scheme+" peer",
			"a relay endpoint must be unix:// or tcp://, not %s://", e.Scheme)
		return transport.Endpoint{}
	}
	return e
}

// tls applies tls_ca_file and insecure_skip_verify, which only a wss://
// endpoint takes: the CA file is read and parsed now, so that a bad one is
// reported at load, and the service's sink dials with that TLS config.
func (p *parser) tls(sc scope, m map[string]any, s *Service) {
	caVal, hasCA := m["tls_ca_file"]
	skipVal, hasSkip := m["insecure_skip_verify"]
	if !hasCA && !hasSkip {
		return
	}
	if s.Endpoint.Scheme != "wss" {
		for _, k := range tlsKeys {
			if _, ok := m[k]; ok && s.Endpoint.Scheme != "" {
				p.errorf(sc, k, "remove it, or use a wss:// endpoint",
					"key %q applies only to a wss:// endpoint, not %s://", k, s.Endpoint.Scheme)
			}
		}
		return
	}
	cfg := &tls.Config{}
	ok := true
	if hasCA {
		path, isStr := caVal.(string)
		switch {
		case !isStr:
			p.errorf(sc, "tls_ca_file", `write tls_ca_file = "/path/to/ca.pem"`, "tls_ca_file must be a string, not %s", tomlType(caVal))
			ok = false
		default:
			if !filepath.IsAbs(path) {
				path = filepath.Join(filepath.Dir(p.file), path)
			}
			pem, err := readCAFile(path)
			pool := x509.NewCertPool()
			switch {
			case err != nil:
				p.errorf(sc, "tls_ca_file", "check the path; a relative one is read from the directory of this file",
					"cannot read tls_ca_file: %v", err)
				ok = false
			case !pool.AppendCertsFromPEM(pem):
				p.errorf(sc, "tls_ca_file", "give a file of PEM certificates (-----BEGIN CERTIFICATE-----)",
					"no PEM certificate in tls_ca_file %q", path)
				ok = false
			default:
				cfg.RootCAs = pool
			}
		}
	}
	if hasSkip {
		skip, isBool := skipVal.(bool)
		if !isBool {
			p.errorf(sc, "insecure_skip_verify", "write insecure_skip_verify = true or false (no quotes)",
				"insecure_skip_verify must be a boolean, not %s", tomlType(skipVal))
			ok = false
		}
		cfg.InsecureSkipVerify = skip
	}
	if !ok {
		return
	}
	s.Sink.Dialer = &transport.Dialer{TLS: cfg}
}

// maxCAFile bounds a tls_ca_file: a bundle of every public root is ~200 KB.
const maxCAFile = 4 << 20

// readCAFile reads a CA bundle, refusing what is not a regular file (a
// device or a pipe could block loading forever) or is too large to be one.
func readCAFile(path string) ([]byte, error) { return readRegular(path, maxCAFile) }

func (p *parser) composite(sc scope, m map[string]any) (sink.Kind, []string) {
	var pattern sink.Kind
	if v, ok := m["pattern"]; ok {
		name, _ := p.enum(sc, "pattern", v, patternNames)
		pattern = sink.Kind(name)
	} else {
		p.missing(sc, "pattern", "add pattern = "+oneOf(patternNames))
	}
	v, ok := m["targets"]
	if !ok {
		p.missing(sc, "targets", `add targets = ["service_a", "service_b"]`)
		return pattern, nil
	}
	arr, ok := v.([]any)
	if !ok {
		p.errorf(sc, "targets", `write targets = ["service_a", "service_b"]`, "targets must be an array of service names, not %s", tomlType(v))
		return pattern, nil
	}
	if len(arr) == 0 {
		p.errorf(sc, "targets", "name at least one service", "targets is empty")
		return pattern, nil
	}
	var targets []string
	for _, t := range arr {
		s, ok := t.(string)
		if !ok {
			p.errorf(sc, "targets", "quote each service name", "target %s is not a service name", tomlType(t))
			continue
		}
		if slices.Contains(targets, s) {
			p.errorf(sc, "targets", "list each service once", "duplicate target %q", s)
			continue
		}
		targets = append(targets, s)
	}
	if pattern == sink.KindFailover && len(arr) > 0 && len(targets) < 2 {
		p.errorf(sc, "targets", `add a second target, or use pattern = "fanout"`, "a failover needs at least two distinct targets, has %d", len(targets))
	}
	return pattern, targets
}

// composites checks what needs every service: that targets exist, that
// composites do not contain themselves, and that no fanout reaches a
// service twice.
func (p *parser) composites(f *File, names []string) {
	for _, n := range names {
		s := f.Services[n]
		for _, t := range s.Targets {
			if _, ok := f.Services[t]; !ok {
				p.errorf(scope{path: []string{"services", n}, service: n}, "targets",
					didYouMean(t, names), "target %q is not a service in this file", t)
			}
		}
	}
	const (
		white = iota
		grey
		black
	)
	color := map[string]int{}
	var stack []string
	var visit func(n string)
	visit = func(n string) {
		color[n] = grey
		stack = append(stack, n)
		for _, t := range f.Services[n].Targets {
			if _, ok := f.Services[t]; !ok {
				continue
			}
			switch color[t] {
			case white:
				visit(t)
			case grey:
				i := slices.Index(stack, t)
				path := append(slices.Clone(stack[i:]), t)
				p.errorf(scope{path: []string{"services", n}, service: n}, "targets",
					"remove "+strconv.Quote(t)+" from the targets of "+strconv.Quote(n)+" or break the loop elsewhere",
					"composite cycle: %s", strings.Join(path, " -> "))
			}
		}
		stack = stack[:len(stack)-1]
		color[n] = black
	}
	cycles := len(p.errs)
	for _, n := range names {
		if color[n] == white && f.Services[n].Type == sink.KindComposite {
			visit(n)
		}
	}
	if len(p.errs) == cycles {
		p.fanoutTwice(f, names) // it walks the composites, which needs them acyclic
	}
}

// serviceName refuses a service name that is empty or holds anything but
// ASCII letters, digits, '_', '.' and '-': names appear in logs, metrics
// labels, Info and the command line, where spaces, quotes or control
// characters would break them.
func (p *parser) serviceName(name string) {
	if validName(name) {
		return
	}
	msg := fmt.Sprintf("service name %q has characters other than letters, digits, '_', '.' and '-'", name)
	if name == "" {
		msg = `service name "" is empty`
	}
	p.errs = append(p.errs, &Error{File: p.file, Line: p.lines.line("services", name), Service: name, Msg: msg,
		Hint: "rename it with letters, digits, '_', '.' and '-' only, e.g. [services.market_data_relay]"})
}

func validName(name string) bool {
	for _, r := range name {
		if !(r >= 'a' && r <= 'z' || r >= 'A' && r <= 'Z' || r >= '0' && r <= '9' || r == '_' || r == '.' || r == '-') {
			return false
		}
	}
	return name != ""
}
