package main

import "fmt"

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

// issueSection writes one issue's section: the family that holds name in
// pkg, its target table, then a benchstat table of the family for each set
// of args.
func (r *report) issueSection(title, pkg, name string, ts []target, units []string, tables ...[]string) error {
	f := r.section(title, pkg, name)
	if f == nil {
		return nil
	}
	r.targetRows(ts)
	for _, args := range tables {
		if err := r.table(f, "", units, args...); err != nil {
			return err
		}
	}
	return nil
}

// atLeast checks the median of name in unit against min, with its
// allocations beside it; with min 0 it only reports them.
func (r *report) atLeast(label, pkg, name, unit string, min float64) target {
	var ok func(float64) bool
	if min > 0 {
		ok = func(v float64) bool { return v >= min }
	}
	return r.threshold(label, pkg, name, unit, ok, func(v float64) string {
		allocs, _ := r.median(pkg, name, "allocs/op")
		return fmt.Sprintf("%s %s, %g allocs/op", si(v), unit, allocs)
	})
}

// ratio gives name against base in unit: k times at least when k > 0, else
// only reported.
func (r *report) ratio(label, pkg, name, base, unit string, k float64) target {
	return r.against(label, pkg, name, base, unit, k, false, siUnit(unit))
}

// receive reports the receive side (issue 15).
func (r *report) receive() error {
	ts := []target{
		r.atLeast("`Source.Next` through a relay, 64 B, ≥ 10 M frames/s, 0 allocs (pre-built feed: the producer is not the limit)",
			sourcePkg, nextPrebuilt, "msgs/s", 10e6),
		r.ratio("the same beside a hand-written `net.Conn` read loop", sourcePkg, nextPrebuilt, nextRaw, "msgs/s", 0),
		r.atLeast("`Source.Next` fed by a lazy sink in the same process (two cores for producer, relay and consumer)",
			sourcePkg, nextSink, "msgs/s", 0),
		r.atLeast("`source.Listen` over ws, 64 B, ≥ 5 M frames/s", sourcePkg, listenWS, "msgs/s", 5e6),
		r.ratio("the same beside a gobwas `wsutil` reader", sourcePkg, listenWS, listenWSConn, "msgs/s", 0),
		r.atLeast("`source.Listen` over unix, 64 B", sourcePkg, listenUnix, "msgs/s", 0),
	}
	t := target{name: "frames flowing again after a relay restart within 2× the retry schedule's next step", bench: []string{reconnect}}
	if v, ok := r.median(sourcePkg, reconnect, "step-ratio"); ok {
		us, _ := r.median(sourcePkg, reconnect, "µs-to-flow")
		t.measured, t.status = fmt.Sprintf("%.2f× the step (%s)", v, dur(us*1e3)), status(v <= 2)
	} else {
		t.measured, t.status = r.skipReason(reconnect), notMeasured
	}
	ts = append(ts, t)
	return r.issueSection("Receive side (`source`, issue 15)", sourcePkg, nextPrebuilt, ts,
		[]string{"msgs/s", "ns/op", "allocs/op"},
		[]string{"-filter", ".name:Next", "-col", "/impl"}, []string{"-filter", ".name:Listen", "-col", "/impl"})
}

// delivery reports acked delivery against at-most-once (issue 14).
func (r *report) delivery() error {
	ts := []target{r.ratio("acked vs at-most-once through a relay, 64 B, 1 producer (what acked costs)",
		benchPkg, deliveryAcked, deliveryAMO, "msgs/s", 0)}
	for _, n := range []string{deliveryAMO, deliveryAcked} {
		ts = append(ts, r.atLeast("`"+n+"`", benchPkg, n, "msgs/s", 0))
	}
	return r.issueSection("Acked delivery (issue 14)", benchPkg, deliveryAcked, ts,
		[]string{"msgs/s", "allocs/op"}, []string{"-col", "/delivery"})
}

// dashboard reports the dashboard's intake (issue 17).
func (r *report) dashboard() error {
	ts := []target{
		r.atLeast("the dashboard's whole /ws intake keeps up with ≥ 1 M msgs/s, aggregating (one op is 4096 frames; TestIntakeAllocs proves 0 allocs per frame)", dashboardPkg, intakeWhole, "frames/s", 1e6),
		r.ratio("the same beside gobwas `wsutil` and a map (what one would write)", dashboardPkg, intakeWhole, intakeUser, "frames/s", 0),
	}
	return r.issueSection("Dashboard intake (issue 17)", dashboardPkg, intakeWhole, ts,
		[]string{"frames/s", "allocs/op"}, []string{"-row", ".fullname"})
}

// nats reports the nats sink against a hand-written nats.go Publish loop on
// the same embedded server, and JetStream beside core (issue 16).
func (r *report) nats() error {
	ts := []target{r.ratio("nats sink, 64 B, 1 producer, core ≥ 1.0× a nats.go `Publish` loop on the same server",
		natsPkg, natsCore, natsLoop, "msgs/s", 1)}
	allocs, _ := r.median(natsPkg, natsCore, "allocs/op")
	ts = append(ts, target{name: "`Send` 0 allocs (TestAllocsSend); allocations per message of the whole process, core (producer, writer, embedded server)",
		measured: fmt.Sprintf("%g allocs/op", allocs), status: "reported"})
	if js, ok := r.median(natsPkg, natsJetStream, "msgs/s"); ok {
		jsAllocs, _ := r.median(natsPkg, natsJetStream, "allocs/op")
		ts = append(ts, target{name: "JetStream msgs/s beside core", measured: fmt.Sprintf("%s msgs/s, %g allocs/op", si(js), jsAllocs), status: "reported"})
	}
	return r.issueSection("NATS (`contrib/nats`, issue 16)", natsPkg, natsCore, ts,
		[]string{"msgs/s", "ns/op", "allocs/op"}, []string{"-filter", ".name:Publish", "-row", "/mode", "-col", "/impl"})
}
