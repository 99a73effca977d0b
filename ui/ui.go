// Package ui is disconnect-doctor's dashboard: server-rendered HTML pages
// (html/template, inline SVG, inline CSS; no script, no external asset, so
// it works in a locked-down network) served by the Api function under
// GET /api/v1/ui. Pages read the store only — the per-minute rollup
// (package rollup), incidents, alert records, a device's own state — so any
// instance answers and a page for a 100 000-device hub never scans
// diagnoses.
//
// Every link a page writes carries the function key the page was opened
// with (?code=), because the Functions host asks for it on every request;
// the key reaches the pages only through the context (funchost.KeyFrom) and
// is never logged. Device ids travel in the query string (?id=), so no page
// depends on how a path segment was decoded.
package ui

import (
	"bytes"
	"context"
	"embed"
	"html/template"
	"net/http"
	"net/url"
	"strconv"
	"strings"
	"time"

	"github.com/disconnect-doctor/disconnect-doctor/classify"
	"github.com/disconnect-doctor/disconnect-doctor/internal/funchost"
	"github.com/disconnect-doctor/disconnect-doctor/store"
)

//go:embed templates/*.html
var templateFS embed.FS

// pageNames are the page templates; each is parsed with layout.html.
var pageNames = []string{"overview", "hub", "device", "incident", "search", "error"}

var pages = func() map[string]*template.Template {
	m := map[string]*template.Template{}
	for _, n := range pageNames {
		m[n] = template.Must(template.New("layout.html").Funcs(funcs).ParseFS(templateFS, "templates/layout.html", "templates/charts.html", "templates/parts.html", "templates/"+n+".html"))
	}
	return m
}()

// Pages renders the dashboard from a store.
type Pages struct {
	st store.Store
	// now is the wall clock (the simulated one in `handler run`).
	now func() time.Time
	// watermark returns the last watermark Evaluate used.
	watermark func(ctx context.Context) (time.Time, error)
	// Base is the path the links start with: the Api function's route
	// ("/api/v1/"). Static snapshots replace the links altogether (Static).
	Base string
	// Static, when set, maps a page's route and query to the link written
	// for it ("" for none): `handler run` writes snapshots that link to each
	// other as files.
	Static func(route string, q url.Values) string
}

// New returns the dashboard over st. watermark may be nil.
func New(st store.Store, now func() time.Time, watermark func(context.Context) (time.Time, error)) *Pages {
	if now == nil {
		now = time.Now
	}
	return &Pages{st: st, now: now, watermark: watermark, Base: "/api/v1/"}
}

// Page is a rendered page; it satisfies handlers.RawBody, so the Api
// function sends it as HTML.
type Page struct {
	Body []byte
}

// securityHeaders: the pages run no script at all (so an id that smuggles
// markup could not run even if escaping failed), load nothing from
// elsewhere, send no Referer (the URL holds the key), and are not cached
// (the key again) or framed.
var securityHeaders = map[string]string{
	"Content-Type":            "text/html; charset=utf-8",
	"Content-Security-Policy": "default-src 'none'; style-src 'unsafe-inline'; img-src data:; form-action 'self'; base-uri 'none'; frame-ancestors 'none'",
	"X-Content-Type-Options":  "nosniff",
	"Referrer-Policy":         "no-referrer",
	"Cache-Control":           "no-store",
	"X-Frame-Options":         "DENY",
}

// RawBody returns the page's headers and HTML.
func (p *Page) RawBody() (map[string]string, []byte) {
	h := make(map[string]string, len(securityHeaders))
	for k, v := range securityHeaders {
		h[k] = v
	}
	return h, p.Body
}

