package transport

import (
	"net"
	"net/netip"
	"net/url"
	"strconv"
	"strings"

	"golang.org/x/sys/unix"
)

// MaxUnixPathLen is the longest socket path a unix endpoint may name: the size
// of sockaddr_un.sun_path on this system less its terminating NUL (107 on Linux,
// 103 on the BSDs and macOS).
const MaxUnixPathLen = len(unix.RawSockaddrUnix{}.Path) - 1

const validForms = "unix:///abs/path.sock, tcp://host:port, ws://host[:port]/path or wss://host[:port]/path"

// Endpoint is a parsed endpoint string. Sinks parse theirs once, when they are
// configured, so that a typo is reported at start-up and never on a reconnect.
//
// The zero Endpoint is not valid: Dial refuses it.
type Endpoint struct {
	Scheme string // "unix", "tcp", "ws" or "wss"
	// Addr is the socket path for unix, and host:port for tcp, ws and wss (ws
	// defaults to port 80 and wss to 443). Hosts are lower-cased and IP
	// addresses written in their canonical form; IPv6 addresses are bracketed.
	Addr string
	// Path is the request path with its query for ws and wss ("/" when the
	// endpoint has none), exactly as written; "" for unix and tcp.
	Path string
}

// ParseEndpoint parses unix:///abs/path.sock, tcp://host:port,
// ws://host[:port]/path[?query] or wss://host[:port]/path[?query]. The scheme is
// case-insensitive. Errors are *EndpointError, match ErrInvalidEndpoint, and say
// what to change.
func ParseEndpoint(s string) (Endpoint, error) {
	fail := func(reason string) (Endpoint, error) {
		return Endpoint{}, &EndpointError{Endpoint: s, Reason: reason}
	}
	if s == "" {
		return fail("empty endpoint: want " + validForms)
	}
	scheme, rest, ok := strings.Cut(s, "://")
	if !ok {
		return fail("missing scheme: want " + validForms)
	}
	switch scheme = strings.ToLower(scheme); scheme {
	case "unix":
		return parseUnix(rest, fail)
	case "tcp":
		if i := strings.IndexAny(rest, "/?#"); i >= 0 {
			return fail("unexpected path, query or fragment " + strconv.Quote(rest[i:]) +
				": a tcp endpoint is tcp://host:port and nothing more")
		}
		addr, reason := parseHostPort(rest, "")
		if reason != "" {
			return fail(reason)
		}
		return Endpoint{Scheme: "tcp", Addr: addr}, nil
	case "ws", "wss":
		authority, path := rest, ""
		if i := strings.IndexAny(rest, "/?#"); i >= 0 {
			authority, path = rest[:i], rest[i:]
		}
		if i := strings.IndexByte(path, '#'); i >= 0 {
			return fail("unexpected fragment " + strconv.Quote(path[i:]) +
				": WebSocket URIs must not have one (RFC 6455 section 3)")
		}
		switch {
		case path == "":
			path = "/"
		case path[0] == '?':
			path = "/" + path
		}
		if reason := checkRequestPath(path); reason != "" {
			return fail(reason)
		}
		defPort := "80"
		if scheme == "wss" {
			defPort = "443"
		}
		addr, reason := parseHostPort(authority, defPort)
		if reason != "" {
			return fail(reason)
		}
		return Endpoint{Scheme: scheme, Addr: addr, Path: path}, nil
	default:
		return fail("unknown scheme " + strconv.Quote(scheme) + ": want unix, tcp, ws or wss (" + validForms + ")")
	}
}

func parseUnix(path string, fail func(string) (Endpoint, error)) (Endpoint, error) {
	switch {
	case path == "":
		return fail("missing socket path: write unix:///abs/path.sock")
	case path[0] != '/':
		return fail("socket path must be absolute: write unix:///abs/path.sock (three slashes)")
	case strings.ContainsAny(path, "?#"):
		i := strings.IndexAny(path, "?#")
		return fail("unexpected query or fragment " + strconv.Quote(path[i:]) +
			": a unix endpoint is unix:///abs/path.sock and nothing more")
	case strings.IndexByte(path, 0) >= 0:
		return fail("socket path contains a NUL byte")
	case len(path) > MaxUnixPathLen:
		return fail("socket path is " + strconv.Itoa(len(path)) + " bytes, longer than this system's limit of " +
			strconv.Itoa(MaxUnixPathLen) + ": use a shorter path (e.g. under /run or /tmp)")
	}
	return Endpoint{Scheme: "unix", Addr: path}, nil
}

