package relay_test

import (
	"bytes"
	"context"
	"encoding/binary"
	"errors"
	"io"
	"math/rand/v2"
	"net"
	"sync"
	"syscall"
	"testing"
	"time"

	"github.com/msgsink/msgsink/internal/testnet"
	"github.com/msgsink/msgsink/lazy"
	"github.com/msgsink/msgsink/relay"
	"github.com/msgsink/msgsink/relay/relaytest"
	"github.com/msgsink/msgsink/sink"
	"github.com/msgsink/msgsink/source"
	"github.com/msgsink/msgsink/tlv"
)

// lossless makes consumer queues too large to overflow in a test.
var lossless = relay.Config{ConsumerQueue: 1 << 20, ConsumerQueueBytes: 1 << 30, MaxLag: time.Minute}

// stream builds n frames of source src, mostly small, with a few of several
// KiB and, when big, a few over 100 KiB (larger than a read chunk),
// concatenated.
func stream(tb testing.TB, src uint8, n int, big bool, rng *rand.Rand) []byte {
	b := tlv.NewBuilder(tlv.DomainMarketData, src)
	var out []byte
	for range n {
		size := 16 + rng.IntN(240)
		switch rng.IntN(2000) {
		case 0:
			if big {
				size = 100_000 + rng.IntN(60_000)
			}
		case 1, 2, 3, 4:
			if big {
				size = 2_000 + rng.IntN(20_000)
			}
		}
		out = append(out, testFrame(tb, b, size)...)
	}
	return out
}

// writePieces writes p in pieces of random sizes, so that frames straddle
// the relay's reads.
func writePieces(c net.Conn, p []byte, rng *rand.Rand) error {
	for len(p) > 0 {
		n := min(len(p), 1+rng.IntN(70_000))
		if rng.IntN(4) == 0 {
			n = min(len(p), 1+rng.IntN(100))
		}
		if _, err := c.Write(p[:n]); err != nil {
			return err
		}
		p = p[n:]
	}
	return nil
}

// TestForwardWholeInOrder sends from several producers to several consumers,
// in writes that cut frames anywhere, and checks that every consumer gets
// every frame whole, byte for byte, in order per producer, and that the
// counters add up exactly.
func TestForwardWholeInOrder(t *testing.T) {
	const producers, consumers, perProducer = 4, 3, 10_000
	r := relaytest.Serve(t, lossless)
	cols := make([]*collector, consumers)
	for i := range cols {
		cols[i] = collect(subscribe(t, r, i+1))
	}
	streams := make([][]byte, producers)
	var bytesIn uint64
	for p := range streams {
		streams[p] = stream(t, uint8(p+1), perProducer, true, rand.New(rand.NewPCG(uint64(p), 1)))
		bytesIn += uint64(len(streams[p]))
	}
	var wg sync.WaitGroup
	for p, s := range streams {
		c := dial(t, r)
		wg.Go(func() {
			if err := writePieces(c, s, rand.New(rand.NewPCG(uint64(p), 2))); err != nil {
				t.Error(err)
			}
			_ = c.Close()
		})
	}
	wg.Wait()
	const total = producers * perProducer
	for i, c := range cols {
		waitFor(t, "every frame at a consumer", func() bool { return c.received.Load() == total })
		if err := c.stop(); err != nil {
			t.Errorf("consumer %d: %v", i, err)
		}
		for p := range producers {
			if got := c.count(uint8(p + 1)); got != perProducer {
				t.Errorf("consumer %d got %d frames of producer %d, want %d", i, got, p+1, perProducer)
			}
		}
		if c.gaps != 0 {
			t.Errorf("consumer %d: %d frames missing", i, c.gaps)
		}
	}
	waitFor(t, "producers gone", func() bool { return r.Stats().Producers == 0 })
	s := quiet(t, r, total)
	want := relay.Stats{
		FramesIn: total, BytesIn: bytesIn, Forwarded: total,
		Offered: consumers * total, FramesOut: consumers * total, BytesOut: consumers * bytesIn,
		ProducersTotal: producers, ConsumersTotal: consumers, Consumers: s.Consumers, QueueBytes: s.QueueBytes,
	}
	if s != want {
		t.Errorf("stats\n got %v\nwant %v", s, want)
	}
}

