//go:build msgsink_checked

package source_test

import (
	"fmt"
	"strings"
	"sync"
	"testing"

	"github.com/msgsink/msgsink/relay"
	"github.com/msgsink/msgsink/relay/relaytest"
	"github.com/msgsink/msgsink/source"
)

// In the checked build, a second goroutine calling Next while one is in
// it panics, naming the Source and the rule.
func TestCheckedConcurrentNext(t *testing.T) {
	r := relaytest.Serve(t, relay.Config{}) // no producer: the first Next blocks in a read
	s := newSource(t, source.Config{Name: "feed", Endpoint: relaytest.Endpoint(r)})
	first := make(chan error, 1)
	go func() {
		_, err := s.Next()
		first <- err
	}()
	waitFor(t, "the first Next to block", func() bool { return r.Stats().Consumers == 1 })
	var msg string
	var wg sync.WaitGroup
	wg.Go(func() {
		defer func() { msg = fmt.Sprint(recover()) }()
		_, _ = s.Next()
	})
	wg.Wait()
	if !strings.Contains(msg, "concurrent Next") || !strings.Contains(msg, `"feed"`) {
		t.Fatalf("second Next: panic %q, want one naming the misuse and the source", msg)
	}
	_ = s.Close()
	if err := <-first; err == nil {
		t.Fatal("the first Next returned no error after Close")
	}
}
