package main

import (
	"os"
	"path/filepath"
	"strings"
	"testing"
)

// targetsSample has one run of each benchmark the targets read, named as
// bench names them, with figures chosen to meet some targets and miss
// others.
const targetsSample = `# perfmd family=overhead
pkg: github.com/msgsink/msgsink/bench
BenchmarkOverhead/op=send/transport=unix/size=64/producers=1/impl=lazy-2         	100	 13.0 ns/op	 0 B/op	 0 allocs/op
BenchmarkOverhead/op=send/transport=unix/size=64/producers=1/impl=direct-2       	100	 12.9 ns/op	 0 B/op	 0 allocs/op
BenchmarkOverhead/op=send/transport=unix/size=64/producers=1/impl=lazy-single-2  	100	  7.5 ns/op	 0 B/op	 0 allocs/op
BenchmarkOverhead/op=build-send/transport=unix/size=64/producers=1/impl=lazy-2   	100	 40.0 ns/op	 0 B/op	 0 allocs/op
BenchmarkOverhead/op=build-send/transport=unix/size=64/producers=1/impl=lazy-single-2	100	 35.0 ns/op	 0 B/op	 0 allocs/op
BenchmarkOverhead/op=e2e/transport=unix/size=64/producers=1/impl=sink-2          	100	 40.0 ns/op	 25000000 msgs/s	 0 allocs/op
BenchmarkOverhead/op=e2e/transport=unix/size=64/producers=1/impl=raw-2           	100	 38.0 ns/op	 26000000 msgs/s	 0 allocs/op
# perfmd family=e2e
pkg: github.com/msgsink/msgsink/bench
BenchmarkE2E/msg=built/transport=unix/size=64/producers=1/impl=sink-single-2   	100	 45 ns/op	 22000000 msgs/s	 0 allocs/op
BenchmarkE2E/msg=built/transport=unix/size=64/producers=1/impl=sink-2          	100	 66 ns/op	 15000000 msgs/s	 0 allocs/op
BenchmarkE2E/msg=built/transport=unix/size=64/producers=1/impl=bufio-2         	100	 47 ns/op	 21000000 msgs/s	 0 allocs/op
BenchmarkE2E/msg=built/transport=unix/size=64/producers=1/impl=chan-2          	100	 300 ns/op	 3000000 msgs/s	 1 allocs/op
BenchmarkE2E/msg=built/transport=tcp/size=64/producers=1/impl=sink-single-2    	100	 111 ns/op	 9000000 msgs/s	 0 allocs/op
BenchmarkE2E/msg=built/transport=tcp/size=64/producers=1/impl=sink-2           	100	 125 ns/op	 8000000 msgs/s	 0 allocs/op
BenchmarkE2E/msg=built/transport=tcp/size=64/producers=1/impl=bufio-2          	100	 100 ns/op	 10000000 msgs/s	 0 allocs/op
BenchmarkE2E/msg=prebuilt/transport=unix/size=64/producers=1/impl=sink-2       	100	 38 ns/op	 26000000 msgs/s	 0 allocs/op
BenchmarkE2E/msg=prebuilt/transport=unix/size=64/producers=1/impl=bufio-2      	100	 35 ns/op	 28000000 msgs/s	 0 allocs/op
--- SKIP: BenchmarkE2E/msg=prebuilt/transport=ws/size=64/producers=1/impl=sink-2
    e2e_test.go:1: no WebSocket here
# perfmd family=latency
pkg: github.com/msgsink/msgsink/bench
BenchmarkLatency/rate=10k/impl=sink/idle=backoff-2   	100	 100000 ns/op	 10000 msgs/s	 3000 p50-ns	 40000 p99-ns	 90000 p999-ns	 0 allocs/op
BenchmarkLatency/rate=10k/impl=sink-single/idle=backoff-2	100	 100000 ns/op	 10000 msgs/s	 2900 p50-ns	 40000 p99-ns	 90000 p999-ns	 0 allocs/op
BenchmarkLatency/rate=10k/impl=write-per-msg-2       	100	 100000 ns/op	 10000 msgs/s	 3100 p50-ns	 20000 p99-ns	 50000 p999-ns	 0 allocs/op
BenchmarkLatency/rate=10k/impl=bufio-flush-2         	100	 100000 ns/op	 10000 msgs/s	 3500 p50-ns	 30000 p99-ns	 80000 p999-ns	 0 allocs/op
BenchmarkLatency/rate=100k/impl=sink/idle=backoff-2  	100	 10000 ns/op	 100000 msgs/s	 50000 p50-ns	 900000 p99-ns	 990000 p999-ns	 0 allocs/op
BenchmarkLatency/rate=100k/impl=write-per-msg-2      	100	 10000 ns/op	 100000 msgs/s	 14000 p50-ns	 300000 p99-ns	 400000 p999-ns	 0 allocs/op
BenchmarkLatency/rate=100k/impl=sink-single/idle=backoff-2	100	 10000 ns/op	 100000 msgs/s	 12000 p50-ns	 300000 p99-ns	 400000 p999-ns	 0 allocs/op
BenchmarkRelayLatency/rate=100k/impl=sink-single/idle=backoff/hop=relay-2	100	 10000 ns/op	 100000 msgs/s	 30000 p50-ns	 700000 p99-ns	 900000 p999-ns	 0 allocs/op
# perfmd family=idle
pkg: github.com/msgsink/msgsink/bench
BenchmarkIdleCPU/idle=backoff-2 	10	 100000000 ns/op	 0.30 cpu-%	 0 allocs/op
BenchmarkIdleCPU/idle=park-2    	10	 100000000 ns/op	 0.10 cpu-%	 0 allocs/op
`

