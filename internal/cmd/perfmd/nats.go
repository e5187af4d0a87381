package main

import (
	"fmt"
	"strings"
)

// The contrib/nats benchmarks (issue 16), which run in that module.
const (
	natsPkg       = "/contrib/nats"
	natsCore      = "Publish/mode=core/size=64/producers=1/impl=natssink"
	natsLoop      = "Publish/mode=core/size=64/producers=1/impl=nats.go"
	natsJetStream = "Publish/mode=jetstream/size=64/producers=1/impl=natssink"
)

// natsMedian returns the median of unit of contrib/nats's benchmark name.
func (r *report) natsMedian(name, unit string) (float64, bool) {
	for _, f := range r.fams {
		if res := f.results[name]; res != nil && strings.HasSuffix(res.pkg, natsPkg) {
			return res.median(unit)
		}
	}
	return 0, false
}

// nats reports the nats sink against a hand-written nats.go Publish loop
// on the same embedded server, and JetStream beside core.
func (r *report) nats() error {
	r.printf("## NATS (contrib/nats, issue 16)\n\n")
	var f *family
	for _, fam := range r.fams {
		if res := fam.results[natsCore]; res != nil && strings.HasSuffix(res.pkg, natsPkg) {
			f = fam
		}
	}
	if f == nil {
		r.printf("Not measured in this run.\n\n")
		return nil
	}
	r.header(f)
	rate := func(v float64) string { return si(v) + " msgs/s" }
	t := target{name: "nats sink, 64 B, 1 producer, core ≥ 1.0× a nats.go `Publish` loop on the same server"}
	v, okV := r.natsMedian(natsCore, "msgs/s")
	b, okB := r.natsMedian(natsLoop, "msgs/s")
	if okV && okB {
		t.measured = fmt.Sprintf("%.2f× (%s vs %s)", v/b, rate(v), rate(b))
		t.status = status(v >= b)
	} else {
		t.measured, t.status = "not in this run", notMeasured
	}
	ts := []target{t}
	allocs, _ := r.natsMedian(natsCore, "allocs/op")
	js, okJS := r.natsMedian(natsJetStream, "msgs/s")
	jsAllocs, _ := r.natsMedian(natsJetStream, "allocs/op")
	ts = append(ts, target{name: "`Send` 0 allocs (TestAllocsSend); allocations per message of the whole process, core (writer, nats.go, embedded server)",
		measured: fmt.Sprintf("%g allocs/op", allocs), status: "reported"})
	if okJS {
		ts = append(ts, target{name: "JetStream msgs/s beside core", measured: fmt.Sprintf("%s, %g allocs/op", rate(js), jsAllocs), status: "reported"})
	}
	r.printf("| target | this run | status |\n|---|---|---|\n")
	for _, t := range ts {
		r.printf("| %s | %s | %s |\n", t.name, t.measured, t.status)
	}
	r.printf("\n")
	return r.table(f, "", []string{"msgs/s", "ns/op", "allocs/op"}, "-filter", ".name:Publish", "-row", "/mode", "-col", "/impl")
}
