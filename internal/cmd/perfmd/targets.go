package main

import (
	"encoding/csv"
	"fmt"
	"math"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"strings"

	"github.com/msgsink/msgsink/lazy"
)

// status of a target.
const (
	met         = "met"
	missed      = "**missed**"
	notMeasured = "not measured"
)

// target is one line of a target table, checked against this run.
type target struct {
	name     string
	measured string
	status   string
	bench    []string // the benchmarks to profile when missed
	allocs   bool     // profile allocations rather than CPU
}

// The benchmarks the targets read.
const (
	sendShared      = "Overhead/op=send/transport=unix/size=64/producers=1/impl=lazy"
	sendSingle      = "Overhead/op=send/transport=unix/size=64/producers=1/impl=lazy-single"
	sendDirect      = "Overhead/op=send/transport=unix/size=64/producers=1/impl=direct"
	buildSendShared = "Overhead/op=build-send/transport=unix/size=64/producers=1/impl=lazy"
	buildSendSingle = "Overhead/op=build-send/transport=unix/size=64/producers=1/impl=lazy-single"
	e2eSink         = "Overhead/op=e2e/transport=unix/size=64/producers=1/impl=sink"
	e2eRaw          = "Overhead/op=e2e/transport=unix/size=64/producers=1/impl=raw"
)

// The E2E variants: every message built by the producer (the adapter's
// figure), or one pre-built message sent again and again (the pipe alone).
const (
	built    = "built"
	prebuilt = "prebuilt"
)

// defaultIdle is the lazy sink's idle strategy when Config.Idle is not set.
var defaultIdle = lazy.Idle(0).String()

func e2eName(msg, transport, impl string) string {
	return "E2E/msg=" + msg + "/transport=" + transport + "/size=64/producers=1/impl=" + impl
}

// latencyName names a Latency benchmark at rate; the sink's carry their idle
// strategy, the baselines none.
func latencyName(rate, impl, idle string) string {
	n := "Latency/rate=" + rate + "/impl=" + impl
	if idle != "" {
		n += "/idle=" + idle
	}
	return n
}

// relayLatencyName names the RelayLatency benchmark at rate.
func relayLatencyName(rate string) string {
	return "RelayLatency/rate=" + rate + "/impl=sink-single/idle=" + defaultIdle + "/hop=relay"
}

// lookup returns the result of benchmark name in the package whose import
// path ends in pkg.
func (r *report) lookup(pkg, name string) *result {
	for _, f := range r.fams {
		if res := f.results[name]; res != nil && strings.HasSuffix(res.pkg, pkg) {
			return res
		}
	}
	return nil
}

func (r *report) median(pkg, name, unit string) (float64, bool) {
	res := r.lookup(pkg, name)
	if res == nil {
		return 0, false
	}
	return res.median(unit)
}

func status(ok bool) string {
	if ok {
		return met
	}
	return missed
}

