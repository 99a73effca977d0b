package funchost

import (
	"context"
	"encoding/json"
	"io"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"
	"time"
)

// TestGateway: the front door routes by the trigger's route, asks for the
// function key, sends the non-forwarded invocation and writes the http
// output back with its headers; a failed invocation is a bare 500.
func TestGateway(t *testing.T) {
	a := testApp(t, time.Date(2025, 3, 1, 10, 0, 0, 0, time.UTC))
	var got struct {
		Data map[string]json.RawMessage
	}
	handler := http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if r.URL.Path != "/Items" {
			w.WriteHeader(500)
			return
		}
		_ = json.NewDecoder(r.Body).Decode(&got)
		w.Header().Set("Content-Type", "application/json")
		if strings.Contains(string(got.Data["req"]), "boom") {
			w.WriteHeader(500)
			_, _ = w.Write([]byte(`{}`))
			return
		}
		_, _ = w.Write([]byte(`{"Outputs":{"res":{"statusCode":203,"body":"<p>hi</p>","headers":{"Content-Type":"text/html; charset=utf-8","X-Extra":"1"}}},"Logs":[],"ReturnValue":null}`))
	})
	gw := &Gateway{App: a, Keys: []string{"k3y"},
		Invoke: func(ctx context.Context, inv *Invocation) *Result { return a.Call(ctx, handler, inv, 0) }}
	srv := httptest.NewServer(gw)
	t.Cleanup(srv.Close)
	tests := []struct {
		name, path string
		header     http.Header
		status     int
		body       string
		ctype      string
	}{
		{"key in query", "/api/items/42?code=k3y&x=1", nil, 203, "<p>hi</p>", "text/html; charset=utf-8"},
		{"key in header", "/api/items/42", http.Header{"X-Functions-Key": {"k3y"}}, 203, "<p>hi</p>", "text/html; charset=utf-8"},
		{"no key", "/api/items/42", nil, 401, "", ""},
		{"wrong key", "/api/items/42?code=nope", nil, 401, "", ""},
		{"no such route", "/api/nothing/here?code=k3y", nil, 404, "", ""},
		{"outside the prefix", "/items/42?code=k3y", nil, 404, "", ""},
		{"failed invocation", "/api/items/boom?code=k3y", nil, 500, "", ""},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			req, _ := http.NewRequest("GET", srv.URL+tt.path, nil)
			for k, v := range tt.header {
				req.Header[k] = v
			}
			resp, err := http.DefaultClient.Do(req)
			if err != nil {
				t.Fatal(err)
			}
			body, _ := io.ReadAll(resp.Body)
			resp.Body.Close()
			if resp.StatusCode != tt.status {
				t.Fatalf("status %d, want %d (%s)", resp.StatusCode, tt.status, body)
			}
			if tt.body != "" && (string(body) != tt.body || resp.Header.Get("Content-Type") != tt.ctype || resp.Header.Get("X-Extra") != "1") {
				t.Errorf("answer %q %v", body, resp.Header)
			}
		})
	}
	if !strings.Contains(string(got.Data["req"]), `\"id\":\"boom\"`) && !strings.Contains(string(got.Data["req"]), `"id":"boom"`) {
		t.Errorf("the route value did not reach the invocation: %s", got.Data["req"])
	}
}
