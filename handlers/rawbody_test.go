package handlers

import (
	"context"
	"net/url"
	"strings"
	"testing"

	"github.com/rs/zerolog"

	"github.com/disconnect-doctor/disconnect-doctor/internal/funchost"
)

// pageBackend answers every query with an HTML page that shows the key it
// was given through the context.
type pageBackend struct {
	recorder
	key string
	q   url.Values
}

type htmlPage string

func (p htmlPage) RawBody() (map[string]string, []byte) {
	return map[string]string{"Content-Type": "text/html; charset=utf-8", "Cache-Control": "no-store"}, []byte(p)
}

func (b *pageBackend) Query(ctx context.Context, path string, q url.Values) (int, any) {
	b.key, b.q = funchost.KeyFrom(ctx), q
	return 404, htmlPage(`<!doctype html><p>"quoted" <b>page</b> é`)
}

// TestApiRawBody: a RawBody answer goes out as the host expects an http
// output (status, the page's own headers, the body as a raw string); the
// function key reaches the Backend only through the context, never in the
// query or a log line.
func TestApiRawBody(t *testing.T) {
	a := app(t)
	b := &pageBackend{}
	var out, errw strings.Builder
	h := New(b, zerolog.New(SplitWriter(&out, &errw)), Options{})
	r := a.Call(context.Background(), h, a.HTTP(FnApi, "GET", "api/v1/ui", url.Values{"code": {"s3cret-key"}, "hub": {"h"}}, nil, nil), 0)
	if r.Failed() {
		t.Fatalf("invocation failed: %v", r.Err)
	}
	res, err := r.HTTPResponse("res")
	if err != nil {
		t.Fatal(err)
	}
	if res.StatusCode != 404 || res.Headers["Content-Type"] != "text/html; charset=utf-8" || res.Headers["Cache-Control"] != "no-store" {
		t.Errorf("res = %d %v", res.StatusCode, res.Headers)
	}
	if res.Body != `<!doctype html><p>"quoted" <b>page</b> é` {
		t.Errorf("body %q", res.Body)
	}
	if b.key != "s3cret-key" || b.q.Get("code") != "" || b.q.Get("hub") != "h" {
		t.Errorf("backend got key %q, query %v", b.key, b.q)
	}
	if strings.Contains(out.String()+errw.String(), "s3cret-key") {
		t.Errorf("the key reached the log")
	}
}
