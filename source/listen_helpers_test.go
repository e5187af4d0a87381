package source_test

import (
	"encoding/binary"
	"errors"
	"net"
	"testing"
	"time"

	"go.uber.org/goleak"

	"github.com/msgsink/msgsink/internal/testnet"
	"github.com/msgsink/msgsink/lazy"
	"github.com/msgsink/msgsink/sink"
	"github.com/msgsink/msgsink/source"
	"github.com/msgsink/msgsink/tlv"
	"github.com/msgsink/msgsink/transport"
)

// listenOpaque is a market-data TLV type without a typed view: its value is
// carried as is, so tests choose frame sizes and contents freely.
const listenOpaque tlv.Type = 5

// noLeaks checks, when the test ends and after every later cleanup, that
// no goroutine the test started is left.
func noLeaks(t *testing.T) {
	t.Helper()
	t.Cleanup(func() { goleak.VerifyNone(t) })
}

// listen starts a Listener on a fresh endpoint of scheme (unix, tcp or ws)
// and closes it when the test ends.
func listen(t testing.TB, scheme string, cfg source.ListenConfig) *source.Listener {
	t.Helper()
	switch scheme {
	case "unix":
		cfg.Endpoint = transport.Endpoint{Scheme: "unix", Addr: testnet.SocketPath(t)}
	case "tcp":
		cfg.Endpoint = transport.Endpoint{Scheme: "tcp", Addr: "127.0.0.1:0"}
	case "ws":
		cfg.Endpoint = transport.Endpoint{Scheme: "ws", Addr: "127.0.0.1:0", Path: "/feed"}
	}
	if cfg.Name == "" {
		cfg.Name = "test"
	}
	l, err := source.Listen(cfg)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() {
		if err := l.Close(); err != nil {
			t.Error(err)
		}
	})
	return l
}

// endpointOf parses the Listener's endpoint, for a sink.
func endpointOf(t testing.TB, l *source.Listener) transport.Endpoint {
	t.Helper()
	e, err := transport.ParseEndpoint(l.Endpoint())
	if err != nil {
		t.Fatal(err)
	}
	return e
}

// directSink is a lazy direct sink pointing at l, closed when the test
// ends.
func directSink(t testing.TB, l *source.Listener) *lazy.Sink {
	t.Helper()
	s, err := lazy.New(lazy.Config{Name: "direct", Kind: sink.KindDirect, Endpoint: endpointOf(t, l),
		SingleProducer: true, BufferSize: 1 << 14})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = s.Close() })
	return s
}

// dialRaw opens a raw producer connection to a unix or tcp Listener.
func dialRaw(t testing.TB, l *source.Listener) net.Conn {
	t.Helper()
	a := l.Addr()
	c, err := net.Dial(a.Network(), a.String())
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = c.Close() })
	return c
}

// fill is the value byte i of frame seq of source src, so that a reader
// can check every byte.
func fill(src uint8, seq uint64, i int) byte { return byte(uint64(src)*7 + seq*31 + uint64(i)) }

// signalOpaque is a signal-domain type without a typed view.
const signalOpaque tlv.Type = 25

// frame builds the next frame of b with a value of size bytes.
func frame(t testing.TB, b *tlv.Builder, size int) []byte {
	t.Helper()
	m := message(t, b, size)
	defer m.Release()
	return append([]byte(nil), m.Bytes()...)
}

// message builds the next message of b with a value of size bytes.
func message(tb testing.TB, b *tlv.Builder, size int) *tlv.Message {
	tb.Helper()
	seq := b.Sequence()
	val := make([]byte, size)
	for i := range val {
		val[i] = fill(b.Source, seq, i)
	}
	t := listenOpaque
	if b.Domain == tlv.DomainSignal {
		t = signalOpaque
	}
	for len(val) > 60_000 { // a value holds at most 65,535 bytes
		b.Append(t, val[:60_000])
		val = val[60_000:]
	}
	b.Append(t, val)
	m, err := b.Finish()
	if err != nil {
		tb.Fatal(err)
	}
	return m
}