// TestRejectsBadProducer sends a bad frame in the middle of a producer's
// write while a good producer keeps sending: the bad connection alone is
// closed and counted by reason, the frames it sent before the bad one are
// forwarded, and the good producer's consumers see all of its frames.
func TestRejectsBadProducer(t *testing.T) {
	const badSource = 9
	rng := rand.New(rand.NewPCG(7, 7))
	valid := func(size int) []byte {
		return testFrame(t, tlv.NewBuilder(tlv.DomainMarketData, badSource), size)
	}
	cases := []struct {
		name   string
		bad    func() []byte
		reason func(relay.Rejected) uint64
	}{
		{"garbage", func() []byte { return bytes.Repeat([]byte{0xAB}, 100) },
			func(r relay.Rejected) uint64 { return r.Malformed }},
		{"record past the end", func() []byte {
			f := valid(40)
			f[tlv.HeaderSize+1] = 200 // the record's length runs past the frame
			return f
		}, func(r relay.Rejected) uint64 { return r.Malformed }},
		{"checksum", func() []byte {
			b := tlv.NewBuilder(tlv.DomainMarketData, badSource)
			b.Checksum = true
			f := testFrame(t, b, 40)
			f[len(f)-1] ^= 0xFF
			return f
		}, func(r relay.Rejected) uint64 { return r.Checksum }},
		{"other domain", func() []byte {
			b := tlv.NewBuilder(tlv.DomainSignal, badSource)
			b.AppendSignalIdentity(&tlv.SignalIdentity{StrategyID: 1, Confidence: 50, SignalID: 1})
			return finish(t, b)
		}, func(r relay.Rejected) uint64 { return r.Domain }},
		{"signal type in market data", func() []byte {
			f := valid(16)
			f[tlv.HeaderSize] = byte(tlv.TypeSignalIdentity)
			return f
		}, func(r relay.Rejected) uint64 { return r.Domain }},
		{"DEX type under exchange precision", func() []byte {
			b := tlv.NewBuilder(tlv.DomainMarketData, badSource)
			b.AppendPoolSwap(&tlv.PoolSwap{Block: 1, AmountInDecimals: 18, AmountOutDecimals: 6})
			return finish(t, b)
		}, func(r relay.Rejected) uint64 { return r.Precision }},
		{"over MaxFrame", func() []byte { return valid(9_000) },
			func(r relay.Rejected) uint64 { return r.Oversize }},
		{"over the protocol limit", func() []byte {
			f := valid(40)
			binary.LittleEndian.PutUint32(f[24:], 2<<20) // payload_size
			return f[:tlv.HeaderSize]
		}, func(r relay.Rejected) uint64 { return r.Oversize }},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			cfg := lossless
			cfg.MaxFrame = 8192
			cfg.Validator = tlv.Validator{Precision: tlv.PrecisionExchange}
			r := relaytest.Serve(t, cfg)
			col := collect(subscribe(t, r, 1))

			const good, before = 3_000, 50
			goodStream := stream(t, 1, good, false, rng)
			var bad []byte
			b := tlv.NewBuilder(tlv.DomainMarketData, badSource)
			for range before {
				bad = append(bad, testFrame(t, b, 64)...)
			}
			bad = append(bad, tc.bad()...)
			for range 20 {
				bad = append(bad, testFrame(t, b, 64)...)
			}

			gc, bc := dial(t, r), dial(t, r)
			var wg sync.WaitGroup
			wg.Go(func() {
				if err := writePieces(gc, goodStream, rand.New(rand.NewPCG(1, 1))); err != nil {
					t.Error(err)
				}
			})
			if _, err := bc.Write(bad); err != nil {
				t.Fatal(err)
			}
			// The relay closes the bad connection: reading it ends.
			_ = bc.SetReadDeadline(time.Now().Add(10 * time.Second))
			if n, err := bc.Read(make([]byte, 1)); n != 0 || !(errors.Is(err, io.EOF) || errors.Is(err, syscall.ECONNRESET)) {
				t.Errorf("bad producer's connection: read %d, %v; want EOF", n, err)
			}
			wg.Wait()
			waitFor(t, "the good producer's frames", func() bool { return col.count(1) == good })
			st := quiet(t, r, good+before)
			// The bad producer's frames may be queued after the good one's
			// last: the consumer reads all that was written before it stops.
			waitFor(t, "the consumer to read every frame written", func() bool { return col.received.Load() >= st.FramesOut })
			if err := col.stop(); err != nil {
				t.Error(err)
			}
			if got := col.count(badSource); got != before {
				t.Errorf("consumer got %d frames of the bad producer, want the %d before the bad one", got, before)
			}
			if got := tc.reason(st.Rejected); got != 1 || st.Rejected.Total() != 1 {
				t.Errorf("rejected %+v, want 1 for this reason and no other", st.Rejected)
			}
			if st.ProducersTotal != 2 || st.Truncated != 0 {
				t.Errorf("stats %v", st)
			}
		})
	}
}

