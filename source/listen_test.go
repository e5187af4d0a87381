package source_test

import (
	"errors"
	"fmt"
	"net"
	"os"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	"github.com/msgsink/msgsink/internal/testnet"
	"github.com/msgsink/msgsink/sink"
	"github.com/msgsink/msgsink/source"
	"github.com/msgsink/msgsink/tlv"
	"github.com/msgsink/msgsink/transport"
)

// TestListenLazySink: a lazy direct sink (unix, tcp, ws) sends frames of two
// sources and sizes from 0 to 100 KB through a real connection; Next
// returns every frame whole, in order per source, and Info counts them.
func TestListenLazySink(t *testing.T) {
	for _, scheme := range []string{"unix", "tcp", "ws"} {
		t.Run("scheme="+scheme, func(t *testing.T) {
			noLeaks(t)
			l := listen(t, scheme, source.ListenConfig{})
			s := directSink(t, l)
			bs := []*tlv.Builder{tlv.NewBuilder(tlv.DomainMarketData, 1), tlv.NewBuilder(tlv.DomainMarketData, 2)}
			sizes := []int{0, 1, 64, 200, 300, 5000, 70_000, 100_000}
			const n = 400
			var bytes uint64
			ms := make([]*tlv.Message, n)
			for i := range ms {
				ms[i] = message(t, bs[i%2], sizes[i%len(sizes)])
				bytes += uint64(ms[i].Len())
			}
			sent := make(chan error, 1)
			go func() { // Next reads meanwhile: the Listener's queue pushes back
				for i, m := range ms {
					if err := s.SendWait(t.Context(), m); err != nil {
						tlv.ReleaseAll(ms[i:])
						sent <- err
						return
					}
				}
				sent <- nil
			}()
			next := map[uint8]uint64{1: 1, 2: 1}
			for range n {
				f := nextFrame(t, l)
				checkFrame(t, f)
				h := f.Header()
				if h.Sequence() != next[h.Source()] {
					t.Fatalf("source %d: sequence %d, want %d", h.Source(), h.Sequence(), next[h.Source()])
				}
				next[h.Source()]++
			}
			if err := <-sent; err != nil {
				t.Fatal(err)
			}
			i := l.Info()
			if i.Bytes != bytes || i.Gaps != 0 || i.Duplicates != 0 || i.Producers != 1 || i.Accepted != 1 ||
				i.PerSource[1].Frames != n/2 || i.PerSource[2].Frames != n/2 || i.Rejected.Total() != 0 {
				t.Errorf("Info = %+v, want %d frames, %d bytes, one producer, %d frames per source", i, n, bytes, n/2)
			}
		})
	}
}

// TestListenProducers: several raw producers at once, each its own source;
// Next returns every frame, in order per producer.
func TestListenProducers(t *testing.T) {
	noLeaks(t)
	l := listen(t, "unix", source.ListenConfig{})
	const producers, n = 4, 3000
	var wg sync.WaitGroup
	for p := range producers {
		c := dialRaw(t, l)
		b := tlv.NewBuilder(tlv.DomainMarketData, uint8(10+p))
		var batch []byte
		for i := range n {
			batch = append(batch, frame(t, b, i%100)...)
		}
		wg.Go(func() {
			// Written in pieces that cut frames, as a socket may deliver them.
			for len(batch) > 0 {
				k := min(len(batch), 777)
				if _, err := c.Write(batch[:k]); err != nil {
					t.Error(err)
					return
				}
				batch = batch[k:]
			}
		})
	}
	next := map[uint8]uint64{}
	for range producers * n {
		f := nextFrame(t, l)
		checkFrame(t, f)
		h := f.Header()
		if want := next[h.Source()] + 1; h.Sequence() != want {
			t.Fatalf("source %d: sequence %d, want %d", h.Source(), h.Sequence(), want)
		}
		next[h.Source()]++
	}
	wg.Wait()
	waitFor(t, "4 producers", func() bool { return l.Info().Producers == producers })
	if i := l.Info(); i.Frames != producers*n || i.Accepted != producers || len(i.PerSource) != producers {
		t.Errorf("Info = %+v, want %d frames from %d producers", i, producers*n, producers)
	}
}

// TestListenGapsAndDuplicates: a producer resending and skipping sequences;
// duplicates are dropped by (source, sequence), gaps counted.
func TestListenGapsAndDuplicates(t *testing.T) {
	noLeaks(t)
	l := listen(t, "tcp", source.ListenConfig{})
	c := dialRaw(t, l)
	b := tlv.NewBuilder(tlv.DomainMarketData, 7)
	var out []byte
	for _, seq := range []uint64{1, 2, 3, 2, 3, 6, 7} {
		b.SetSequence(seq)
		out = append(out, frame(t, b, 8)...)
	}
	if _, err := c.Write(out); err != nil {
		t.Fatal(err)
	}
	for _, want := range []uint64{1, 2, 3, 6, 7} {
		if got := nextFrame(t, l).Header().Sequence(); got != want {
			t.Fatalf("sequence %d, want %d", got, want)
		}
	}
	waitFor(t, "Info", func() bool { return l.Info().Frames == 5 })
	want := source.SourceCounts{Frames: 5, Gaps: 2, Duplicates: 2}
	if i := l.Info(); i.SourceCounts != want || i.PerSource[7] != want {
		t.Errorf("Info = %+v, want %+v", i, want)
	}
}

