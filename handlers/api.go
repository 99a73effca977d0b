package handlers

import (
	"context"
	"fmt"
	"net/url"
	"strings"

	"github.com/disconnect-doctor/disconnect-doctor/internal/funchost"
)

// api is the Api function (GET /api/v1/{*path}): the query API of
// PRODUCT.md §6 and the dashboard's pages, answered by Backend.Query. The path comes from the route
// parameter; the function key ("code") is removed from the query first.
func (h *handler) api(ctx context.Context, inv *invocation) response {
	req := decodeHTTPRequest(inv.req)
	path := req.param("path")
	if path == "" {
		path = pathFromURL(req.URL)
	}
	path = strings.Trim(path, "/")
	// The key reaches the Backend only through ctx, for links of HTML pages.
	status, body := h.b.Query(funchost.WithKey(ctx, req.functionKey()), path, req.query())
	return response{
		Outputs: httpOutput(status, body),
		Logs:    []string{fmt.Sprintf("%s: GET v1/%s -> %d", FnApi, path, status)},
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