// checkFrame fails unless f is a frame that message built.
func checkFrame(t testing.TB, f tlv.Frame) {
	t.Helper()
	if _, err := tlv.Parse(f); err != nil {
		t.Fatalf("Next returned an invalid frame: %v", err)
	}
	h := f.Header()
	it := f.Records()
	i := 0 // the value continues from record to record
	for it.Next() {
		for _, c := range it.Value() {
			if want := fill(h.Source(), h.Sequence(), i); c != want {
				t.Fatalf("source %d seq %d: byte %d is %d, want %d", h.Source(), h.Sequence(), i, c, want)
			}
			i++
		}
	}
}

// subscribeFrame is the first frame of a producer that asks for acks.
func subscribeFrame(t testing.TB, role uint8) []byte {
	t.Helper()
	b := tlv.NewBuilder(tlv.DomainSystem, 60)
	b.AppendSubscribe(role)
	m, err := b.Finish()
	if err != nil {
		t.Fatal(err)
	}
	defer m.Release()
	return append([]byte(nil), m.Bytes()...)
}

// nextFrame calls Next with a deadline: a Next that does not return in 10 s
// fails the test (and Close ends it).
func nextFrame(t testing.TB, l *source.Listener) tlv.Frame {
	t.Helper()
	type res struct {
		f   tlv.Frame
		err error
	}
	ch := make(chan res, 1)
	go func() {
		f, err := l.Next()
		ch <- res{f, err}
	}()
	select {
	case r := <-ch:
		if r.err != nil {
			t.Fatalf("Next: %v", r.err)
		}
		return r.f
	case <-time.After(10 * time.Second):
		_ = l.Close()
		<-ch
		t.Fatal("Next returned nothing in 10 s")
	}
	return nil
}

// waitFor polls cond, failing the test after 10 s.
func waitFor(t testing.TB, what string, cond func() bool) {
	t.Helper()
	deadline := time.Now().Add(10 * time.Second)
	for !cond() {
		if time.Now().After(deadline) {
			t.Fatalf("timed out waiting for %s", what)
		}
		time.Sleep(time.Millisecond)
	}
}

// readAcks reads Ack frames from c until want(source, seq) holds for the
// latest ack, or 10 s pass; it returns every (source, seq) acked in order.
func readAcks(t testing.TB, c net.Conn, done func(src uint8, seq uint64) bool) [][2]uint64 {
	t.Helper()
	_ = c.SetReadDeadline(time.Now().Add(10 * time.Second))
	defer func() { _ = c.SetReadDeadline(time.Time{}) }()
	var got [][2]uint64
	buf := make([]byte, 0, 4096)
	tmp := make([]byte, 4096)
	for {
		for len(buf) >= tlv.HeaderSize {
			n := tlv.HeaderSize + int(binary.LittleEndian.Uint32(buf[24:]))
			if len(buf) < n {
				break
			}
			f, err := tlv.Parse(buf[:n])
			if err != nil {
				t.Fatalf("the Listener sent an invalid frame: %v", err)
			}
			if d := f.Header().Domain(); d != tlv.DomainSystem {
				t.Fatalf("an Ack frame in domain %v, want system", d)
			}
			it := f.Records()
			for it.Next() {
				a, err := tlv.AsAck(it.Value())
				if it.Type() != tlv.TypeAck || err != nil {
					t.Fatalf("a record of type %d (%v) in an Ack frame", it.Type(), err)
				}
				got = append(got, [2]uint64{uint64(a.Source()), a.Sequence()})
				if done(a.Source(), a.Sequence()) {
					return got
				}
			}
			buf = append(buf[:0], buf[n:]...)
		}
		k, err := c.Read(tmp)
		buf = append(buf, tmp[:k]...)
		if err != nil {
			t.Fatalf("reading acks: %v (acks so far: %v)", err, got)
		}
	}
}

// isClosed reports whether err matches sink.ErrClosed.
func isClosed(err error) bool { return errors.Is(err, sink.ErrClosed) }
