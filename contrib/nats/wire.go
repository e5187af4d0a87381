package natssink

import (
	"bufio"
	"bytes"
	"context"
	"crypto/tls"
	"encoding/json"
	"errors"
	"fmt"
	"net"
	"os"
	"slices"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"github.com/msgsink/msgsink/tlv"
	"github.com/msgsink/msgsink/transport"
)

// wireConn is a core NATS connection that speaks the client protocol
// itself: a batch of frames becomes one buffer of PUB commands and one
// write, and a PING after them asks the server to confirm it. nats.go's
// Publish, by contrast, takes a lock and copies into its buffer per
// message and leaves the write to a flusher goroutine: one more hop, and
// on a machine whose cores run the producer, the writer and the server,
// the cost that decides throughput. Publishing is all core NATS needs
// (INFO, CONNECT, PUB, PING/PONG), so the sink owns those few commands;
// JetStream (acks on a subscription, headers) and the Reader keep nats.go.
//
// A frame counts as written once published and as acked once the PONG to
// a PING sent after it has come: the server has then processed it. Until
// then it stays in the sink's ring (acked delivery over a
// transport.ConfirmingConn), and a connection that breaks first leaves it
// to be published again on the next one.
type wireConn struct {
	d   *dialer
	nc  net.Conn
	url string // the server connected, "nats://host:port"
	br  *bufio.Reader
	tls bool // nc is a *tls.Conn over the socket

	done     chan struct{}
	doneOnce sync.Once
	why      atomic.Pointer[error] // what ended it, before done closes
	read     sync.WaitGroup        // the reader goroutine

	// wmu serializes writes to nc: the writer's batches and PINGs, the
	// reader's PONG answers. The reader never waits for it: a writer
	// blocked on a server that stopped reading would hold the reader, and
	// with it the PONG deadline that ends such a connection. A PONG it
	// cannot write at once is owed, and whoever next holds wmu writes it.
	wmu      sync.Mutex
	pongOwed atomic.Bool

	// pmu guards pings, which the writer appends to as it writes a PING
	// and the reader pops on each PONG, onConfirm, and the read deadline
	// they set.
	pmu       sync.Mutex
	pings     []ping // the PINGs not yet answered, oldest first
	onConfirm func() // the sink's, told when confirmed grows

	// The writer's: its batch buffer, the frames published on this
	// connection, and how many of them the last PING covers.
	buf              []byte
	pubTotal, pinged uint64

	confirmed atomic.Uint64 // the frames the last PONG covered

	maxPayload atomic.Int64 // the server's, from its INFOs; 0 unknown
	closeOnce  sync.Once
}

// serverInfo is what the sink reads of the server's INFO.
type serverInfo struct {
	MaxPayload   int64    `json:"max_payload"`
	TLSRequired  bool     `json:"tls_required"`
	TLSAvailable bool     `json:"tls_available"`
	AuthRequired bool     `json:"auth_required"`
	ConnectURLs  []string `json:"connect_urls"`
}

// connectCmd is the CONNECT the sink sends: no +OK per command (verbose
// off), no message headers (core frames carry none), its name for the
// server's monitoring.
type connectCmd struct {
	Verbose  bool   `json:"verbose"`
	Pedantic bool   `json:"pedantic"`
	Name     string `json:"name"`
	Lang     string `json:"lang"`
	Version  string `json:"version"`
	Protocol int    `json:"protocol"`
	Echo     bool   `json:"echo"`
	// TLSRequired says the connection is TLS.
	TLSRequired bool `json:"tls_required"`
}

// Limits of the client protocol as the sink uses it.
const (
	// maxControlLine bounds a line from the server (an INFO of a large
	// cluster is the longest) before the sink gives the connection up.
	maxControlLine = 1 << 20
	// writeChunk is the size at which a batch's buffer is written and
	// reused within one WriteBatch, so that a batch of large frames is not
	// copied whole into one buffer.
	writeChunk = 256 << 10
	// confirmEvery is how many unconfirmed frames make the writer send a
	// PING while it still has new frames to publish; PINGs are pipelined,
	// so a round trip never stalls publishing. A writer with nothing new
	// sends one at once, so a quiet sink confirms its last frames without
	// delay.
	confirmEvery = 256
)

