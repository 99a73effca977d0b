package e2e

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/http"
	"net/http/httptest"
	"net/url"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/chromedp/cdproto/cdp"
	"github.com/chromedp/cdproto/emulation"
	"github.com/chromedp/chromedp"

	"github.com/disconnect-doctor/disconnect-doctor/classify"
	"github.com/disconnect-doctor/disconnect-doctor/internal/funchost"
	"github.com/disconnect-doctor/disconnect-doctor/internal/funchost/emulator"
	"github.com/disconnect-doctor/disconnect-doctor/rollup"
	"github.com/disconnect-doctor/disconnect-doctor/sim"
)

// Device ids the browser test plants in the fleet: one with every character
// IoT Hub allows in an id besides letters and digits, and one carrying
// markup that must be shown as text and never run.
const (
	nastyID = "a-b.c+d%e_f#g*h?i!j(k)l,m:n=o@p$q'r"
	evilID  = "evil<script>window.pwned=1;document.title='pwned'</script>"
)

// chromium is where Debian's package puts the browser (.ci/run installs it).
const chromium = "/usr/bin/chromium"

// TestDashboardInBrowser is issue 11's browser test: a simulated fleet goes
// through the real handler binary under the host emulator; a real Chromium
// then loads each dashboard page through a stand-in for the host's front
// door (funchost.Gateway: function key, route, http output), the DOM is
// checked, links are followed, and every page is screenshotted into
// out/screenshots for a person to look at.
func TestDashboardInBrowser(t *testing.T) {
	if _, err := os.Stat(chromium); err != nil {
		t.Fatalf("%s not found: the dashboard's browser test needs Chromium (apt-get install -y chromium; .ci/run installs it)", chromium)
	}
	ctx := context.Background()
	// The front door's address is the app's public URL, so the Teams cards'
	// buttons point at it.
	var gw http.Handler = http.NotFoundHandler()
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) { gw.ServeHTTP(w, r) }))
	t.Cleanup(srv.Close)
	teams := startHTTPSink(t, filepath.Join(t.TempDir(), "teams"))
	// A fleet whose last hours are now, so the overview's 24 hours hold it.
	cfg := sim.DefaultConfig(seed)
	cfg.Devices = 200
	cfg.Duration = 5 * time.Hour
	cfg.Start = time.Now().UTC().Add(-cfg.Duration - 20*time.Minute).Truncate(time.Minute)
	// The daily digest falls due two hours into the fleet, whatever the
	// time of day the test runs, so its card is always among those whose
	// links are followed (it once linked to the API's JSON, and the test
	// only saw it when run just after the default 08:00).
	digestHour := cfg.Start.Add(2 * time.Hour).Hour()
	h := emulator.Start(t, emulator.Options{
		Env: funchost.WithLocalSettings(map[string]string{"STATE_STORAGE": "memory", "WATERMARK": "eventtime",
			"PUBLIC_BASE_URL": srv.URL, "TEAMS_WEBHOOK_URL": teams.URL + "?sig=" + teamsSecret,
			"DIGEST_HOUR": strconv.Itoa(digestHour)}),
		FunctionTimeout: time.Minute,
		MaxAttempts:     1,
	})
	fleet := sim.Generate(cfg)
	hub := strings.ToLower(cfg.Hub)
	tokenDev, flapDev := pickDevices(t, fleet)
	renameDevice(fleet, tokenDev, nastyID)
	renameDevice(fleet, flapDev, evilID)
	for _, m := range fleet.Diagnostics {
		if bytes.Contains(m.Body, []byte(tokenDev)) || bytes.Contains(m.Body, []byte(flapDev)) {
			t.Fatalf("a record still names %s or %s after the rename: %.300s", tokenDev, flapDev, m.Body)
		}
	}
	deliver(ctx, t, h, fleet, cfg.Start)
	for range settleEvaluations {
		mustInvoke(ctx, t, h, h.Timer("Evaluate"))
	}
	if t.Failed() {
		t.FailNow()
	}
	// The devices to look at, by what the API says about them.
	ds := listDisconnects(ctx, t, h, hub)
	tokenShow := mostOf(ds, classify.TokenExpiry, "")
	flapShow := mostOf(ds, classify.DeviceOrNetwork, evilID)

	gw = &funchost.Gateway{App: h.App, Keys: []string{functionKey},
		Invoke: func(ctx context.Context, inv *funchost.Invocation) *funchost.Result {
			return h.Invoke(ctx, inv, 0, nil)
		}}
	page := func(route string, q url.Values) string {
		q2 := url.Values{"code": {functionKey}}
		for k, v := range q {
			q2[k] = v
		}
		return srv.URL + "/api/v1/" + route + "?" + q2.Encode()
	}

	shots := screenshotDir(t)
	b := newBrowser(t)

	t.Run("statuses", func(t *testing.T) {
		tests := []struct {
			name, url string
			status    int
		}{
			{"overview", page("ui", nil), 200},
			{"no key", srv.URL + "/api/v1/ui", 401},
			{"wrong key", srv.URL + "/api/v1/ui?code=nope", 401},
			{"unknown hub", page("ui/hubs/no-such-hub", nil), 404},
			{"unknown device", page("ui/devices", url.Values{"hub": {hub}, "id": {"no-such-device"}}), 404},
			{"unknown incident", page("ui/incidents/"+hub+"-20000101T0000Z", nil), 404},
			{"unknown page", page("ui/nothing", nil), 404},
			{"device without hub", page("ui/devices", url.Values{"id": {nastyID}}), 400},
		}
		for _, tt := range tests {
			resp, err := http.Get(tt.url)
			if err != nil {
				t.Fatal(err)
			}
			body, _ := io.ReadAll(resp.Body)
			resp.Body.Close()
			if resp.StatusCode != tt.status {
				t.Errorf("%s: status %d, want %d", tt.name, resp.StatusCode, tt.status)
			}
			if tt.status != 401 {
				if ct := resp.Header.Get("Content-Type"); ct != "text/html; charset=utf-8" {
					t.Errorf("%s: Content-Type %q", tt.name, ct)
				}
				if csp := resp.Header.Get("Content-Security-Policy"); !strings.Contains(csp, "default-src 'none'") {
					t.Errorf("%s: Content-Security-Policy %q", tt.name, csp)
				}
				if !bytes.Contains(body, []byte("</html>")) {
					t.Errorf("%s: not a whole page: %.200s", tt.name, body)
				}
			}
		}
	})

	t.Run("overview", func(t *testing.T) {
		b.open(t, page("ui", nil), "overview")
		checkLinksCarryKey(t, b)
		hubSel := fmt.Sprintf(`section.hub[data-hub=%q]`, hub)
		causes := b.eval(t, `[...document.querySelectorAll('`+hubSel+` svg.stack path.series')].map(p => p.dataset.cause).join(',')`)
		want := make([]string, len(rollup.Causes))
		for i, c := range rollup.Causes {
			want[i] = string(c)
		}
		if causes != strings.Join(want, ",") {
			t.Errorf("series %q, want one per cause %q", causes, strings.Join(want, ","))
		}
		if n := b.count(t, hubSel+` svg.stack .y-axis text`); n != 5 {
			t.Errorf("%d y-axis labels, want 5", n)
		}
		if n := b.count(t, hubSel+` svg.stack .x-axis text`); n < 3 {
			t.Errorf("%d x-axis labels, want at least 3", n)
		}
		if n := b.count(t, hubSel+` svg.stack path.series[d^="M"]`); n < 2 {
			t.Errorf("%d causes drawn, want at least 2 (token expiry and the incident's hub transient)", n)
		}
		if n := b.count(t, hubSel+` svg.stack rect.band`); n != len(fleet.Incidents) {
			t.Errorf("%d incident bands, want %d", n, len(fleet.Incidents))
		}
		if v := b.eval(t, `document.querySelector('form[role=search] input[name=code]').value`); v != functionKey {
			t.Errorf("the search form does not carry the key")
		}
		b.shot(t, shots, "overview")
		b.media(t, "dark")
		b.shot(t, shots, "overview-dark")
		b.media(t, "")
		b.phone(t, true)
		b.shot(t, shots, "overview-phone")
		if w := b.eval(t, `String(document.documentElement.scrollWidth <= window.innerWidth)`); w != "true" {
			t.Errorf("the overview is wider than a phone's screen")
		}
		b.phone(t, false)
	})

	t.Run("incident", func(t *testing.T) {
		b.open(t, page("ui", nil), "overview")
		b.follow(t, `a.bandlink`, "incident")
		checkLinksCarryKey(t, b)
		if n := b.count(t, `svg.stack path.series`); n != len(rollup.Causes) {
			t.Errorf("%d series, want %d", n, len(rollup.Causes))
		}
		if n := b.count(t, `svg.stack polyline.errline`); n != 1 {
			t.Errorf("no hub-side errors line")
		}
		if n := b.count(t, `svg.stack rect.band`); n != 1 {
			t.Errorf("%d incident bands, want 1", n)
		}
		if n := b.count(t, `.caught-list li`); n < 10 {
			t.Errorf("%d devices caught listed, want at least 10", n)
		}
		if n := b.count(t, `table td.status-firing`); n == 0 {
			t.Errorf("no firing notification listed")
		}
		b.shot(t, shots, "incident")
		b.follow(t, `.caught-list a`, "device")
		b.shot(t, shots, "incident-device")
	})

	t.Run("hub", func(t *testing.T) {
		b.open(t, page("ui", nil), "overview")
		b.follow(t, `section.hub h2 a`, "hub")
		checkLinksCarryKey(t, b)
		b.shot(t, shots, "hub")
	})

	t.Run("token-expiry device", func(t *testing.T) {
		b.open(t, page("ui/devices", url.Values{"hub": {hub}, "id": {tokenShow}}), "device")
		checkLinksCarryKey(t, b)
		if got := b.eval(t, `document.getElementById('device-id').textContent`); got != tokenShow {
			t.Errorf("device id shown as %q, want %q", got, tokenShow)
		}
		if n := b.count(t, `svg.timeline rect.c-token-expiry`); n < 3 {
			t.Errorf("%d token-expiry disconnects on the timeline, want at least 3", n)
		}
		if n := b.count(t, `svg.timeline rect.m-expect`); n < 3 {
			t.Errorf("%d expected-expiry ticks, want at least 3 (a learned token period)", n)
		}
		if n := b.count(t, `details.verdict[data-cause="token-expiry"]`); n < 3 {
			t.Errorf("%d token-expiry verdicts listed, want at least 3", n)
		}
		b.shot(t, shots, "device-token-expiry")
	})

	t.Run("flapping device", func(t *testing.T) {
		b.open(t, page("ui/devices", url.Values{"hub": {hub}, "id": {flapShow}}), "device")
		checkLinksCarryKey(t, b)
		if n := b.count(t, `svg.timeline rect.c-device-or-network`); n < 2 {
			t.Errorf("%d device-or-network disconnects on the timeline, want at least 2", n)
		}
		b.shot(t, shots, "device-flapping")
	})

	t.Run("search every id character", func(t *testing.T) {
		b.open(t, page("ui", nil), "overview")
		b.search(t, nastyID)
		if got := b.eval(t, `document.getElementById('device-id').textContent`); got != nastyID {
			t.Errorf("search for %q opened %q", nastyID, got)
		}
		checkLinksCarryKey(t, b)
		b.shot(t, shots, "search-nasty-id")
	})

	t.Run("id in the path", func(t *testing.T) {
		// The host hands the route value over decoded (all but %2F); the page
		// takes it as it is.
		b.open(t, srv.URL+"/api/v1/ui/devices/"+url.PathEscape(nastyID)+"?"+url.Values{"hub": {hub}, "code": {functionKey}}.Encode(), "device")
		if got := b.eval(t, `document.getElementById('device-id').textContent`); got != nastyID {
			t.Errorf("ui/devices/{id} opened %q, want %q", got, nastyID)
		}
	})

	t.Run("markup in an id stays text", func(t *testing.T) {
		b.open(t, page("ui", nil), "overview")
		b.search(t, evilID)
		if got := b.eval(t, `document.getElementById('device-id').textContent`); got != evilID {
			t.Errorf("device id shown as %q, want %q", got, evilID)
		}
		if ran := b.eval(t, `String(window.pwned !== undefined || document.title === 'pwned' || document.scripts.length > 0)`); ran != "false" {
			t.Errorf("markup from the device id ran or became a script element")
		}
		b.shot(t, shots, "device-markup-id")
		// The same id as an unknown device on the error page.
		b.open(t, page("ui/devices", url.Values{"hub": {hub}, "id": {evilID + "x"}}), "error")
		if got := b.eval(t, `document.querySelector('.error p').textContent`); !strings.Contains(got, evilID+"x") {
			t.Errorf("the 404 page does not show the id as text: %q", got)
		}
		if ran := b.eval(t, `String(window.pwned !== undefined || document.scripts.length > 0)`); ran != "false" {
			t.Errorf("markup from the id ran on the 404 page")
		}
	})

	t.Run("alert links", func(t *testing.T) {
		kinds := map[string]bool{}
		digests := 0
		for _, c := range teams.Received() {
			if bytes.Contains(c.Body, []byte("Daily digest for ")) {
				digests++
			}
			for _, u := range openURLs(t, c.Body) {
				if strings.HasPrefix(u, srv.URL+"/api/v1/disconnects?") && !strings.Contains(u, "code=") {
					continue // a large group's "All N (API)" list: JSON, not a page
				}
				if !strings.HasPrefix(u, srv.URL+"/api/v1/ui/") || strings.Contains(u, "code=") {
					t.Fatalf("card button %q: not a dashboard page, or carries a key", u)
				}
				kind := "hub"
				switch {
				case strings.Contains(u, "/ui/incidents"):
					kind = "incident"
				case strings.Contains(u, "/ui/devices"):
					kind = "device"
				}
				if kinds[kind] {
					continue
				}
				kinds[kind] = true
				resp, err := http.Get(u)
				if err != nil {
					t.Fatal(err)
				}
				resp.Body.Close()
				if resp.StatusCode != http.StatusUnauthorized {
					t.Errorf("card button %q opened without a key: %d, want 401", u, resp.StatusCode)
				}
				withKey, err := url.Parse(u)
				if err != nil {
					t.Fatal(err)
				}
				q := withKey.Query()
				q.Set("code", functionKey)
				withKey.RawQuery = q.Encode()
				b.open(t, withKey.String(), kind)
				checkLinksCarryKey(t, b)
				b.shot(t, shots, "from-card-"+kind)
			}
		}
		if !kinds["incident"] || !kinds["device"] || !kinds["hub"] {
			t.Errorf("card buttons opened %v, want an incident page, a device page and a hub page (the digest's)", kinds)
		}
		if digests == 0 {
			t.Errorf("no daily digest card among %d cards, with DIGEST_HOUR=%d", len(teams.Received()), digestHour)
		}
	})

	t.Run("not found pages", func(t *testing.T) {
		for _, c := range []struct{ name, url, heading string }{
			{"hub", page("ui/hubs/no-such-hub", nil), "Unknown hub"},
			{"device", page("ui/devices", url.Values{"hub": {hub}, "id": {"no-such-device"}}), "Unknown device"},
			{"incident", page("ui/incidents/no-such-incident", nil), "Unknown incident"},
		} {
			b.open(t, c.url, "error")
			if got := b.eval(t, `document.querySelector('h1').textContent`); got != c.heading {
				t.Errorf("%s: heading %q, want %q", c.name, got, c.heading)
			}
			checkLinksCarryKey(t, b)
			b.shot(t, shots, "404-"+c.name)
		}
	})

	// The key went into links, never into the handler's output.
	for _, l := range append(h.Stdout(), h.Stderr()...) {
		if strings.Contains(l, functionKey) {
			t.Fatalf("the function key reached the handler's log: %q", l)
		}
	}
}

