package relay_test

import (
	"bytes"
	"net"
	"sync"
	"testing"
	"time"

	"github.com/msgsink/msgsink/relay"
	"github.com/msgsink/msgsink/relay/relaytest"
	"github.com/msgsink/msgsink/tlv"
)

// readAcks reads the Ack frames the relay sends on c until source src is
// acknowledged up to want, and returns every (source, sequence) acked, in
// order.
func readAcks(tb testing.TB, c net.Conn, src uint8, want uint64) []uint64 {
	tb.Helper()
	_ = c.SetReadDeadline(time.Now().Add(30 * time.Second))
	defer func() { _ = c.SetReadDeadline(time.Time{}) }()
	var got []uint64
	var buf []byte
	tmp := make([]byte, 4096)
	for len(got) == 0 || got[len(got)-1] < want {
		n, err := c.Read(tmp)
		if err != nil {
			tb.Fatalf("reading Acks (got %v, want up to %d): %v", got, want, err)
		}
		buf = append(buf, tmp[:n]...)
		for len(buf) >= tlv.HeaderSize {
			size := tlv.HeaderSize + int(tlv.Header(buf).PayloadSize())
			if len(buf) < size {
				break
			}
			f, err := tlv.Parse(buf[:size])
			if err != nil {
				tb.Fatalf("the relay sent a bad frame: %v", err)
			}
			if h := f.Header(); h.Source() != relay.ControlSource || h.Domain() != tlv.DomainSystem {
				tb.Fatalf("Ack frame from source %d, domain %v; want %d, system", h.Source(), h.Domain(), relay.ControlSource)
			}
			for it := f.Records(); it.Next(); {
				a, err := tlv.AsAck(it.Value())
				if err != nil {
					tb.Fatalf("record %v in an Ack frame: %v", it.Type(), err)
				}
				if a.Source() != src {
					tb.Fatalf("Ack for source %d, want %d", a.Source(), src)
				}
				if len(got) > 0 && a.Sequence() < got[len(got)-1] {
					tb.Fatalf("Ack %d after %d: Acks are cumulative", a.Sequence(), got[len(got)-1])
				}
				got = append(got, a.Sequence())
			}
			buf = buf[size:]
		}
	}
	return got
}

// TestAckedProducer: a producer whose first frame is Subscribe{role: 2}
// gets cumulative Acks for what the relay accepted, and a frame it sends
// again (after a reconnect) is acknowledged and dropped, counted.
func TestAckedProducer(t *testing.T) {
	r := relaytest.Serve(t, relay.Config{})
	sub := subscribe(t, r, 1)
	col := collect(sub)
	b := tlv.NewBuilder(tlv.DomainMarketData, 3)
	frames := make([][]byte, 3000)
	for i := range frames {
		frames[i] = frameOf(t, b, 64)
	}

	// First connection: 2000 frames in one go, then a pause.
	p := dial(t, r)
	if _, err := p.Write(subscribeFrame(t, tlv.RoleProducer)); err != nil {
		t.Fatal(err)
	}
	if _, err := p.Write(bytes.Join(frames[:2000], nil)); err != nil {
		t.Fatal(err)
	}
	acks := readAcks(t, p, 3, 2000)
	for i, last := 0, uint64(0); i < len(acks); i++ {
		if acks[i]-last > 1024 {
			t.Fatalf("Acks %v: %d frames between two, want an Ack every 1,024 at least", acks, acks[i]-last)
		}
		last = acks[i]
	}
	_ = p.Close()

	// Second connection: it resends 1501..2000, which the relay has
	// forwarded, then goes on.
	p2 := dial(t, r)
	if _, err := p2.Write(subscribeFrame(t, tlv.RoleProducer)); err != nil {
		t.Fatal(err)
	}
	if _, err := p2.Write(bytes.Join(frames[1500:], nil)); err != nil {
		t.Fatal(err)
	}
	readAcks(t, p2, 3, 3000)
	s := quiet(t, r, 3000)
	if s.Duplicates != 500 || s.AckedProducers != 2 || s.Acks < 3 {
		t.Errorf("stats %v: want duplicates=500 acked_producers=2 and 3 Acks at least (2 for 2,000 frames, 1 for 1,500)", s)
	}
	waitFor(t, "the consumer to see 3000 frames", func() bool { return col.count(3) == 3000 })
	if err := col.stop(); err != nil { // in order, no duplicate
		t.Fatal(err)
	}
}

