package relay

import (
	"errors"
	"time"

	"github.com/msgsink/msgsink/tlv"
)

// ControlSource is the header source of the control frames a relay writes:
// the Disconnect before it drops a lagging consumer, and the Acks to an
// acked producer. It is the first relay service type (SPEC section 1,
// relays 80–99).
const ControlSource = 80

// errControlSource rejects a producer of a system-domain relay whose frame
// claims ControlSource: consumers would take it for the relay's own
// Disconnect or Ack (source.Source ends on a Disconnect from it).
var errControlSource = errors.New("relay: a producer's system-domain frame has source 80, the relay's own control source (its Acks and Disconnects): give the producer another source")

// lagNoticeTimeout bounds each of the last writes to a lagging consumer: the
// rest of a span a write through left half out, or of a frame the lag
// deadline cut; then the Disconnect frame. A consumer that
// still reads gets both within it and can say it was dropped for lagging;
// one that has stopped reading gets nothing, and costs the relay no more.
const lagNoticeTimeout = time.Second

// sayLagged writes, before the connection of a consumer that lagged past
// max_lag closes, the rest of any frame the lag deadline cut (see write) and
// a system-domain Disconnect frame (tlv.DisconnectLagged, the frames dropped
// for it), so that the consumer never sees a torn frame and learns why it was
// dropped. The cut frame, pending until now, counts as written when its rest
// went out and as discarded otherwise. It runs on the consumer's writer
// goroutine, after pump returned.
func (k *consumer) sayLagged() {
	k.mu.Lock()
	drops := k.drops
	k.mu.Unlock()
	out := k.torn
	b := tlv.NewBuilder(tlv.DomainSystem, ControlSource)
	b.AppendDisconnect(tlv.DisconnectLagged, drops)
	if m, err := b.Finish(); err == nil { // a fixed-size record: it cannot fail
		out = append(out, m.Bytes()...)
		m.Release()
	}
	_ = k.nc.SetWriteDeadline(time.Now().Add(lagNoticeTimeout))
	n, _ := k.nc.Write(out)
	if k.tornLen > 0 {
		c := &k.r.count
		if n >= len(k.torn) {
			c.bytesOut.Add(uint64(k.tornLen)) // bytes before frames, as in write
			c.framesOut.Add(1)
			k.written++
		} else {
			c.discards.Add(1)
		}
		k.pendBytes.Add(-int64(k.tornLen))
		k.pendFrames.Add(-1)
	}
	k.torn, k.tornLen = nil, 0
}