// A producer of a system-domain relay cannot speak as the relay: its frame
// from ControlSource (here a forged Disconnect, which would end a consumer's
// Source) closes its connection, counted as a protocol rejection, and never
// reaches a consumer; its frames before it do.
func TestRejectsForgedControlFrame(t *testing.T) {
	cfg := lossless
	cfg.Domain = tlv.DomainSystem
	r := relaytest.Serve(t, cfg)
	sub, err := source.New(source.Config{Name: "system-consumer", Endpoint: relaytest.Endpoint(r),
		Validator: tlv.Validator{Domain: tlv.DomainSystem}, Retry: lazy.Retry{MaxAttempts: 1}})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = sub.Close() })
	if err := sub.Connect(context.Background()); err != nil {
		t.Fatal(err)
	}
	waitFor(t, "the consumer", func() bool { return r.Stats().Consumers == 1 })
	const src, before = 7, 20
	var out []byte
	b := tlv.NewBuilder(tlv.DomainSystem, src)
	for i := range before {
		b.AppendHeartbeat(&tlv.Heartbeat{TS: uint64(i + 1), UptimeNS: uint64(i)})
		out = append(out, finish(t, b)...)
	}
	forged := tlv.NewBuilder(tlv.DomainSystem, relay.ControlSource)
	forged.AppendDisconnect(tlv.DisconnectLagged, 0)
	out = append(out, finish(t, forged)...)
	c := dial(t, r)
	if _, err := c.Write(out); err != nil {
		t.Fatal(err)
	}
	_ = c.SetReadDeadline(time.Now().Add(10 * time.Second))
	if n, err := c.Read(make([]byte, 1)); n != 0 || !(errors.Is(err, io.EOF) || errors.Is(err, syscall.ECONNRESET)) {
		t.Errorf("the forging producer's connection: read %d, %v; want EOF", n, err)
	}
	st := quiet(t, r, before)
	for i := range before {
		f, err := sub.Next()
		if err != nil {
			t.Fatalf("frame %d: %v", i, err)
		}
		if h := f.Header(); h.Source() != src || h.Sequence() != uint64(i+1) {
			t.Fatalf("frame %d from source %d, sequence %d", i, h.Source(), h.Sequence())
		}
	}
	// Nothing else comes: a forged Disconnect would end Next with ErrLagged.
	time.AfterFunc(100*time.Millisecond, func() { _ = sub.Close() })
	if f, err := sub.Next(); !errors.Is(err, sink.ErrClosed) {
		t.Fatalf("after the producer's frames: %v, %v; want ErrClosed at Close", f, err)
	}
	if st.Rejected.Protocol != 1 || st.Rejected.Total() != 1 || st.FramesIn != before {
		t.Errorf("stats %v: want %d frames in and the forging producer rejected for protocol", st, before)
	}
}