// pickDevices chooses, from the simulator's truth, a device with the most
// token expiries and one with the most device-or-network disconnects.
func pickDevices(t *testing.T, fleet *sim.Output) (token, flappy string) {
	t.Helper()
	n := map[string]map[string]int{}
	for _, tr := range fleet.Truth {
		if tr.Module != "" {
			continue
		}
		if n[string(tr.Cause)] == nil {
			n[string(tr.Cause)] = map[string]int{}
		}
		n[string(tr.Cause)][tr.Device]++
	}
	best := func(cause string, not string) string {
		var ids []string
		for id := range n[cause] {
			ids = append(ids, id)
		}
		slices.Sort(ids)
		b := ""
		for _, id := range ids {
			if id != not && (b == "" || n[cause][id] > n[cause][b]) {
				b = id
			}
		}
		if b == "" {
			t.Fatalf("the fleet has no %s device", cause)
		}
		return b
	}
	token = best(string(classify.TokenExpiry), "")
	return token, best(string(classify.DeviceOrNetwork), token)
}

// renameDevice gives a device another id in every body of the fleet: in
// JSON strings, in the resource logs' properties (a JSON string holding
// JSON, so its quotes are escaped) and in Event Grid subjects. The ids used
// here need no JSON escaping.
func renameDevice(fleet *sim.Output, from, to string) {
	for _, ms := range [][]sim.Message{fleet.Diagnostics, fleet.EventGrid} {
		for i := range ms {
			for _, q := range []string{`"`, `\"`} {
				ms[i].Body = bytes.ReplaceAll(ms[i].Body, []byte(q+from+q), []byte(q+to+q))
			}
			ms[i].Body = bytes.ReplaceAll(ms[i].Body, []byte(`devices/`+from+`"`), []byte(`devices/`+to+`"`))
		}
	}
}

