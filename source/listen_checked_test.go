//go:build msgsink_checked

package source_test

import (
	"fmt"
	"runtime"
	"strings"
	"sync"
	"sync/atomic"
	"testing"

	"github.com/msgsink/msgsink/source"
	"github.com/msgsink/msgsink/tlv"
)

// In the checked build, two goroutines calling Next at the same time make
// one of them panic, naming the Listener.
func TestCheckedListenConcurrentNext(t *testing.T) {
	if runtime.GOMAXPROCS(0) < 2 {
		t.Skip("needs two processors for two calls to overlap reliably")
	}
	l := listen(t, "unix", source.ListenConfig{Name: "feed"})
	c := dialRaw(t, l)
	b := tlv.NewBuilder(tlv.DomainMarketData, 1)
	var batch []byte
	for range 1000 {
		batch = append(batch, frame(t, b, 8)...)
	}
	var (
		stop     atomic.Bool
		panicked atomic.Value
		wg       sync.WaitGroup
	)
	produced := make(chan struct{})
	go func() { // frames keep coming, so that Next keeps returning
		defer close(produced)
		for !stop.Load() {
			for i := range 1000 {
				tlv.Header(batch[i*(tlv.HeaderSize+10):]).SetSequence(b.Sequence())
				b.SetSequence(b.Sequence() + 1)
			}
			if _, err := c.Write(batch); err != nil {
				return
			}
		}
	}()
	for range 2 {
		wg.Go(func() {
			defer func() {
				if r := recover(); r != nil {
					panicked.Store(fmt.Sprint(r))
					stop.Store(true)
					_ = l.Close() // ends the other goroutine's Next, waiting or not
				}
			}()
			for !stop.Load() {
				if _, err := l.Next(); err != nil {
					return
				}
			}
		})
	}
	wg.Wait()
	stop.Store(true)
	_ = c.Close()
	<-produced
	msg, _ := panicked.Load().(string)
	if !strings.Contains(msg, "concurrent Next") || !strings.Contains(msg, `"feed"`) {
		t.Fatalf("panic %q, want one about a concurrent Next naming the Listener", msg)
	}
}
