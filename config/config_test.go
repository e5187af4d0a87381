package config

import (
	"errors"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/msgsink/msgsink/lazy"
	"github.com/msgsink/msgsink/sink"
	"github.com/msgsink/msgsink/tlv"
	"github.com/msgsink/msgsink/transport"
)

func TestLoadSeedExample(t *testing.T) {
	f, err := Load(filepath.Join("testdata", "seed.toml"))
	if err != nil {
		t.Fatal(err)
	}
	if got := strings.Join(f.Names(), ","); got != "broadcast_all,dashboard,market_data_relay" {
		t.Fatalf("names %s", got)
	}
	r := f.Services["market_data_relay"]
	if r.Type != sink.KindRelay || r.Endpoint != (transport.Endpoint{Scheme: "unix", Addr: "/tmp/market_data_relay.sock"}) ||
		r.Sink.BufferSize != 10000 || r.Name != "market_data_relay" || r.Sink.Name != "" || r.LazyConfig().Name != "market_data_relay" || r.LazyConfig().Kind != sink.KindRelay || r.Line != 1 {
		t.Fatalf("relay %+v", r)
	}
	if r.Sink.MaxBatch != lazy.DefaultMaxBatch || r.Sink.ConnectTimeout != lazy.DefaultConnectTimeout ||
		r.Sink.Retry.Initial != lazy.DefaultRetryInitial || r.Sink.Dialer != nil {
		t.Fatalf("defaults not merged: %+v", r.Sink)
	}
	d := f.Services["dashboard"]
	if d.Type != sink.KindDirect || d.Endpoint != (transport.Endpoint{Scheme: "ws", Addr: "127.0.0.1:8080", Path: "/ws"}) {
		t.Fatalf("dashboard %+v", d)
	}
	b := f.Services["broadcast_all"]
	if b.Type != sink.KindComposite || b.Pattern != sink.KindFanout || strings.Join(b.Targets, ",") != "market_data_relay,dashboard" {
		t.Fatalf("broadcast_all %+v", b)
	}
}

func TestLoadSpecExample(t *testing.T) {
	f, err := Load(filepath.Join("testdata", "spec.toml"))
	if err != nil {
		t.Fatal(err)
	}
	r := f.Services["market_data_relay"]
	if r.Sink.Validator.Domain != tlv.DomainMarketData || r.Metadata["owner"] != "md-team" ||
		r.Sink.Metadata != nil || r.LazyConfig().Metadata["owner"] != "md-team" || r.Sink.BufferSize != 10000 {
		t.Fatalf("relay %+v", r)
	}
	if r.Sink.Retry.MaxAttempts != 0 || r.Sink.Retry.Multiplier != 2 || r.Sink.Retry.Jitter != 0.2 ||
		r.Sink.Validator.Level != tlv.LevelStandard || r.Sink.Validator.Precision != tlv.PrecisionMixed {
		t.Fatalf("relay settings %+v", r.Sink)
	}
}

func TestDefaultsOverride(t *testing.T) {
	src := `
[defaults]
buffer_size = 1024
idle = "spin"
delivery = "acked"
[defaults.retry]
initial = "50ms"
max = "1s"
jitter = 0

[services.a]
type = "tcp_is_not_a_type_here"
`
	_, err := Parse("x.toml", []byte(src))
	if err == nil {
		t.Fatal("want error")
	}
	src = strings.Replace(src, `"tcp_is_not_a_type_here"`, `"relay"
endpoint = "tcp://localhost:9000"
max_batch = 16
backlog = "drop"
validation = "audit"
precision = "dex"
connect_timeout = "250ms"
[services.a.retry]
max = "3s"
multiplier = 3
max_attempts = 5`, 1)
	f, err := Parse("x.toml", []byte(src))
	if err != nil {
		t.Fatal(err)
	}
	c := f.Services["a"].Sink
	want := lazy.Retry{Initial: 50 * time.Millisecond, Max: 3 * time.Second, Multiplier: 3, Jitter: -1, MaxAttempts: 5}
	if c.BufferSize != 1024 || c.MaxBatch != 16 || c.Idle != lazy.IdleSpin || c.Backlog != lazy.BacklogDrop ||
		c.ConnectTimeout != 250*time.Millisecond || c.Retry != want ||
		c.Validator.Level != tlv.LevelAudit || c.Validator.Precision != tlv.PrecisionDEX ||
		c.Delivery != lazy.DeliveryAcked {
		t.Fatalf("%+v", c)
	}
}