// mostOf returns the device (no module) with the most diagnoses of cause,
// preferring want when it has any.
func mostOf(ds []classify.Diagnosis, cause classify.Cause, want string) string {
	n := map[string]int{}
	for _, d := range ds {
		if d.Cause == cause && d.Key.Module == "" {
			n[d.Key.Device]++
		}
	}
	if n[want] > 0 {
		return want
	}
	best := ""
	for id, c := range n {
		if best == "" || c > n[best] || c == n[best] && id < best {
			best = id
		}
	}
	return best
}

func screenshotDir(t *testing.T) string {
	t.Helper()
	root, err := emulator.FindRoot()
	if err != nil {
		t.Fatal(err)
	}
	dir := filepath.Join(root, "out", "screenshots")
	if err := os.MkdirAll(dir, 0o755); err != nil {
		t.Fatal(err)
	}
	return dir
}

// browser is one headless Chromium tab.
type browser struct {
	ctx context.Context
}

func newBrowser(t *testing.T) *browser {
	t.Helper()
	opts := []chromedp.ExecAllocatorOption{
		chromedp.ExecPath(chromium),
		chromedp.Headless,
		chromedp.NoSandbox,
		chromedp.DisableGPU,
		chromedp.NoFirstRun,
		chromedp.Flag("disable-quic", true),
		chromedp.Flag("disable-background-networking", true),
		chromedp.Flag("disable-component-update", true),
		chromedp.Flag("disable-sync", true),
		chromedp.UserDataDir(t.TempDir()),
		chromedp.WindowSize(1280, 900),
	}
	actx, cancelA := chromedp.NewExecAllocator(context.Background(), opts...)
	ctx, cancel := chromedp.NewContext(actx)
	t.Cleanup(func() { cancel(); cancelA() })
	if err := chromedp.Do(ctx); err != nil { // starts the browser
		if errors.Is(err, exec.ErrNotFound) {
			t.Fatalf("start %s: %v (apt-get install -y chromium)", chromium, err)
		}
		t.Fatalf("start %s: %v", chromium, err)
	}
	return &browser{ctx: ctx}
}

