package main

import (
	"os"
	"path/filepath"
	"slices"
	"testing"
)

const rawSample = `# perfmd family=overhead
# perfmd command=go test -run '^$' -benchmem -count=3 -benchtime=1s -bench ^BenchmarkOverhead$ ./bench
# perfmd start at=2026-11-29T21:00:00Z go=go1.26.8 loadavg=0.10,0.20,0.30
goos: linux
pkg: github.com/msgsink/msgsink/bench
BenchmarkOverhead/op=send/impl=lazy-2   	100	  9.0 ns/op	  0 B/op	  0 allocs/op
BenchmarkOverhead/op=send/impl=lazy-2   	100	 11.0 ns/op	  0 B/op	  0 allocs/op
BenchmarkOverhead/op=send/impl=lazy-2   	100	 10.0 ns/op	  0 B/op	  0 allocs/op
BenchmarkOverhead/op=send/impl=direct-2 	100	 12.0 ns/op	  8 B/op	  1 allocs/op
BenchmarkOverhead/op=send/impl=direct-2 	100	 14.0 ns/op	  8 B/op	  1 allocs/op
--- SKIP: BenchmarkOverhead/op=e2e/impl=ws-2
    overhead_test.go:12: no WebSocket server here
PASS
# perfmd end elapsed=3s loadavg=0.5,0.4,0.3 others-cpu-pct=1.5
# perfmd family=library
pkg: github.com/msgsink/msgsink/ring
BenchmarkRing/op=push-pop-2 	1000	  2.5 ns/op
`

func TestParseRaw(t *testing.T) {
	path := filepath.Join(t.TempDir(), "raw.txt")
	if err := os.WriteFile(path, []byte(rawSample), 0o644); err != nil {
		t.Fatal(err)
	}
	fams, err := parseRaw([]string{path})
	if err != nil {
		t.Fatal(err)
	}
	if len(fams) != 2 || fams[0].name != "overhead" || fams[1].name != "library" {
		t.Fatalf("families %v, want overhead and library", fams)
	}
	f := fams[0]
	if got := flagValue(f.command, "benchtime"); got != "1s" {
		t.Errorf("benchtime %q, want 1s", got)
	}
	if f.start["go"] != "go1.26.8" || f.end["others-cpu-pct"] != "1.5" {
		t.Errorf("start %v, end %v", f.start, f.end)
	}
	if !slices.Equal(f.order, []string{"Overhead/op=send/impl=lazy", "Overhead/op=send/impl=direct"}) {
		t.Errorf("order %v", f.order)
	}
	for _, c := range []struct {
		name, unit string
		want       float64
	}{
		{"Overhead/op=send/impl=lazy", "ns/op", 10},   // odd count: the middle value
		{"Overhead/op=send/impl=direct", "ns/op", 13}, // even count: the mean of the middle two
		{"Overhead/op=send/impl=direct", "allocs/op", 1},
	} {
		if got, ok := f.results[c.name].median(c.unit); !ok || got != c.want {
			t.Errorf("%s %s median = %v, %v; want %v", c.name, c.unit, got, ok, c.want)
		}
	}
	if _, ok := f.results["Overhead/op=send/impl=lazy"].median("msgs/s"); ok {
		t.Error("median of a unit never reported")
	}
	if why := f.skips["Overhead/op=e2e/impl=ws"]; why != "no WebSocket server here" {
		t.Errorf("skip reason %q", why)
	}
	if res := fams[1].results["Ring/op=push-pop"]; res == nil || res.pkg != "github.com/msgsink/msgsink/ring" {
		t.Errorf("library result %+v, want it under the ring package", res)
	}
}

func TestKeepUnits(t *testing.T) {
	in := []string{
		"pkg: x",
		"BenchmarkA-2 100 9.0 ns/op 5 msgs/s 0 allocs/op",
		"BenchmarkB-2 100 0 B/op",
	}
	got := keepUnits(in, "msgs/s")
	want := []string{"pkg: x", "BenchmarkA-2 100 5 msgs/s"}
	if !slices.Equal(got, want) {
		t.Errorf("keepUnits = %q, want %q", got, want)
	}
}
