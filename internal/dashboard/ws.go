package dashboard

import (
	"bytes"
	"io"
	"net"
	"net/http"
	"sync"
)

// serveFrames hands a producer's /ws connection to the dashboard's
// source.Listener, which does the WebSocket upgrade, validates and reads the
// frames (zero-copy), and tracks their sequences. The Listener binds a
// socket of its own, so the connection is spliced to it over loopback: the
// request as it came, then both directions byte for byte (io.Copy between
// two TCP connections is splice(2) on Linux: no copy through user space).
func (d *Dashboard) serveFrames(w http.ResponseWriter, r *http.Request) {
	d.mu.Lock()
	n, closed := len(d.proxies), d.closed
	d.mu.Unlock()
	if closed || n >= d.cfg.MaxProducers {
		http.Error(w, ErrTooMany.Error(), http.StatusServiceUnavailable)
		return
	}
	var req bytes.Buffer
	if err := r.Write(&req); err != nil {
		http.Error(w, err.Error(), http.StatusBadRequest)
		return
	}
	up, err := net.Dial("tcp", d.ws.Addr().String())
	if err != nil {
		http.Error(w, "dashboard: the /ws intake is not reachable: "+err.Error(), http.StatusServiceUnavailable)
		return
	}
	conn, rw, err := http.NewResponseController(w).Hijack()
	if err != nil {
		_ = up.Close()
		http.Error(w, err.Error(), http.StatusInternalServerError)
		return
	}
	// Bytes the client sent right behind its request sit in rw's buffer.
	if n := rw.Reader.Buffered(); n > 0 {
		early, _ := rw.Reader.Peek(n)
		req.Write(early)
	}
	p := &proxy{client: conn, up: up}
	d.mu.Lock()
	defer d.mu.Unlock()
	if d.closed {
		p.close()
		return
	}
	d.proxies[p] = struct{}{}
	d.wg.Go(func() {
		defer func() {
			p.close()
			d.mu.Lock()
			delete(d.proxies, p)
			d.mu.Unlock()
		}()
		if _, err := up.Write(req.Bytes()); err != nil {
			return
		}
		done := make(chan struct{})
		go func() {
			defer close(done)
			_, _ = io.Copy(conn, up)
			p.close() // the Listener closed: so does the producer's connection
		}()
		_, _ = io.Copy(up, conn)
		p.close() // the producer left: so does its connection to the Listener
		<-done
	})
}

// proxy is one producer's connection spliced to the Listener.
type proxy struct {
	client, up net.Conn
	once       sync.Once
}

// close closes both connections, ending both copies. It is idempotent.
func (p *proxy) close() {
	p.once.Do(func() {
		_ = p.client.Close()
		_ = p.up.Close()
	})
}
