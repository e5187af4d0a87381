package main

import (
	"bufio"
	"os"
	"regexp"
	"slices"
	"strconv"
	"strings"
)

// family is the output of one recorded command (perfmd run), or of a whole
// file that was not recorded.
type family struct {
	name    string
	command string            // exact command line, "" if not recorded
	start   map[string]string // tagStart fields: at, go, loadavg
	end     map[string]string // tagEnd fields: elapsed, loadavg, others-cpu-pct, ...
	lines   []string          // everything else, for benchstat
	skips   map[string]string // skipped benchmark -> the reason it gave
	results map[string]*result
	order   []string // result names in first-seen order
}

// result is every value of one benchmark, by unit.
type result struct {
	pkg    string
	values map[string][]float64
}

// median returns the median value of unit, and false if there is none.
func (r *result) median(unit string) (float64, bool) {
	v := slices.Clone(r.values[unit])
	if len(v) == 0 {
		return 0, false
	}
	slices.Sort(v)
	if n := len(v); n%2 == 0 {
		return (v[n/2-1] + v[n/2]) / 2, true
	}
	return v[len(v)/2], true
}

// procsSuffix is the -GOMAXPROCS suffix the testing package adds to names.
var procsSuffix = regexp.MustCompile(`-\d+$`)

// parseRaw reads benchmark output files into families.
func parseRaw(paths []string) ([]*family, error) {
	var fams []*family
	for _, p := range paths {
		f, err := os.Open(p)
		if err != nil {
			return nil, err
		}
		var cur *family
		newFamily := func(name string) {
			cur = &family{name: name, start: map[string]string{}, end: map[string]string{},
				skips: map[string]string{}, results: map[string]*result{}}
			fams = append(fams, cur)
		}
		pkg, skipping := "", ""
		sc := bufio.NewScanner(f)
		sc.Buffer(make([]byte, 1<<20), 1<<20)
		for sc.Scan() {
			line := sc.Text()
			switch {
			case strings.HasPrefix(line, tagFamily):
				newFamily(strings.TrimPrefix(line, tagFamily))
				continue
			case cur == nil:
				newFamily("benchmarks")
			}
			switch {
			case strings.HasPrefix(line, tagCommand):
				cur.command = strings.TrimPrefix(line, tagCommand)
			case strings.HasPrefix(line, tagStart):
				cur.start = fields(strings.TrimPrefix(line, tagStart))
			case strings.HasPrefix(line, tagEnd):
				cur.end = fields(strings.TrimPrefix(line, tagEnd))
			case strings.HasPrefix(line, "--- SKIP: "):
				skipping = strings.TrimPrefix(strings.TrimPrefix(line, "--- SKIP: "), "Benchmark")
			case skipping != "" && strings.HasPrefix(line, "    "):
				_, reason, _ := strings.Cut(strings.TrimSpace(line), ": ")
				cur.skips[procsSuffix.ReplaceAllString(skipping, "")] = reason
				skipping = ""
			default:
				skipping = ""
				cur.lines = append(cur.lines, line)
				if v, ok := strings.CutPrefix(line, "pkg: "); ok {
					pkg = v
				}
				cur.addResult(pkg, line)
			}
		}
		f.Close()
		if err := sc.Err(); err != nil {
			return nil, err
		}
	}
	return fams, nil
}

// addResult records line if it is a benchmark result:
// BenchmarkName-N  iterations  value unit  value unit ...
func (f *family) addResult(pkg, line string) {
	fs := strings.Fields(line)
	if len(fs) < 4 || !strings.HasPrefix(fs[0], "Benchmark") || len(fs)%2 != 0 {
		return
	}
	if _, err := strconv.Atoi(fs[1]); err != nil {
		return
	}
	name := procsSuffix.ReplaceAllString(strings.TrimPrefix(fs[0], "Benchmark"), "")
	r := f.results[name]
	if r == nil {
		r = &result{pkg: pkg, values: map[string][]float64{}}
		f.results[name] = r
		f.order = append(f.order, name)
	}
	for i := 2; i+1 < len(fs); i += 2 {
		v, err := strconv.ParseFloat(fs[i], 64)
		if err != nil {
			return
		}
		r.values[fs[i+1]] = append(r.values[fs[i+1]], v)
	}
}

// keepUnits returns lines with every benchmark result cut down to the given
// units, so that benchstat prints only the tables wanted.
func keepUnits(lines []string, units ...string) []string {
	out := make([]string, 0, len(lines))
	for _, line := range lines {
		fs := strings.Fields(line)
		if len(fs) < 4 || !strings.HasPrefix(fs[0], "Benchmark") || len(fs)%2 != 0 {
			out = append(out, line)
			continue
		}
		kept := fs[:2:2]
		for i := 2; i+1 < len(fs); i += 2 {
			if slices.Contains(units, fs[i+1]) {
				kept = append(kept, fs[i], fs[i+1])
			}
		}
		if len(kept) > 2 {
			out = append(out, strings.Join(kept, " "))
		}
	}
	return out
}

// fields parses "k=v k=v ..." as written by run.
func fields(s string) map[string]string {
	m := map[string]string{}
	for _, kv := range strings.Fields(s) {
		if k, v, ok := strings.Cut(kv, "="); ok {
			m[k] = v
		}
	}
	return m
}

// flagValue returns the value of -name=v or -name v in a recorded command.
func flagValue(command, name string) string {
	fs := strings.Fields(command)
	for i, f := range fs {
		f = strings.TrimPrefix(f, "-")
		if v, ok := strings.CutPrefix(f, name+"="); ok {
			return v
		}
		if f == name && i+1 < len(fs) && strings.HasPrefix(fs[i], "-") {
			return fs[i+1]
		}
	}
	return ""
}