// The protocol's two commands without arguments that the sink sends.
var pingCmd, pongCmd = []byte("PING\r\n"), []byte("PONG\r\n")

// ErrServer wraps what a NATS server answered with -ERR (an authorization
// violation, a payload over its max_payload, ...): the server closes the
// connection after it, and the sink dials again. A publish its permissions
// refuse is the exception: the connection stays, the frame is lost at the
// server (the PONG after it still confirms it), and Info.LastError shows
// the refusal, since only a change to the server's permissions or the
// subject template can cure it.
var ErrServer = errors.New("natssink: the NATS server refused")

// dialWire connects to the first of the dialer's servers that answers, in
// order, and completes the handshake: INFO, CONNECT, then a PING whose
// PONG says the server took the CONNECT. ctx bounds it all; each server
// gets an equal share of what is left of it, so that one that never
// answers (a host gone without a reset) does not keep the sink from the
// others.
func (d *dialer) dialWire(ctx context.Context) (transport.Conn, error) {
	var errs []error
	servers := d.servers()
	for i, u := range servers {
		sctx, cancel := ctx, context.CancelFunc(func() {})
		if dl, ok := ctx.Deadline(); ok {
			sctx, cancel = context.WithTimeout(ctx, time.Until(dl)/time.Duration(len(servers)-i))
		}
		c, err := d.dialOne(sctx, u)
		cancel()
		if err == nil {
			return c, nil
		}
		errs = append(errs, err)
		if ctx.Err() != nil {
			break
		}
	}
	return nil, errors.Join(errs...)
}

func (d *dialer) dialOne(ctx context.Context, u string) (*wireConn, error) {
	addr := strings.TrimPrefix(u, "nats://")
	fail := func(op string, err error) (*wireConn, error) {
		return nil, &transport.OpError{Op: op, Endpoint: u, Err: err}
	}
	var nd net.Dialer
	nc, err := nd.DialContext(ctx, "tcp", addr)
	if err != nil {
		return fail("dial", err)
	}
	if tc, ok := nc.(*net.TCPConn); ok {
		_ = tc.SetNoDelay(true) // a batch is one write already
	}
	c := &wireConn{d: d, nc: nc, url: u, br: bufio.NewReaderSize(nc, 32<<10),
		done: make(chan struct{}), pings: make([]ping, 0, 16)}
	if err := c.handshake(ctx); err != nil {
		nc.Close()
		return fail("dial", err)
	}
	c.read.Add(1)
	go c.readLoop()
	return c, nil
}

// handshake reads the server's INFO, sends CONNECT and a PING, and waits
// for the PONG (or the -ERR that refuses the CONNECT).
func (c *wireConn) handshake(ctx context.Context) error {
	raw := c.nc // a TLS upgrade replaces c.nc; deadlines are the socket's
	if dl, ok := ctx.Deadline(); ok {
		_ = raw.SetDeadline(dl)
		defer raw.SetDeadline(time.Time{})
	}
	stop := context.AfterFunc(ctx, func() { _ = raw.SetDeadline(time.Unix(1, 0)) })
	defer stop()
	line, err := c.line()
	if err != nil {
		return err
	}
	info, ok := bytes.CutPrefix(line, []byte("INFO "))
	if !ok {
		return fmt.Errorf("natssink: %s is not a NATS server: its first line is %.40q", c.url, line)
	}
	si, err := c.takeInfo(info)
	if err != nil {
		return err
	}
	switch {
	case c.d.tls != nil && !si.TLSRequired && !si.TLSAvailable:
		return fmt.Errorf("natssink: %s does not offer TLS, and the sink's Config.TLS asks for it: "+
			"configure TLS on the server, or leave Config.TLS nil", c.url)
	case c.d.tls != nil || si.TLSRequired:
		if err := c.upgradeTLS(ctx); err != nil {
			return err
		}
	}
	if si.MaxPayload > 0 && si.MaxPayload < int64(c.d.maxFrame) {
		return c.d.payloadTooSmall(si.MaxPayload)
	}
	if si.AuthRequired {
		return fmt.Errorf("natssink: %s requires authentication, and natssink has no credentials setting: "+
			"give the server a no_auth_user with publish permission on the sink's subjects", c.url)
	}
	cmd, err := json.Marshal(connectCmd{Name: c.d.name, Lang: "go", Version: "msgsink", Protocol: 1, Echo: true, TLSRequired: c.tls})
	if err != nil {
		return err
	}
	if _, err := c.nc.Write(append(append(append([]byte("CONNECT "), cmd...), "\r\n"...), "PING\r\n"...)); err != nil {
		return err
	}
	for {
		line, err := c.line()
		if err != nil {
			if ctx.Err() != nil {
				return ctx.Err()
			}
			return err
		}
		switch {
		case bytes.Equal(line, []byte("PONG")):
			return nil
		case bytes.HasPrefix(line, []byte("-ERR")):
			return serverErr(line)
		case bytes.HasPrefix(line, []byte("INFO ")):
			if _, err := c.takeInfo(line[len("INFO "):]); err != nil {
				return err
			}
		case bytes.Equal(line, []byte("PING")):
			if _, err := c.nc.Write(pongCmd); err != nil {
				return err
			}
		}
	}
}