func TestLoadNotFound(t *testing.T) {
	_, err := Load(filepath.Join(t.TempDir(), "nope.toml"))
	if !errors.Is(err, os.ErrNotExist) || errors.Is(err, ErrInvalidConfig) {
		t.Fatalf("%v", err)
	}
}

const okRelay = `[services.r]
type = "relay"
endpoint = "unix:///tmp/r.sock"
`

const okWS = `[services.d]
type = "direct"
endpoint = "ws://127.0.0.1:8080/feed"
`

const okWSS = `[services.d]
type = "direct"
endpoint = "wss://dash.example.com/feed"
`

func TestBadInput(t *testing.T) {
	long := "unix:///tmp/" + strings.Repeat("x", transport.MaxUnixPathLen) + ".sock"
	tests := []struct {
		name    string
		src     string
		line    int
		col     int
		service string
		key     string
		msg     string // substring of the whole message
	}{
		{"malformed", "[services.r]\ntype = \"relay\nendpoint = 1\n", 2, 14, "", "", "malformed TOML"},
		{"malformed table", "[services.r\n", 1, 12, "", "", "malformed TOML"},
		{"unknown key", okRelay + "bufer_size = 10\n", 4, 0, "r", "bufer_size", `unknown key "bufer_size"; did you mean "buffer_size"?`},
		{"case", okRelay + "BUFFER_SIZE = 10\n", 4, 0, "r", "BUFFER_SIZE", `did you mean "buffer_size"?`},
		{"unknown top", okRelay + "[servces.x]\ntype = \"relay\"\n", 4, 0, "", "servces", `did you mean "services"?`},
		{"unknown default", "[defaults]\nidel = \"spin\"\n" + okRelay, 2, 0, "", "defaults.idel", `did you mean "idle"?`},
		{"unknown retry", okRelay + "[services.r.retry]\nmax_attempt = 3\n", 5, 0, "r", "retry.max_attempt", `did you mean "max_attempts"?`},
		{"wrong type int", okRelay + "buffer_size = \"10000\"\n", 4, 0, "r", "buffer_size", "must be an integer, not string"},
		{"wrong type string", okRelay + "idle = 1\n", 4, 0, "r", "idle", "must be a string"},
		{"wrong type metadata", okRelay + "[services.r.metadata]\nowner = 7\n", 5, 0, "r", "metadata.owner", "quote the value"},
		{"bad duration", okRelay + "connect_timeout = \"2 seconds\"\n", 4, 0, "r", "connect_timeout", "is not a duration"},
		{"duration int", okRelay + "connect_timeout = 2\n", 4, 0, "r", "connect_timeout", `connect_timeout = "2s"`},
		{"zero duration", okRelay + "[services.r.retry]\ninitial = \"0s\"\n", 5, 0, "r", "retry.initial", "greater than zero"},
		{"negative duration", "[defaults]\nconnect_timeout = \"-1s\"\n" + okRelay, 2, 0, "", "defaults.connect_timeout", "greater than zero"},
		{"initial > max", okRelay + "[services.r.retry]\ninitial = \"10s\"\n", 5, 0, "r", "retry.initial", "no larger than retry.max"},
		{"bad endpoint", "[services.r]\ntype = \"relay\"\nendpoint = \"tcp:/x\"\n", 3, 0, "r", "endpoint", "missing scheme"},
		{"missing endpoint", "[services.r]\ntype = \"direct\"\n", 1, 0, "r", "endpoint", `missing required key "endpoint"`},
		{"missing type", "[services.r]\nendpoint = \"tcp://h:1\"\n", 1, 0, "r", "type", `missing required key "type"`},
		{"bad type", "[services.r]\ntype = \"rlay\"\nendpoint = \"tcp://h:1\"\n", 2, 0, "r", "type", `did you mean "relay"?`},
		{"relay ws", "[services.r]\ntype = \"relay\"\nendpoint = \"ws://h:1/x\"\n", 3, 0, "r", "endpoint", "must be unix:// or tcp://"},
		{"direct scheme", "[services.r]\ntype = \"direct\"\nendpoint = \"http://h:1/x\"\n", 3, 0, "r", "endpoint", "unknown scheme"},
		{"unix too long", "[services.r]\ntype = \"relay\"\nendpoint = \"" + long + "\"\n", 3, 0, "r", "endpoint", "longer than this system's limit"},
		{"port 0", "[services.r]\ntype = \"relay\"\nendpoint = \"tcp://h:0\"\n", 3, 0, "r", "endpoint", "1 to 65535"},
		{"port big", "[services.r]\ntype = \"direct\"\nendpoint = \"ws://h:65536/\"\n", 3, 0, "r", "endpoint", "1 to 65535"},
		{"bad host", "[services.r]\ntype = \"relay\"\nendpoint = \"tcp://ex ample:80\"\n", 3, 0, "r", "endpoint", "invalid host"},
		{"bad domain", okRelay + "domain = \"marketdata\"\n", 4, 0, "r", "domain", `did you mean "market_data"?`},
		{"bad idle", okRelay + "idle = \"sleep\"\n", 4, 0, "r", "idle", `want "backoff", "spin" or "park"`},
		{"bad backlog", okRelay + "backlog = \"dropp\"\n", 4, 0, "r", "backlog", `did you mean "drop"?`},
		{"bad delivery", okRelay + "delivery = \"ack\"\n", 4, 0, "r", "delivery", `did you mean "acked"?`},
		{"bad validation", okRelay + "validation = \"strict\"\n", 4, 0, "r", "validation", "performance"},
		{"bad precision", okRelay + "precision = \"cex\"\n", 4, 0, "r", "precision", `did you mean "dex"?`},
		{"buffer 0", okRelay + "buffer_size = 0\n", 4, 0, "r", "buffer_size", "from 1 to 16777216"},
		{"buffer big", okRelay + "buffer_size = 16777217\n", 4, 0, "r", "buffer_size", "out of range"},
		{"batch big", okRelay + "max_batch = 1025\n", 4, 0, "r", "max_batch", "from 1 to 1024"},
		{"jitter big", okRelay + "[services.r.retry]\njitter = 1.5\n", 5, 0, "r", "retry.jitter", "from 0 (none) to 1"},
		{"multiplier small", okRelay + "[services.r.retry]\nmultiplier = 0.5\n", 5, 0, "r", "retry.multiplier", "at least 1"},
		{"key of other type", okRelay + "pattern = \"fanout\"\n", 4, 0, "r", "pattern", `does not belong to a relay service`},
		{"composite endpoint", okRelay + "[services.c]\ntype = \"composite\"\npattern = \"fanout\"\ntargets = [\"r\"]\nendpoint = \"tcp://h:1\"\n", 8, 0, "c", "endpoint", "does not belong to a composite"},
		{"missing target", okRelay + "[services.c]\ntype = \"composite\"\npattern = \"fanout\"\ntargets = [\"r\", \"s\"]\n", 7, 0, "c", "targets", `target "s" is not a service`},
		{"empty targets", okRelay + "[services.c]\ntype = \"composite\"\npattern = \"fanout\"\ntargets = []\n", 7, 0, "c", "targets", "targets is empty"},
		{"failover one", okRelay + "[services.c]\ntype = \"composite\"\npattern = \"failover\"\ntargets = [\"r\"]\n", 7, 0, "c", "targets", "at least two"},
		{"duplicate", okRelay + "[services.c]\ntype = \"composite\"\npattern = \"fanout\"\ntargets = [\"r\", \"r\"]\n", 7, 0, "c", "targets", `duplicate target "r"`},
		{"bad pattern", okRelay + "[services.c]\ntype = \"composite\"\npattern = \"fan_out\"\ntargets = [\"r\"]\n", 6, 0, "c", "pattern", `did you mean "fanout"?`},
		{"self cycle", "[services.c]\ntype = \"composite\"\npattern = \"fanout\"\ntargets = [\"c\"]\n", 4, 0, "c", "targets", "composite cycle: c -> c"},
		{"no services", "[defaults]\nidle = \"spin\"\n", 0, 0, "", "services", "no services defined"},
		{"missing pattern", okRelay + "[services.c]\ntype = \"composite\"\ntargets = [\"r\"]\n", 4, 0, "c", "pattern", `add pattern = "fanout", "round_robin" or "failover"`},
		{"missing targets", okRelay + "[services.c]\ntype = \"composite\"\npattern = \"fanout\"\n", 4, 0, "c", "targets", `missing required key "targets"`},
		{"targets not array", okRelay + "[services.c]\ntype = \"composite\"\npattern = \"fanout\"\ntargets = \"r\"\n", 7, 0, "c", "targets", "must be an array"},
		{"services not table", "services = 3\n", 1, 0, "", "services", "services must be a table"},
		{"service array", "[[services.r]]\ntype = \"relay\"\n", 1, 0, "r", "r", "service must be a table, not array"},
		{"service-only key in defaults", "[defaults]\ndomain = \"signal\"\n" + okRelay, 2, 0, "", "defaults.domain", "set domain on each service instead"},
		{"retry not table", okRelay + "retry = 3\n", 4, 0, "r", "retry", "retry must be a table"},
		{"metadata not table", okRelay + "metadata = \"x\"\n", 4, 0, "r", "metadata", "must be a table"},
		{"tls on relay", okRelay + "insecure_skip_verify = true\n", 4, 0, "r", "insecure_skip_verify", "TLS settings belong to a type = \"direct\" service"},
		{"tls on ws", okWS + "tls_ca_file = \"/etc/hosts\"\n", 4, 0, "d", "tls_ca_file", "applies only to a wss:// endpoint, not ws://"},
		{"tls skip string", okWSS + "insecure_skip_verify = \"yes\"\n", 4, 0, "d", "insecure_skip_verify", "must be a boolean"},
		{"tls ca missing", okWSS + "tls_ca_file = \"no-such-ca.pem\"\n", 4, 0, "d", "tls_ca_file", "cannot read tls_ca_file"},
		{"tls ca not pem", okWSS + "tls_ca_file = \"/etc/passwd\"\n", 4, 0, "d", "tls_ca_file", "no PEM certificate"},
		{"tls ca device", okWSS + "tls_ca_file = \"/dev/zero\"\n", 4, 0, "d", "tls_ca_file", "not a regular file"},
		{"tls misspelt", okWSS + "insecure_skip_verfy = true\n", 4, 0, "d", "insecure_skip_verfy", `did you mean "insecure_skip_verify"?`},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			_, err := Parse("services.toml", []byte(tt.src))
			if !errors.Is(err, ErrInvalidConfig) {
				t.Fatalf("err %v does not match ErrInvalidConfig", err)
			}
			var e *Error
			if !errors.As(err, &e) {
				t.Fatalf("err %T is not a *Error", err)
			}
			if _, many := err.(Errors); many {
				t.Fatalf("want one problem, got:\n%v", err)
			}
			if e.File != "services.toml" || e.Line != tt.line || e.Column != tt.col || e.Service != tt.service || e.Key != tt.key {
				t.Errorf("got file %q line %d col %d service %q key %q, want line %d col %d service %q key %q\n%v",
					e.File, e.Line, e.Column, e.Service, e.Key, tt.line, tt.col, tt.service, tt.key, e)
			}
			if !strings.Contains(e.Error(), tt.msg) {
				t.Errorf("message %q does not contain %q", e.Error(), tt.msg)
			}
		})
	}
}