func TestTargets(t *testing.T) {
	path := filepath.Join(t.TempDir(), "raw.txt")
	if err := os.WriteFile(path, []byte(targetsSample), 0o644); err != nil {
		t.Fatal(err)
	}
	fams, err := parseRaw([]string{path})
	if err != nil {
		t.Fatal(err)
	}
	// No benchstat: the comparisons go without its significance.
	r := &report{fams: fams, tmp: t.TempDir(), benchstat: filepath.Join(t.TempDir(), "no-benchstat")}
	check := func(ts []target, prefix, status, measured string) {
		t.Helper()
		for _, tg := range ts {
			if !strings.HasPrefix(tg.name, prefix) {
				continue
			}
			if tg.status != status || !strings.Contains(tg.measured, measured) {
				t.Errorf("%q: %s, %q; want %s, measured containing %q", tg.name, tg.status, tg.measured, status, measured)
			}
			return
		}
		t.Errorf("no target %q", prefix)
	}
	adapter := r.adapterTargets()
	for _, c := range []struct{ prefix, status, measured string }{
		{"build-per-message, 64 B, Unix, 1 producer, `single_producer` ≥ 1.0×", met, "1.05× (22.00M msgs/s vs 21.00M msgs/s)"},
		{"the same ≥ 20 M", met, "22.00M msgs/s"},
		{"the same with the shared default ≥ 0.8×", missed, "0.71×"},
		{"TCP, `single_producer` ≥ 0.8×", met, "0.90×"},
		{"TCP, `single_producer` ≥ 0.8×", met, "shared default 0.80×"},
		{"`Send`, single producer ≤ 8 ns", met, "7.50 ns/op, 0 allocs/op"},
		{"`Send`, shared ≤ 12 ns", missed, "13.00 ns/op"},
		{"`Builder` + `Send` + recycle", met, "op=build-send included"},
		{"p50 at 10k msgs/s, default idle strategy (backoff) ≤ 1.0×", met, "single_producer` 2.9 µs"},
		{"p50 at 100k msgs/s, default idle strategy (backoff) ≤ 1.0×", missed, "3.57×"},
		{"p99 at 10k msgs/s, default idle strategy ≤ 1.5× bufio", met, "1.33×"},
		{"p99 at 100k msgs/s, default idle strategy ≤ 1.5× bufio", notMeasured, "not in this run"},
		{"via the relay", missed, "2.50× (30.0 µs vs 12.0 µs)"},
		{"a quiet connected sink, default strategy (backoff)", met, "0.30%"},
		{"lazy vs direct", met, "+0.78%"},
	} {
		check(adapter, c.prefix, c.status, c.measured)
	}
	pipe := r.pipeTargets()
	for _, c := range []struct{ prefix, status, measured string }{
		{"sink vs raw end to end", missed, "-3.85%"},
		{"pipe only (pre-built), unix, 64 B, 1 producer ≥ 1.0×", missed, "0.93×"},
		{"pipe only (pre-built), unix, 64 B, 1 producer ≥ 25 M", met, "26.00M"},
		{"pipe only (pre-built), WebSocket", notMeasured, "skipped: no WebSocket here"},
		{"parked idle sink", met, "0.10%"},
	} {
		check(pipe, c.prefix, c.status, c.measured)
	}
}

// A sink benchmark that allocates misses the allocation target, and names
// itself for the profile.
func TestAllocTargetMissed(t *testing.T) {
	path := filepath.Join(t.TempDir(), "raw.txt")
	raw := strings.Replace(targetsSample,
		"impl=sink-single-2   	100	 45 ns/op	 22000000 msgs/s	 0 allocs/op",
		"impl=sink-single-2   	100	 45 ns/op	 22000000 msgs/s	 2 allocs/op", 1)
	if raw == targetsSample {
		t.Fatal("sample line not found")
	}
	if err := os.WriteFile(path, []byte(raw), 0o644); err != nil {
		t.Fatal(err)
	}
	fams, err := parseRaw([]string{path})
	if err != nil {
		t.Fatal(err)
	}
	tg := (&report{fams: fams}).allocTarget()
	want := "E2E/msg=built/transport=unix/size=64/producers=1/impl=sink-single"
	if tg.status != missed || len(tg.bench) != 1 || tg.bench[0] != want {
		t.Errorf("alloc target %s, profiles %v; want missed, profiling %s", tg.status, tg.bench, want)
	}
}
