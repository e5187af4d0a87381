package source_test

import (
	"io"
	"math/rand/v2"
	"net"
	"testing"

	"github.com/msgsink/msgsink/internal/testnet"
	"github.com/msgsink/msgsink/source"
	"github.com/msgsink/msgsink/tlv"
)

// fakeRelay accepts one connection per serve func on a fresh socket, checks
// that each opens with a consumer's Subscribe frame, and hands it to its
// func; it returns a Source subscribed to it.
func fakeRelay(t *testing.T, serves ...func(net.Conn)) *source.Source {
	t.Helper()
	path := testnet.SocketPath(t)
	l, err := net.Listen("unix", path)
	if err != nil {
		t.Fatal(err)
	}
	done := make(chan struct{})
	t.Cleanup(func() {
		_ = l.Close()
		<-done
	})
	go func() {
		defer close(done)
		for _, serve := range serves {
			c, err := l.Accept()
			if err != nil {
				return
			}
			b := make([]byte, tlv.HeaderSize+2+tlv.SubscribeSize)
			if _, err := io.ReadFull(c, b); err != nil {
				t.Error(err)
				c.Close()
				return
			}
			f, err := tlv.Validator{Domain: tlv.DomainSystem, Level: tlv.LevelAudit}.Parse(b)
			if err != nil {
				t.Error(err)
				c.Close()
				return
			}
			it := f.Records()
			if !it.Next() || it.Type() != tlv.TypeSubscribe || it.Value()[0] != tlv.RoleConsumer || f.Header().Source() != tlv.SubscribeSource {
				t.Errorf("first frame is not a consumer's Subscribe: % x", b)
			}
			serve(c)
			c.Close()
		}
	}()
	return newSource(t, source.Config{Endpoint: unixEndpoint(path), Retry: fastRetry})
}

// frameOf builds the next frame of b with a value of n pattern bytes, in
// records of at most 60,000 bytes.
func frameOf(t *testing.T, b *tlv.Builder, n int) []byte {
	t.Helper()
	seq := b.Sequence()
	val := make([]byte, n)
	for i := range val {
		val[i] = pattern(b.Source, seq, i)
	}
	for len(val) > 60_000 {
		b.Append(opaqueType, val[:60_000])
		val = val[60_000:]
	}
	b.Append(opaqueType, val)
	m, err := b.Finish()
	if err != nil {
		t.Fatal(err)
	}
	defer m.Release()
	return append([]byte(nil), m.Bytes()...)
}

// Frames that arrive in pieces of every size, some larger than the read
// buffer, come out whole and unchanged.
func TestNextReframes(t *testing.T) {
	b := tlv.NewBuilder(tlv.DomainMarketData, 1)
	var frames [][]byte
	var all []byte
	for i := range 500 {
		size := 10 + i%300
		if i%97 == 0 {
			size = 70_000 + 1000*i
		}
		f := frameOf(t, b, size)
		frames = append(frames, f)
		all = append(all, f...)
	}
	release := make(chan struct{})
	defer close(release)
	s := fakeRelay(t, func(c net.Conn) {
		rng := rand.New(rand.NewPCG(1, 2))
		for p := all; len(p) > 0; {
			n := min(len(p), 1+rng.IntN(3*len(frames[0])))
			if rng.IntN(10) == 0 {
				n = min(len(p), rng.IntN(200_000))
			}
			if _, err := c.Write(p[:n]); err != nil {
				t.Error(err)
				return
			}
			p = p[n:]
		}
		<-release
	})
	for i, want := range frames {
		got, err := s.Next()
		if err != nil {
			t.Fatalf("frame %d: %v", i, err)
		}
		if string(got) != string(want) {
			t.Fatalf("frame %d differs", i)
		}
	}
	if s.Buffered() != 0 {
		t.Errorf("Buffered = %d at the end", s.Buffered())
	}
	if i := s.Info(); i.Frames != 500 || i.Gaps != 0 || i.Bytes != uint64(len(all)) {
		t.Errorf("info %+v", i)
	}
}

// A frame the connection's end cut short is never returned: the Source
// reconnects, and the frame's sequence shows as a gap.
func TestTornFrameNeverReturned(t *testing.T) {
	b := tlv.NewBuilder(tlv.DomainMarketData, 1)
	one, two, three := frameOf(t, b, 100), frameOf(t, b, 100), frameOf(t, b, 100)
	release := make(chan struct{})
	defer close(release)
	s := fakeRelay(t,
		func(c net.Conn) { _, _ = c.Write(append(one, two[:60]...)) },
		func(c net.Conn) {
			_, _ = c.Write(three)
			<-release
		})
	for _, want := range [][]byte{one, three} {
		got, err := s.Next()
		if err != nil {
			t.Fatal(err)
		}
		if string(got) != string(want) {
			t.Fatalf("got seq %d, want seq %d", got.Header().Sequence(), tlv.Frame(want).Header().Sequence())
		}
	}
	if i := s.Info(); i.Reconnects != 1 || i.Gaps != 1 || i.Frames != 2 || i.LastError == nil {
		t.Fatalf("info %+v", i)
	}
}

// Buffered says how much of one read Next has not returned yet.
func TestBuffered(t *testing.T) {
	b := tlv.NewBuilder(tlv.DomainMarketData, 1)
	one, two := frameOf(t, b, 30), frameOf(t, b, 30)
	release := make(chan struct{})
	defer close(release)
	s := fakeRelay(t, func(c net.Conn) {
		_, _ = c.Write(append(one, two...))
		<-release
	})
	if _, err := s.Next(); err != nil {
		t.Fatal(err)
	}
	if s.Buffered() != len(two) {
		t.Errorf("Buffered = %d after the first of two frames read together, want %d", s.Buffered(), len(two))
	}
}

// A stream out of step (not a frame header where one must be) counts as
// invalid, and the Source reconnects.
func TestGarbageStream(t *testing.T) {
	b := tlv.NewBuilder(tlv.DomainMarketData, 1)
	one, two := frameOf(t, b, 30), frameOf(t, b, 30)
	release := make(chan struct{})
	defer close(release)
	s := fakeRelay(t,
		func(c net.Conn) { _, _ = c.Write(append(append([]byte(nil), one...), make([]byte, 64)...)) },
		func(c net.Conn) {
			_, _ = c.Write(two)
			<-release
		})
	for range 2 {
		if _, err := s.Next(); err != nil {
			t.Fatal(err)
		}
	}
	if i := s.Info(); i.Invalid != 1 || i.Frames != 2 {
		t.Fatalf("info %+v", i)
	}
}
