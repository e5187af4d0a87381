package relay_test

import (
	"context"
	"errors"
	"io"
	"math/rand/v2"
	"net"
	"testing"
	"time"

	"github.com/msgsink/msgsink/internal/testnet"
	"github.com/msgsink/msgsink/relay"
	"github.com/msgsink/msgsink/tlv"
)

// fakeRelay accepts one connection on a fresh socket, checks that it opens
// with a consumer's Subscribe frame, and hands it to serve.
func fakeRelay(t *testing.T, serve func(net.Conn)) *relay.Subscriber {
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
		c, err := l.Accept()
		if err != nil {
			return
		}
		defer c.Close()
		b := make([]byte, tlv.HeaderSize+2+tlv.SubscribeSize)
		if _, err := io.ReadFull(c, b); err != nil {
			t.Error(err)
			return
		}
		f, err := tlv.Validator{Domain: tlv.DomainSystem, Level: tlv.LevelAudit}.Parse(b)
		if err != nil {
			t.Error(err)
			return
		}
		it := f.Records()
		if !it.Next() || it.Type() != tlv.TypeSubscribe || it.Value()[0] != tlv.RoleConsumer {
			t.Errorf("first frame is not a consumer's Subscribe: % x", b)
			return
		}
		serve(c)
	}()
	s, err := relay.Subscribe(context.Background(), unixEndpoint(path))
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = s.Close() })
	return s
}

// TestSubscriberNext reads frames that arrive in pieces of every size, some
// larger than the Subscriber's buffer, then a clean end.
func TestSubscriberNext(t *testing.T) {
	b := tlv.NewBuilder(tlv.DomainMarketData, 1)
	var frames [][]byte
	var all []byte
	for i := range 500 {
		size := 10 + i%300
		if i%97 == 0 {
			size = 70_000 + 1000*i
		}
		f := testFrame(t, b, size)
		frames = append(frames, f)
		all = append(all, f...)
	}
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
	if f, err := s.Next(); err != io.EOF {
		t.Fatalf("Next at the end = %d bytes, %v; want io.EOF", len(f), err)
	}
	if s.Buffered() != 0 {
		t.Errorf("Buffered = %d at the end", s.Buffered())
	}
}

func TestSubscriberTornFrame(t *testing.T) {
	f := testFrame(t, tlv.NewBuilder(tlv.DomainMarketData, 1), 100)
	s := fakeRelay(t, func(c net.Conn) { _, _ = c.Write(append(f, f[:40]...)) })
	if _, err := s.Next(); err != nil {
		t.Fatal(err)
	}
	if _, err := s.Next(); err != io.ErrUnexpectedEOF {
		t.Fatalf("Next on a torn frame: %v, want io.ErrUnexpectedEOF", err)
	}
}

func TestSubscriberCloseUnblocksNext(t *testing.T) {
	release := make(chan struct{})
	s := fakeRelay(t, func(net.Conn) { <-release })
	defer close(release)
	go func() {
		time.Sleep(20 * time.Millisecond)
		_ = s.Close()
	}()
	if _, err := s.Next(); !errors.Is(err, net.ErrClosed) {
		t.Fatalf("Next after Close: %v, want net.ErrClosed", err)
	}
	if err := s.Close(); err != nil {
		t.Errorf("second Close: %v", err)
	}
}

func TestSubscriberBuffered(t *testing.T) {
	b := tlv.NewBuilder(tlv.DomainMarketData, 1)
	one, two := testFrame(t, b, 30), testFrame(t, b, 30)
	s := fakeRelay(t, func(c net.Conn) {
		_, _ = c.Write(append(one, two...))
		time.Sleep(50 * time.Millisecond) // keep the connection open
	})
	if _, err := s.Next(); err != nil {
		t.Fatal(err)
	}
	if s.Buffered() != len(two) {
		t.Errorf("Buffered = %d after the first of two frames read together, want %d", s.Buffered(), len(two))
	}
}
