package factory_test

import (
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/msgsink/msgsink/sink"
)

// TestDeepDiamond: thirty levels of composites, two per level, each over
// both of the level below, have 2^30 paths from the top to a relay. The
// file is valid (round robins and failovers send each message down one
// path) and check says so; f.Sink must then build each service once and
// return, where it used to walk every path and never return. The top's
// Info walks each sink once too.
func TestDeepDiamond(t *testing.T) {
	const depth = 30
	dir := t.TempDir()
	var src strings.Builder
	for _, leaf := range []string{"a", "b"} {
		fmt.Fprintf(&src, "[services.%s]\ntype = \"relay\"\nendpoint = \"unix://%s\"\n\n", leaf, filepath.Join(dir, leaf+".sock"))
	}
	below := `"a", "b"`
	patterns := []string{"round_robin", "failover"}
	for level := range depth {
		for _, side := range []string{"l", "r"} {
			fmt.Fprintf(&src, "[services.%s%d]\ntype = \"composite\"\npattern = %q\ntargets = [%s]\n\n",
				side, level, patterns[level%2], below)
		}
		below = fmt.Sprintf(`"l%d", "r%d"`, level, level)
	}
	fmt.Fprintf(&src, "[services.top]\ntype = \"composite\"\npattern = \"round_robin\"\ntargets = [%s]\n", below)
	path := filepath.Join(dir, "services.toml")
	if err := os.WriteFile(path, []byte(src.String()), 0o600); err != nil {
		t.Fatal(err)
	}

	f := newFromFile(t, path)
	top, err := f.Sink("top")
	if err != nil {
		t.Fatal(err)
	}
	if i := top.Info(); i.Kind != sink.KindRoundRobin || i.Endpoint != fmt.Sprintf("l%d,r%d", depth-1, depth-1) || i.State != sink.StateIdle {
		t.Fatalf("top: %v", i)
	}
	// Every service was made once, and shared: 2 relays, 2 per level, top.
	if n := len(f.Infos()); n != 2+2*depth+1 {
		t.Fatalf("%d sinks made, want %d", n, 2+2*depth+1)
	}
	a, err := f.Sink("a")
	if err != nil {
		t.Fatal(err)
	}
	if i := a.Info(); i.State != sink.StateIdle || i.ConnectAttempts != 0 {
		t.Fatalf("building dialed a leaf: %v", i)
	}
}