// within bounds one browser step.
func (b *browser) within(t *testing.T) (context.Context, context.CancelFunc) {
	t.Helper()
	return context.WithTimeout(b.ctx, 30*time.Second)
}

// open loads a page and waits until it is the page named kind.
func (b *browser) open(t *testing.T, u, kind string) {
	t.Helper()
	ctx, cancel := b.within(t)
	defer cancel()
	if err := chromedp.Do(ctx, chromedp.Navigate(u), chromedp.WaitReady(fmt.Sprintf(`body[data-page=%q]`, kind))); err != nil {
		t.Fatalf("open %s: %v", kind, err)
	}
}

// follow clicks the first element matching sel (a link) and waits for the
// page named kind.
func (b *browser) follow(t *testing.T, sel, kind string) {
	t.Helper()
	ctx, cancel := b.within(t)
	defer cancel()
	href := b.eval(t, `document.querySelector(`+jsString(sel)+`).getAttribute('href')`)
	if err := chromedp.Do(ctx, chromedp.Click(sel), chromedp.WaitReady(fmt.Sprintf(`body[data-page=%q]`, kind))); err != nil {
		t.Fatalf("follow %s (%s): %v", sel, href, err)
	}
	if loc := b.eval(t, `location.href`); !strings.Contains(loc, "code="+url.QueryEscape(functionKey)) {
		t.Errorf("followed %s to %s: the key was lost", sel, loc)
	}
}