func TestCycleFullPath(t *testing.T) {
	src := okRelay + `
[services.broadcast_all]
type = "composite"
pattern = "fanout"
targets = ["r", "group_b"]

[services.group_b]
type = "composite"
pattern = "round_robin"
targets = ["broadcast_all"]
`
	_, err := Parse("services.toml", []byte(src))
	var e *Error
	if !errors.As(err, &e) {
		t.Fatalf("%v", err)
	}
	if !strings.Contains(e.Error(), "broadcast_all -> group_b -> broadcast_all") || e.Service != "group_b" || e.Line != 13 {
		t.Fatalf("%+v: %v", e, e)
	}
}

func TestEveryProblemAtOnce(t *testing.T) {
	src := `[defaults]
idel = "spin"

[services.a]
type = "relay"
endpoint = "ws://h:1/"
bufer_size = 10

[services.b]
type = "direct"
endpoint = "tcp://h:99999"
connect_timeout = "soon"

[services.c]
type = "composite"
pattern = "failover"
targets = ["a", "zz"]
`
	_, err := Parse("services.toml", []byte(src))
	var es Errors
	if !errors.As(err, &es) {
		t.Fatalf("want Errors, got %T %v", err, err)
	}
	wantLines := []int{2, 6, 7, 11, 12, 17}
	if len(es) != len(wantLines) {
		t.Fatalf("got %d problems, want %d:\n%v", len(es), len(wantLines), err)
	}
	for i, e := range es {
		if e.Line != wantLines[i] {
			t.Errorf("problem %d at line %d, want %d: %v", i, e.Line, wantLines[i], e)
		}
	}
	if n := strings.Count(err.Error(), "\n"); n != len(wantLines)-1 {
		t.Errorf("want one line per problem:\n%v", err)
	}
	if !errors.Is(err, ErrInvalidConfig) {
		t.Error("Errors does not match ErrInvalidConfig")
	}
}