// upgradeTLS runs the TLS handshake on the connection, after the server's
// INFO as the protocol has it, with Config.TLS or, without one, the
// system's roots, verifying the endpoint's host.
func (c *wireConn) upgradeTLS(ctx context.Context) error {
	cfg := &tls.Config{MinVersion: tls.VersionTLS12}
	if c.d.tls != nil {
		cfg = c.d.tls.Clone()
	}
	if cfg.ServerName == "" {
		cfg.ServerName = c.d.tlsName(c.url)
	}
	tc := tls.Client(c.nc, cfg)
	if err := tc.HandshakeContext(ctx); err != nil {
		return fmt.Errorf("natssink: TLS with %s: %w", c.url, err)
	}
	c.nc, c.tls = tc, true
	c.br.Reset(tc)
	return nil
}

// tlsName is the name to verify server u's certificate against: its host,
// unless u is a server the cluster announced by IP address, whose
// certificate names the cluster as the configured endpoint does (nats.go
// does the same).
func (d *dialer) tlsName(u string) string {
	host := hostOf(u)
	if net.ParseIP(host) != nil && !slices.Contains(d.urls, u) {
		return hostOf(d.urls[0])
	}
	return host
}

// hostOf returns the host of "nats://host:port".
func hostOf(u string) string {
	host, _, _ := net.SplitHostPort(strings.TrimPrefix(u, "nats://"))
	return host
}

// takeInfo reads an INFO's JSON: the largest payload the server takes, and
// the servers its cluster announces, for the next dial.
func (c *wireConn) takeInfo(js []byte) (serverInfo, error) {
	var si serverInfo
	if err := json.Unmarshal(js, &si); err != nil {
		return si, fmt.Errorf("natssink: %s sent an INFO that is not JSON: %w", c.url, err)
	}
	if si.MaxPayload > 0 {
		c.maxPayload.Store(si.MaxPayload)
	}
	if len(si.ConnectURLs) > 0 {
		urls := make([]string, len(si.ConnectURLs))
		for i, u := range si.ConnectURLs {
			urls[i] = "nats://" + strings.TrimPrefix(u, "nats://")
		}
		c.d.mu.Lock()
		c.d.discovered = urls
		c.d.mu.Unlock()
	}
	return si, nil
}

// line returns the server's next line without its CR LF. The slice is
// the reader's buffer's, valid until the next call; a line longer than
// the buffer is joined in a new slice (an INFO of a large cluster).
func (c *wireConn) line() ([]byte, error) {
	l, err := c.br.ReadSlice('\n')
	if errors.Is(err, bufio.ErrBufferFull) {
		long := append([]byte(nil), l...)
		for errors.Is(err, bufio.ErrBufferFull) && len(long) <= maxControlLine {
			l, err = c.br.ReadSlice('\n')
			long = append(long, l...)
		}
		if len(long) > maxControlLine {
			return nil, fmt.Errorf("natssink: %s sent a line over %d bytes", c.url, maxControlLine)
		}
		l = long
	}
	if err != nil {
		return nil, err
	}
	return bytes.TrimRight(l, "\r\n"), nil
}

// isPermissionViolation reports whether a -ERR line is a publish the
// server's permissions refused; the server keeps the connection after it.
func isPermissionViolation(line []byte) bool {
	return bytes.Contains(bytes.ToLower(line), []byte("permissions violation"))
}