// search types id into the header's search box and submits it.
func (b *browser) search(t *testing.T, id string) {
	t.Helper()
	ctx, cancel := b.within(t)
	defer cancel()
	if err := chromedp.Do(ctx,
		chromedp.SetValue(`form[role=search] input[name=id]`, id),
		chromedp.Submit(`form[role=search] input[name=id]`),
		chromedp.WaitReady(`body[data-page="device"]`)); err != nil {
		t.Fatalf("search %q: %v (page: %s)", id, err, b.eval(t, `document.querySelector('h1') && document.querySelector('h1').textContent`))
	}
}

func (b *browser) eval(t *testing.T, js string) string {
	t.Helper()
	ctx, cancel := b.within(t)
	defer cancel()
	v, err := chromedp.Run(ctx, chromedp.Evaluate[string](js))
	if err != nil {
		t.Fatalf("evaluate %s: %v", js, err)
	}
	return v
}

func (b *browser) count(t *testing.T, sel string) int {
	t.Helper()
	ctx, cancel := b.within(t)
	defer cancel()
	n, err := chromedp.Run(ctx, chromedp.Evaluate[int](`document.querySelectorAll(`+jsString(sel)+`).length`))
	if err != nil {
		t.Fatalf("count %s: %v", sel, err)
	}
	return n
}