func TestErrorFormat(t *testing.T) {
	e := &Error{File: "services.toml", Line: 12, Service: "x", Key: "bufer_size",
		Msg: `unknown key "bufer_size"`, Hint: `did you mean "buffer_size"?`}
	want := `services.toml:12: [services.x] unknown key "bufer_size"; did you mean "buffer_size"?`
	if e.Error() != want {
		t.Fatalf("%s", e)
	}
	if got := (&Error{Service: "a.b", Msg: "m"}).Error(); got != `[services."a.b"] m` {
		t.Fatalf("%s", got)
	}
}

func TestIndexLines(t *testing.T) {
	src := `# c
[defaults]
a.b = 1
s = """
x = 1
"""
[services."my.svc"]   # comment
type = "relay"
[ services.q . retry ]
max = "1s"
`
	idx := indexLines(src)
	for _, c := range []struct {
		path []string
		line int
	}{
		{[]string{"defaults"}, 2},
		{[]string{"defaults", "a", "b"}, 3},
		{[]string{"defaults", "x"}, 2},
		{[]string{"services", "my.svc", "type"}, 8},
		{[]string{"services", "q", "retry", "max"}, 10},
		{[]string{"nowhere"}, 0},
	} {
		if got := idx.line(c.path...); got != c.line {
			t.Errorf("%q: line %d, want %d", c.path, got, c.line)
		}
	}
}

