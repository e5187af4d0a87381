package fuzz

import (
	"errors"
	"strings"
	"testing"
	"time"

	"github.com/msgsink/msgsink/config"
	"github.com/msgsink/msgsink/sink"
)

// FuzzLoad: the services.toml loader never panics, and either returns a File
// whose services are consistent or an error that matches ErrInvalidConfig,
// every part of which names a line within the input. A File it returns
// holds to SPEC section 10: names of [A-Za-z0-9_.-]+, connect_timeout of
// at least 1 ms, no fanout reaching a service through two targets.
func FuzzLoad(f *testing.F) {
	f.Fuzz(func(t *testing.T, data []byte) {
		file, err := config.Parse("services.toml", data)
		if err != nil {
			if file != nil {
				t.Fatalf("File returned with error %v", err)
			}
			if !errors.Is(err, config.ErrInvalidConfig) {
				t.Fatalf("error %v does not match ErrInvalidConfig", err)
			}
			lines := strings.Count(string(data), "\n") + 1
			var es config.Errors
			if !errors.As(err, &es) {
				var e *config.Error
				if !errors.As(err, &e) {
					t.Fatalf("error %T is neither *Error nor Errors", err)
				}
				es = config.Errors{e}
			}
			for _, e := range es {
				if e.Line < 0 || e.Line > lines || e.Msg == "" {
					t.Fatalf("bad position or empty message in %q (input has %d lines)", e.Error(), lines)
				}
			}
			return
		}
		if len(file.Services) == 0 {
			t.Fatal("a valid file with no services")
		}
		for name, s := range file.Services {
			if s.Name != name {
				t.Fatalf("service %q named %q", name, s.Name)
			}
			if name == "" || strings.Trim(name, "abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789_.-") != "" {
				t.Fatalf("service name %q accepted", name)
			}
			if s.Type != sink.KindComposite && s.Sink.ConnectTimeout < time.Millisecond {
				t.Fatalf("service %q: connect_timeout %v accepted", name, s.Sink.ConnectTimeout)
			}
			if s.Pattern == sink.KindFanout {
				seen := map[string]bool{}
				for _, tg := range s.Targets {
					for u := range reachable(file, tg) {
						if seen[u] {
							t.Fatalf("fanout %q reaches %q twice", name, u)
						}
						seen[u] = true
					}
				}
			}
			switch s.Type {
			case sink.KindRelay, sink.KindDirect:
				if s.Endpoint.Scheme == "" || s.LazyConfig().Name != name || s.Sink.BufferSize < 1 || s.Sink.MaxBatch < 1 {
					t.Fatalf("service %q not resolved: %+v", name, s)
				}
			case sink.KindComposite:
				if len(s.Targets) == 0 {
					t.Fatalf("composite %q without targets", name)
				}
				for _, tg := range s.Targets {
					if _, ok := file.Services[tg]; !ok {
						t.Fatalf("composite %q targets missing %q", name, tg)
					}
				}
			default:
				t.Fatalf("service %q has type %q", name, s.Type)
			}
		}
	})
}

// reachable returns n and every service under it.
func reachable(file *config.File, n string) map[string]bool {
	out := map[string]bool{}
	var walk func(string)
	walk = func(n string) {
		if out[n] {
			return
		}
		out[n] = true
		for _, t := range file.Services[n].Targets {
			walk(t)
		}
	}
	walk(n)
	return out
}
