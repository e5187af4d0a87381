package config

import (
	"path/filepath"
	"strings"
	"testing"

	"github.com/msgsink/msgsink/sink"
)

// The commented example in the repository must stay valid and keep covering
// every key.
func TestExamplesFile(t *testing.T) {
	f, err := Load(filepath.Join("..", "examples", "services.toml"))
	if err != nil {
		t.Fatal(err)
	}
	seen := map[string]bool{}
	for _, s := range f.Services {
		seen[string(s.Type)] = true
		if s.Type == sink.KindComposite {
			seen["pattern:"+string(s.Pattern)] = true
		} else {
			seen["scheme:"+s.Endpoint.Scheme] = true
		}
	}
	for _, want := range []string{"relay", "direct", "composite", "scheme:unix", "scheme:tcp", "scheme:ws", "scheme:wss",
		"pattern:fanout", "pattern:round_robin", "pattern:failover"} {
		if !seen[want] {
			t.Errorf("examples/services.toml has no %s", want)
		}
	}
	text := readFile(t, filepath.Join("..", "examples", "services.toml"))
	for _, k := range tlsKeys { // tls_ca_file is shown commented out: it names a file
		if !strings.Contains(text, k+" = ") {
			t.Errorf("examples/services.toml does not show %s", k)
		}
	}
	for _, k := range allSvcKeys { // every row of the key table is shown somewhere
		if !strings.Contains(text, k+" = ") && !strings.Contains(text, "."+k+"]") {
			t.Errorf("examples/services.toml does not show %s", k)
		}
	}
	idx := indexLines(text)
	for _, k := range settingKeys {
		if idx.line("defaults", k) == idx.line("defaults") {
			t.Errorf("[defaults] lacks %s", k)
		}
	}
	for _, k := range retryKeys {
		if idx.line("defaults", "retry", k) == idx.line("defaults", "retry") {
			t.Errorf("[defaults.retry] lacks %s", k)
		}
	}
}
