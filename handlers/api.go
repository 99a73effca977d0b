package handlers

import (
	"context"
	"fmt"
	"net/http"
	"net/url"
	"strings"

	"github.com/disconnect-doctor/disconnect-doctor/internal/funchost"
)

// api is the Api function (/api/v1/{*path}): GET is the query API of
// PRODUCT.md §6 and the dashboard's pages, answered by Backend.Query; POST
// and DELETE (silences) go to Backend.Write with the request body. The path comes from the route
// parameter; the function key ("code") is removed from the query first.
func (h *handler) api(ctx context.Context, inv *invocation) response {
	req := decodeHTTPRequest(inv.req)
	path := req.param("path")
	if path == "" {
		path = pathFromURL(req.URL)
	}
	path = strings.Trim(path, "/")
	method := strings.ToUpper(req.Method)
	var status int
	var body any
	switch method {
	case "", http.MethodGet:
		method = http.MethodGet
		// The key reaches the Backend only through ctx, for links of HTML pages.
		status, body = h.b.Query(funchost.WithKey(ctx, req.functionKey()), path, req.query())
	default:
		// The host passes the body as one string layer, and only when the
		// request had a Content-Length (reference §2.5).
		status, body = h.b.Write(ctx, method, path, req.body())
	}
	return response{
		Outputs: httpOutput(status, body),
		Logs:    []string{fmt.Sprintf("%s: %s v1/%s -> %d", FnApi, method, path, status)},
	}
}

// pathFromURL recovers the path under /api/v1/ from Data.req.Url, for a host
// that sent no route parameters.
func pathFromURL(raw string) string {
	u, err := url.Parse(raw)
	if err != nil {
		return ""
	}
	p := u.Path
	if i := strings.Index(p, "/v1/"); i >= 0 {
		return p[i+len("/v1/"):]
	}
	return ""
}