// TestListenReject: a bad frame closes only its producer's connection,
// counted by reason, after the frames before it were returned; another
// producer goes on.
func TestListenReject(t *testing.T) {
	good := func(t *testing.T) []byte { return frame(t, tlv.NewBuilder(tlv.DomainMarketData, 1), 16) }
	cases := []struct {
		name   string
		cfg    source.ListenConfig
		bad    func(t *testing.T) []byte
		want   func(source.Rejects) uint64
		target error
	}{
		{"malformed", source.ListenConfig{}, func(t *testing.T) []byte {
			f := good(t)
			f[0] = 0 // magic
			return f
		}, func(r source.Rejects) uint64 { return r.Malformed }, tlv.ErrMalformed},
		{"domain", source.ListenConfig{Validator: tlv.Validator{Domain: tlv.DomainSignal}}, good,
			func(r source.Rejects) uint64 { return r.Domain }, tlv.ErrDomain},
		{"oversize", source.ListenConfig{Validator: tlv.Validator{MaxSize: 1000}}, func(t *testing.T) []byte {
			return frame(t, tlv.NewBuilder(tlv.DomainMarketData, 1), 2000)
		}, func(r source.Rejects) uint64 { return r.Oversize }, tlv.ErrMalformed},
		{"checksum", source.ListenConfig{}, func(t *testing.T) []byte {
			b := tlv.NewBuilder(tlv.DomainMarketData, 1)
			b.Checksum = true
			f := frame(t, b, 16)
			f[len(f)-1] ^= 0xFF
			return f
		}, func(r source.Rejects) uint64 { return r.Checksum }, tlv.ErrChecksum},
		{"consumer subscribe", source.ListenConfig{}, func(t *testing.T) []byte { return subscribeFrame(t, tlv.RoleConsumer) },
			func(r source.Rejects) uint64 { return r.Protocol }, source.ErrProtocol},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			noLeaks(t)
			l := listen(t, "unix", tc.cfg)
			other := dialRaw(t, l)
			c := dialRaw(t, l)
			var before []byte
			if tc.name != "consumer subscribe" && tc.name != "domain" {
				before = good(t) // a good frame first: returned
			}
			if _, err := c.Write(append(before, tc.bad(t)...)); err != nil {
				t.Fatal(err)
			}
			if before != nil {
				if got := nextFrame(t, l); string(got) != string(before) {
					t.Fatal("the frame before the bad one was not returned as sent")
				}
			}
			// The Listener closes the connection: the producer reads EOF.
			_ = c.SetReadDeadline(time.Now().Add(10 * time.Second))
			if _, err := c.Read(make([]byte, 1)); err == nil {
				t.Fatal("the bad producer's connection is still open")
			}
			waitFor(t, "the rejection to be counted", func() bool { return tc.want(l.Info().Rejected) == 1 })
			i := l.Info()
			if i.Rejected.Total() != 1 {
				t.Errorf("Rejected = %+v, want one %s", i.Rejected, tc.name)
			}
			var re *source.RejectError
			if !errors.As(i.LastReject, &re) || !errors.Is(i.LastReject, tc.target) {
				t.Errorf("LastReject = %v, want a *RejectError matching %v", i.LastReject, tc.target)
			}
			// The other producer goes on.
			// Another source: frame 1 of source 1 was returned already.
			f := frame(t, tlv.NewBuilder(tlv.DomainMarketData, 2), 16)
			if tc.cfg.Validator.Domain == tlv.DomainSignal {
				f = frame(t, tlv.NewBuilder(tlv.DomainSignal, 30), 0)
			}
			if _, err := other.Write(f); err != nil {
				t.Fatal(err)
			}
			if got := nextFrame(t, l); string(got) != string(f) {
				t.Fatal("the other producer's frame did not come through")
			}
		})
	}
}

