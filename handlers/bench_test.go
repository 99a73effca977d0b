package handlers

import (
	"bytes"
	"encoding/json"
	"net/http"
	"net/http/httptest"
	"os"
	"testing"

	"github.com/rs/zerolog"
)

// BenchmarkDiagnosticLogsDecode measures a realistic DiagnosticLogs
// invocation (100 messages × 20 records, double-encoded as the host sends
// it) through the full handler request path — envelope decode, the string
// layer, the per-body inner decode and ingest.ResourceLogs — against a plain
// encoding/json decode of the same record bytes into
// struct{Records []map[string]any}. Both report records/s.
func BenchmarkDiagnosticLogsDecode(b *testing.B) {
	a := app(b)
	bodies := diagBatch(100)
	payload := a.EventHubBatch(FnDiagnosticLogs, "0", bodies, nil).Payload(0, nil)
	records := float64(len(bodies) * recordsPerBody)
	b.Run("handler", func(b *testing.B) {
		h := New(&recorder{discard: true}, zerolog.Nop(), Options{})
		b.SetBytes(int64(len(payload)))
		b.ReportAllocs()
		for b.Loop() {
			w := httptest.NewRecorder()
			h.ServeHTTP(w, httptest.NewRequest("POST", "/DiagnosticLogs", bytes.NewReader(payload)))
			if w.Code != 200 {
				b.Fatalf("status %d", w.Code)
			}
		}
		b.ReportMetric(records*float64(b.N)/b.Elapsed().Seconds(), "records/s")
	})
	b.Run("plain-json", func(b *testing.B) {
		var n int64
		for _, body := range bodies {
			n += int64(len(body))
		}
		b.SetBytes(n)
		b.ReportAllocs()
		for b.Loop() {
			for _, body := range bodies {
				var v struct{ Records []map[string]any }
				if err := json.Unmarshal(body, &v); err != nil {
					b.Fatal(err)
				}
			}
		}
		b.ReportMetric(records*float64(b.N)/b.Elapsed().Seconds(), "records/s")
	})
}

// BenchmarkMetricAlertOversized measures what a 50 MB MetricAlert body costs
// the handler (issue 10 item 6: a careless or hostile sender holding the
// action-group URL must not push a small instance into an out-of-memory
// kill). The body is the real fired alert with its description padded to
// 50 MB, wrapped in the invocation request the way the host wraps an HTTP
// trigger (Data.req.Body as a string, the top-level body properties leaked
// into Metadata); B/op is what one such request allocates.
func BenchmarkMetricAlertOversized(b *testing.B) {
	a := app(b)
	body := paddedMetricAlert(b, 50<<20)
	payload := a.HTTP(FnMetricAlert, "POST", "api/hooks/metric-alert", nil,
		http.Header{"Content-Type": {"application/json"}}, body).Payload(0, nil)
	h := New(&recorder{discard: true}, zerolog.Nop(), Options{})
	w := httptest.NewRecorder()
	h.ServeHTTP(w, httptest.NewRequest("POST", "/MetricAlert", bytes.NewReader(payload)))
	b.Logf("answer: %.200s", w.Body)
	b.SetBytes(int64(len(body)))
	b.ReportAllocs()
	for b.Loop() {
		w := httptest.NewRecorder()
		h.ServeHTTP(w, httptest.NewRequest("POST", "/MetricAlert", bytes.NewReader(payload)))
		if w.Code != 200 {
			b.Fatalf("status %d", w.Code)
		}
	}
}

// paddedMetricAlert returns testdata/metric_fired.json with its description
// grown so that the body is n bytes.
func paddedMetricAlert(tb testing.TB, n int) []byte {
	tb.Helper()
	fired, err := os.ReadFile("testdata/metric_fired.json")
	if err != nil {
		tb.Fatal(err)
	}
	const desc = `"description": "Connected devices dropped`
	i := bytes.Index(fired, []byte(desc))
	if i < 0 {
		tb.Fatal("metric_fired.json has no description")
	}
	i += len(desc)
	pad := n - len(fired)
	if pad < 0 {
		pad = 0
	}
	out := make([]byte, 0, len(fired)+pad)
	out = append(out, fired[:i]...)
	out = append(out, bytes.Repeat([]byte("."), pad)...)
	return append(out, fired[i:]...)
}