// TestSlowConsumer has one consumer that reads and one that never does: the
// producer and the reading consumer go on unhindered, the other's queue
// overflows (counted), it is disconnected once its oldest frame is MaxLag
// old, and every frame is accounted for.
func TestSlowConsumer(t *testing.T) {
	const burst, bursts = 500, 60
	r := relaytest.Serve(t, relay.Config{ConsumerQueue: 1000, ConsumerQueueBytes: 1 << 20, MaxLag: 300 * time.Millisecond})
	fast := collect(subscribe(t, r, 1))
	slow := dial(t, r)
	if _, err := slow.Write(subscribeFrame(t, tlv.RoleConsumer)); err != nil {
		t.Fatal(err)
	}
	waitFor(t, "the slow consumer", func() bool { return r.Stats().Consumers == 2 })

	// The producer sends in bursts that the fast consumer's queue holds, and
	// paces itself on that consumer alone.
	p := dial(t, r)
	b := tlv.NewBuilder(tlv.DomainMarketData, 1)
	start := time.Now()
	for i := range bursts {
		var buf []byte
		for range burst {
			buf = append(buf, testFrame(t, b, 64)...)
		}
		if _, err := p.Write(buf); err != nil {
			t.Fatal(err)
		}
		waitFor(t, "the fast consumer", func() bool { return fast.received.Load() == uint64((i+1)*burst) })
	}
	t.Logf("%d frames through the fast consumer in %v", burst*bursts, time.Since(start))
	const total = burst * bursts

	waitFor(t, "the slow consumer's disconnection", func() bool { return r.Stats().ConsumersLagged == 1 })
	// What the slow consumer got is in its socket: whole frames, in order,
	// and perhaps the start of one the deadline cut.
	got, err := io.ReadAll(slow)
	if err != nil && !errors.Is(err, syscall.ECONNRESET) {
		t.Fatal(err)
	}
	var whole, last uint64
	for len(got) >= tlv.HeaderSize {
		n, err := tlv.Validator{}.FrameSize(got)
		if err != nil {
			t.Fatal(err)
		}
		if len(got) < n {
			break
		}
		if seq := tlv.Header(got).Sequence(); seq <= last {
			t.Fatalf("slow consumer: seq %d after %d", seq, last)
		} else {
			last = seq
		}
		if err := checkFrame(got[:n]); err != nil {
			t.Fatal(err)
		}
		got = got[n:]
		whole++
	}

	s := quiet(t, r, total)
	if err := fast.stop(); err != nil {
		t.Error(err)
	}
	if fast.gaps != 0 {
		t.Errorf("fast consumer missed %d frames", fast.gaps)
	}
	t.Logf("slow consumer: %d frames whole; %v", whole, s)
	// The slow consumer was owed what arrived until it was disconnected: it
	// got some whole, and the rest was dropped or discarded.
	if s.FramesOut != total+whole || s.Offered-total != whole+s.ConsumerDrops+s.ConsumerDiscards {
		t.Errorf("counters do not add up: %v", s)
	}
	if s.ConsumerDrops == 0 {
		t.Error("no drops counted for a consumer that never read")
	}
	if s.Consumers != 1 || s.ConsumersLagged != 1 || s.Rejected.Total() != 0 {
		t.Errorf("stats %v", s)
	}
}