// serverErr is the error for a -ERR line.
func serverErr(line []byte) error {
	msg := strings.Trim(strings.TrimSpace(string(line[len("-ERR"):])), "'")
	return fmt.Errorf("%w: %s", ErrServer, msg)
}

// readLoop reads what the server sends on a connection in use: PONGs
// confirm, PINGs are answered, INFOs update the cluster's servers, and a
// -ERR or a read error ends the connection.
func (c *wireConn) readLoop() {
	defer c.read.Done()
	// A connection the reader ends is closed here too, so that a writer
	// blocked on a server that stopped reading gets its error.
	defer c.nc.Close()
	for {
		line, err := c.line()
		if err != nil {
			if errors.Is(err, os.ErrDeadlineExceeded) {
				err = fmt.Errorf("natssink: no PONG within the ack timeout (%v): the server or the path to it stalled: %w", c.d.ackTimeout, err)
			}
			c.end(&transport.OpError{Op: "read", Endpoint: c.url, Err: err})
			return
		}
		switch {
		case bytes.Equal(line, []byte("PONG")):
			c.pmu.Lock()
			var tell func()
			if len(c.pings) > 0 {
				c.confirmed.Store(c.pings[0].covers)
				c.pings = append(c.pings[:0], c.pings[1:]...)
				tell = c.onConfirm
				c.awaitPong()
			}
			c.pmu.Unlock()
			if tell != nil {
				tell()
			}
		case bytes.Equal(line, []byte("PING")):
			if err := c.answerPing(); err != nil {
				c.end(&transport.OpError{Op: "write", Endpoint: c.url, Err: err})
				return
			}
		case bytes.HasPrefix(line, []byte("-ERR")):
			err := serverErr(line)
			if isPermissionViolation(line) {
				// The server refused one publish and keeps the
				// connection, as it does for every subject the user
				// may not publish on: ending it would publish the same
				// frames into the same refusal forever.
				c.d.refused.Store(&err)
				continue
			}
			c.end(&transport.OpError{Op: "read", Endpoint: c.url, Err: err})
			return
		case bytes.HasPrefix(line, []byte("INFO ")):
			_, _ = c.takeInfo(line[len("INFO "):]) // an INFO the sink cannot read changes nothing it needs
		}
	}
}

// end records why the connection ended, once, and closes Done.
func (c *wireConn) end(err error) {
	c.doneOnce.Do(func() {
		c.why.Store(&err)
		close(c.done)
	})
}

// Done is closed when the connection is gone: the server closed it,
// refused something (-ERR), or Close.
func (c *wireConn) Done() <-chan struct{} { return c.done }

// Err returns nil while Done is open, then why the connection ended.
func (c *wireConn) Err() error {
	select {
	case <-c.done:
	default:
		return nil
	}
	return *c.why.Load()
}

// WriteBatch publishes every frame of a then b, in order, each a PUB of
// its own, in as few writes as their size allows, with a PING after them
// once confirmEvery frames are unconfirmed. It counts them written on
// this connection; the server confirms them later (Confirmed), and the
// sink keeps them until then (acked delivery).
func (c *wireConn) WriteBatch(a, b []*tlv.Message) (int, error) {
	return c.publish(a, b)
}

// SetOnConfirm implements transport.ConfirmingConn.
func (c *wireConn) SetOnConfirm(fn func()) {
	c.pmu.Lock()
	c.onConfirm = fn
	c.pmu.Unlock()
}

// Confirmed implements transport.ConfirmingConn: the frames, from the
// first written on this connection, that the server's PONGs cover.
func (c *wireConn) Confirmed() uint64 { return c.confirmed.Load() }

// Confirm implements transport.ConfirmingConn: a PING after the last frame
// published, unless one was sent already.
func (c *wireConn) Confirm() error {
	if c.pinged == c.pubTotal {
		return nil
	}
	c.buf = append(c.buf[:0], pingCmd...)
	return c.write(c.buf, true)
}