func TestSuggest(t *testing.T) {
	for _, c := range []struct{ in, want string }{
		{"bufer_size", "buffer_size"},
		{"BUFFER_SIZE", "buffer_size"},
		{"Idle", "idle"},
		{"zzzzzz", ""},
	} {
		if got := suggest(c.in, settingKeys); got != c.want {
			t.Errorf("suggest(%q) = %q, want %q", c.in, got, c.want)
		}
	}
}

func TestSuggestShortWords(t *testing.T) {
	if got := suggest("zz", []string{"a"}); got != "" {
		t.Fatalf("suggest(zz) = %q", got)
	}
}

func readFile(t *testing.T, path string) string {
	t.Helper()
	b, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	return string(b)
}

func TestSingleProducer(t *testing.T) {
	f, err := Parse("services.toml", []byte(`
[defaults]
single_producer = true
[services.a]
type = "relay"
endpoint = "unix:///tmp/a.sock"
[services.b]
type = "relay"
endpoint = "unix:///tmp/b.sock"
single_producer = false
`))
	if err != nil {
		t.Fatal(err)
	}
	if !f.Services["a"].Sink.SingleProducer || f.Services["b"].Sink.SingleProducer {
		t.Errorf("single_producer: a %v (want true, from [defaults]), b %v (want false)",
			f.Services["a"].Sink.SingleProducer, f.Services["b"].Sink.SingleProducer)
	}
	_, err = Parse("services.toml", []byte(`
[services.a]
type = "relay"
endpoint = "unix:///tmp/a.sock"
single_producer = "yes"
`))
	if err == nil || !strings.Contains(err.Error(), "single_producer must be a boolean") {
		t.Errorf("single_producer = \"yes\": %v, want a boolean error", err)
	}
}

// The key table describes each key once: no name twice, every setting
// readable in [defaults] is one a relay and a direct service take too, and
// an enumeration's hint lists its owner's names.
func TestKeyTable(t *testing.T) {
	seen := map[string]bool{}
	for _, k := range append(slices.Clone(keyTable), retryTable...) {
		if seen[k.name] {
			t.Errorf("key %q is described twice", k.name)
		}
		seen[k.name] = true
		if k.in&inDefaults != 0 && k.in&inSink != inSink {
			t.Errorf("key %q is valid in [defaults] but not in every relay and direct service", k.name)
		}
	}
	_, err := Parse("services.toml", []byte(okRelay+"idle = \"sleep\"\n"))
	if want := "want " + oneOf(lazy.IdleNames()); err == nil || !strings.Contains(err.Error(), want) {
		t.Errorf("err = %v, want it to contain %s", err, want)
	}
}