// adapterTargets checks issue 13's targets: the critical path as an adapter
// lives it, with every message built, sent and recycled.
func (r *report) adapterTargets() []target {
	var ts []target
	add := func(t target) { ts = append(ts, t) }
	rate := siUnit("msgs/s")

	single, shared, bufio := e2eName(built, "unix", "sink-single"), e2eName(built, "unix", "sink"), e2eName(built, "unix", "bufio")
	add(r.against("build-per-message, 64 B, Unix, 1 producer, `single_producer` ≥ 1.0× bufio (encoding each message)",
		benchPkg, single, bufio, "msgs/s", 1.0, false, rate))
	add(r.threshold("the same ≥ 20 M msgs/s", benchPkg, single, "msgs/s", func(v float64) bool { return v >= 20e6 }, rate))
	add(r.against("the same with the shared default ≥ 0.8× bufio", benchPkg, shared, bufio, "msgs/s", 0.8, false, rate))
	// The TCP row checks single_producer, the adapter's configuration; the
	// shared sink's ratio is given beside it.
	t := r.against("TCP, `single_producer` ≥ 0.8× its bufio", benchPkg,
		e2eName(built, "tcp", "sink-single"), e2eName(built, "tcp", "bufio"), "msgs/s", 0.8, false, rate)
	if v, ok := r.median(benchPkg, e2eName(built, "tcp", "sink"), "msgs/s"); ok {
		if b, ok := r.median(benchPkg, e2eName(built, "tcp", "bufio"), "msgs/s"); ok {
			t.measured += fmt.Sprintf("; shared default %.2f× (%s)", v/b, rate(v))
		}
	}
	add(t)

	add(r.sendTarget("`Send`, single producer ≤ 8 ns, 0 allocs", sendSingle, 8))
	add(r.sendTarget("`Send`, shared ≤ 12 ns, 0 allocs", sendShared, 12))
	add(r.allocTarget())

	for _, rt := range []string{"10k", "100k"} {
		sink, base := latencyName(rt, "sink", defaultIdle), latencyName(rt, "write-per-msg", "")
		t := r.against(fmt.Sprintf("p50 at %s msgs/s, default idle strategy (%s) ≤ 1.0× one `write` per message", rt, defaultIdle),
			benchPkg, sink, base, "p50-ns", 1.0, true, dur)
		if v, ok := r.median(benchPkg, latencyName(rt, "sink-single", defaultIdle), "p50-ns"); ok {
			t.measured += "; `single_producer` " + dur(v)
		}
		add(t)
	}
	for _, rt := range []string{"10k", "100k"} {
		add(r.against(fmt.Sprintf("p99 at %s msgs/s, default idle strategy ≤ 1.5× bufio + `Flush`", rt),
			benchPkg, latencyName(rt, "sink", defaultIdle), latencyName(rt, "bufio-flush", ""), "p99-ns", 1.5, true, dur))
	}
	// The relay hop: the same single-producer sink to a reader through a
	// relay, against straight to it, in the same run.
	add(r.against("via the relay at 100k msgs/s: p50 ≤ 2× direct (`single_producer`, default idle)",
		benchPkg, relayLatencyName("100k"), latencyName("100k", "sink-single", defaultIdle), "p50-ns", 2, true, dur))

	add(r.threshold(fmt.Sprintf("a quiet connected sink, default strategy (%s), ≈ 0%% CPU (≤ 1%% of a core)", defaultIdle),
		benchPkg, "IdleCPU/idle="+defaultIdle, "cpu-%", atMostOnePercent, cpuShare))

	add(r.compare("lazy vs direct `Send`: delta < 1% or no significant difference",
		sendDirect, sendShared, "ns/op", "/impl@(direct lazy)", ".name:Overhead /op:send",
		func(delta float64, significant bool) bool { return delta < 1 || !significant }))
	return ts
}

// pipeTargets checks the earlier targets (issue 6) that the adapter's
// table does not replace: the pipe alone, with pre-built messages, and the
// parked sink's CPU.
func (r *report) pipeTargets() []target {
	var ts []target
	add := func(t target) { ts = append(ts, t) }
	rate := siUnit("msgs/s")

	add(r.compare("sink vs raw end to end: delta < 1%",
		e2eRaw, e2eSink, "msgs/s", "/impl@(raw sink)", ".name:Overhead /op:e2e",
		func(delta float64, _ bool) bool { return delta > -1 }))
	sink, bufio := e2eName(prebuilt, "unix", "sink"), e2eName(prebuilt, "unix", "bufio")
	add(r.against("pipe only (pre-built), unix, 64 B, 1 producer ≥ 1.0× bufio", benchPkg, sink, bufio, "msgs/s", 1.0, false, rate))
	add(r.threshold("pipe only (pre-built), unix, 64 B, 1 producer ≥ 25 M msgs/s", benchPkg, sink, "msgs/s",
		func(v float64) bool { return v >= 25e6 }, rate))
	for _, tr := range []struct {
		transport, label string
		min              float64
	}{{"tcp", "TCP", 10e6}, {"ws", "WebSocket", 5e6}} {
		add(r.threshold(fmt.Sprintf("pipe only (pre-built), %s, 64 B, 1 producer ≥ %s msgs/s", tr.label, si(tr.min)),
			benchPkg, e2eName(prebuilt, tr.transport, "sink"), "msgs/s", func(v float64) bool { return v >= tr.min }, rate))
	}
	add(r.threshold("parked idle sink ≈ 0% CPU (≤ 1% of a core)", benchPkg, "IdleCPU/idle=park", "cpu-%", atMostOnePercent, cpuShare))
	return ts
}