// shot saves a full-page PNG.
func (b *browser) shot(t *testing.T, dir, name string) {
	t.Helper()
	ctx, cancel := b.within(t)
	defer cancel()
	png, err := chromedp.Run(ctx, chromedp.FullScreenshot(100))
	if err != nil {
		t.Fatalf("screenshot %s: %v", name, err)
	}
	if err := os.WriteFile(filepath.Join(dir, name+".png"), png, 0o644); err != nil {
		t.Fatal(err)
	}
}

// media emulates prefers-color-scheme ("" resets it).
func (b *browser) media(t *testing.T, scheme string) {
	t.Helper()
	ctx, cancel := b.within(t)
	defer cancel()
	var features []*emulation.MediaFeature
	if scheme != "" {
		features = append(features, &emulation.MediaFeature{Name: "prefers-color-scheme", Value: scheme})
	}
	if err := chromedp.Do(ctx, chromedp.Func(func(ctx context.Context, tg *chromedp.Target) error {
		_, err := cdp.Call(ctx, tg, emulation.SetEmulatedMedia, emulation.SetEmulatedMediaParams{Features: features})
		return err
	})); err != nil {
		t.Fatalf("emulate %s: %v", scheme, err)
	}
}

// phone switches to a 390 × 844 phone screen, or back.
func (b *browser) phone(t *testing.T, on bool) {
	t.Helper()
	ctx, cancel := b.within(t)
	defer cancel()
	a := chromedp.EmulateViewport(390, 844, chromedp.EmulateScale(2), chromedp.EmulateMobile)
	if !on {
		a = chromedp.EmulateViewport(1280, 900)
	}
	if err := chromedp.Do(ctx, a, chromedp.Reload()); err != nil {
		t.Fatalf("phone %v: %v", on, err)
	}
}

// checkLinksCarryKey: every link of the page keeps the function key (and
// nothing on the page is wider than the window).
func checkLinksCarryKey(t *testing.T, b *browser) {
	t.Helper()
	if w := b.eval(t, `String(document.documentElement.scrollWidth <= window.innerWidth)`); w != "true" {
		t.Errorf("%s is wider than the window", b.eval(t, `location.pathname`))
	}
	bad := b.eval(t, `[...document.querySelectorAll('a[href]')].map(a => new URL(a.getAttribute('href'), location.href)).filter(u => u.searchParams.get('code') !== `+jsString(functionKey)+`).join(' ')`)
	if bad != "" {
		t.Errorf("links without the key: %s", bad)
	}
	if n := b.count(t, `a[href]`); n == 0 {
		t.Errorf("the page has no link")
	}
}

// openURLs returns the Action.OpenUrl targets of a Teams webhook body.
func openURLs(t *testing.T, body []byte) []string {
	t.Helper()
	var v any
	if err := json.Unmarshal(body, &v); err != nil {
		t.Fatalf("teams body: %v", err)
	}
	var out []string
	var walk func(any)
	walk = func(v any) {
		switch v := v.(type) {
		case map[string]any:
			if v["type"] == "Action.OpenUrl" {
				if u, ok := v["url"].(string); ok {
					out = append(out, u)
				}
			}
			for _, e := range v {
				walk(e)
			}
		case []any:
			for _, e := range v {
				walk(e)
			}
		}
	}
	walk(v)
	return out
}

// jsString quotes s as a JavaScript string literal.
func jsString(s string) string {
	var b strings.Builder
	b.WriteByte('"')
	for _, r := range s {
		switch {
		case r == '"' || r == '\\':
			b.WriteByte('\\')
			b.WriteRune(r)
		case r < 0x20 || r == '<' || r == '>':
			fmt.Fprintf(&b, `\u%04x`, r)
		default:
			b.WriteRune(r)
		}
	}
	b.WriteByte('"')
	return b.String()
}
