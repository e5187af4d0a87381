package transport

import (
	"errors"
	"runtime"
	"strconv"
	"strings"
	"testing"
)

func TestParseEndpoint(t *testing.T) {
	long := "/" + strings.Repeat("d", MaxUnixPathLen-1)
	valid := []struct {
		in   string
		want Endpoint
		str  string // canonical form, when it differs from in
	}{
		{"unix:///tmp/relay.sock", Endpoint{"unix", "/tmp/relay.sock", ""}, ""},
		{"UNIX:///tmp/relay.sock", Endpoint{"unix", "/tmp/relay.sock", ""}, "unix:///tmp/relay.sock"},
		{"unix://" + long, Endpoint{"unix", long, ""}, ""},
		{"tcp://127.0.0.1:9000", Endpoint{"tcp", "127.0.0.1:9000", ""}, ""},
		{"tcp://localhost:1", Endpoint{"tcp", "localhost:1", ""}, ""},
		{"tcp://Relay-1.Example.COM:65535", Endpoint{"tcp", "relay-1.example.com:65535", ""}, "tcp://relay-1.example.com:65535"},
		{"tcp://relay_a.internal.:0009", Endpoint{"tcp", "relay_a.internal.:9", ""}, "tcp://relay_a.internal.:9"},
		{"tcp://[::1]:9000", Endpoint{"tcp", "[::1]:9000", ""}, ""},
		{"tcp://[0:0::1]:9000", Endpoint{"tcp", "[::1]:9000", ""}, "tcp://[::1]:9000"},
		{"tcp://[fe80::1%eth0]:9000", Endpoint{"tcp", "[fe80::1%eth0]:9000", ""}, ""},
		{"ws://example.com", Endpoint{"ws", "example.com:80", "/"}, "ws://example.com:80/"},
		{"wss://example.com", Endpoint{"wss", "example.com:443", "/"}, "wss://example.com:443/"},
		{"ws://example.com:8080/feed?token=a%20b&x=1", Endpoint{"ws", "example.com:8080", "/feed?token=a%20b&x=1"}, ""},
		{"wss://[::1]/feed", Endpoint{"wss", "[::1]:443", "/feed"}, "wss://[::1]:443/feed"},
		{"ws://10.0.0.1?x=1", Endpoint{"ws", "10.0.0.1:80", "/?x=1"}, "ws://10.0.0.1:80/?x=1"},
	}
	for _, tt := range valid {
		got, err := ParseEndpoint(tt.in)
		if err != nil {
			t.Errorf("ParseEndpoint(%q): %v", tt.in, err)
			continue
		}
		if got != tt.want {
			t.Errorf("ParseEndpoint(%q) = %+v, want %+v", tt.in, got, tt.want)
		}
		str := tt.str
		if str == "" {
			str = tt.in
		}
		if got.String() != str {
			t.Errorf("ParseEndpoint(%q).String() = %q, want %q", tt.in, got.String(), str)
		}
		if again, err := ParseEndpoint(got.String()); err != nil || again != got {
			t.Errorf("ParseEndpoint(%q) = %+v, %v; does not round-trip to %+v", got.String(), again, err, got)
		}
	}

	invalid := []struct {
		in     string
		reason string // a part of the error text
	}{
		{"", "empty endpoint: want unix:///abs/path.sock, tcp://host:port"},
		{"/tmp/relay.sock", "missing scheme: want unix:///abs/path.sock"},
		{"localhost:9000", "missing scheme"},
		{"udp://127.0.0.1:9000", `unknown scheme "udp": want unix, tcp, ws or wss`},
		{"http://example.com/", `unknown scheme "http"`},
		{"unix://", "missing socket path: write unix:///abs/path.sock"},
		{"unix://tmp/relay.sock", "socket path must be absolute: write unix:///abs/path.sock (three slashes)"},
		{"unix://" + long + "x", "socket path is " + strconv.Itoa(MaxUnixPathLen+1) + " bytes, longer than this system's limit of " +
			strconv.Itoa(MaxUnixPathLen) + ": use a shorter path"},
		{"unix:///tmp/relay.sock?mode=1", `unexpected query or fragment "?mode=1"`},
		{"unix:///tmp/a\x00b", "NUL byte"},
		{"tcp://", "missing host"},
		{"tcp://localhost", "missing port: write host:port"},
		{"tcp://localhost:", "missing port"},
		{"tcp://:9000", "missing host before the port: write e.g. 127.0.0.1:9000"},
		{"tcp://localhost:0", `invalid port "0": want a number from 1 to 65535`},
		{"tcp://localhost:65536", `invalid port "65536"`},
		{"tcp://localhost:http", `invalid port "http"`},
		{"tcp://localhost:+80", `invalid port "+80"`},
		{"tcp://local host:9000", `invalid host "local host": want an IP address or a host name`},
		{"tcp://-bad.example:9000", `invalid host "-bad.example"`},
		{"tcp://a..b:9000", `invalid host "a..b"`},
		{"tcp://[example.com]:9000", `invalid host "example.com"`},
		{"tcp://::1:9000", "an IPv6 address must be in brackets, e.g. [::1]:9000"},
		{"tcp://[::1:9000", "invalid host:port"},
		{"tcp://user:pw@localhost:9000", `unexpected userinfo "user:pw@": endpoints carry no credentials`},
		{"tcp://localhost:9000/feed", `unexpected path, query or fragment "/feed": a tcp endpoint is tcp://host:port and nothing more`},
		{"tcp://localhost:9000?x=1", `unexpected path, query or fragment "?x=1"`},
		{"ws://example.com/feed#top", `unexpected fragment "#top": WebSocket URIs must not have one`},
		{"ws://example.com:0/", `invalid port "0"`},
		{"wss://user@example.com/", `unexpected userinfo "user@"`},
		{"ws:///feed", "missing host"},
		{"ws://example.com/a b", `invalid character " " in the request path: percent-encode it`},
		{"ws://example.com/%zz", `invalid request path "/%zz": check its percent-escapes`},
	}
	for _, tt := range invalid {
		_, err := ParseEndpoint(tt.in)
		if err == nil {
			t.Errorf("ParseEndpoint(%q) succeeded, want an error containing %q", tt.in, tt.reason)
			continue
		}
		var ee *EndpointError
		if !errors.Is(err, ErrInvalidEndpoint) || !errors.As(err, &ee) || ee.Endpoint != tt.in {
			t.Errorf("ParseEndpoint(%q) error %#v is not an *EndpointError for it matching ErrInvalidEndpoint", tt.in, err)
		}
		if !strings.Contains(err.Error(), tt.reason) {
			t.Errorf("ParseEndpoint(%q) error:\n\t%v\nwant it to contain\n\t%s", tt.in, err, tt.reason)
		}
	}
}

func TestMaxUnixPathLen(t *testing.T) {
	// sun_path is 108 bytes on Linux; one goes to the terminating NUL.
	if runtime.GOOS == "linux" && MaxUnixPathLen != 107 {
		t.Fatalf("MaxUnixPathLen = %d on Linux, want 107", MaxUnixPathLen)
	}
}