// publish writes PUB commands for the frames of a then b, a chunk at a
// time, with a PING after them once confirmEvery frames are unconfirmed,
// and returns how many it wrote whole.
func (c *wireConn) publish(a, b []*tlv.Message) (int, error) {
	total := len(a) + len(b)
	buf := c.buf[:0]
	done := 0 // frames whose write returned
	limit := c.maxPayload.Load()
	for i := 0; i < total; i++ {
		m := at(a, b, i)
		p := m.Bytes()
		if limit > 0 && int64(len(p)) > limit {
			return done, &transport.OpError{Op: "write", Endpoint: c.url,
				Err: fmt.Errorf("%w: a %d-byte frame is over the server's max_payload of %d bytes", ErrServer, len(p), limit)}
		}
		buf = append(buf, "PUB "...)
		buf = append(buf, c.d.subj.of(m.Header())...)
		buf = append(buf, ' ')
		buf = strconv.AppendInt(buf, int64(len(p)), 10)
		buf = append(buf, "\r\n"...)
		buf = append(buf, p...)
		buf = append(buf, "\r\n"...)
		if len(buf) >= writeChunk && i+1 < total {
			if err := c.write(buf, false); err != nil {
				return done, err
			}
			c.pubTotal += uint64(i + 1 - done)
			done = i + 1
			buf = buf[:0]
		}
	}
	c.pubTotal += uint64(total - done)
	ping := c.pubTotal-c.pinged >= confirmEvery
	if ping {
		buf = append(buf, pingCmd...)
	}
	c.buf = buf
	if err := c.write(buf, ping); err != nil {
		c.pubTotal -= uint64(total - done)
		return done, err
	}
	return total, nil
}

// write writes buf; pinged says it ends with a PING, which covers
// everything published. The PING is recorded before it is written, so
// that its PONG finds it.
func (c *wireConn) write(buf []byte, pinged bool) error {
	if pinged {
		c.pmu.Lock()
		c.pings = append(c.pings, ping{covers: c.pubTotal, sent: time.Now()})
		if len(c.pings) == 1 {
			c.awaitPong()
		}
		c.pmu.Unlock()
		c.pinged = c.pubTotal
	}
	c.wmu.Lock()
	_, err := c.nc.Write(buf)
	c.wmu.Unlock()
	if err == nil && c.pongOwed.Load() {
		err = c.payPong()
	}
	if err != nil {
		select {
		case <-c.done: // the reader ended it first (and closed the socket): its reason is the one
			return c.Err()
		default:
		}
		err = &transport.OpError{Op: "write", Endpoint: c.url, Err: err}
		c.end(err)
		return err
	}
	return nil
}

// answerPing answers a server's PING, on the reader goroutine: at once if
// no write is in progress, otherwise by leaving it owed to the writer, which
// pays it when its write returns. Either way the reader does not wait.
func (c *wireConn) answerPing() error {
	c.pongOwed.Store(true)
	return c.payPong()
}

// payPong writes an owed PONG if wmu is free; a holder of wmu looks at
// pongOwed after it lets go, so an owed PONG is never left behind.
func (c *wireConn) payPong() error {
	if !c.wmu.TryLock() {
		return nil
	}
	defer c.wmu.Unlock()
	if !c.pongOwed.Swap(false) {
		return nil
	}
	_, err := c.nc.Write(pongCmd)
	return err
}

// ping is a PING sent and not yet answered: the publish total it covers,
// and when it went.
type ping struct {
	covers uint64
	sent   time.Time
}

// awaitPong sets the read deadline by the oldest PING not yet answered:
// its PONG must come within the ack timeout, or the connection ends and
// the sink publishes what it did not confirm on a new one. Without PINGs
// outstanding there is none (an idle sink hears only the server's PINGs).
// c.pmu is held.
func (c *wireConn) awaitPong() {
	var dl time.Time
	if len(c.pings) > 0 {
		dl = c.pings[0].sent.Add(c.d.ackTimeout)
	}
	_ = c.nc.SetReadDeadline(dl)
}

// Shutdown closes the connection. Nothing is left to send: WriteBatch
// writes before it returns, the sink has waited for the server's
// confirmations before it shuts down (acked delivery), and what is still
// unconfirmed stays in its ring.
func (c *wireConn) Shutdown(context.Context) error { return c.Close() }

// Close closes the connection and waits for its reader goroutine.
// Idempotent.
func (c *wireConn) Close() error {
	c.closeOnce.Do(func() {
		c.end(&transport.OpError{Op: "read", Endpoint: c.url, Err: net.ErrClosed})
		_ = c.nc.Close()
		c.read.Wait()
	})
	return nil
}

var _ transport.ConfirmingConn = (*wireConn)(nil)
