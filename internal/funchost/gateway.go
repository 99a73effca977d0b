package funchost

import (
	"context"
	"crypto/subtle"
	"io"
	"net/http"
	"sort"
	"strings"
)

// Gateway is the host's public HTTP front door for the app's HTTP-triggered
// functions, so that a browser (or curl) can reach them as it would in
// Azure: it matches the request to a function's route under the route
// prefix, checks the function key of an authLevel "function" trigger
// (?code= or the x-functions-key header), builds the non-forwarded
// invocation (App.HTTP), sends it through Invoke and writes the function's
// http output (status, headers, body) back as the host does (reference
// §3.4). A failed invocation answers 500 with no body, like the host.
type Gateway struct {
	App *App
	// Invoke sends one invocation: App.Call on an in-process handler, or
	// an emulator.Host's Invoke.
	Invoke func(ctx context.Context, inv *Invocation) *Result
	// Keys are the accepted function keys; none means any key is refused.
	Keys []string
	// MaxBody bounds a request body; 0 means 1 MiB.
	MaxBody int64
}

// ServeHTTP answers one public request.
func (g *Gateway) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	fn, ok := g.route(r.URL.Path)
	if !ok {
		http.NotFound(w, r)
		return
	}
	tb := g.App.Function(fn).Trigger()
	q := r.URL.Query()
	if !strings.EqualFold(tb.AuthLevel, "anonymous") && !g.authorized(q.Get("code"), r.Header.Get("x-functions-key")) {
		w.WriteHeader(http.StatusUnauthorized)
		return
	}
	limit := g.MaxBody
	if limit <= 0 {
		limit = 1 << 20
	}
	body, err := io.ReadAll(http.MaxBytesReader(w, r.Body, limit))
	if err != nil {
		w.WriteHeader(http.StatusRequestEntityTooLarge)
		return
	}
	// App.HTTP takes the path as sent (encoded) and decodes it as the host's
	// server does.
	inv := g.App.HTTP(fn, r.Method, r.URL.EscapedPath(), q, r.Header, body)
	if inv.BindErr != nil { // a method the trigger does not accept
		http.NotFound(w, r)
		return
	}
	res := g.Invoke(r.Context(), inv)
	if res.Failed() {
		w.WriteHeader(http.StatusInternalServerError)
		return
	}
	out, err := res.HTTPResponse(httpOutputName(g.App.Function(fn)))
	if err != nil {
		w.WriteHeader(http.StatusInternalServerError)
		return
	}
	for k, v := range out.Headers {
		w.Header().Set(k, v)
	}
	w.WriteHeader(out.StatusCode)
	_, _ = io.WriteString(w, out.Body)
}

// route finds the HTTP-triggered function whose route matches path
// ("/api/v1/ui"), in name order.
func (g *Gateway) route(path string) (string, bool) {
	prefix := "api"
	if p := g.App.Host.Extensions.HTTP.RoutePrefix; p != nil {
		prefix = *p
	}
	rest, ok := strings.CutPrefix(strings.TrimPrefix(path, "/"), prefix+"/")
	if !ok {
		return "", false
	}
	names := make([]string, 0, len(g.App.Functions))
	for n := range g.App.Functions {
		names = append(names, n)
	}
	sort.Strings(names)
	for _, n := range names {
		tb := g.App.Functions[n].Trigger()
		if !strings.EqualFold(tb.Type, "httpTrigger") {
			continue
		}
		route := tb.Route
		if route == "" {
			route = n
		}
		if _, ok := matchRoute(route, rest); ok {
			return n, true
		}
	}
	return "", false
}

func (g *Gateway) authorized(code, header string) bool {
	for _, k := range g.Keys {
		if k != "" && (subtle.ConstantTimeCompare([]byte(code), []byte(k)) == 1 || subtle.ConstantTimeCompare([]byte(header), []byte(k)) == 1) {
			return true
		}
	}
	return false
}

// httpOutputName is the name of a function's http output binding ("res").
func httpOutputName(f *Function) string {
	for _, b := range f.Bindings {
		if strings.EqualFold(b.Direction, "out") && strings.EqualFold(b.Type, "http") {
			return b.Name
		}
	}
	return "$return"
}
