package dashboard

import (
	"context"
	"flag"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/chromedp/chromedp"

	"github.com/msgsink/msgsink/cmd/msgsink/internal/decimal"
)

var screenshotDir = flag.String("dashboard.screenshots", "",
	"where TestBrowser saves its screenshots (default: $TMPDIR, or the system's temp dir)")

// chromium finds a Chromium to drive: Debian's chromium package, or another
// build on PATH.
func chromium() string {
	for _, name := range []string{"chromium", "chromium-browser", "google-chrome", "google-chrome-stable"} {
		if p, err := exec.LookPath(name); err == nil {
			return p
		}
	}
	return ""
}

// TestBrowser opens the page in headless Chromium while a WebSocket sink
// feeds the dashboard at a known rate, and reads what the page shows: the
// rate within 10%, the board's rows for the instruments sent, the gap
// injected, and the stale state once the feed stops, then LIVE again when
// it resumes. It saves msgsink-dashboard-live.png and
// msgsink-dashboard-stale.png in $TMPDIR (or -dashboard.screenshots DIR)
// and logs their paths (go test -v -run Browser ./internal/dashboard).
func TestBrowser(t *testing.T) {
	exe := chromium()
	if exe == "" {
		t.Skip("no chromium on PATH: install Debian's chromium package (apt-get install chromium) to run the browser test")
	}
	const (
		rate  = 20_000 // msgs/s
		stale = 1500 * time.Millisecond
	)
	_, addr := serve(t, Config{StaleAfter: stale})

	opts := append(chromedp.DefaultExecAllocatorOptions[:],
		chromedp.ExecPath(exe),
		chromedp.UserDataDir(t.TempDir()),
		chromedp.NoSandbox, // root in CI containers
		chromedp.DisableGPU,
		chromedp.Flag("disable-background-networking", true),
		chromedp.Flag("disable-component-update", true),
		chromedp.Flag("disable-sync", true),
		chromedp.Flag("disable-quic", true),
		chromedp.Flag("no-first-run", true),
		chromedp.WindowSize(1400, 1000),
	)
	actx, cancelAlloc := chromedp.NewExecAllocator(context.Background(), opts...)
	defer cancelAlloc()
	// The browser lives as long as the context of the first Run: no
	// timeout on it; every wait below has its own deadline.
	ctx, cancelBrowser := chromedp.NewContext(actx)
	defer cancelBrowser()
	if err := chromedp.Do(ctx, chromedp.Navigate("http://"+addr+"/")); err != nil {
		t.Fatalf("opening the page in %s: %v", exe, err)
	}
	waitText(t, ctx, "#state", "waiting for data")

	// Feed at the known rate, paced against the clock, with a gap of 7
	// sequences after the first second.
	s := wsSink(t, addr)
	f := newFeeder(4)
	stop := make(chan struct{})
	fed := make(chan error, 1)
	go func() {
		start := time.Now()
		sent := 0
		gapped := false
		for {
			select {
			case <-stop:
				fed <- nil
				return
			case <-time.After(time.Millisecond):
			}
			if !gapped && time.Since(start) > time.Second {
				f.b.SetSequence(f.b.Sequence() + 7)
				gapped = true
			}
			due := int(time.Since(start).Seconds() * rate)
			for ; sent < due; sent++ {
				if err := s.SendWait(ctx, f.next()); err != nil {
					fed <- err
					return
				}
			}
		}
	}()
	stopped := false
	stopFeed := func() {
		if !stopped {
			stopped = true
			close(stop)
			if err := <-fed; err != nil {
				t.Fatal(err)
			}
		}
	}
	defer stopFeed()

	// The headline rate: within 10% of the rate fed, once the page has a
	// full second of it.
	var shown string
	deadline := time.Now().Add(30 * time.Second)
	for {
		shown = text(t, ctx, "#rate")
		if r, ok := parseRate(shown); ok && r >= 0.9*rate && r <= 1.1*rate {
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("the page shows %q; want %d msgs/s within 10%%", shown, rate)
		}
		time.Sleep(100 * time.Millisecond)
	}
	t.Logf("the page shows %q for a feed of %d msgs/s", shown, rate)
	waitText(t, ctx, "#state", "LIVE")
	// The gap: in the headline's total, and in source 4's row (source,
	// gaps and state cells).
	waitEval(t, ctx, `document.querySelector("#gaps").innerText`, "7")
	waitEval(t, ctx, sourceRows, "4|7|live")
	board := waitText(t, ctx, "#board tbody", "105")
	// Each row: instrument, messages, last price, size, side, bid, ask, age.
	rows := map[string][]string{}
	for _, line := range strings.Split(strings.TrimSpace(board), "\n") {
		cells := strings.Split(line, "\t")
		rows[cells[0]] = cells
	}
	for id := uint64(101); id <= 105; id++ {
		cells := rows[strconv.FormatUint(id, 10)]
		if len(cells) < 7 || cells[2] != decimal.String(price(id), 2) || cells[3] != "0.25" ||
			!strings.HasPrefix(cells[5], decimal.String(price(id)-1e8, 2)+" ") || !strings.HasPrefix(cells[6], decimal.String(price(id)+1e8, 2)+" ") {
			t.Errorf("instrument %d's row %q: want last %s × 0.25, bid and ask one unit around it; board:\n%s",
				id, cells, decimal.String(price(id), 2), board)
		}
	}
	// The rate chart has a series per domain and per source.
	for _, series := range []string{"total", "market_data", "source 4"} {
		waitText(t, ctx, "#rates", series)
	}
	// Everything the page loaded came from the dashboard itself.
	origin := "http://" + addr + "/"
	loaded := eval(t, ctx, `[location.href, ...performance.getEntriesByType("resource").map(e => e.name)].join("\n")`)
	for _, u := range strings.Split(loaded, "\n") {
		if !strings.HasPrefix(u, origin) && !strings.HasPrefix(u, "ws://"+addr+"/") {
			t.Errorf("the page loaded %s, from outside the dashboard (%s)", u, origin)
		}
	}
	if !strings.Contains(loaded, "/static/uPlot.iife.min.js") {
		t.Errorf("the page's resources %q lack the vendored uPlot", loaded)
	}
	live := screenshot(t, ctx, "msgsink-dashboard-live.png")

	stopFeed()
	state := waitText(t, ctx, "#state", "STALE")
	if cls := attr(t, ctx, "#state", "class"); cls != "stale" {
		t.Errorf("stale banner %q has class %q, want stale", state, cls)
	}
	waitEval(t, ctx, sourceRows, "4|7|stale")
	stalePNG := screenshot(t, ctx, "msgsink-dashboard-stale.png")
	t.Logf("screenshots: %s (live: rate, charts, board, gaps) and %s (the feed stopped: stale)", live, stalePNG)

	// The feed resumes: live again.
	f.send(t, s, 10)
	waitText(t, ctx, "#state", "LIVE")
	waitEval(t, ctx, sourceRows, "4|7|live")
}

