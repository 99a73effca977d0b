package handlers

import (
	"bytes"
	"encoding/json"
	"net/http/httptest"
	"os"
	"path/filepath"
	"testing"

	"github.com/rs/zerolog"
)

// FuzzInvocation sends arbitrary request bodies to every function: the
// answer is always 200 with a parseable JSON envelope (bad input never fails
// an invocation; the Backend here never errors) whose Logs are strings.
func FuzzInvocation(f *testing.F) {
	a := app(f)
	seeds := [][]byte{
		a.EventHubBatch(FnDiagnosticLogs, "0", diagBatch(2), nil).Payload(1, nil),
		a.EventHubBatch(FnConnectionStateRoute, "1", [][]byte{[]byte(`{"sequenceNumber":"01"}`)},
			[]map[string]any{{"opType": "deviceConnected", "hubName": "h", "deviceId": "d"}}).Payload(0, nil),
		a.Timer(FnEvaluate).Payload(0, nil),
		a.HTTP(FnApi, "GET", "api/v1/disconnects", nil, nil, nil).Payload(0, nil),
		[]byte(`{"Data":{"events":"[\"{}\",\"x\"]"},"Metadata":{"PropertiesArray":"[1,2]","EnqueuedTimeUtcArray":"[\"bad\"]"}}`),
		[]byte(`{"Data":{"event":"\"\\\"[]\\\"\""}}`),
		[]byte(`{"Data":{"req":{"Body":{"a":1},"Query":"{}","Params":[]}}}`),
		[]byte(`[]`), []byte(`null`), []byte(`{"Data":{"events":"[\"eyJhIjoxfQ==\"]"}}`),
	}
	// The emulator's golden payloads (host-shaped, other functions' bindings).
	goldens, _ := filepath.Glob("../internal/funchost/testdata/*.golden.json")
	for _, g := range goldens {
		if b, err := os.ReadFile(g); err == nil {
			seeds = append(seeds, b)
		}
	}
	for _, s := range seeds {
		for i := range 6 {
			f.Add(uint8(i), s)
		}
	}
	fns := []string{FnDiagnosticLogs, FnConnectionEvents, FnConnectionStateRoute, FnEvaluate, FnMetricAlert, FnApi}
	h := New(&recorder{discard: true}, zerolog.Nop(), Options{MaxBodyBytes: 1 << 20})
	f.Fuzz(func(t *testing.T, fn uint8, body []byte) {
		w := httptest.NewRecorder()
		h.ServeHTTP(w, httptest.NewRequest("POST", "/"+fns[int(fn)%len(fns)], bytes.NewReader(body)))
		if w.Code != 200 || w.Header().Get("Content-Type") != "application/json" {
			t.Fatalf("status %d %q", w.Code, w.Header().Get("Content-Type"))
		}
		var env struct {
			Outputs map[string]any
			Logs    []string
		}
		if err := json.Unmarshal(w.Body.Bytes(), &env); err != nil || env.Outputs == nil || len(env.Logs) == 0 {
			t.Fatalf("envelope %s: %v", w.Body, err)
		}
	})
}
