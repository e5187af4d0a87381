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
)

// status of a target.
const (
	met         = "met"
	missed      = "**missed**"
	notMeasured = "not measured"
)

// target is one line of SPEC section 11, checked against this run.
type target struct {
	name     string
	measured string
	status   string
	bench    []string // the benchmarks to profile when missed
	allocs   bool     // profile allocations rather than CPU
}

const (
	sendLazy   = "Overhead/op=send/transport=unix/size=64/producers=1/impl=lazy"
	sendDirect = "Overhead/op=send/transport=unix/size=64/producers=1/impl=direct"
	e2eSink    = "Overhead/op=e2e/transport=unix/size=64/producers=1/impl=sink"
	e2eRaw     = "Overhead/op=e2e/transport=unix/size=64/producers=1/impl=raw"
)

func e2eName(transport, impl string) string {
	return "E2E/transport=" + transport + "/size=64/producers=1/impl=" + impl
}

// lookup returns the result of the bench package's benchmark name.
func (r *report) lookup(name string) *result {
	for _, f := range r.fams {
		if res := f.results[name]; res != nil && strings.HasSuffix(res.pkg, "/bench") {
			return res
		}
	}
	return nil
}

func (r *report) median(name, unit string) (float64, bool) {
	res := r.lookup(name)
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

// targets checks every target that this run measured.
func (r *report) targets() []target {
	var ts []target
	add := func(t target) { ts = append(ts, t) }

	if ns, ok := r.median(sendLazy, "ns/op"); ok {
		allocs, _ := r.median(sendLazy, "allocs/op")
		add(target{name: "`Send` ≤ 10 ns/op, 0 allocs/op", bench: []string{sendLazy},
			measured: fmt.Sprintf("%.2f ns/op, %g allocs/op", ns, allocs), status: status(ns <= 10 && allocs == 0)})
	} else {
		add(target{name: "`Send` ≤ 10 ns/op, 0 allocs/op", status: notMeasured})
	}

	add(r.compare("lazy vs direct `Send`: delta < 1% or no significant difference",
		sendDirect, sendLazy, "ns/op", "/impl@(direct lazy)", ".name:Overhead /op:send",
		func(delta float64, significant bool) bool { return delta < 1 || !significant }))
	add(r.compare("sink vs raw end to end: delta < 1%",
		e2eRaw, e2eSink, "msgs/s", "/impl@(raw sink)", ".name:Overhead /op:e2e",
		func(delta float64, _ bool) bool { return delta > -1 }))

	sink, okSink := r.median(e2eName("unix", "sink"), "msgs/s")
	bufio, okBufio := r.median(e2eName("unix", "bufio"), "msgs/s")
	if okSink && okBufio {
		add(target{name: "E2E unix, 64 B, 1 producer ≥ 1.0× bufio", bench: []string{e2eName("unix", "sink")},
			measured: fmt.Sprintf("%.2f× (sink %s, bufio %s msgs/s)", sink/bufio, si(sink), si(bufio)), status: status(sink >= bufio)})
		add(target{name: "E2E unix, 64 B, 1 producer ≥ 25 M msgs/s", bench: []string{e2eName("unix", "sink")},
			measured: si(sink) + " msgs/s", status: status(sink >= 25e6)})
	} else {
		add(target{name: "E2E unix, 64 B, 1 producer ≥ 1.0× bufio and ≥ 25 M msgs/s", status: notMeasured})
	}
	for _, tr := range []struct {
		transport, label string
		min              float64
	}{{"tcp", "TCP", 10e6}, {"ws", "WebSocket", 5e6}} {
		t := target{name: fmt.Sprintf("%s, 64 B, 1 producer ≥ %s msgs/s", tr.label, si(tr.min)), bench: []string{e2eName(tr.transport, "sink")}}
		if v, ok := r.median(e2eName(tr.transport, "sink"), "msgs/s"); ok {
			t.measured, t.status = si(v)+" msgs/s", status(v >= tr.min)
		} else {
			t.status, t.measured = notMeasured, r.skipReason(e2eName(tr.transport, "sink"))
		}
		add(t)
	}

	// Every sink path, steady state: no allocation per message.
	t := target{name: "0 allocs/op in steady state on the sink paths", allocs: true}
	var checked int
	for _, f := range r.fams {
		for _, n := range f.order {
			res := f.results[n]
			if !strings.HasSuffix(res.pkg, "/bench") || !(strings.Contains(n, "impl=sink") || strings.Contains(n, "impl=lazy")) {
				continue
			}
			checked++
			if a, ok := res.median("allocs/op"); ok && a > 0 {
				t.bench = append(t.bench, n)
				t.measured += fmt.Sprintf("`%s` %g allocs/op; ", n, a)
			}
		}
	}
	switch {
	case checked == 0:
		t.status = notMeasured
	case len(t.bench) == 0:
		t.status, t.measured = met, fmt.Sprintf("0 in all %d sink benchmarks (median)", checked)
	default:
		t.status, t.measured = missed, strings.TrimSuffix(t.measured, "; ")
	}
	add(t)

	park := "IdleCPU/idle=park"
	if v, ok := r.median(park, "cpu-%"); ok {
		add(target{name: "parked idle sink ≈ 0% CPU (≤ 1% of a core)", bench: []string{park},
			measured: fmt.Sprintf("%.2f%% of a core", v), status: status(v <= 1)})
	} else {
		add(target{name: "parked idle sink ≈ 0% CPU", status: notMeasured})
	}

	base, okBase := r.median("Latency/rate=100k/impl=write-per-msg", "p50-ns")
	for _, idle := range []string{"backoff", "spin", "park"} {
		name := "Latency/rate=100k/impl=sink/idle=" + idle
		t := target{name: "p50 at 100k msgs/s ≤ 1.5× one write per message, idle=" + idle, bench: []string{name}}
		if v, ok := r.median(name, "p50-ns"); ok && okBase {
			t.measured = fmt.Sprintf("%.2f× (%s vs %s)", v/base, dur(v), dur(base))
			t.status = status(v <= 1.5*base)
		} else {
			t.status = notMeasured
		}
		add(t)
	}
	return ts
}

// compare checks newName against baseName in unit, with the significance
// benchstat finds (its csv output, column order base then new).
func (r *report) compare(name, baseName, newName, unit, col, filter string, ok func(delta float64, significant bool) bool) target {
	t := target{name: name, bench: []string{newName}}
	b, okB := r.median(baseName, unit)
	n, okN := r.median(newName, unit)
	if !okB || !okN {
		t.status = notMeasured
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

func (r *report) targetTable(ts []target) {
	r.printf("## Targets (SPEC section 11 and issue 6)\n\n")
	r.printf("Medians over the runs; significance from benchstat (Mann-Whitney U, α = 0.05).\n\n")
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
	f := r.familyOf(strings.SplitN(name, "/", 2)[0] + "/")
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