// TestListenClose: Close ends a blocked Next with an error matching
// sink.ErrClosed, closes the producers' connections, and is idempotent;
// Next after Close errors at once.
func TestListenClose(t *testing.T) {
	for _, scheme := range []string{"unix", "ws"} {
		t.Run("scheme="+scheme, func(t *testing.T) {
			noLeaks(t)
			l := listen(t, scheme, source.ListenConfig{})
			s := directSink(t, l)
			m := message(t, tlv.NewBuilder(tlv.DomainMarketData, 1), 10)
			if err := s.Send(m); err != nil {
				t.Fatal(err)
			}
			nextFrame(t, l)
			errc := make(chan error, 1)
			go func() {
				_, err := l.Next()
				errc <- err
			}()
			time.Sleep(10 * time.Millisecond) // let Next block (it may also be ended before)
			if err := l.Close(); err != nil {
				t.Fatal(err)
			}
			select {
			case err := <-errc:
				if !isClosed(err) {
					t.Fatalf("blocked Next returned %v, want sink.ErrClosed", err)
				}
			case <-time.After(10 * time.Second):
				t.Fatal("Close did not end a blocked Next")
			}
			if err := l.Close(); err != nil {
				t.Fatalf("second Close: %v", err)
			}
			if _, err := l.Next(); !isClosed(err) {
				t.Fatalf("Next after Close returned %v, want sink.ErrClosed", err)
			}
			if i := l.Info(); !i.Closed || i.Producers != 0 {
				t.Errorf("Info after Close = %+v", i)
			}
		})
	}
}

// TestListenConfig: a config Listen cannot use is refused with an error
// matching sink.ErrInvalidConfig that names the field.
func TestListenConfig(t *testing.T) {
	cases := []struct {
		cfg   source.ListenConfig
		field string
	}{
		{source.ListenConfig{}, "Endpoint"},
		{source.ListenConfig{Endpoint: transport.Endpoint{Scheme: "wss", Addr: "127.0.0.1:0", Path: "/"}}, "Endpoint"},
		{source.ListenConfig{Endpoint: transport.Endpoint{Scheme: "unix", Addr: "rel.sock"}}, "Endpoint"},
		{source.ListenConfig{Endpoint: transport.Endpoint{Scheme: "tcp", Addr: "127.0.0.1:0"}, Queue: -1}, "Queue"},
		{source.ListenConfig{Endpoint: transport.Endpoint{Scheme: "tcp", Addr: "127.0.0.1:0"}, Validator: tlv.Validator{MaxSize: 10}}, "Validator.MaxSize"},
		{source.ListenConfig{Endpoint: transport.Endpoint{Scheme: "tcp", Addr: "127.0.0.1:0"}, Validator: tlv.Validator{Domain: 9}}, "Validator.Domain"},
		{source.ListenConfig{Endpoint: transport.Endpoint{Scheme: "tcp", Addr: "127.0.0.1:0"}, HandshakeTimeout: -1}, "HandshakeTimeout"},
	}
	for _, tc := range cases {
		_, err := source.Listen(tc.cfg)
		if !errors.Is(err, sink.ErrInvalidConfig) || !strings.Contains(fmt.Sprint(err), tc.field) {
			t.Errorf("Listen(%+v) = %v, want sink.ErrInvalidConfig naming %s", tc.cfg, err, tc.field)
		}
	}
	// An address in use is the bind error.
	l := listen(t, "tcp", source.ListenConfig{})
	_, err := source.Listen(source.ListenConfig{Endpoint: transport.Endpoint{Scheme: "tcp", Addr: l.Addr().String()}})
	var oe *net.OpError
	if !errors.As(err, &oe) {
		t.Errorf("Listen on a taken address = %v, want a *net.OpError", err)
	}
}

// TestListenUnixSocketFile: a socket file left by a process that died is
// replaced; a live Listener's is refused, and so is a file that is not a
// socket.
func TestListenUnixSocketFile(t *testing.T) {
	noLeaks(t)
	path := testnet.SocketPath(t)
	ep := transport.Endpoint{Scheme: "unix", Addr: path}
	// A stale socket: bound, then closed without unlinking.
	ln, err := net.ListenUnix("unix", &net.UnixAddr{Name: path, Net: "unix"})
	if err != nil {
		t.Fatal(err)
	}
	ln.SetUnlinkOnClose(false)
	_ = ln.Close()
	l, err := source.Listen(source.ListenConfig{Endpoint: ep})
	if err != nil {
		t.Fatalf("Listen over a stale socket file: %v", err)
	}
	defer l.Close()
	if _, err := source.Listen(source.ListenConfig{Endpoint: ep}); !errors.Is(err, syscall.EADDRINUSE) {
		t.Errorf("Listen over a live Listener's socket = %v, want EADDRINUSE", err)
	}
	regular := testnet.SocketPath(t)
	if err := os.WriteFile(regular, nil, 0o600); err != nil {
		t.Fatal(err)
	}
	if _, err := source.Listen(source.ListenConfig{Endpoint: transport.Endpoint{Scheme: "unix", Addr: regular}}); !errors.Is(err, syscall.EADDRINUSE) {
		t.Errorf("Listen over a regular file = %v, want EADDRINUSE", err)
	}
	if _, err := os.Stat(regular); err != nil {
		t.Errorf("the regular file was removed: %v", err)
	}
}
