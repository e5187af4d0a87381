package config

import (
	"errors"
	"os"
	"path/filepath"
	"strings"
	"syscall"
	"testing"
)

// refused asserts that err is exactly one *Error matching ErrInvalidConfig,
// at line, whose message holds every one of want.
func refused(t *testing.T, err error, line int, want ...string) *Error {
	t.Helper()
	var e *Error
	if !errors.Is(err, ErrInvalidConfig) || !errors.As(err, &e) {
		t.Fatalf("err %v (%T): want a *Error matching ErrInvalidConfig", err, err)
	}
	if _, many := err.(Errors); many {
		t.Fatalf("want one problem, got:\n%v", err)
	}
	if e.Line != line {
		t.Errorf("line %d, want %d: %v", e.Line, line, e)
	}
	for _, w := range want {
		if !strings.Contains(e.Error(), w) {
			t.Errorf("message %q lacks %q", e.Error(), w)
		}
	}
	return e
}

// TestLoadRefusesWhatIsNotAFile: Load judges the file it opened before
// reading it, so a device, a named pipe or a directory is refused at once,
// and a file over MaxFileSize is refused without being read (SPEC section
// 10). Before, /dev/zero was read until memory ran out and a named pipe
// blocked Load for ever.
func TestLoadRefusesWhatIsNotAFile(t *testing.T) {
	dir := t.TempDir()
	fifo := filepath.Join(dir, "fifo.toml")
	if err := syscall.Mkfifo(fifo, 0o600); err != nil {
		t.Fatal(err)
	}
	big := filepath.Join(dir, "big.toml")
	// A valid file, padded with a comment to one byte over the limit.
	pad := MaxFileSize + 1 - len(okRelay) - 2
	if err := os.WriteFile(big, []byte(okRelay+"#"+strings.Repeat("x", pad)+"\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	atLimit := filepath.Join(dir, "limit.toml")
	if err := os.WriteFile(atLimit, []byte(okRelay+"#"+strings.Repeat("x", pad-1)+"\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	for _, c := range []struct {
		name, path string
		want       []string
	}{
		{"device", "/dev/zero", []string{"/dev/zero: this is a character device, not a regular file; give the path of a file"}},
		{"fifo", fifo, []string{fifo + ": this is a named pipe (FIFO), not a regular file"}},
		{"directory", dir, []string{dir + ": this is a directory, not a regular file"}},
		{"too large", big, []string{"this is 1048577 bytes, more than the 1048576 this file may have", "check the path"}},
	} {
		t.Run(c.name, func(t *testing.T) {
			_, err := Load(c.path)
			e := refused(t, err, 0, c.want...)
			if e.File != c.path {
				t.Errorf("File %q, want %q", e.File, c.path)
			}
		})
	}
	if _, err := Load(atLimit); err != nil {
		t.Fatalf("a file of exactly MaxFileSize bytes: %v", err)
	}
}

// TestReadRegularLimitsWhatIsRead: the limit holds for what is read, not
// only for the size the Stat gave: a file may grow in between (a log being
// written), or report no size at all, as the files of /proc do.
func TestReadRegularLimitsWhatIsRead(t *testing.T) {
	path := filepath.Join(t.TempDir(), "ten")
	if err := os.WriteFile(path, []byte("0123456789"), 0o600); err != nil {
		t.Fatal(err)
	}
	if data, err := readRegular(path, 10); err != nil || string(data) != "0123456789" {
		t.Fatalf("at the limit: %q, %v", data, err)
	}
	var fe *fileError
	if _, err := readRegular(path, 9); !errors.As(err, &fe) || fe.Error() != path+" is 10 bytes, more than the 9 this file may have" {
		t.Fatalf("over the limit by its size: %v", err)
	}
	const proc = "/proc/self/status" // a regular file of size 0, holding far more than 10 bytes
	if st, err := os.Stat(proc); err != nil || st.Size() != 0 {
		t.Skipf("%s: %v, not a file of size 0", proc, err)
	}
	if _, err := readRegular(proc, 10); !errors.As(err, &fe) || fe.Error() != proc+" is over the 10 bytes this file may have (it grew while it was read)" {
		t.Fatalf("over the limit by what was read: %v", err)
	}
}

// TestParseRefusesOversizeData: Parse holds to the same limit as Load.
func TestParseRefusesOversizeData(t *testing.T) {
	_, err := Parse("services.toml", []byte(okRelay+"#"+strings.Repeat("x", MaxFileSize)))
	refused(t, err, 0, "more than the 1048576 a services.toml may have")
}

// TestParseRefusesDeepNesting: nesting past MaxDepth is refused before the
// TOML decoder sees it, with the line where it goes too deep. The deep cases
// are the ones reported: 10,000 nested inline tables (80 KB) took the
// decoder minutes and gigabytes, a dotted key of 16,000 parts (32 KB) 27 s.
func TestParseRefusesDeepNesting(t *testing.T) {
	deep := func(n int) string { return strings.Repeat("{a = ", n) + "1" + strings.Repeat("}", n) }
	for _, c := range []struct {
		name string
		src  string
		line int
	}{
		{"inline tables", okRelay + "[services.r.metadata]\nx = " + deep(10000) + "\n", 5},
		{"arrays", okRelay + "x = [\n" + strings.Repeat("[", 16) + strings.Repeat("]", 17) + "\n", 5},
		{"dotted key", okRelay + "[services.r.metadata]\n" + strings.Repeat("a.", 16000) + "a = 1\n", 5},
		{"header", okRelay + "[" + strings.Repeat("a.", 16000) + "a]\n", 4},
		{"dotted keys in an inline table", okRelay + "m = {" + strings.Repeat("a.", 14) + "a = 1}\n", 4},
	} {
		t.Run(c.name, func(t *testing.T) {
			_, err := Parse("services.toml", []byte(c.src))
			refused(t, err, c.line, "nest deeper than 16 levels here", "flatten it")
		})
	}
	// 16 levels pass the scan: the decoder then judges the file (here, x
	// is an unknown key). [services.r] is two of them.
	_, err := Parse("services.toml", []byte(okRelay+"x = "+deep(14)+"\n"))
	refused(t, err, 4, `unknown key "x"`)
}

// TestTooDeep: brackets and dots in strings and comments do not count,
// whatever the kind of string, nor dots in values; the line is where the
// limit is crossed.
func TestTooDeep(t *testing.T) {
	open17 := strings.Repeat("[", 17)
	for _, c := range []struct {
		name string
		src  string
		want int
	}{
		{"flat", "[services.a]\ntargets = [\"b\", \"c\"]\n", 0},
		{"headers", "[[a]]\n[b.c.d]\n", 0},
		{"17 deep", "a = 1\nb = " + open17 + "\n", 2},
		{"17 across lines", "b = [\n" + strings.Repeat("[\n", 16), 17},
		{"under a header", "[" + strings.Repeat("a.", 9) + "a]\nb = " + strings.Repeat("[", 7) + "\n", 2},
		{"under an array of tables", "[[" + strings.Repeat("a.", 8) + "a]]\nb = " + strings.Repeat("{c = ", 7) + "\n", 2},
		{"16 under a header", "[" + strings.Repeat("a.", 9) + "a]\nb = " + strings.Repeat("[", 6) + "\n", 0},
		{"header of 17", "[" + strings.Repeat("a.", 16) + "a]\n", 1},
		{"dotted key of 17 tables", strings.Repeat("a.", 17) + "a = 1\n", 1},
		{"dotted key of 16 tables", strings.Repeat("a.", 16) + "a = 1\n", 0},
		{"dots in values", "a = [" + strings.Repeat("1.5, ", 40) + "]\nb = 1979-05-27T07:32:00.999Z\n", 0},
		{"quoted dots", `"a.b.c.d.e.f.g.h.i.j.k.l.m.n.o.p.q" = 1` + "\n", 0},
		{"comment", "# " + open17 + "\na = 1\n", 0},
		{"basic string", `a = "` + open17 + `"`, 0},
		{"escaped quote", `a = "\"` + open17 + `"`, 0},
		{"literal string", `a = '\` + open17 + `'`, 0},
		{"multi-line basic", "a = \"\"\"\n\\\"\"\"" + open17 + "\n\"\"\"\nb = 1\n", 0},
		{"multi-line literal", "a = '''\n" + open17 + "\n'''''\nb = " + open17, 4},
		{"unterminated string ends at its line", "a = \"x\nb = " + open17, 2},
		{"extra quotes close a multi-line string", "a = \"\"\"x\"\"\"\"\"\nb = " + open17, 2},
	} {
		t.Run(c.name, func(t *testing.T) {
			if got := tooDeep([]byte(c.src)); got != c.want {
				t.Fatalf("tooDeep = %d, want %d", got, c.want)
			}
		})
	}
}

// TestFanoutReachesAServiceTwice: a fanout that reaches one service through
// two of its targets would deliver every message to it twice; it is refused
// with both paths and the line of the fanout's targets. Reaching a service
// twice through a round robin or a failover is not: each message takes one
// path there.
func TestFanoutReachesAServiceTwice(t *testing.T) {
	const leaves = okRelay + `
[services.s]
type = "relay"
endpoint = "unix:///tmp/s.sock"
`
	rr := func(name string, targets string) string {
		return "\n[services." + name + "]\ntype = \"composite\"\npattern = \"round_robin\"\ntargets = [" + targets + "]\n"
	}
	fan := func(name string, targets string) string {
		return "\n[services." + name + "]\ntype = \"composite\"\npattern = \"fanout\"\ntargets = [" + targets + "]\n"
	}
	for _, c := range []struct {
		name    string
		src     string
		service string
		line    int
		want    []string
	}{
		{"through two round robins", leaves + rr("g1", `"r", "s"`) + rr("g2", `"s"`) + fan("all", `"g1", "g2"`), "all", 22,
			[]string{`fanout reaches "s" twice: all -> g1 -> s and all -> g2 -> s`, `remove "s" from one of these paths`}},
		{"directly and below", leaves + rr("g", `"r", "s"`) + fan("all", `"r", "g"`), "all", 17,
			[]string{`fanout reaches "r" twice: all -> r and all -> g -> r`}},
		{"a shared composite", leaves + rr("g", `"r", "s"`) + fan("m1", `"g"`) + fan("m2", `"g"`) + fan("all", `"m1", "m2"`), "all", 27,
			[]string{`fanout reaches "g" twice: all -> m1 -> g and all -> m2 -> g`, `(2 more services under "m2" are reached twice too)`}},
	} {
		t.Run(c.name, func(t *testing.T) {
			_, err := Parse("services.toml", []byte(c.src))
			if e := refused(t, err, c.line, c.want...); e.Service != c.service || e.Key != "targets" {
				t.Errorf("service %q key %q, want %q targets", e.Service, e.Key, c.service)
			}
		})
	}
	for _, src := range []string{
		leaves + rr("g1", `"r", "s"`) + rr("g2", `"s", "r"`) + rr("any", `"g1", "g2"`),
		leaves + fan("f1", `"r", "s"`) + fan("f2", `"s"`) + rr("either", `"f1", "f2"`),
	} {
		if _, err := Parse("services.toml", []byte(src)); err != nil {
			t.Errorf("refused:\n%v\n%s", err, src)
		}
	}
}

// TestServiceNames: a name must be [A-Za-z0-9_.-]+.
func TestServiceNames(t *testing.T) {
	svc := func(header string) string {
		return header + "\ntype = \"relay\"\nendpoint = \"unix:///tmp/r.sock\"\n"
	}
	for _, c := range []struct {
		header, service, want string
	}{
		{`[services.""]`, "", `service name "" is empty`},
		{`[services."md feed"]`, "md feed", `service name "md feed" has characters other than letters, digits, '_', '.' and '-'`},
		{`[services."md/feed"]`, "md/feed", `service name "md/feed" has characters`},
		{`[services."marché"]`, "marché", `"marché" has characters`},
	} {
		_, err := Parse("services.toml", []byte(okRelay+svc(c.header)))
		if e := refused(t, err, 4, c.want, "rename it with letters, digits"); e.Service != c.service {
			t.Errorf("%s: service %q, want %q", c.header, e.Service, c.service)
		}
	}
	f, err := Parse("services.toml", []byte(svc(`[services."md.v2"]`)+svc("[services.A-b_9]")))
	if err != nil || f.Services["md.v2"].Name != "md.v2" || f.Services["A-b_9"].Name != "A-b_9" {
		t.Fatalf("valid names refused: %v", err)
	}
}

// TestConnectTimeoutFloor: connect_timeout under 1 ms is refused, with the
// line and what to write instead.
func TestConnectTimeoutFloor(t *testing.T) {
	_, err := Parse("services.toml", []byte(okRelay+"connect_timeout = \"1ns\"\n"))
	refused(t, err, 4, `connect_timeout "1ns" is shorter than 1ms`, `write connect_timeout = "1ms" or longer (the default is "2s")`)
	_, err = Parse("services.toml", []byte("[defaults]\nconnect_timeout = \"999us\"\n"+okRelay))
	if e := refused(t, err, 2, "shorter than 1ms"); e.Key != "defaults.connect_timeout" {
		t.Errorf("key %q", e.Key)
	}
	f, err := Parse("services.toml", []byte(okRelay+"connect_timeout = \"1ms\"\n"))
	if err != nil || f.Services["r"].Sink.ConnectTimeout.String() != "1ms" {
		t.Fatalf("1ms refused: %v", err)
	}
}