// Serve answers GET /api/v1/<path> for a path under "ui": the overview
// ("ui"), a hub ("ui/hubs/{hub}"), a device ("ui/devices?hub=&id=", or
// "ui/devices/{id}?hub=" with the id as the host decoded it), an incident
// ("ui/incidents/{id}", or "ui/incidents?hub=&at=" for the incident a time
// falls in) and the device search ("ui/search?id=[&hub=]").
func (p *Pages) Serve(ctx context.Context, path string, q url.Values) (int, *Page) {
	path = strings.Trim(path, "/")
	v := &view{p: p, key: funchost.KeyFrom(ctx), now: p.now().UTC()}
	rest, _ := strings.CutPrefix(path, "ui")
	rest = strings.TrimPrefix(rest, "/")
	seg, arg, _ := strings.Cut(rest, "/")
	switch {
	case rest == "":
		return v.overview(ctx)
	case seg == "hubs" && arg != "":
		return v.hub(ctx, strings.ToLower(arg), groupPage{kind: classify.SignalKind(q.Get("kind")), after: q.Get("after")})
	case seg == "devices":
		id := q.Get("id")
		if arg != "" {
			id = arg // already decoded by the host: never decode it again
		}
		return v.device(ctx, strings.ToLower(q.Get("hub")), id, q.Get("module"))
	case seg == "incidents" && arg != "":
		return v.incident(ctx, arg, q.Get("cursor"))
	case seg == "incidents":
		return v.incidentAt(ctx, strings.ToLower(q.Get("hub")), q.Get("at"))
	case seg == "search":
		return v.search(ctx, strings.ToLower(q.Get("hub")), q.Get("id"))
	}
	return v.notFound("No such page", "There is no dashboard page at "+strconv.Quote("v1/"+path)+".")
}

// view is one request's rendering state.
type view struct {
	p   *Pages
	key string
	now time.Time
}

// link returns the URL of a dashboard route ("ui/hubs/x") with q and the
// function key.
func (v *view) link(route string, q url.Values) string {
	if v.p.Static != nil {
		return v.p.Static(route, q)
	}
	q2 := url.Values{}
	for k, vs := range q {
		q2[k] = vs
	}
	if v.key != "" {
		q2.Set("code", v.key)
	}
	u := v.p.Base + route
	if len(q2) > 0 {
		u += "?" + q2.Encode()
	}
	return u
}

func (v *view) hubLink(hub string) string { return v.link("ui/hubs/"+url.PathEscape(hub), nil) }

func (v *view) deviceLink(hub, id, module string) string {
	q := url.Values{"hub": {hub}, "id": {id}}
	if module != "" {
		q.Set("module", module)
	}
	return v.link("ui/devices", q)
}

func (v *view) incidentLink(id string) string {
	return v.link("ui/incidents/"+url.PathEscape(id), nil)
}

// frame is what the layout needs besides the page's own data.
type frame struct {
	Page    string // the template's name, on <body data-page>
	Title   string
	Home    string
	Search  string // the search form's action
	Key     string // for the search form's hidden field
	Hub     string // preselected hub of the search form
	Now     string
	Static  bool
	Content any
}

func (v *view) render(status int, name, title, hub string, data any) (int, *Page) {
	f := frame{Page: name, Title: title, Home: v.link("ui", nil), Search: v.p.Base + "ui/search", Key: v.key, Hub: hub,
		Now: v.now.Format("2006-01-02 15:04 UTC"), Static: v.p.Static != nil, Content: data}
	var b bytes.Buffer
	if err := pages[name].Execute(&b, f); err != nil {
		// Only a bug in a template gets here; say so without details.
		return http.StatusInternalServerError, &Page{Body: []byte("<!doctype html><title>error</title><p>The page could not be rendered: " + template.HTMLEscapeString(err.Error()))}
	}
	return status, &Page{Body: b.Bytes()}
}

// errorPage is the data of the error template.
type errorPage struct {
	Heading, Message string
}

func (v *view) notFound(heading, msg string) (int, *Page) {
	return v.render(http.StatusNotFound, "error", heading, "", errorPage{heading, msg})
}

func (v *view) badRequest(msg string) (int, *Page) {
	return v.render(http.StatusBadRequest, "error", "Bad request", "", errorPage{"Bad request", msg})
}

// unavailable answers a store failure (503: a dependency is down).
func (v *view) unavailable(err error) (int, *Page) {
	return v.render(http.StatusServiceUnavailable, "error", "State store unavailable", "",
		errorPage{"State store unavailable", "The state store could not be read: " + err.Error()})
}

// funcs are the templates' helpers: coordinates with one decimal and the
// arithmetic of label offsets.
var funcs = template.FuncMap{
	"f":   f1,
	"add": func(a, b float64) float64 { return a + b },
	"sub": func(a, b float64) float64 { return a - b },
}
