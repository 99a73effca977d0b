package main

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"errors"
	"fmt"
	"html"
	"io"
	"maps"
	"net"
	"net/http"
	"net/url"
	"os"
	"path/filepath"
	"regexp"
	"slices"
	"strings"
	"time"

	"github.com/disconnect-doctor/disconnect-doctor/alert"
	"github.com/disconnect-doctor/disconnect-doctor/classify"
	"github.com/disconnect-doctor/disconnect-doctor/event"
	"github.com/disconnect-doctor/disconnect-doctor/handlers"
	"github.com/disconnect-doctor/disconnect-doctor/internal/funchost"
)

// snapshot is one dashboard page written by `handler run`.
type snapshot struct {
	file  string
	route string // under /api/v1/
	query url.Values
}

// dashboardPages picks what `make run` snapshots: the overview, each hub,
// each incident, and one device per interesting verdict (the device with
// the most of each cause: a token-expiry device, a flapping one, one whose
// renewal fails, one sharing its identity, one caught in the incident).
func dashboardPages(r *RunResult) []snapshot {
	ps := []snapshot{{file: "index.html", route: "ui"}}
	hubs := map[string]bool{}
	for _, d := range r.Diagnoses {
		hubs[d.Key.Hub] = true
	}
	for _, h := range slices.Sorted(maps.Keys(hubs)) {
		ps = append(ps, snapshot{file: "hub-" + fileSafe(h) + ".html", route: "ui/hubs/" + url.PathEscape(h)})
	}
	for _, in := range r.Incidents {
		ps = append(ps, snapshot{file: "incident-" + fileSafe(in.ID) + ".html", route: "ui/incidents/" + url.PathEscape(in.ID)})
	}
	type count struct {
		key classify.Diagnosis
		n   int
	}
	best := map[classify.Cause]count{}
	per := map[string]int{}
	for _, d := range r.Diagnoses {
		k := string(d.Cause) + "\x00" + d.Key.Path()
		per[k]++
		if b, ok := best[d.Cause]; !ok || per[k] > b.n || per[k] == b.n && d.Key.Path() < b.key.Key.Path() {
			best[d.Cause] = count{d, per[k]}
		}
	}
	seen := map[string]bool{}
	for _, c := range []classify.Cause{classify.TokenExpiry, classify.DeviceOrNetwork, classify.TokenRenewalFailed,
		classify.DuplicateIdentity, classify.HubTransient} {
		b, ok := best[c]
		if !ok || seen[b.key.Key.Path()] {
			continue
		}
		seen[b.key.Key.Path()] = true
		k := b.key.Key
		q := url.Values{"hub": {k.Hub}, "id": {k.Device}}
		if k.Module != "" {
			q.Set("module", k.Module)
		}
		ps = append(ps, snapshot{file: "device-" + string(c) + ".html", route: "ui/devices", query: q})
	}
	// A flapping device, from the notifications sent: the one with the most
	// device-or-network disconnects.
	var flap *alert.Alert
	for _, n := range r.Notifications {
		if !strings.HasPrefix(n.GroupKey, string(classify.DeviceFlapping)+"/") {
			continue
		}
		for i := range n.Alerts {
			a := &n.Alerts[i]
			k := string(classify.DeviceOrNetwork) + "\x00" + event.Key{Hub: a.Hub, Device: a.DeviceID}.Path()
			if flap == nil || per[k] > per[string(classify.DeviceOrNetwork)+"\x00"+event.Key{Hub: flap.Hub, Device: flap.DeviceID}.Path()] {
				flap = a
			}
		}
	}
	if flap != nil {
		ps = append(ps, snapshot{file: "device-flapping.html", route: "ui/devices", query: url.Values{"hub": {flap.Hub}, "id": {flap.DeviceID}}})
	}
	return ps
}

var unsafeFile = regexp.MustCompile(`[^A-Za-z0-9._-]+`)

func fileSafe(s string) string { return unsafeFile.ReplaceAllString(s, "_") }

