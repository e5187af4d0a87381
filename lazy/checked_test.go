//go:build msgsink_checked

package lazy_test

import (
	"context"
	"errors"
	"fmt"
	"runtime"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/msgsink/msgsink/lazy"
	"github.com/msgsink/msgsink/sink"
	"github.com/msgsink/msgsink/tlv"
)

// In the checked build, two goroutines sending at the same time to a
// SingleProducer sink make one of them panic, naming the sink and the
// setting, whichever of Send, SendBatch and SendWait they call.
func TestCheckedSingleProducerConcurrentSend(t *testing.T) {
	if runtime.GOMAXPROCS(0) < 2 {
		t.Skip("needs two processors for two sends to overlap reliably")
	}
	sends := map[string]func(s *lazy.Sink, m *tlv.Message) error{
		"Send": (*lazy.Sink).Send,
		"SendBatch": func(s *lazy.Sink, m *tlv.Message) error {
			_, err := s.SendBatch([]*tlv.Message{m})
			return err
		},
		"SendWait": func(s *lazy.Sink, m *tlv.Message) error {
			// An ended ctx: a full ring refuses at once, as Send does.
			ctx, cancel := context.WithCancel(context.Background())
			cancel()
			return s.SendWait(ctx, m)
		},
	}
	for name, send := range sends {
		t.Run(name, func(t *testing.T) {
			ep, _ := drainPeer(t, "unix")
			sinkName := "feed-" + name
			s := newSink(t, lazy.Config{Name: sinkName, Endpoint: ep, SingleProducer: true})
			var (
				stop     atomic.Bool
				panicked atomic.Value
				wg       sync.WaitGroup
			)
			deadline := time.Now().Add(5 * time.Second)
			for range 2 {
				wg.Go(func() {
					b := newBuilder(64)
					var m *tlv.Message
					defer func() {
						if e := recover(); e != nil {
							panicked.CompareAndSwap(nil, fmt.Sprint(e))
							stop.Store(true)
							m.Release() // the panic came before the push: still ours
						}
					}()
					for !stop.Load() {
						m = b.next()
						if err := send(s, m); err != nil {
							if !errors.Is(err, sink.ErrBufferFull) && !errors.Is(err, context.Canceled) {
								t.Errorf("%s: %v", name, err)
								stop.Store(true)
							}
							m.Release()
						}
						if time.Now().After(deadline) {
							stop.Store(true)
						}
					}
				})
			}
			wg.Wait()
			msg, _ := panicked.Load().(string)
			if msg == "" {
				t.Fatal("two goroutines sent for 5s to a SingleProducer sink without the checked build noticing")
			}
			if !strings.Contains(msg, "concurrent Send") || !strings.Contains(msg, `"`+sinkName+`"`) ||
				!strings.Contains(msg, "SingleProducer") {
				t.Fatalf("panic %q does not name the misuse and the sink %q", msg, sinkName)
			}
			flush(t, s)
			assertBalanced(t, s)
		})
	}
}

// Sends from several goroutines that take turns are not concurrent: the
// checked build lets them be.
func TestCheckedSingleProducerTakingTurns(t *testing.T) {
	ep, _ := drainPeer(t, "unix")
	s := newSink(t, lazy.Config{Endpoint: ep, SingleProducer: true})
	var mu sync.Mutex
	var wg sync.WaitGroup
	const each = 2000
	for range 3 {
		wg.Go(func() {
			b := newBuilder(64)
			for range each {
				m := b.next()
				for {
					mu.Lock()
					err := s.Send(m)
					mu.Unlock()
					if err == nil {
						break
					}
					if !errors.Is(err, sink.ErrBufferFull) {
						t.Error(err)
						m.Release()
						return
					}
					time.Sleep(10 * time.Microsecond)
				}
			}
		})
	}
	wg.Wait()
	flush(t, s)
	if i := assertBalanced(t, s); i.Written != 3*each {
		t.Fatalf("written %d, want %d: %v", i.Written, 3*each, i)
	}
}