// threshold checks the median of name (in pkg) in unit with ok; with ok nil
// it only reports it.
func (r *report) threshold(label, pkg, name, unit string, ok func(float64) bool, format func(float64) string) target {
	t := target{name: label, bench: []string{name}}
	if v, found := r.median(pkg, name, unit); found {
		t.measured, t.status = format(v), "reported"
		if ok != nil {
			t.status = status(ok(v))
		}
	} else {
		t.status, t.measured = notMeasured, r.skipReason(name)
	}
	return t
}

// The idle-CPU targets: a quiet sink costs at most 1% of a core.
func atMostOnePercent(v float64) bool { return v <= 1 }
func cpuShare(v float64) string       { return fmt.Sprintf("%.2f%% of a core", v) }

// against checks the median of name (in pkg) in unit against k times that
// of base: at most (a delay) or at least (a rate); with k 0 it only reports
// the ratio.
func (r *report) against(label, pkg, name, base, unit string, k float64, atMost bool, format func(float64) string) target {
	t := target{name: label, bench: []string{name}}
	v, okV := r.median(pkg, name, unit)
	b, okB := r.median(pkg, base, unit)
	switch {
	case !okV:
		t.status, t.measured = notMeasured, r.skipReason(name)
	case !okB:
		t.status, t.measured = notMeasured, r.skipReason(base)
	default:
		t.measured = fmt.Sprintf("%.2f× (%s vs %s)", v/b, format(v), format(b))
		switch {
		case k == 0:
			t.status = "reported"
		case atMost:
			t.status = status(v <= k*b)
		default:
			t.status = status(v >= k*b)
		}
	}
	return t
}

// sendTarget checks a Send benchmark against maxNs and 0 allocs/op.
func (r *report) sendTarget(label, name string, maxNs float64) target {
	t := target{name: label, bench: []string{name}}
	ns, ok := r.median(benchPkg, name, "ns/op")
	if !ok {
		t.status, t.measured = notMeasured, r.skipReason(name)
		return t
	}
	allocs, _ := r.median(benchPkg, name, "allocs/op")
	t.measured = fmt.Sprintf("%.2f ns/op, %g allocs/op", ns, allocs)
	t.status = status(ns <= maxNs && allocs == 0)
	return t
}

// allocTarget checks that nothing on a sink's path allocates in steady
// state: Builder + Send + recycle (op=build-send), and every other bench
// benchmark of the sink (impl=sink..., impl=lazy...), which build per
// message too where their names say msg=built, and in Latency.
func (r *report) allocTarget() target {
	t := target{name: "`Builder` + `Send` + recycle: 0 allocs per message once warm (op=build-send and every sink benchmark)", allocs: true}
	var checked int
	sawBuildSend := false
	for _, f := range r.fams {
		for _, n := range f.order {
			res := f.results[n]
			if !strings.HasSuffix(res.pkg, "/bench") || !(strings.Contains(n, "impl=sink") || strings.Contains(n, "impl=lazy")) {
				continue
			}
			checked++
			sawBuildSend = sawBuildSend || n == buildSendShared || n == buildSendSingle
			if a, ok := res.median("allocs/op"); ok && a > 0 {
				t.bench = append(t.bench, n)
				t.measured += fmt.Sprintf("`%s` %g allocs/op; ", n, a)
			}
		}
	}
	switch {
	case checked == 0:
		t.status, t.measured = notMeasured, "no sink benchmark in this run"
	case len(t.bench) > 0:
		t.status, t.measured = missed, strings.TrimSuffix(t.measured, "; ")
	case !sawBuildSend:
		t.status = notMeasured
		t.measured = fmt.Sprintf("0 in all %d sink benchmarks (median), but op=build-send was not in this run", checked)
	default:
		t.status, t.measured = met, fmt.Sprintf("0 in all %d sink benchmarks (median), op=build-send included", checked)
	}
	return t
}