// parseHostPort checks an authority "host:port" (defPort == "" makes the port
// required) and returns it in canonical form, or a reason for refusing it.
func parseHostPort(s, defPort string) (addr, reason string) {
	if i := strings.LastIndexByte(s, '@'); i >= 0 {
		return "", "unexpected userinfo " + strconv.Quote(s[:i+1]) + ": endpoints carry no credentials"
	}
	if s == "" {
		return "", "missing host: write host:port, e.g. 127.0.0.1:9000 or localhost:9000"
	}
	host, port := s, defPort
	// A port is present when a colon follows the host: the last colon, after
	// the closing bracket of an IPv6 literal if there is one.
	if i := strings.LastIndexByte(s, ':'); i >= 0 && i > strings.LastIndexByte(s, ']') {
		var err error
		if host, port, err = net.SplitHostPort(s); err != nil {
			if strings.Count(s, ":") > 1 && !strings.HasPrefix(s, "[") {
				return "", "an IPv6 address must be in brackets, e.g. [::1]:9000"
			}
			return "", "invalid host:port " + strconv.Quote(s) + ": want host:port, e.g. 127.0.0.1:9000"
		}
	} else if strings.HasPrefix(s, "[") && strings.HasSuffix(s, "]") {
		host = s[1 : len(s)-1]
	}
	if port == "" {
		return "", "missing port: write host:port with a port from 1 to 65535"
	}
	p, ok := parsePort(port)
	if !ok {
		return "", "invalid port " + strconv.Quote(port) + ": want a number from 1 to 65535"
	}
	if host == "" {
		return "", "missing host before the port: write e.g. 127.0.0.1:" + port + " or localhost:" + port
	}
	if ip, err := netip.ParseAddr(host); err == nil {
		host = ip.String()
	} else if strings.HasPrefix(s, "[") || !validHostname(host) {
		return "", "invalid host " + strconv.Quote(host) + ": want an IP address or a host name"
	} else {
		host = strings.ToLower(host)
	}
	return net.JoinHostPort(host, strconv.Itoa(p)), ""
}

func parsePort(s string) (int, bool) {
	if s == "" || len(s) > 5 {
		return 0, false
	}
	p := 0
	for i := 0; i < len(s); i++ {
		if s[i] < '0' || s[i] > '9' {
			return 0, false
		}
		p = p*10 + int(s[i]-'0')
	}
	return p, p >= 1 && p <= 65535
}

// validHostname accepts DNS names (RFC 1123 labels, plus '_' which private
// zones use) of at most 253 bytes.
func validHostname(h string) bool {
	if len(h) > 253 {
		return false
	}
	h = strings.TrimSuffix(h, ".")
	for label := range strings.SplitSeq(h, ".") {
		if label == "" || len(label) > 63 || label[0] == '-' || label[len(label)-1] == '-' {
			return false
		}
		for i := 0; i < len(label); i++ {
			c := label[i]
			if !('a' <= c && c <= 'z' || 'A' <= c && c <= 'Z' || '0' <= c && c <= '9' || c == '-' || c == '_') {
				return false
			}
		}
	}
	return true
}

// checkRequestPath refuses what cannot go on an HTTP request line as is.
func checkRequestPath(p string) string {
	for i := 0; i < len(p); i++ {
		if c := p[i]; c <= ' ' || c >= 0x7f {
			return "invalid character " + strconv.Quote(p[i:i+1]) + " in the request path: percent-encode it"
		}
	}
	if _, err := url.ParseRequestURI(p); err != nil {
		return "invalid request path " + strconv.Quote(p) + ": check its percent-escapes"
	}
	return ""
}

// String returns the canonical form of e, which ParseEndpoint parses back to
// e: ws and wss always carry their port. The zero Endpoint gives "".
func (e Endpoint) String() string {
	if e.Scheme == "" {
		return ""
	}
	return e.Scheme + "://" + e.Addr + e.Path
}