// sourceRows is the sources table as "source|gaps|state" per row, ", "
// between rows.
const sourceRows = `[...document.querySelectorAll("#sources tbody tr")].map(r => [0, 3, 5].map(i => r.cells[i].innerText).join("|")).join(", ")`

// waitEval polls a JavaScript expression until it gives want.
func waitEval(t *testing.T, ctx context.Context, js, want string) {
	t.Helper()
	deadline := time.Now().Add(30 * time.Second)
	for {
		got := eval(t, ctx, js)
		if got == want {
			return
		}
		if time.Now().After(deadline) {
			t.Fatalf("%s gives %q; want %q", js, got, want)
		}
		time.Sleep(100 * time.Millisecond)
	}
}

// parseRate reads the headline: "20.1k msgs/s" is 20100.
func parseRate(s string) (float64, bool) {
	s, ok := strings.CutSuffix(strings.TrimSpace(s), " msgs/s")
	if !ok {
		return 0, false
	}
	mult := 1.0
	switch {
	case strings.HasSuffix(s, "k"):
		mult, s = 1e3, strings.TrimSuffix(s, "k")
	case strings.HasSuffix(s, "M"):
		mult, s = 1e6, strings.TrimSuffix(s, "M")
	}
	v, err := strconv.ParseFloat(s, 64)
	return v * mult, err == nil
}

// text returns what the element shows (its innerText).
func text(t *testing.T, ctx context.Context, sel string) string {
	t.Helper()
	return eval(t, ctx, fmt.Sprintf("document.querySelector(%q).innerText", sel))
}

// attr returns an attribute of the element.
func attr(t *testing.T, ctx context.Context, sel, name string) string {
	t.Helper()
	return eval(t, ctx, fmt.Sprintf("document.querySelector(%q).getAttribute(%q)", sel, name))
}

func eval(t *testing.T, ctx context.Context, js string) string {
	t.Helper()
	s, err := chromedp.Run(ctx, chromedp.Evaluate[string](js))
	if err != nil {
		t.Fatalf("%s: %v", js, err)
	}
	return s
}

// waitText polls the element's text until it contains want (the page
// redraws ten times a second) and returns it.
func waitText(t *testing.T, ctx context.Context, sel, want string) string {
	t.Helper()
	deadline := time.Now().Add(30 * time.Second)
	for {
		s := text(t, ctx, sel)
		if strings.Contains(s, want) {
			return s
		}
		if time.Now().After(deadline) {
			t.Fatalf("%s shows %q; want it to contain %q", sel, s, want)
		}
		time.Sleep(100 * time.Millisecond)
	}
}

func screenshot(t *testing.T, ctx context.Context, name string) string {
	t.Helper()
	png, err := chromedp.Run(ctx, chromedp.FullScreenshot(100)) // 100: PNG, not JPEG
	if err != nil {
		t.Fatalf("screenshot: %v", err)
	}
	dir := *screenshotDir
	if dir == "" {
		dir = os.TempDir() // $TMPDIR when set
	}
	path := filepath.Join(dir, name)
	if err := os.WriteFile(path, png, 0o644); err != nil {
		t.Fatal(err)
	}
	return path
}