// TestConsumerRules closes a consumer that sends anything but one Subscribe
// frame, counted as a protocol rejection.
func TestConsumerRules(t *testing.T) {
	data := testFrame(t, tlv.NewBuilder(tlv.DomainMarketData, 1), 64)
	cases := []struct {
		name        string
		first       func(t *testing.T) []byte
		then        []byte // sent once the relay counts the consumer
		subscribers uint64
	}{
		{"data after subscribing", func(t *testing.T) []byte { return subscribeFrame(t, tlv.RoleConsumer) }, data, 1},
		{"one byte after subscribing", func(t *testing.T) []byte { return subscribeFrame(t, tlv.RoleConsumer) }, []byte{0}, 1},
		{"data with the subscribe", func(t *testing.T) []byte {
			return append(subscribeFrame(t, tlv.RoleConsumer), data...)
		}, nil, 0},
		{"unknown role", func(t *testing.T) []byte { return subscribeFrame(t, 3) }, nil, 0}, // 1 consumer, 2 acked producer
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			r := relaytest.Serve(t, relay.Config{})
			c := dial(t, r)
			if _, err := c.Write(tc.first(t)); err != nil {
				t.Fatal(err)
			}
			if tc.then != nil {
				waitFor(t, "the consumer", func() bool { return r.Stats().Consumers == 1 })
				if _, err := c.Write(tc.then); err != nil {
					t.Fatal(err)
				}
			}
			_ = c.SetReadDeadline(time.Now().Add(10 * time.Second))
			if _, err := io.ReadAll(c); err != nil && !errors.Is(err, syscall.ECONNRESET) {
				t.Fatalf("the relay did not close the connection: %v", err)
			}
			waitFor(t, "the rejection", func() bool { return r.Stats().Rejected.Protocol == 1 })
			s := r.Stats()
			if s.Rejected.Total() != 1 || s.Consumers != 0 || s.ConsumersTotal != tc.subscribers || s.ProducersTotal != 0 {
				t.Errorf("stats %v", s)
			}
		})
	}
}

// TestTruncatedProducer hangs up in the middle of a frame: the whole frames
// before it are forwarded, the partial one is dropped, and the hang-up is
// counted as truncated, not rejected.
func TestTruncatedProducer(t *testing.T) {
	r := relaytest.Serve(t, relay.Config{})
	col := collect(subscribe(t, r, 1))
	b := tlv.NewBuilder(tlv.DomainMarketData, 1)
	var p []byte
	for range 3 {
		p = append(p, testFrame(t, b, 100)...)
	}
	next := testFrame(t, b, 100)
	c := dial(t, r)
	if _, err := c.Write(append(p, next[:50]...)); err != nil {
		t.Fatal(err)
	}
	_ = c.Close()
	waitFor(t, "the truncation", func() bool { return r.Stats().Truncated == 1 })
	s := quiet(t, r, 3)
	waitFor(t, "3 frames", func() bool { return col.received.Load() == 3 })
	if err := col.stop(); err != nil {
		t.Error(err)
	}
	if s.Rejected.Total() != 0 || s.FramesOut != 3 {
		t.Errorf("stats %v", s)
	}
}

// TestConsumerHangsUp closes one consumer in the middle of a flood: the other
// gets everything, and what was queued for the first is counted as
// discarded.
func TestConsumerHangsUp(t *testing.T) {
	r := relaytest.Serve(t, lossless)
	stay := collect(subscribe(t, r, 1))
	leave := collect(subscribe(t, r, 2))
	const total = 20_000
	all := stream(t, 1, total, true, rand.New(rand.NewPCG(3, 3)))
	c := dial(t, r)
	var wg sync.WaitGroup
	wg.Go(func() {
		if err := writePieces(c, all, rand.New(rand.NewPCG(3, 4))); err != nil {
			t.Error(err)
		}
	})
	waitFor(t, "some frames", func() bool { return leave.received.Load() > total/10 })
	if err := leave.stop(); err != nil {
		t.Error(err)
	}
	wg.Wait()
	waitFor(t, "every frame", func() bool { return stay.received.Load() == total })
	if err := stay.stop(); err != nil {
		t.Error(err)
	}
	waitFor(t, "the consumers gone", func() bool { return r.Stats().Consumers == 0 })
	s := quiet(t, r, total)
	// The consumer that stayed was owed and got every frame; the one that
	// left was owed what arrived while it was subscribed, and got at least
	// what it read.
	leaveOut := s.FramesOut - total
	if s.ConsumerDrops != 0 || s.Offered-total != leaveOut+s.ConsumerDiscards || leaveOut < leave.received.Load() {
		t.Errorf("counters do not add up: %v; the consumer that left read %d", s, leave.received.Load())
	}
}

