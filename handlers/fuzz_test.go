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

// FuzzAppendUnquote checks the string-layer decoder against encoding/json on
// every valid JSON string literal.
func FuzzAppendUnquote(f *testing.F) {
	for _, s := range []string{`""`, `"abc"`, `"a\"b\\c\/d\b\f\n\r\t"`, `"\u00e9\u4e16"`, `"\ud83d\ude00"`,
		`"\ud83d"`, `"\ude00x"`, `"\ud83d\u0041"`, "\"\xff\xfe\"", `"héllo"`, `"{\"records\":[]}"`} {
		f.Add([]byte(s))
	}
	f.Fuzz(func(t *testing.T, q []byte) {
		var want string
		if json.Unmarshal(q, &want) != nil {
			return // only string literals reach appendUnquote (the decoder validates first)
		}
		q = bytes.TrimSpace(q)
		if got := appendUnquote(nil, q); string(got) != want {
			t.Fatalf("appendUnquote(%q) = %q, want %q", q, got, want)
		}
	})
}

// FuzzScanString checks the one-pass scanner of the inner batch array
// against encoding/json on arbitrary input: it accepts exactly the valid
// JSON string literals at the start of the input and decodes them alike.
func FuzzScanString(f *testing.F) {
	for _, s := range []string{`""`, `"abc",`, `"a\"b"]`, `"\u00e9"x`, `"\ud83d\ude00"`, `"\ud83d"`, "\"\x01\"", `"\x"`,
		`"unterminated`, `"\u12"`, "\"\xff\"", `"a"  "b"`, `x"a"`} {
		f.Add([]byte(s))
	}
	f.Fuzz(func(t *testing.T, s []byte) {
		got, n, ok := scanString(nil, s)
		if !ok {
			// No prefix of s up to a closing quote may be a valid literal.
			for i := 1; i <= len(s); i++ {
				if s[i-1] == '"' && i > 1 && json.Valid(s[:i]) && s[0] == '"' {
					var w string
					if json.Unmarshal(s[:i], &w) == nil && i == len(s) {
						t.Fatalf("scanString(%q) rejected a valid literal", s)
					}
				}
			}
			return
		}
		var want string
		if err := json.Unmarshal(s[:n], &want); err != nil {
			t.Fatalf("scanString(%q) accepted %q, which encoding/json rejects: %v", s, s[:n], err)
		}
		if string(got) != want {
			t.Fatalf("scanString(%q) = %q, want %q", s, got, want)
		}
	})
}

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