// TestAckedProducersShareDedupe: two connections of one acked producer at
// once (a reconnect while the old connection is still being read) forward
// each (source, sequence) once, in order.
func TestAckedProducersShareDedupe(t *testing.T) {
	r := relaytest.Serve(t, relay.Config{})
	col := collect(subscribe(t, r, 1))
	b := tlv.NewBuilder(tlv.DomainMarketData, 9)
	b.SetSequence(1000) // 1 again would be a restart, forwarded again
	var all []byte
	for range 5000 {
		all = append(all, frameOf(t, b, 80)...)
	}
	var wg sync.WaitGroup
	for range 2 {
		c := dial(t, r)
		wg.Go(func() {
			_, _ = c.Write(subscribeFrame(t, tlv.RoleProducer))
			_, _ = c.Write(all)
			_ = c.Close()
		})
	}
	wg.Wait()
	waitFor(t, "5000 frames", func() bool { return col.count(9) == 5000 })
	waitFor(t, "both producers to be read to the end", func() bool {
		s := r.Stats()
		return s.ProducersTotal == 2 && s.Producers == 0
	})
	s := quiet(t, r, 5000)
	if s.Duplicates != 5000 {
		t.Errorf("duplicates = %d, want 5000", s.Duplicates)
	}
	if err := col.stop(); err != nil {
		t.Fatal(err)
	}
}

// TestAckedProducerRestart: sequence 1 after higher ones is a producer
// that restarted, not a duplicate.
func TestAckedProducerRestart(t *testing.T) {
	r := relaytest.Serve(t, relay.Config{})
	send := func() {
		b := tlv.NewBuilder(tlv.DomainMarketData, 4)
		c := dial(t, r)
		var all []byte
		for range 10 {
			all = append(all, frameOf(t, b, 64)...)
		}
		_, _ = c.Write(subscribeFrame(t, tlv.RoleProducer))
		_, _ = c.Write(all)
		readAcks(t, c, 4, 10)
		_ = c.Close()
	}
	send()
	send()
	if s := quiet(t, r, 20); s.Duplicates != 0 {
		t.Fatalf("duplicates = %d after a restart at sequence 1, want 0", s.Duplicates)
	}
}

// TestJournal: the Journal sees an acked producer's frames, without the
// duplicates, before the Ack.
func TestJournal(t *testing.T) {
	var mu sync.Mutex
	var seqs []uint64
	r := relaytest.Serve(t, relay.Config{Journal: func(frames []byte) {
		mu.Lock()
		defer mu.Unlock()
		for len(frames) > 0 {
			h := tlv.Header(frames[:tlv.HeaderSize])
			seqs = append(seqs, h.Sequence())
			frames = frames[tlv.HeaderSize+int(h.PayloadSize()):]
		}
	}})
	b := tlv.NewBuilder(tlv.DomainMarketData, 5)
	var all []byte
	for range 100 {
		all = append(all, frameOf(t, b, 64)...)
	}
	c := dial(t, r)
	_, _ = c.Write(subscribeFrame(t, tlv.RoleProducer))
	_, _ = c.Write(all)
	_, _ = c.Write(all[64 : 64*10]) // 2..10 again
	readAcks(t, c, 5, 100)
	quiet(t, r, 100)
	mu.Lock()
	defer mu.Unlock()
	if len(seqs) != 100 {
		t.Fatalf("journal holds %d frames, want 100", len(seqs))
	}
	for i, s := range seqs {
		if s != uint64(i+1) {
			t.Fatalf("journal frame %d is seq %d", i, s)
		}
	}
}

// TestAckPace: frames that trickle in, fewer than 1,024, are acknowledged
// within about a millisecond each time, by the timer: a sink waiting in
// Flush is not kept waiting for more frames.
func TestAckPace(t *testing.T) {
	r := relaytest.Serve(t, relay.Config{})
	b := tlv.NewBuilder(tlv.DomainMarketData, 6)
	c := dial(t, r)
	if _, err := c.Write(subscribeFrame(t, tlv.RoleProducer)); err != nil {
		t.Fatal(err)
	}
	for i := uint64(1); i <= 5; i++ {
		if _, err := c.Write(frameOf(t, b, 64)); err != nil {
			t.Fatal(err)
		}
		if got := readAcks(t, c, 6, i); got[len(got)-1] != i {
			t.Fatalf("Ack %v, want %d", got, i)
		}
	}
	// An Ack is counted after its write: it may reach us first.
	waitFor(t, "5 Acks counted", func() bool { return r.Stats().Acks == 5 })
}