// TestGarbageFlood: a producer that writes garbage without pause is cut off
// at its first bytes, its writes fail, and a good producer's consumer misses
// nothing.
func TestGarbageFlood(t *testing.T) {
	r := relaytest.Serve(t, lossless)
	col := collect(subscribe(t, r, 1))
	const good = 5_000
	goodStream := stream(t, 1, good, true, rand.New(rand.NewPCG(5, 5)))
	gc, bc := dial(t, r), dial(t, r)
	var wg sync.WaitGroup
	wg.Go(func() {
		if err := writePieces(gc, goodStream, rand.New(rand.NewPCG(5, 6))); err != nil {
			t.Error(err)
		}
	})
	garbage := make([]byte, 64<<10)
	for i := range garbage {
		garbage[i] = byte(i * 13)
	}
	_ = bc.SetWriteDeadline(time.Now().Add(20 * time.Second))
	var err error
	for err == nil {
		_, err = bc.Write(garbage)
	}
	if !errors.Is(err, syscall.EPIPE) && !errors.Is(err, syscall.ECONNRESET) {
		t.Errorf("the flood ended with %v, want the relay to have closed the connection", err)
	}
	wg.Wait()
	waitFor(t, "the good frames", func() bool { return col.count(1) == good })
	s := quiet(t, r, good)
	if err := col.stop(); err != nil {
		t.Error(err)
	}
	if s.Rejected.Malformed != 1 || s.Rejected.Total() != 1 || s.FramesOut != good {
		t.Errorf("stats %v", s)
	}
}

// TestCloseUnderLoad closes the relay while producers send and consumers
// read: Close returns, every goroutine ends (goleak), and every frame owed is
// accounted for as written or discarded.
func TestCloseUnderLoad(t *testing.T) {
	r, err := relay.Listen(relay.Config{Endpoint: unixEndpoint(testnet.SocketPath(t)), Domain: tlv.DomainMarketData})
	if err != nil {
		t.Fatal(err)
	}
	served := make(chan error, 1)
	go func() { served <- r.Serve(t.Context()) }()
	cols := []*collector{collect(subscribe(t, r, 1)), collect(subscribe(t, r, 2))}
	var wg sync.WaitGroup
	for p := range 2 {
		c := dial(t, r)
		wg.Go(func() {
			// Frames without end, numbered on, until the relay closes.
			b := tlv.NewBuilder(tlv.DomainMarketData, uint8(p+1))
			val := make([]byte, 64)
			var buf []byte
			for {
				for i := range val {
					val[i] = pattern(b.Source, b.Sequence(), i)
				}
				b.Append(opaqueType, val)
				m, err := b.Finish()
				if err != nil {
					t.Error(err)
					return
				}
				buf = append(buf, m.Bytes()...)
				m.Release()
				if len(buf) >= 32<<10 {
					if _, err := c.Write(buf); err != nil {
						return // the relay closed
					}
					buf = buf[:0]
				}
			}
		})
	}
	waitFor(t, "traffic", func() bool { return cols[0].received.Load() > 10_000 })
	if err := r.Close(); err != nil {
		t.Fatal(err)
	}
	if err := <-served; err != nil {
		t.Fatal(err)
	}
	wg.Wait()
	for _, c := range cols {
		<-c.done // the relay closed it, and the one dial after that failed
		if err := c.stop(); err != nil && !errors.Is(err, sink.ErrConnectFailed) {
			t.Error(err)
		}
	}
	s := r.Stats()
	if !s.Balanced() || s.Pending != 0 || s.Producers != 0 || s.Consumers != 0 {
		t.Errorf("stats after Close: %v", s)
	}
}
