package bench

import (
	"context"
	"errors"
	"sync"
	"testing"
	"time"

	"github.com/msgsink/msgsink/lazy"
	"github.com/msgsink/msgsink/tlv"
)

// BenchmarkOverhead proves what the abstractions cost: the lazy sink's Send
// against the same design without the lazy state machine (op=send,
// impl=lazy|direct), Send with SingleProducer (op=send, impl=lazy-single),
// a message built, sent and recycled per op (op=build-send,
// impl=lazy|lazy-single), and the sink end to end against a hand-written ring,
// writer goroutine and writev (op=e2e, impl=sink|direct|raw, and raw with one
// part of the contract put back: raw+check|raw+shared|raw+transport). Compare with
//
//	benchstat -col /impl
func BenchmarkOverhead(b *testing.B) {
	const name = "transport=unix/size=64/producers=1"
	b.Run("op=send/"+name+"/impl=lazy", func(b *testing.B) {
		benchSend(b, openSender(implSink))
	})
	b.Run("op=send/"+name+"/impl=direct", func(b *testing.B) {
		benchSend(b, func(st setup) (sender, error) {
			p, err := implDirect.open(st)
			if err != nil {
				return nil, err
			}
			return p.(*ringSink), nil
		})
	})
	// Send with SingleProducer (the plain SPSC push) beside the shared
	// default above, and the adapter's whole step: build a message with a
	// warmed tlv.Builder, Send it, and have the writer recycle it.
	b.Run("op=send/"+name+"/impl=lazy-single", func(b *testing.B) {
		benchSend(b, openSender(implSinkSingle))
	})
	for _, im := range []struct {
		name string
		impl impl
	}{{"lazy", implSink}, {"lazy-single", implSinkSingle}} {
		b.Run("op=build-send/"+name+"/impl="+im.name, func(b *testing.B) {
			benchBuildSend(b, openSender(im.impl))
		})
	}
	// direct end to end splits the difference between sink and raw into
	// what the lazy wrapper costs and what the ring and transport cost.
	for _, im := range []impl{implSink, implDirect, implRaw, implRawCheck, implRawShared, implRawTransport} {
		b.Run("op=e2e/"+name+"/impl="+im.name, func(b *testing.B) {
			benchThroughput(b, im, "unix", 64, 1, false)
		})
	}
}

// sender is the part of the sink contract that op=send exercises.
type sender interface {
	Send(m *tlv.Message) error
	Flush(ctx context.Context) error
	Close() error
}

// openSender opens the lazy sink of im (implSink or implSinkSingle) for
// benchSend.
func openSender(im impl) func(setup) (sender, error) {
	return func(st setup) (sender, error) {
		p, err := im.open(st)
		if err != nil {
			return nil, err
		}
		return p.(sinkPipe).s, nil
	}
}

// benchSend times Send alone on a connected sink over a Unix socket. Sends
// come in bursts of half the ring and the timer stops while the writer
// drains between bursts, so the ring never fills and ns/op is the call, not
// the socket; the writer still runs during the burst, as it would.
func benchSend(b *testing.B, open func(setup) (sender, error)) {
	m := retained(64, 1, max(b.N, 1))
	benchBursts(b, open, func() *tlv.Message { return m })
}

// benchBuildSend is benchSend with a message built for every Send by a
// warmed tlv.Builder and recycled by the writer: the adapter's step, whose
// steady state must not allocate.
func benchBuildSend(b *testing.B, open func(setup) (sender, error)) {
	fb := newFrameBuilder(64, 1)
	fb.warm(warmN)
	benchBursts(b, open, fb.next)
}

// benchBursts times b.N Sends of next() in bursts of half the ring, the
// timer stopped while the writer drains between bursts.
func benchBursts(b *testing.B, open func(setup) (sender, error), next func() *tlv.Message) {
	srv := listen(b, "unix")
	r := newReceiver(b, srv, 64, b.N, nil, false)
	s, err := open(setup{ep: srv.ep, producers: 1})
	if err != nil {
		b.Fatal(err)
	}
	b.Cleanup(func() {
		if err := s.Close(); err != nil {
			b.Error(err)
		}
	})
	const burst = lazy.DefaultBufferSize / 2
	b.ReportAllocs()
	b.SetBytes(64)
	b.ResetTimer()
	for i := 0; i < b.N; i += burst {
		for range min(burst, b.N-i) {
			if err := s.Send(next()); err != nil {
				b.Fatal(err)
			}
		}
		b.StopTimer()
		ctx, cancel := context.WithTimeout(context.Background(), waitLimit)
		err := s.Flush(ctx)
		cancel()
		if err != nil {
			b.Fatal(err)
		}
		b.StartTimer()
	}
	b.StopTimer()
	if err := r.wait(); err != nil {
		b.Fatal(err)
	}
}

// benchThroughput times b.N messages of size bytes from producers
// goroutines through im to a reader on network, until the reader has every
// one of them. With built, each producer builds every message with its own
// warmed tlv.Builder inside the timed loop, and the pipe recycles it after
// the write; otherwise each producer hands over one pre-built message again
// and again, so the cost of building is not in the figure, for any impl.
func benchThroughput(b *testing.B, im impl, network string, size, producers int, built bool) {
	srv := listen(b, network)
	r := newReceiver(b, srv, size, b.N, nil, false)
	p, err := im.open(setup{ep: srv.ep, producers: producers})
	if err != nil {
		b.Fatal(err)
	}
	b.Cleanup(func() {
		if err := p.close(); err != nil {
			b.Error(err)
		}
	})
	var next func(i int) *tlv.Message
	if built {
		fbs := make([]*frameBuilder, producers)
		for i := range fbs {
			fbs[i] = newFrameBuilder(size, uint8(i+1))
			fbs[i].warm(warmN)
		}
		next = func(i int) *tlv.Message { return fbs[i].next() }
	} else {
		msgs := make([]*tlv.Message, producers)
		for i := range msgs {
			if n := share(b.N, producers, i); n > 0 {
				msgs[i] = retained(size, uint8(i+1), n)
			}
		}
		next = func(i int) *tlv.Message { return msgs[i] }
	}
	b.ReportAllocs()
	b.SetBytes(int64(size))
	b.ResetTimer()
	start := time.Now()
	err = transfer(p, r, b.N, producers, next)
	elapsed := time.Since(start)
	b.StopTimer()
	if err != nil {
		b.Fatal(err)
	}
	b.ReportMetric(float64(b.N)/elapsed.Seconds(), "msgs/s")
}

// share is how many of n messages producer i of producers sends.
func share(n, producers, i int) int {
	s := n / producers
	if i < n%producers {
		s++
	}
	return s
}

// transfer sends n messages through p from producers goroutines (the
// caller's own when there is one), producer i handing over next(i) each
// time, then flushes p and waits until r has read all n.
func transfer(p pipe, r *receiver, n, producers int, next func(producer int) *tlv.Message) error {
	errs := make([]error, producers)
	produce := func(i int) {
		for range share(n, producers, i) {
			if err := p.send(next(i)); err != nil {
				errs[i] = err
				return
			}
		}
	}
	if producers == 1 {
		produce(0)
	} else {
		var wg sync.WaitGroup
		for i := range producers {
			wg.Go(func() { produce(i) })
		}
		wg.Wait()
	}
	if err := errors.Join(errs...); err != nil {
		return err
	}
	if err := p.flush(); err != nil {
		return err
	}
	return r.wait()
}