// writeDashboard renders the pages through the Api function (the real
// handler, in process, as the host invokes it) and writes them under dir,
// their links to each other rewritten to the files. It returns the index.
func writeDashboard(ctx context.Context, r *RunResult, dir string) (string, error) {
	if err := os.RemoveAll(dir); err != nil {
		return "", err
	}
	if err := os.MkdirAll(dir, 0o755); err != nil {
		return "", err
	}
	h, closeLog, err := dashboardHandler(r, filepath.Dir(dir))
	if err != nil {
		return "", err
	}
	defer closeLog()
	ps := dashboardPages(r)
	files := map[string]string{}
	for _, p := range ps {
		files[canonical("/api/v1/"+p.route, p.query)] = p.file
	}
	for _, p := range ps {
		inv := r.App.HTTP("Api", "GET", "api/v1/"+p.route, p.query, nil, nil)
		res := r.App.Call(ctx, h, inv, 0)
		if res.Failed() {
			return "", fmt.Errorf("dashboard %s: %w", p.route, res.Err)
		}
		out, err := res.HTTPResponse("res")
		if err != nil {
			return "", fmt.Errorf("dashboard %s: %w", p.route, err)
		}
		if out.StatusCode != http.StatusOK {
			return "", fmt.Errorf("dashboard %s: status %d: %.300s", p.route, out.StatusCode, out.Body)
		}
		body := relink(out.Body, files)
		if err := os.WriteFile(filepath.Join(dir, p.file), []byte(body), 0o644); err != nil {
			return "", err
		}
	}
	return filepath.Join(dir, "index.html"), nil
}

// dashboardHandler is the handler over the run's pipeline, logging to
// handler.log in dir (appended; the run's own log is closed by now).
func dashboardHandler(r *RunResult, dir string) (http.Handler, func(), error) {
	if dir == "" {
		log := newLogger(io.Discard, io.Discard)
		return handlers.New(r.Backend, log, handlers.Options{}), func() {}, nil
	}
	f, err := os.OpenFile(filepath.Join(dir, "handler.log"), os.O_APPEND|os.O_CREATE|os.O_WRONLY, 0o644)
	if err != nil {
		return nil, nil, err
	}
	return handlers.New(r.Backend, newLogger(f, f), handlers.Options{}), func() { _ = f.Close() }, nil
}

// canonical is the lookup form of a dashboard link: path and sorted query.
func canonical(path string, q url.Values) string {
	if len(q) == 0 {
		return path
	}
	return path + "?" + q.Encode()
}

var hrefAttr = regexp.MustCompile(`href="([^"]*)"`)

// relink points the links of a snapshot at the snapshot files; links to
// pages that were not written stay as they are (they work with --serve).
func relink(body string, files map[string]string) string {
	return hrefAttr.ReplaceAllStringFunc(body, func(m string) string {
		raw := html.UnescapeString(hrefAttr.FindStringSubmatch(m)[1])
		u, err := url.Parse(raw)
		if err != nil {
			return m
		}
		if f, ok := files[canonical(u.Path, u.Query())]; ok {
			return `href="` + html.EscapeString(f) + `"`
		}
		return m
	})
}

// serveDashboard keeps the dashboard live on the simulated data at addr
// until ctx ends (Ctrl-C): a local stand-in for the Functions host's front
// door (funchost.Gateway) in front of the same in-process handler. The key
// it asks for is made up for this session and printed once with the URL.
func serveDashboard(ctx context.Context, r *RunResult, addr, logDir string, w io.Writer) error {
	var b [16]byte
	if _, err := rand.Read(b[:]); err != nil {
		return err
	}
	key := hex.EncodeToString(b[:])
	h, closeLog, err := dashboardHandler(r, logDir)
	if err != nil {
		return err
	}
	defer closeLog()
	gw := &funchost.Gateway{App: r.App, Keys: []string{key},
		Invoke: func(ctx context.Context, inv *funchost.Invocation) *funchost.Result {
			return r.App.Call(ctx, h, inv, 0)
		}}
	ln, err := net.Listen("tcp", addr)
	if err != nil {
		return fmt.Errorf("serve dashboard: %w", err)
	}
	srv := &http.Server{Handler: gw, ReadHeaderTimeout: 10 * time.Second}
	fmt.Fprintf(w, "dashboard live on the simulated data (this session's key only): http://%s/api/v1/ui?code=%s\nCtrl-C to stop.\n", ln.Addr(), key)
	done := make(chan error, 1)
	go func() { done <- srv.Serve(ln) }()
	select {
	case <-ctx.Done():
		sctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
		defer cancel()
		_ = srv.Shutdown(sctx)
		return nil
	case err := <-done:
		if errors.Is(err, http.ErrServerClosed) {
			return nil
		}
		return fmt.Errorf("serve dashboard: %w", err)
	}
}

// dashboardNote is the line run prints about the snapshots.
func dashboardNote(index string) string {
	abs, err := filepath.Abs(index)
	if err != nil {
		abs = index
	}
	return "dashboard: open file://" + filepath.ToSlash(abs) + " (snapshots; `handler run --serve 127.0.0.1:8080` keeps it live)\n"
}
