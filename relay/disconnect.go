package relay

import (
	"time"

	"github.com/msgsink/msgsink/tlv"
)

// NoticeSource is the header source of the control frames a relay writes
// to its consumers (the Disconnect before it drops a lagging one): the first
// relay service type (SPEC section 1, relays 80–99).
const NoticeSource = 80

// lagNoticeTimeout bounds the last write to a lagging consumer: the rest of
// a frame a failed write tore, then the Disconnect frame. A consumer that
// still reads gets both within it and can say it was dropped for lagging;
// one that has stopped reading gets nothing, and costs the relay no more.
const lagNoticeTimeout = time.Second

// sayLagged writes, before the connection of a consumer that lagged past
// max_lag closes, the rest of any frame a failed write left half sent and a
// system-domain Disconnect frame (tlv.DisconnectLagged, the frames dropped
// for it), so that the consumer never sees a torn frame and learns why it was
// dropped. It runs on the consumer's writer goroutine, after pump returned.
func (k *consumer) sayLagged() {
	k.mu.Lock()
	drops := k.drops
	k.mu.Unlock()
	b := tlv.NewBuilder(tlv.DomainSystem, NoticeSource)
	b.AppendDisconnect(tlv.DisconnectLagged, drops)
	m, err := b.Finish()
	if err != nil {
		return // cannot happen for a fixed-size record; nothing to say then
	}
	defer m.Release()
	_ = k.nc.SetWriteDeadline(time.Now().Add(lagNoticeTimeout))
	_, _ = k.nc.Write(append(k.torn, m.Bytes()...))
	k.torn = nil
}

// tornRest returns a copy of the unsent rest of the frame that the first
// sent bytes of the spans a then b end inside, or nil when they end between
// frames. Spans hold whole frames.
func tornRest(a, b []span, sent int) []byte {
	base := 0
	for _, ss := range [2][]span{a, b} {
		for i := range ss {
			p := ss[i].bytes()
			if sent >= base+len(p) {
				base += len(p)
				continue
			}
			for n := frameLen(p); base+n <= sent; n = frameLen(p) {
				base += n
				p = p[n:]
			}
			if base == sent {
				return nil
			}
			return append([]byte(nil), p[sent-base:frameLen(p)]...)
		}
	}
	return nil
}
