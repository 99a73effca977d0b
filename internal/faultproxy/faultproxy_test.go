package faultproxy_test

import (
	"context"
	"errors"
	"io"
	"net/http"
	"net/http/httptest"
	"testing"
	"time"

	"github.com/disconnect-doctor/disconnect-doctor/internal/faultproxy"
)

func get(t *testing.T, ctx context.Context, method, url string) (int, string) {
	t.Helper()
	req, _ := http.NewRequestWithContext(ctx, method, url, nil)
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		return 0, err.Error()
	}
	defer resp.Body.Close()
	b, _ := io.ReadAll(resp.Body)
	return resp.StatusCode, resp.Header.Get("Retry-After") + "|" + string(b)
}

func TestProxy(t *testing.T) {
	backend := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) { _, _ = io.WriteString(w, "backend") }))
	t.Cleanup(backend.Close)
	p := faultproxy.Start(t, backend.URL, 1)

	p.Inject(faultproxy.Fault{Status: 429, RetryAfter: 1500 * time.Millisecond, Times: 2, Method: http.MethodPost})
	p.Inject(faultproxy.Fault{Status: 503, Times: 1})
	steps := []struct {
		method string
		status int
		body   string
	}{
		{http.MethodGet, 503, "|"},   // the 429 is for POST only
		{http.MethodPost, 429, "2|"}, // Retry-After rounded up to whole seconds
		{http.MethodPost, 429, "2|"},
		{http.MethodPost, 200, "|backend"}, // schedule used up
		{http.MethodGet, 200, "|backend"},
	}
	for i, st := range steps {
		status, body := get(t, t.Context(), st.method, p.URL()+"/x")
		if status != st.status || len(body) < len(st.body) || body[:len(st.body)] != st.body {
			t.Fatalf("step %d %s: %d %q, want %d %q…", i, st.method, status, body, st.status, st.body)
		}
	}
	total, by := p.Counts()
	if total != 5 || by["GET"] != 2 || by["POST"] != 3 || len(p.Hits()) != 3 || len(p.Arrivals()) != 5 {
		t.Fatalf("counts %d %v, hits %d", total, by, len(p.Hits()))
	}
	if st := p.Statuses(); st[200] != 2 || st[429] != 2 || st[503] != 1 {
		t.Fatalf("statuses %v", st)
	}
	p.Reset()
	if total, _ := p.Counts(); total != 0 {
		t.Fatalf("after Reset total = %d", total)
	}
}

func TestProbabilityIsSeeded(t *testing.T) {
	backend := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {}))
	t.Cleanup(backend.Close)
	run := func(seed uint64) []int {
		p := faultproxy.Start(t, backend.URL, seed)
		p.Inject(faultproxy.Fault{Status: 503, Probability: 0.3})
		var out []int
		for range 200 {
			s, _ := get(t, t.Context(), "GET", p.URL())
			out = append(out, s)
		}
		return out
	}
	a, b := run(7), run(7)
	n503 := 0
	for i := range a {
		if a[i] != b[i] {
			t.Fatalf("same seed, request %d: %d vs %d", i, a[i], b[i])
		}
		if a[i] == 503 {
			n503++
		}
	}
	if n503 < 30 || n503 > 90 {
		t.Fatalf("%d of 200 requests failed at probability 0.3", n503)
	}
}

func TestDelayEndsWithClient(t *testing.T) {
	backend := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {}))
	t.Cleanup(backend.Close)
	p := faultproxy.Start(t, backend.URL, 1)
	p.Inject(faultproxy.Fault{Delay: time.Hour, Times: 1})
	ctx, cancel := context.WithTimeout(t.Context(), 100*time.Millisecond)
	defer cancel()
	req, _ := http.NewRequestWithContext(ctx, "GET", p.URL(), nil)
	_, err := http.DefaultClient.Do(req)
	if !errors.Is(err, context.DeadlineExceeded) {
		t.Fatalf("slow request: %v, want the client's deadline", err)
	}
	if s, _ := get(t, t.Context(), "GET", p.URL()); s != 200 {
		t.Fatalf("after the delay fault: %d", s)
	}
}

func TestBackendDown(t *testing.T) {
	backend := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {}))
	p := faultproxy.Start(t, backend.URL, 1)
	backend.Close()
	if s, _ := get(t, t.Context(), "GET", p.URL()); s != http.StatusBadGateway {
		t.Fatalf("backend down: %d, want 502", s)
	}
	if st := p.Statuses(); st[502] != 1 {
		t.Fatalf("statuses %v", st)
	}
}
