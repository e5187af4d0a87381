package dashboard

import (
	"encoding/json"
	"io"
	"net"
	"net/http"
	"sync"

	"github.com/gobwas/ws"
	"github.com/gobwas/ws/wsutil"
)

// viewer is one browser on /live. The ticker offers it each update; its
// writer goroutine sends the latest one it holds, so a slow browser skips
// updates and never slows the ticker or other browsers.
type viewer struct {
	conn   net.Conn
	wmu    sync.Mutex  // one writer at a time: updates, and replies to pings and Close
	latest chan []byte // capacity 1: the update not yet sent
	gone   chan struct{}
	once   sync.Once
}

// offer replaces the update v has not sent yet, if any, by msg. Only the
// ticker calls it, so the slot it empties stays free for msg.
func (v *viewer) offer(msg []byte) {
	select {
	case <-v.latest:
	default:
	}
	v.latest <- msg
}

func (v *viewer) close() {
	v.once.Do(func() {
		close(v.gone)
		_ = v.conn.Close()
	})
}

// Write makes the replies of wsutil's control-frame handler take turns with
// the updates.
func (v *viewer) Write(p []byte) (int, error) {
	v.wmu.Lock()
	defer v.wmu.Unlock()
	return v.conn.Write(p)
}

func (v *viewer) send(msg []byte) error {
	v.wmu.Lock()
	defer v.wmu.Unlock()
	return wsutil.WriteServerText(v.conn, msg)
}

func (d *Dashboard) serveLive(w http.ResponseWriter, r *http.Request) {
	d.mu.Lock()
	n, closed := len(d.viewers), d.closed
	d.mu.Unlock()
	if closed || n >= d.cfg.MaxViewers {
		http.Error(w, "dashboard: too many browsers connected, or closing", http.StatusServiceUnavailable)
		return
	}
	conn, _, _, err := ws.UpgradeHTTP(r, w)
	if err != nil {
		return // UpgradeHTTP answered the request with the reason
	}
	v := &viewer{conn: conn, latest: make(chan []byte, 1), gone: make(chan struct{})}
	d.mu.Lock()
	defer d.mu.Unlock()
	if d.closed {
		_ = conn.Close()
		return
	}
	d.viewers[v] = struct{}{}
	history, err := json.Marshal(struct {
		Type   string  `json:"type"`
		Points []point `json:"points"`
	}{"history", d.history})
	if err != nil {
		panic(err) // plain structs of numbers and strings always marshal
	}
	d.wg.Go(func() { d.writeLive(v, history) })
	d.wg.Go(func() { d.readLive(v) })
}

// writeLive sends the history, then each update as it comes.
func (d *Dashboard) writeLive(v *viewer, history []byte) {
	defer v.close()
	if v.send(history) != nil {
		return
	}
	for {
		select {
		case <-v.gone:
			return
		case msg := <-v.latest:
			if v.send(msg) != nil {
				return
			}
		}
	}
}

// readLive answers pings and Close, and notices when the browser leaves:
// a browser sends nothing else.
func (d *Dashboard) readLive(v *viewer) {
	rw := struct {
		io.Reader
		io.Writer
	}{v.conn, v}
	for {
		if _, _, err := wsutil.ReadClientData(rw); err != nil {
			break
		}
	}
	v.close()
	d.mu.Lock()
	delete(d.viewers, v)
	d.mu.Unlock()
}
