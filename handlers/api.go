package handlers

import (
	"context"
	"fmt"
	"net/url"
	"strings"
)

// api is the Api function (GET /api/v1/{*path}): the query API of
// PRODUCT.md §6, answered by Backend.Query. The path comes from the route
// parameter; the function key ("code") is removed from the query first.
func (h *handler) api(ctx context.Context, inv *invocation) response {
	req := decodeHTTPRequest(inv.req)
	path := req.param("path")
	if path == "" {
		path = pathFromURL(req.URL)
	}
	path = strings.Trim(path, "/")
	status, body := h.b.Query(ctx, path, req.query())
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
