package sinktest_test

import (
	"bytes"
	"context"
	"strings"
	"testing"
	"time"

	"github.com/gobwas/ws"

	"github.com/msgsink/msgsink/sink/sinktest"
)

// wsFrame encodes one final client frame, masked unless told otherwise.
func wsFrame(op ws.OpCode, masked bool, p []byte) []byte {
	h := ws.Header{Fin: true, OpCode: op, Length: int64(len(p)), Masked: masked}
	q := bytes.Clone(p)
	if masked {
		h.Mask = ws.NewMask()
		ws.Cipher(q, h.Mask, 0)
	}
	var b bytes.Buffer
	_ = ws.WriteHeader(&b, h) // a bytes.Buffer takes every write
	b.Write(q)
	return b.Bytes()
}

// The WebSocket peer takes one masked, final, binary frame per message, and
// reports any other framing and a connection closed inside a frame.
func TestWebSocketPeer(t *testing.T) {
	wire, starts := stream(t, 3)
	m1, m2, m3 := wire[:starts[1]], wire[starts[1]:starts[2]], wire[starts[2]:]
	bin := func(p ...[]byte) []byte { return wsFrame(ws.OpBinary, true, bytes.Join(p, nil)) }
	join := func(p ...[]byte) []byte { return bytes.Join(p, nil) }
	for _, c := range []struct {
		name   string
		send   []byte
		frames int
		err    string // in Err; "" for none
	}{
		{"one_message_per_frame", join(bin(m1), bin(m2), bin(m3)), 3, ""},
		{"closed_between_frames", bin(m1), 1, ""},
		{"two_messages_in_a_frame", join(bin(m1), bin(m2, m3)), 3, "2 whole messages"},
		{"a_message_over_two_frames", join(bin(m1), bin(m2[:30]), bin(m2[30:])), 1, "0 whole messages and 30 bytes more"},
		{"unmasked", join(bin(m1), wsFrame(ws.OpBinary, false, m2)), 1, "unmasked"},
		{"text", join(bin(m1), wsFrame(ws.OpText, true, m2)), 1, "want one final binary frame"},
		{"closed_inside_a_payload", join(bin(m1), bin(m2)[:40]), 1, "into a WebSocket frame"},
		{"closed_inside_a_header", join(bin(m1), bin(m2)[:1]), 1, "inside a WebSocket frame header"},
	} {
		t.Run(c.name, func(t *testing.T) {
			p := sinktest.ListenWebSocket(t)
			ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
			defer cancel()
			conn, _, _, err := ws.Dialer{}.Dial(ctx, "ws://"+p.Endpoint().Addr+"/")
			if err != nil {
				t.Fatal(err)
			}
			if _, err := conn.Write(c.send); err != nil {
				t.Fatal(err)
			}
			conn.Close()
			// Wait for the verdict: the error, or else the frames.
			deadline := time.Now().Add(5 * time.Second)
			for p.Err() == nil && (c.err != "" || countFrames(p) < c.frames) {
				if time.Now().After(deadline) {
					t.Fatalf("no verdict: received %v, Err() = %v", p.Received(), p.Err())
				}
				time.Sleep(time.Millisecond)
			}
			err = p.Err()
			if (c.err == "") != (err == nil) || (err != nil && !strings.Contains(err.Error(), c.err)) {
				t.Fatalf("Err() = %v, want one saying %q", err, c.err)
			}
			if n := countFrames(p); n != c.frames {
				t.Fatalf("received %v, want %d frames", p.Received(), c.frames)
			}
		})
	}
}

func countFrames(p sinktest.Peer) int {
	n := 0
	for _, c := range p.Received() {
		n += len(c)
	}
	return n
}
