package relay

import (
	"bytes"
	"testing"

	"github.com/msgsink/msgsink/internal/inbound"
	"github.com/msgsink/msgsink/tlv"
)

// wholeFrames counts the frames a write sent whole, across spans, and finds
// the frame it stopped inside, whose unsent rest sayLagged sends; nothing
// when the write stopped between frames.
func TestWholeFrames(t *testing.T) {
	b := tlv.NewBuilder(tlv.DomainMarketData, 1)
	var frames [][]byte
	var all []byte
	for _, n := range []int{10, 100, 40, 7} {
		b.Append(5, make([]byte, n))
		m, err := b.Finish()
		if err != nil {
			t.Fatal(err)
		}
		frames = append(frames, append([]byte(nil), m.Bytes()...))
		all = append(all, m.Bytes()...)
		m.Release()
	}
	// Two spans: frames 0-1 and 2-3, in two chunks.
	cut := len(frames[0]) + len(frames[1])
	c1, c2 := &inbound.Chunk{Buf: all[:cut]}, &inbound.Chunk{Buf: all[cut:]}
	a := []span{{c: c1, off: 0, end: int32(cut), frames: 2}}
	bb := []span{{c: c2, off: 0, end: int32(len(all) - cut), frames: 2}}
	var starts []int // where each frame starts in all
	for i, off := 0, 0; i < len(frames); i++ {
		starts = append(starts, off)
		off += len(frames[i])
	}
	for sent := 0; sent <= len(all); sent++ {
		gotFrames, gotBytes, torn := wholeFrames(a, bb, sent)
		var got []byte
		if torn != nil {
			got = torn[sent-gotBytes:]
		}
		var want []byte
		wantFrames, wantBytes, wantN := 0, 0, 0
		for i, st := range starts {
			end := st + len(frames[i])
			if end <= sent {
				wantFrames, wantBytes = wantFrames+1, end
			}
			if sent > st && sent < end {
				want, wantN = all[sent:end], len(frames[i])
			}
		}
		if gotFrames != wantFrames || gotBytes != wantBytes {
			t.Fatalf("sent %d: %d frames whole in %d bytes, want %d in %d", sent, gotFrames, gotBytes, wantFrames, wantBytes)
		}
		if !bytes.Equal(got, want) || len(torn) != wantN {
			t.Fatalf("sent %d: rest %d bytes of a %d-byte frame, want %d of %d", sent, len(got), len(torn), len(want), wantN)
		}
	}
}
