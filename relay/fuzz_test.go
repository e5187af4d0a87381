package relay_test

import (
	"bytes"
	"io"
	"net"
	"testing"
	"time"

	"github.com/msgsink/msgsink/relay"
	"github.com/msgsink/msgsink/relay/relaytest"
	"github.com/msgsink/msgsink/tlv"
)

// intake is what the relay must make of one producer connection that sends
// data and hangs up: forward the whole valid frames up to the first bad one,
// then close the connection as rejected (a bad frame) or truncated (a frame
// cut short), or neither when data ends on a frame boundary.
type intake struct {
	frames              [][]byte
	rejected, truncated bool
}

// expect computes the intake independently of the relay's chunked reader,
// frame by frame with the relay's validator.
func expect(v tlv.Validator, data []byte) intake {
	var in intake
	for len(data) > 0 {
		if len(data) < tlv.HeaderSize {
			in.truncated = true
			return in
		}
		n, err := v.FrameSize(data)
		if err != nil {
			in.rejected = true
			return in
		}
		if n > len(data) {
			in.truncated = true
			return in
		}
		if _, err := v.Parse(data[:n]); err != nil {
			in.rejected = true
			return in
		}
		in.frames = append(in.frames, data[:n])
		data = data[n:]
	}
	return in
}

// FuzzIntake sends arbitrary bytes as a producer to a real relay over a
// Unix socket and checks, against an independent frame-by-frame reading,
// that exactly the valid prefix reaches a consumer whole and in order, and
// that the connection's end is counted under the right heading.
func FuzzIntake(f *testing.F) {
	b := tlv.NewBuilder(tlv.DomainMarketData, 9)
	one, two := frameOf(f, b, 64), frameOf(f, b, 300)
	f.Add(append(append([]byte(nil), one...), two...))
	f.Add(append(append([]byte(nil), one...), two[:100]...))                      // cut short
	f.Add(append(append([]byte(nil), one...), bytes.Repeat([]byte{0xA5}, 64)...)) // garbage after a frame
	f.Add(one[:20])
	bad := append([]byte(nil), one...)
	bad[tlv.HeaderSize] = 0xEE // an unknown TLV type
	f.Add(append(bad, one...))
	f.Add([]byte{})

	r := relaytest.Serve(f, relay.Config{})
	sub := subscribeRaw(f, r, 1)
	f.Cleanup(func() { _ = sub.Close() }) // the last one, after any resubscribe
	v := tlv.Validator{Domain: tlv.DomainMarketData}

	var history [][]byte // the inputs before this one, newest last: a failure may be an earlier input's doing
	// dirty is set while an input runs: an input that failed part-way may
	// have left its connection in the relay and its frames on the way to
	// the consumer. The next input (the fuzzer minimizing the failure, say)
	// starts from a clean slate instead, so that it fails for its own
	// reasons, while an input that passed leaves nothing, which the next
	// one checks.
	dirty := false
	f.Fuzz(func(t *testing.T, data []byte) {
		history = append(history, append([]byte(nil), data...))
		if len(history) > 8 {
			history = history[1:]
		}
		if dirty {
			sub = resubscribe(t, r, sub)
		}
		dirty = true
		if len(data) == 0 {
			return // a connection that sends nothing is neither producer nor consumer
		}
		if len(data) >= tlv.HeaderSize && tlv.Header(data[:tlv.HeaderSize]).Domain() == tlv.DomainSystem {
			t.Skip("a system-domain first frame may be a Subscribe, which makes a consumer")
		}
		want := expect(v, data)
		before := r.Stats()

		a := r.Addr()
		c, err := net.Dial(a.Network(), a.String())
		if err != nil {
			t.Fatal(err)
		}
		_, werr := c.Write(data)
		c.Close()
		if werr != nil && !want.rejected {
			t.Fatalf("write: %v", werr) // only a rejection may cut our write short
		}

		var after relay.Stats
		deadline := time.Now().Add(10 * time.Second)
		for after = r.Stats(); after.ProducersTotal == before.ProducersTotal || after.Producers != 0; after = r.Stats() {
			if time.Now().After(deadline) {
				t.Fatalf("the relay did not finish with the connection: %v", after)
			}
			time.Sleep(50 * time.Microsecond)
		}
		if got := after.FramesIn - before.FramesIn; got != uint64(len(want.frames)) {
			t.Fatalf("relay took %d frames, want %d (rejected %v, truncated %v)", got, len(want.frames), want.rejected, want.truncated)
		}
		rejected := after.Rejected.Total() - before.Rejected.Total()
		truncated := after.Truncated - before.Truncated
		if (rejected == 1) != want.rejected || (truncated == 1) != want.truncated || rejected+truncated > 1 {
			t.Fatalf("rejected %d, truncated %d; want rejected %v, truncated %v", rejected, truncated, want.rejected, want.truncated)
		}
		// Every frame the relay took leaves for the one consumer, and
		// nothing else: checked on the relay's own counters, so that a
		// surplus is caught with the input that caused it, not by a later
		// input that finds it in the socket.
		var wantBytes uint64
		for _, w := range want.frames {
			wantBytes += uint64(len(w))
		}
		for after.Pending != 0 || !after.Balanced() { // a snapshot may catch a writer between two counters
			if time.Now().After(deadline) {
				t.Fatalf("the relay did not write out its frames: %v", after)
			}
			time.Sleep(50 * time.Microsecond)
			after = r.Stats()
		}
		if out, bytesOut := after.FramesOut-before.FramesOut, after.BytesOut-before.BytesOut; out != uint64(len(want.frames)) || bytesOut != wantBytes {
			t.Fatalf("relay wrote %d frames, %d bytes to the consumer; want %d, %d (input %x)", out, bytesOut, len(want.frames), wantBytes, data)
		}
		// The relay wrote exactly wantBytes (its counters): read them as
		// they are, so that nothing of a later input is read here.
		got := make([]byte, wantBytes)
		_ = sub.SetReadDeadline(deadline)
		if _, err := io.ReadFull(sub, got); err != nil {
			t.Fatalf("reading the %d bytes the relay wrote: %v (inputs, oldest first: %x; relay before %v, after %v)", wantBytes, err, history, before, after)
		}
		for i, w := range want.frames {
			if !bytes.Equal(got[:len(w)], w) {
				t.Fatalf("frame %d differs:\n got %x\nwant %x", i, got[:len(w)], w)
			}
			got = got[len(w):]
		}
		dirty = false
	})
}

// resubscribe waits until the relay has finished with every producer and
// written everything queued, then replaces old with a new subscription, so
// that nothing a failed input left behind reaches the next one.
func resubscribe(t *testing.T, r *relay.Relay, old net.Conn) net.Conn {
	t.Helper()
	waitFor(t, "the relay to finish the last input", func() bool {
		s := r.Stats()
		return s.Producers == 0 && s.Pending == 0 && s.Balanced()
	})
	_ = old.Close()
	waitFor(t, "the old consumer to leave", func() bool { return r.Stats().Consumers == 0 })
	return subscribeRaw(t, r, 1)
}
