package config

import (
	"errors"
	"strings"
	"testing"

	"github.com/msgsink/msgsink/sink"
)

// queueExt is an extension type as a contrib module declares one: its own
// keys, checked into a settings struct.
type queueSettings struct {
	Endpoint string
	Depth    int
}

var queueExt = Extension{
	Type: "queue",
	Keys: []string{"endpoint", "depth"},
	Check: func(c *Checker, m map[string]any) any {
		var q queueSettings
		var ok bool
		if q.Endpoint, ok = c.String(m, "endpoint", "q://host"); !ok {
			if _, present := m["endpoint"]; !present {
				c.Missing("endpoint", `add endpoint = "q://host"`)
			}
		}
		q.Depth, _ = c.Int(m, "depth", 1, 100, "10")
		return q
	},
}

func TestExtensionService(t *testing.T) {
	src := `[defaults]
buffer_size = 64

[services.q]
type = "queue"
endpoint = "q://a"
depth = 7
domain = "signal"
single_producer = true
[services.q.metadata]
owner = "x"

[services.both]
type = "composite"
pattern = "fanout"
targets = ["q", "r"]

[services.r]
type = "relay"
endpoint = "tcp://127.0.0.1:9"
`
	f, err := Parse("s.toml", []byte(src), queueExt)
	if err != nil {
		t.Fatal(err)
	}
	q := f.Services["q"]
	if q.Type != "queue" || q.Ext != (queueSettings{Endpoint: "q://a", Depth: 7}) || q.Sink.BufferSize != 64 ||
		!q.Sink.SingleProducer || q.Sink.Validator.Domain.String() != "signal" || q.Metadata["owner"] != "x" {
		t.Fatalf("extension service %+v", q)
	}
	if got := strings.Join(f.Services["both"].Targets, ","); got != "q,r" {
		t.Fatalf("composite targets %s", got)
	}
}

func TestExtensionErrors(t *testing.T) {
	src := `[services.q]
type = "queue"
depht = 7
pattern = "fanout"
buffer_size = "big"
`
	_, err := Parse("s.toml", []byte(src), queueExt)
	if !errors.Is(err, ErrInvalidConfig) {
		t.Fatalf("err %v, want ErrInvalidConfig", err)
	}
	msg := err.Error()
	for _, want := range []string{
		`s.toml:1: [services.q] missing required key "endpoint"`,
		`s.toml:3: [services.q] unknown key "depht"; did you mean "depth"?`,
		`s.toml:4: [services.q] key "pattern" does not belong to a queue service`,
		`s.toml:5: [services.q] buffer_size must be an integer`,
	} {
		if !strings.Contains(msg, want) {
			t.Errorf("missing %q in:\n%s", want, msg)
		}
	}
}

// A file naming a type that a contrib module provides, loaded without that
// module's option, says which module to add and what to pass.
func TestExtensionNotLoaded(t *testing.T) {
	src := `[services.n]
type = "nats"
endpoint = "nats://127.0.0.1:4222"

[services.all]
type = "composite"
pattern = "fanout"
targets = ["n"]
`
	_, err := Parse("s.toml", []byte(src))
	var e *Error
	if !errors.As(err, &e) || !errors.Is(err, ErrInvalidConfig) {
		t.Fatalf("err %v", err)
	}
	want := `s.toml:2: [services.n] type "nats" needs github.com/msgsink/msgsink/contrib/nats; pass natssink.Option() to factory.FromFile`
	if !strings.HasPrefix(err.Error(), want) {
		t.Fatalf("err\n%v\nwant prefix\n%s", err, want)
	}
	if Provider("nats") == "" || Provider(sink.KindRelay) != "" {
		t.Fatalf("Provider: %q, %q", Provider("nats"), Provider(sink.KindRelay))
	}
}
