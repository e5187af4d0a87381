package sinkvar_test

import (
	"encoding/json"
	"errors"
	"expvar"
	"net/http/httptest"
	"strconv"
	"sync/atomic"
	"testing"

	"github.com/msgsink/msgsink/sink"
	"github.com/msgsink/msgsink/sink/sinkvar"
)

var runs atomic.Int32

// The published variable is read at every request, through the real
// /debug/vars handler.
func TestPublishServesCurrentInfo(t *testing.T) {
	name := "msgsink_test_" + strconv.Itoa(int(runs.Add(1))) // expvar names live as long as the process
	written := uint64(0)
	err := sinkvar.Publish(name, func() []sink.Info {
		written += 10
		return []sink.Info{
			{Name: "md", Kind: "relay", State: sink.StateConnected, Enqueued: written, Written: written},
			{Name: "dash", Kind: "direct", State: sink.StateBackoff, LastError: errors.New("refused")},
		}
	})
	if err != nil {
		t.Fatal(err)
	}
	for _, want := range []uint64{10, 20} {
		rec := httptest.NewRecorder()
		expvar.Handler().ServeHTTP(rec, httptest.NewRequest("GET", "/debug/vars", nil))
		var vars struct {
			Sinks map[string]struct {
				State     string `json:"state"`
				Written   uint64 `json:"written"`
				LastError string `json:"last_error"`
			}
		}
		var all map[string]json.RawMessage
		if err := json.Unmarshal(rec.Body.Bytes(), &all); err != nil {
			t.Fatal(err)
		}
		if err := json.Unmarshal(all[name], &vars.Sinks); err != nil {
			t.Fatal(err)
		}
		md, dash := vars.Sinks["md"], vars.Sinks["dash"]
		if md.State != "connected" || md.Written != want || dash.State != "backoff" || dash.LastError != "refused" {
			t.Fatalf("read %d: %+v", want, vars.Sinks)
		}
	}
	if err := sinkvar.Publish(name, nil); !errors.Is(err, sinkvar.ErrDuplicate) {
		t.Fatalf("publishing twice: %v, want ErrDuplicate", err)
	}
}
