package main

import (
	"fmt"
	"strings"
)

// The families of issues 14–17, each run where its benchmarks live: the
// receive side in ./source, acked delivery in ./bench, the dashboard and
// NATS in modules of their own.
const (
	sourcePkg    = "/source"
	benchPkg     = "/bench"
	dashboardPkg = "/internal/dashboard"
	natsPkg      = "/contrib/nats"

	nextPrebuilt = "Next/impl=source/feed=prebuilt/size=64"
	nextSink     = "Next/impl=source/feed=sink/size=64"
	nextRaw      = "Next/impl=raw/feed=prebuilt/size=64"
	listenWS     = "Listen/transport=ws/size=64/impl=listener"
	listenWSConn = "Listen/transport=ws/size=64/impl=conn"
	listenUnix   = "Listen/transport=unix/size=64/impl=listener"
	reconnect    = "Reconnect"

	deliveryAcked = "Delivery/transport=unix/size=64/producers=1/delivery=acked"
	deliveryAMO   = "Delivery/transport=unix/size=64/producers=1/delivery=at_most_once"

	intakeWhole = "Intake/transport=ws/reader=dashboard"
	intakeUser  = "Intake/transport=ws/reader=wsutil+map"

	natsCore      = "Publish/mode=core/size=64/producers=1/impl=natssink"
	natsLoop      = "Publish/mode=core/size=64/producers=1/impl=nats.go"
	natsJetStream = "Publish/mode=jetstream/size=64/producers=1/impl=natssink"
)

// found is the result of benchmark name in the package ending in pkg, and
// the family it came from.
func (r *report) found(pkg, name string) (*result, *family) {
	for _, f := range r.fams {
		if res := f.results[name]; res != nil && strings.HasSuffix(res.pkg, pkg) {
			return res, f
		}
	}
	return nil, nil
}

// pkgMedian returns the median of unit of benchmark name in pkg.
func (r *report) pkgMedian(pkg, name, unit string) (float64, bool) {
	if res, _ := r.found(pkg, name); res != nil {
		return res.median(unit)
	}
	return 0, false
}

// issueSection writes one issue's section: its target table, then a
// benchstat table of the family that holds name for each set of args.
func (r *report) issueSection(title, pkg, name string, ts []target, units []string, tables ...[]string) error {
	r.printf("## %s\n\n", title)
	_, f := r.found(pkg, name)
	if f == nil {
		r.printf("Not measured in this run.\n\n")
		return nil
	}
	r.header(f)
	r.printf("| target | this run | status |\n|---|---|---|\n")
	for _, t := range ts {
		r.printf("| %s | %s | %s |\n", t.name, t.measured, t.status)
	}
	r.printf("\n")
	for _, args := range tables {
		if err := r.table(f, "", units, args...); err != nil {
			return err
		}
	}
	return nil
}

// pkgAtLeast checks the median of name in unit against min; with min 0 it
// only reports it.
func (r *report) pkgAtLeast(label, pkg, name, unit string, min float64) target {
	t := target{name: label, bench: []string{name}}
	v, ok := r.pkgMedian(pkg, name, unit)
	if !ok {
		t.measured, t.status = "not in this run", notMeasured
		return t
	}
	allocs, _ := r.pkgMedian(pkg, name, "allocs/op")
	t.measured = fmt.Sprintf("%s %s, %g allocs/op", si(v), unit, allocs)
	t.status = "reported"
	if min > 0 {
		t.status = status(v >= min)
	}
	return t
}

// pkgRatio gives name against base in unit: k times at least when k > 0,
// else only reported.
func (r *report) pkgRatio(label, pkg, name, base, unit string, k float64) target {
	t := target{name: label, bench: []string{name}}
	v, okV := r.pkgMedian(pkg, name, unit)
	b, okB := r.pkgMedian(pkg, base, unit)
	if !okV || !okB {
		t.measured, t.status = "not in this run", notMeasured
		return t
	}
	t.measured = fmt.Sprintf("%.2f× (%s vs %s %s)", v/b, si(v), si(b), unit)
	switch {
	case k > 0:
		t.status = status(v >= k*b)
	default:
		t.status = "reported"
	}
	return t
}