// compare checks newName against baseName in unit, with the significance
// benchstat finds (its csv output, column order base then new).
func (r *report) compare(name, baseName, newName, unit, col, filter string, ok func(delta float64, significant bool) bool) target {
	t := target{name: name, bench: []string{newName}}
	b, okB := r.median(benchPkg, baseName, unit)
	n, okN := r.median(benchPkg, newName, unit)
	switch {
	case !okN:
		t.status, t.measured = notMeasured, r.skipReason(newName)
		return t
	case !okB:
		t.status, t.measured = notMeasured, r.skipReason(baseName)
		return t
	}
	delta := 100 * (n - b) / b
	verdict, p := r.significance(newName, unit, col, filter)
	significant := verdict != "~" && verdict != ""
	t.measured = fmt.Sprintf("%+.2f%% (medians %s vs %s %s; benchstat: %s %s)", delta, num(n), num(b), unit, verdict, p)
	t.status = status(ok(delta, significant))
	return t
}

// significance returns benchstat's "vs base" and P cells for the row of
// name (without its last key) in unit, as the raw output spells it.
func (r *report) significance(name, unit, col, filter string) (string, string) {
	var f *family
	for _, fam := range r.fams {
		if fam.results[name] != nil {
			f = fam
		}
	}
	if f == nil {
		return "", ""
	}
	path := filepath.Join(r.tmp, "csv.txt")
	if err := os.WriteFile(path, []byte(strings.Join(keepUnits(f.lines, unit), "\n")+"\n"), 0o644); err != nil {
		return "", ""
	}
	out, err := exec.Command(r.benchstat, "-format", "csv", "-filter", filter, "-col", col, path).Output()
	if err != nil {
		return "", ""
	}
	row := name[:strings.LastIndex(name, "/")]
	rd := csv.NewReader(strings.NewReader(string(out)))
	rd.FieldsPerRecord = -1
	recs, _ := rd.ReadAll()
	for _, rec := range recs {
		if len(rec) >= 7 && strings.HasPrefix(rec[0], row) {
			return rec[5], rec[6]
		}
	}
	return "", ""
}

func (r *report) skipReason(name string) string {
	for _, f := range r.fams {
		if why, ok := f.skips[name]; ok {
			return "skipped: " + why
		}
	}
	return "not in this run"
}

// targetTable writes one table of targets under title.
func (r *report) targetTable(title, intro string, ts []target) {
	r.printf("## %s\n\n", title)
	if intro != "" {
		r.printf("%s\n\n", intro)
	}
	r.printf("Medians over the runs; significance from benchstat (Mann-Whitney U, α = 0.05).\n\n")
	r.targetRows(ts)
}

// targetRows writes the table of targets ts.
func (r *report) targetRows(ts []target) {
	r.printf("| target | this run | status |\n|---|---|---|\n")
	for _, t := range ts {
		r.printf("| %s | %s | %s |\n", t.name, t.measured, t.status)
	}
	r.printf("\n")
}

