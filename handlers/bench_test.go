package handlers

import (
	"bytes"
	"encoding/json"
	"net/http/httptest"
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
