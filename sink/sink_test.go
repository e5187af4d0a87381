package sink_test

import (
	"encoding/json"
	"errors"
	"fmt"
	"strings"
	"syscall"
	"testing"

	"github.com/msgsink/msgsink/sink"
	"github.com/msgsink/msgsink/tlv"
)

func TestErrorUnwrap(t *testing.T) {
	err := error(&sink.Error{Sink: "md", Op: "connect", Err: syscall.ECONNREFUSED})
	if !errors.Is(err, sink.ErrConnectFailed) || !errors.Is(err, syscall.ECONNREFUSED) {
		t.Fatalf("connect error does not unwrap: %v", err)
	}
	if got := err.Error(); got != `sink "md": connect: connection refused` {
		t.Fatalf("message %q", got)
	}
	w := error(&sink.Error{Sink: "md", Op: "write", Err: syscall.EPIPE})
	if errors.Is(w, sink.ErrConnectFailed) || !errors.Is(w, syscall.EPIPE) {
		t.Fatalf("write error unwraps wrongly: %v", w)
	}
	if sink.ErrDomain != tlv.ErrDomain || sink.ErrMalformed != tlv.ErrMalformed {
		t.Fatal("the sink and tlv sentinels must be the same values")
	}
}

func TestInfoAccounting(t *testing.T) {
	i := sink.Info{Enqueued: 10, Written: 6, Pending: 1,
		Dropped: sink.Dropped{ConnectFailed: 1, Stale: 1, Closed: 1},
		Refused: sink.Refused{BufferFull: 1, Closed: 2, Domain: 3, Precision: 4, Malformed: 5}}
	if !i.Balanced() || i.Dropped.Total() != 3 || i.Refused.Total() != 15 {
		t.Fatalf("%+v", i)
	}
	i.Written--
	if i.Balanced() {
		t.Fatal("a lost message went unnoticed")
	}
}

func TestStateNames(t *testing.T) {
	want := []string{"idle", "connecting", "connected", "backoff", "closed", "state(5)"}
	for s, w := range want {
		if got := sink.State(s).String(); got != w {
			t.Errorf("State(%d) = %q, want %q", s, got, w)
		}
	}
}

func ExampleInfo_Balanced() {
	i := sink.Info{Name: "market_data_relay", Enqueued: 5, Written: 3, Pending: 1,
		Dropped: sink.Dropped{ConnectFailed: 1}}
	fmt.Println(i.Balanced(), i.Dropped.Total())
	// Output: true 1
}

func ExampleError() {
	err := error(&sink.Error{Sink: "market_data_relay", Op: "connect", Err: syscall.ENOENT})
	fmt.Println(errors.Is(err, sink.ErrConnectFailed), errors.Is(err, syscall.ENOENT))
	fmt.Println(err)
	// Output:
	// true true
	// sink "market_data_relay": connect: no such file or directory
}

// Info marshals to JSON with snake_case keys, the state by name and the
// last error as its message.
func TestInfoJSON(t *testing.T) {
	in := sink.Info{Name: "md", Kind: "relay", Endpoint: "unix:///tmp/md.sock", State: sink.StateBackoff, BufferSize: 8,
		Enqueued: 5, Written: 3, WrittenBytes: 222, Pending: 1, Refused: sink.Refused{BufferFull: 2},
		Dropped: sink.Dropped{Stale: 1}, ConnectAttempts: 4, Reconnects: 1,
		LastError: &sink.Error{Sink: "md", Op: "write", Err: errors.New("broken pipe")}}
	b, err := json.Marshal(in)
	if err != nil {
		t.Fatal(err)
	}
	want := `{"name":"md","kind":"relay","endpoint":"unix:///tmp/md.sock","state":"backoff","buffer_size":8,` +
		`"enqueued":5,"written":3,"written_bytes":222,"written_through":0,"pending":1,` +
		`"refused":{"buffer_full":2,"closed":0,"domain":0,"precision":0,"malformed":0},` +
		`"dropped":{"connect_failed":0,"stale":1,"closed":0},"connect_attempts":4,"reconnects":1,` +
		`"last_error":"sink \"md\": write: broken pipe"}`
	if string(b) != want {
		t.Fatalf("got  %s\nwant %s", b, want)
	}
	in.LastError = nil
	if b, _ := json.Marshal(in); strings.Contains(string(b), "last_error") {
		t.Fatalf("no error, yet %s", b)
	}
}