// profiles runs each benchmark behind a missed target once more under the
// profiler and shows where its time (or its allocations) goes.
func (r *report) profiles(ts []target) error {
	var done []string
	header := false
	for _, t := range ts {
		if t.status != missed {
			continue
		}
		for _, name := range t.bench {
			if slices.Contains(done, name) {
				continue
			}
			done = append(done, name)
			if !header {
				r.printf("## Profiles of the missed targets\n\n")
				r.printf("Each benchmark behind a missed target, run once more under the profiler.\n\n")
				header = true
			}
			if err := r.profile(name, t.allocs); err != nil {
				return err
			}
		}
	}
	return nil
}

func (r *report) profile(name string, allocs bool) error {
	f := r.familyOf(benchPkg, strings.SplitN(name, "/", 2)[0]+"/")
	benchtime := "1s"
	if f != nil {
		if bt := flagValue(f.command, "benchtime"); bt != "" {
			benchtime = bt
		}
	}
	parts := strings.Split("Benchmark"+name, "/")
	for i, p := range parts {
		parts[i] = "^" + p + "$"
	}
	prof := filepath.Join(r.tmp, "prof.out")
	kind, top := "-cpuprofile", []string{"tool", "pprof", "-top", "-nodecount=25", prof}
	if allocs {
		kind = "-memprofile"
		top = []string{"tool", "pprof", "-top", "-nodecount=25", "-sample_index=alloc_objects", prof}
	}
	args := []string{"test", "-run", "^$", "-bench", strings.Join(parts, "/"), "-benchmem", "-count=1",
		"-benchtime=" + benchtime, kind, prof, "./bench"}
	if allocs {
		args = slices.Insert(args, len(args)-1, "-memprofilerate=1")
	}
	fmt.Fprintf(os.Stderr, "perfmd: profiling %s\n", name)
	out, err := exec.Command(r.goCmd, args...).CombinedOutput()
	if err != nil {
		return fmt.Errorf("go %s: %v\n%s", shellJoin(args), err, out)
	}
	var benchLine string
	for line := range strings.Lines(string(out)) {
		if strings.HasPrefix(line, "Benchmark") {
			benchLine = strings.TrimSpace(line)
		}
	}
	topOut, err := exec.Command(r.goCmd, top...).CombinedOutput()
	if err != nil {
		return fmt.Errorf("go %s: %v\n%s", shellJoin(top), err, topOut)
	}
	r.printf("### %s\n\n```\n$ go %s\n%s\n$ go %s\n%s\n```\n\n", name, shellJoin(args), benchLine,
		shellJoin(top[:len(top)-1])+" prof.out", strings.TrimSpace(string(topOut)))
	return nil
}

// si formats v with an SI prefix: 25.3M.
func si(v float64) string {
	switch a := math.Abs(v); {
	case a >= 1e9:
		return fmt.Sprintf("%.2fG", v/1e9)
	case a >= 1e6:
		return fmt.Sprintf("%.2fM", v/1e6)
	case a >= 1e3:
		return fmt.Sprintf("%.1fk", v/1e3)
	}
	return fmt.Sprintf("%.3g", v)
}

// siUnit formats a median in unit: 25.30M msgs/s.
func siUnit(unit string) func(float64) string {
	return func(v float64) string { return si(v) + " " + unit }
}

// num formats a median for the target table.
func num(v float64) string {
	if math.Abs(v) >= 1e3 {
		return si(v)
	}
	return fmt.Sprintf("%.3g", v)
}

// dur formats nanoseconds.
func dur(ns float64) string {
	switch {
	case ns >= 1e6:
		return fmt.Sprintf("%.2f ms", ns/1e6)
	case ns >= 1e3:
		return fmt.Sprintf("%.1f µs", ns/1e3)
	}
	return fmt.Sprintf("%.0f ns", ns)
}

func sortedKeys(m map[string]string) []string {
	keys := make([]string, 0, len(m))
	for k := range m {
		keys = append(keys, k)
	}
	slices.Sort(keys)
	return keys
}
