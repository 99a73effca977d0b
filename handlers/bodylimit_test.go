package handlers

import (
	"bytes"
	"context"
	"encoding/json"
	"net/http"
	"strings"
	"testing"
	"time"

	"github.com/disconnect-doctor/disconnect-doctor/internal/funchost/emulator"
)

// quotePadded is the fired alert with its description padded to n bytes
// with escaped quotes, the text that grows most in the host's string layer.
func quotePadded(tb testing.TB, n int) []byte {
	b := paddedMetricAlert(tb, n)
	return bytes.ReplaceAll(b, []byte(".."), []byte(`\"`))
}

// TestHTTPBodyLimits (issue 10 item 6): an HTTP function's body over its
// limit is answered 413 with a JSON error, without the Backend being called,
// whether the limit is found from the Content-Length header (before Body is
// read), from the invocation cap, or from the body once read; a body at the
// limit is served.
func TestHTTPBodyLimits(t *testing.T) {
	a := app(t)
	jsonCT := http.Header{"Content-Type": {"application/json"}}
	lying := http.Header{"Content-Type": {"application/json"}, "Content-Length": {"10"}}
	tests := []struct {
		name    string
		fn      string
		header  http.Header
		body    []byte
		status  int
		backend bool
	}{
		{"alert at the limit", FnMetricAlert, jsonCT, paddedMetricAlert(t, MetricAlertBodyLimit), 200, true},
		{"quote-heavy alert at the limit", FnMetricAlert, jsonCT, quotePadded(t, MetricAlertBodyLimit), 200, true},
		{"alert one byte over", FnMetricAlert, jsonCT, paddedMetricAlert(t, MetricAlertBodyLimit+1), 413, false},
		{"50 MB alert", FnMetricAlert, jsonCT, paddedMetricAlert(t, 50<<20), 413, false},
		{"2 MB alert, Content-Length says 10", FnMetricAlert, lying, paddedMetricAlert(t, 2<<20), 413, false},
		{"10 MB alert, Content-Length says 10", FnMetricAlert, lying, paddedMetricAlert(t, 10<<20), 413, false},
		{"api request with a small body", FnApi, jsonCT, []byte(`{"comment":"maintenance"}`), 200, true},
		{"api request over 64 KiB", FnApi, jsonCT, bytes.Repeat([]byte("a"), APIBodyLimit+1), 413, false},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			rec := &recorder{}
			h, _, _ := newTest(rec, Options{})
			method, path := "POST", "api/hooks/metric-alert"
			if tt.fn == FnApi {
				method, path = "GET", "api/v1/health"
			}
			r := a.Call(context.Background(), h, a.HTTP(tt.fn, method, path, nil, tt.header, tt.body), 0)
			if r.Failed() {
				t.Fatalf("invocation failed: %v", r.Err)
			}
			res, err := r.HTTPResponse("res")
			if err != nil || res.StatusCode != tt.status || res.Headers["Content-Type"] != "application/json" {
				t.Fatalf("res = %d %q %v", res.StatusCode, res.Body, err)
			}
			if got := rec.calls() > 0; got != tt.backend {
				t.Errorf("backend called = %v, want %v", got, tt.backend)
			}
			if tt.status == 413 {
				var e struct {
					Error string `json:"error"`
					Limit int64  `json:"limit"`
				}
				if json.Unmarshal([]byte(res.Body), &e) != nil || e.Limit != bodyLimits[tt.fn] || !strings.Contains(e.Error, "larger than") {
					t.Errorf("413 body = %q", res.Body)
				}
				if !strings.Contains(strings.Join(r.Logs, "\n"), "answered 413") {
					t.Errorf("Logs = %v", r.Logs)
				}
			}
		})
	}
}

// TestEmulatorMetricAlertTooLarge: through the real binary, an oversized
// MetricAlert body is a successful invocation answering 413, and the
// handler keeps serving on the same connection pool.
func TestEmulatorMetricAlertTooLarge(t *testing.T) {
	h := emulator.Start(t, emulator.Options{Env: memoryEnv(), FunctionTimeout: time.Minute})
	ctx := context.Background()
	jsonCT := http.Header{"Content-Type": {"application/json"}}
	for _, tc := range []struct {
		size   int
		status int
	}{{8 << 20, 413}, {4 << 10, 200}} {
		r := h.Invoke(ctx, h.HTTP(FnMetricAlert, "POST", "api/hooks/metric-alert", nil, jsonCT, paddedMetricAlert(t, tc.size)), 0, nil)
		if r.Failed() {
			t.Fatalf("%d bytes: invocation failed: %v", tc.size, r.Err)
		}
		res, err := r.HTTPResponse("res")
		if err != nil || res.StatusCode != tc.status {
			t.Errorf("%d bytes: res = %d %q %v", tc.size, res.StatusCode, res.Body, err)
		}
	}
	if h.Restarts() != 0 {
		t.Errorf("handler restarted %d times", h.Restarts())
	}
}
