package sinkvar_test

import (
	"errors"
	"expvar"
	"fmt"

	"github.com/msgsink/msgsink/sink"
	"github.com/msgsink/msgsink/sink/sinkvar"
)

// A program publishes its factory's sinks (here, a fixed list) once at start;
// /debug/vars then shows them under that name.
func ExamplePublish() {
	infos := func() []sink.Info { // in a service: f.Infos, f a *factory.Factory
		return []sink.Info{{Name: "market_data_relay", Kind: "relay", State: sink.StateIdle, BufferSize: 8}}
	}
	// A name can be published once per process: a second Publish of it is
	// refused with ErrDuplicate (as when this example runs twice).
	if err := sinkvar.Publish("msgsink", infos); err != nil && !errors.Is(err, sinkvar.ErrDuplicate) {
		fmt.Println(err)
		return
	}
	fmt.Println(expvar.Get("msgsink"))
	// Output:
	// {"market_data_relay":{"name":"market_data_relay","kind":"relay","endpoint":"","state":"idle","buffer_size":8,"enqueued":0,"written":0,"written_bytes":0,"written_through":0,"pending":0,"refused":{"buffer_full":0,"closed":0,"domain":0,"precision":0,"malformed":0},"dropped":{"connect_failed":0,"stale":0,"closed":0},"connect_attempts":0,"reconnects":0}}
}