// receive reports the receive side (issue 15).
func (r *report) receive() error {
	ts := []target{
		r.pkgAtLeast("`Source.Next` through a relay, 64 B, ≥ 10 M frames/s, 0 allocs (pre-built feed: the producer is not the limit)",
			sourcePkg, nextPrebuilt, "msgs/s", 10e6),
		r.pkgRatio("the same beside a hand-written `net.Conn` read loop", sourcePkg, nextPrebuilt, nextRaw, "msgs/s", 0),
		r.pkgAtLeast("`Source.Next` fed by a lazy sink in the same process (two cores for producer, relay and consumer)",
			sourcePkg, nextSink, "msgs/s", 0),
		r.pkgAtLeast("`source.Listen` over ws, 64 B, ≥ 5 M frames/s", sourcePkg, listenWS, "msgs/s", 5e6),
		r.pkgRatio("the same beside a gobwas `wsutil` reader", sourcePkg, listenWS, listenWSConn, "msgs/s", 0),
		r.pkgAtLeast("`source.Listen` over unix, 64 B", sourcePkg, listenUnix, "msgs/s", 0),
	}
	t := target{name: "frames flowing again after a relay restart within 2× the retry schedule's next step", bench: []string{reconnect}}
	if v, ok := r.pkgMedian(sourcePkg, reconnect, "step-ratio"); ok {
		us, _ := r.pkgMedian(sourcePkg, reconnect, "µs-to-flow")
		t.measured, t.status = fmt.Sprintf("%.2f× the step (%s)", v, dur(us*1e3)), status(v <= 2)
	} else {
		t.measured, t.status = "not in this run", notMeasured
	}
	ts = append(ts, t)
	return r.issueSection("Receive side (`source`, issue 15)", sourcePkg, nextPrebuilt, ts,
		[]string{"msgs/s", "ns/op", "allocs/op"},
		[]string{"-filter", ".name:Next", "-col", "/impl"}, []string{"-filter", ".name:Listen", "-col", "/impl"})
}

// delivery reports acked delivery against at-most-once (issue 14).
func (r *report) delivery() error {
	ts := []target{r.pkgRatio("acked vs at-most-once through a relay, 64 B, 1 producer (what acked costs)",
		benchPkg, deliveryAcked, deliveryAMO, "msgs/s", 0)}
	for _, n := range []string{deliveryAMO, deliveryAcked} {
		ts = append(ts, r.pkgAtLeast("`"+n+"`", benchPkg, n, "msgs/s", 0))
	}
	return r.issueSection("Acked delivery (issue 14)", benchPkg, deliveryAcked, ts,
		[]string{"msgs/s", "allocs/op"}, []string{"-col", "/delivery"})
}

// dashboard reports the dashboard's intake (issue 17).
func (r *report) dashboard() error {
	ts := []target{
		r.pkgAtLeast("the dashboard's whole /ws intake keeps up with ≥ 1 M msgs/s, aggregating (one op is 4096 frames; TestIntakeAllocs proves 0 allocs per frame)", dashboardPkg, intakeWhole, "frames/s", 1e6),
		r.pkgRatio("the same beside gobwas `wsutil` and a map (what one would write)", dashboardPkg, intakeWhole, intakeUser, "frames/s", 0),
	}
	return r.issueSection("Dashboard intake (issue 17)", dashboardPkg, intakeWhole, ts,
		[]string{"frames/s", "allocs/op"}, []string{"-row", ".fullname"})
}

// nats reports the nats sink against a hand-written nats.go Publish loop on
// the same embedded server, and JetStream beside core (issue 16).
func (r *report) nats() error {
	ts := []target{r.pkgRatio("nats sink, 64 B, 1 producer, core ≥ 1.0× a nats.go `Publish` loop on the same server",
		natsPkg, natsCore, natsLoop, "msgs/s", 1)}
	allocs, _ := r.pkgMedian(natsPkg, natsCore, "allocs/op")
	ts = append(ts, target{name: "`Send` 0 allocs (TestAllocsSend); allocations per message of the whole process, core (producer, writer, embedded server)",
		measured: fmt.Sprintf("%g allocs/op", allocs), status: "reported"})
	if js, ok := r.pkgMedian(natsPkg, natsJetStream, "msgs/s"); ok {
		jsAllocs, _ := r.pkgMedian(natsPkg, natsJetStream, "allocs/op")
		ts = append(ts, target{name: "JetStream msgs/s beside core", measured: fmt.Sprintf("%s msgs/s, %g allocs/op", si(js), jsAllocs), status: "reported"})
	}
	return r.issueSection("NATS (`contrib/nats`, issue 16)", natsPkg, natsCore, ts,
		[]string{"msgs/s", "ns/op", "allocs/op"}, []string{"-filter", ".name:Publish", "-row", "/mode", "-col", "/impl"})
}
