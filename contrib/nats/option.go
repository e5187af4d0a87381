package natssink

import (
	"fmt"
	"strconv"

	"github.com/msgsink/msgsink/config"
	"github.com/msgsink/msgsink/factory"
	"github.com/msgsink/msgsink/sink"
	"github.com/msgsink/msgsink/tlv"
)

// Option enables type = "nats" in a factory:
//
//	f, err := factory.FromFile("services.toml", natssink.Option())
//
// Its keys are endpoint (required), subject, jetstream, max_inflight and
// max_frame, beside every key a relay service takes but endpoint and
// delivery (domain, metadata, buffer_size, retry, ...), with [defaults]
// applying as to any sink.
func Option() factory.Option {
	return factory.WithKind(factory.Kind{Config: Extension(), New: newFromService})
}

// Extension is the configuration side of Option, for a program that loads
// a services.toml itself (config.Load), as msgsink check does.
func Extension() config.Extension {
	return config.Extension{Type: Kind, Keys: []string{"endpoint", "subject", "jetstream", "max_inflight", "max_frame"}, Check: check}
}

// check reads a nats service's own keys into a Config (without its Sink,
// which the factory fills with the common settings).
func check(c *config.Checker, m map[string]any) any {
	var cfg Config
	if s, ok := c.String(m, "endpoint", "nats://127.0.0.1:4222"); ok {
		if _, err := ParseEndpoint(s); err != nil {
			c.Errorf("endpoint", "", "bad endpoint %q: %v", s, err)
		}
		cfg.Endpoint = s
	} else if _, present := m["endpoint"]; !present {
		c.Missing("endpoint", `add endpoint = "nats://host:port[,host:port…]"`)
	}
	if s, ok := c.String(m, "subject", DefaultSubject); ok {
		if _, err := parseTemplate(s, "name"); err != nil {
			c.Errorf("subject", fmt.Sprintf("use {domain}, {source} and {name} between dot-separated tokens, e.g. %q", DefaultSubject),
				"bad subject: %v", err)
		}
		cfg.Subject = s
	}
	cfg.JetStream, _ = c.Bool(m, "jetstream")
	if _, present := m["delivery"]; present {
		c.Errorf("delivery", "remove it: core NATS keeps each frame until the server's PONG confirms it, JetStream until its PubAck",
			"a nats service's delivery follows jetstream")
	}
	cfg.MaxInflight, _ = c.Int(m, "max_inflight", 1, MaxInflightLimit, strconv.Itoa(DefaultMaxInflight))
	cfg.MaxFrame, _ = c.Int(m, "max_frame", MinMaxFrame, tlv.MaxMessageSize, "65536")
	return cfg
}

func newFromService(svc config.Service) (sink.Sink, error) {
	cfg, ok := svc.Ext.(Config)
	if !ok {
		return nil, fmt.Errorf("%w: service %q of type %q has no nats settings: load it with natssink.Extension()", sink.ErrInvalidConfig, svc.Name, Kind)
	}
	cfg.Sink = svc.LazyConfig()
	return New(cfg)
}
