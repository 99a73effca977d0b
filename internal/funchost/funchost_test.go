package funchost

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"net/http"
	"net/url"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"
)

const testGUID = "6f1c0b7e-2a4d-4c1e-9b3f-5d7a8e9f0a1b"

// testApp loads testdata/app with a pinned clock and GUID.
func testApp(t *testing.T, now time.Time) *App {
	t.Helper()
	a, err := LoadApp("testdata/app", "testdata/app", map[string]string{
		"EventHubConnection": "Endpoint=sb://myns.servicebus.windows.net/;SharedAccessKeyName=listen;SharedAccessKey=x;EntityPath=telemetry",
	})
	if err != nil {
		t.Fatal(err)
	}
	a.Clock = func() time.Time { return now }
	a.NewGUID = func() string { return testGUID }
	return a
}

func mustTime(t *testing.T, s string) time.Time {
	t.Helper()
	v, err := time.Parse(time.RFC3339Nano, s)
	if err != nil {
		t.Fatal(err)
	}
	return v
}

// TestGoldenPayloads pins the request bodies to the reference's examples
// (testdata/*.golden.json, composed from functions-host.md §2.2–§2.5 with an
// independent encoder; see testdata/README.md). Key order and escaping count.
func TestGoldenPayloads(t *testing.T) {
	tests := []struct {
		golden string
		now    string
		build  func(a *App) *Invocation
	}{
		{"eventhubs", "2025-03-01T10:00:01.2345678Z", func(a *App) *Invocation {
			return a.EventHubBatch("ProcessEvents", "0", [][]byte{[]byte(`{"id":1}`), []byte("hello")},
				[]map[string]any{{"source": "sensor"}, nil},
				Sequence(101), Offsets(4294967296, 4294967400),
				Enqueued(time.Date(2025, 3, 1, 10, 0, 0, 123e6, time.UTC), time.Date(2025, 3, 1, 10, 0, 0, 456e6, time.UTC)))
		}},
		{"timer", "2025-03-01T10:00:00.0123456Z", func(a *App) *Invocation {
			return a.Timer("Cleanup", ScheduleStatus(
				time.Date(2025, 3, 1, 9, 55, 0, 0, time.UTC),
				time.Date(2025, 3, 1, 10, 0, 0, 0, time.UTC),
				time.Date(2025, 3, 1, 9, 55, 0, 10300000, time.UTC)))
		}},
		{"eventgrid", "2025-03-01T10:00:00.0123456Z", func(a *App) *Invocation {
			ev, err := os.ReadFile("testdata/eventgrid.event.json")
			if err != nil {
				t.Fatal(err)
			}
			return a.EventGrid("OnBlob", bytes.TrimSpace(ev), EventGridText)
		}},
		{"http", "2025-03-01T10:00:00.0123456Z", func(a *App) *Invocation {
			return a.HTTP("Items", "POST", "api/items/42", url.Values{"code": {"k3y"}, "x": {"1"}},
				http.Header{"Content-Type": {"application/json"}}, []byte(`{"name":"widget","qty":3}`))
		}},
	}
	for _, tt := range tests {
		t.Run(tt.golden, func(t *testing.T) {
			a := testApp(t, mustTime(t, tt.now))
			inv := tt.build(a)
			if inv.BindErr != nil {
				t.Fatalf("BindErr = %v", inv.BindErr)
			}
			got := inv.Payload(0, nil)
			want, err := os.ReadFile(filepath.Join("testdata", tt.golden+".golden.json"))
			if err != nil {
				t.Fatal(err)
			}
			var cw bytes.Buffer
			if err := json.Compact(&cw, want); err != nil {
				t.Fatal(err)
			}
			if !bytes.Equal(got, cw.Bytes()) {
				t.Errorf("payload differs from %s.golden.json\n got: %s\nwant: %s", tt.golden, got, cw.Bytes())
			}
		})
	}
}

// TestDoubleEncodingRoundTrip decodes an Event Hubs payload the way the
// reference's Go recipe does (two json.Unmarshal steps per value) and gets
// the bodies and metadata back.
func TestDoubleEncodingRoundTrip(t *testing.T) {
	bodies := [][]byte{[]byte(`{"records":[{"a":"<&>"}]}`), []byte("plain \"text\"\n"), []byte(`["x"]`)}
	tests := []struct {
		name     string
		dataType string
	}{{"string", "string"}, {"binary", "binary"}}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			a := testApp(t, time.Date(2025, 3, 1, 10, 0, 0, 0, time.UTC))
			a.Functions["ProcessEvents"].Bindings[0].DataType = tt.dataType
			inv := a.EventHubBatch("ProcessEvents", "3", bodies, []map[string]any{{"opType": "deviceConnected"}})
			var req struct {
				Data     map[string]json.RawMessage
				Metadata map[string]json.RawMessage
			}
			if err := json.Unmarshal(inv.Payload(0, nil), &req); err != nil {
				t.Fatal(err)
			}
			var s string
			if err := json.Unmarshal(req.Data["events"], &s); err != nil {
				t.Fatalf("Data.events is not a JSON string: %v", err)
			}
			var got [][]byte
			if tt.dataType == "binary" {
				if err := json.Unmarshal([]byte(s), &got); err != nil { // []byte decodes base64
					t.Fatal(err)
				}
			} else {
				var ss []string
				if err := json.Unmarshal([]byte(s), &ss); err != nil {
					t.Fatal(err)
				}
				for _, x := range ss {
					got = append(got, []byte(x))
				}
			}
			if len(got) != len(bodies) {
				t.Fatalf("got %d bodies, want %d", len(got), len(bodies))
			}
			for i := range bodies {
				if !bytes.Equal(got[i], bodies[i]) {
					t.Errorf("body %d = %q, want %q", i, got[i], bodies[i])
				}
			}
			var ps string
			if err := json.Unmarshal(req.Metadata["PropertiesArray"], &ps); err != nil {
				t.Fatal(err)
			}
			var props []map[string]any
			if err := json.Unmarshal([]byte(ps), &props); err != nil {
				t.Fatal(err)
			}
			if len(props) != 3 || props[0]["opType"] != "deviceConnected" || len(props[1]) != 0 {
				t.Errorf("PropertiesArray = %v", props)
			}
			var es string
			if err := json.Unmarshal(req.Metadata["EnqueuedTimeUtcArray"], &es); err != nil {
				t.Fatal(err)
			}
			if strings.Contains(es, "Z") || !strings.Contains(es, "2025-03-01T10:00:00") {
				t.Errorf("EnqueuedTimeUtcArray = %s, want zone-less times", es)
			}
			for _, k := range []string{"TriggerPartitionContext", "PartitionContext", "PartitionKeyArray", "OffsetArray",
				"OffsetStringArray", "SequenceNumberArray", "SystemPropertiesArray", "sys"} {
				if _, ok := req.Metadata[k]; !ok {
					t.Errorf("Metadata lacks %s", k)
				}
			}
			if _, ok := req.Metadata["RetryContext"]; ok {
				t.Error("RetryContext sent for a function without a retry policy")
			}
		})
	}
}

// TestSingleDispatch covers cardinality one with dataType unset: a JSON body
// is double-encoded and its top-level properties leak into Metadata; a
// non-JSON body fails binding before the handler is called; RetryContext is
// present because the function has a retry policy.
func TestSingleDispatch(t *testing.T) {
	a := testApp(t, time.Date(2025, 3, 1, 10, 0, 0, 0, time.UTC))
	inv := a.EventHubBatch("Single", "0", [][]byte{[]byte(`{"deviceId":"d1","n":5,"sys":{"x":1}}`)}, nil, PartitionKeys("d1"))
	if inv.BindErr != nil {
		t.Fatal(inv.BindErr)
	}
	var req struct{ Data, Metadata map[string]json.RawMessage }
	if err := json.Unmarshal(inv.Payload(1, errors.New("boom")), &req); err != nil {
		t.Fatal(err)
	}
	tests := []struct{ key, want string }{
		{"deviceId", `"\"d1\""`},
		{"n", `"\"5\""`},
		{"sys", `{"x":1}`}, // a leaked key overwrites real metadata
		{"PartitionKey", `"\"d1\""`},
		{"SequenceNumber", `"0"`},
	}
	for _, tt := range tests {
		if got := string(req.Metadata[tt.key]); got != tt.want {
			t.Errorf("Metadata.%s = %s, want %s", tt.key, got, tt.want)
		}
	}
	var rc struct {
		RetryCount, MaxRetryCount int
		Exception                 map[string]any
	}
	if err := json.Unmarshal(req.Metadata["RetryContext"], &rc); err != nil {
		t.Fatal(err)
	}
	if rc.RetryCount != 1 || rc.MaxRetryCount != 3 || rc.Exception["Message"] != "boom" {
		t.Errorf("RetryContext = %+v", rc)
	}
	if bad := a.EventHubBatch("Single", "0", [][]byte{[]byte("hello")}, nil); bad.BindErr == nil {
		t.Error("a non-JSON body with dataType unset must fail binding")
	}
}

func TestRetryDelay(t *testing.T) {
	exp := RetryPolicy{Strategy: "exponentialBackoff", MaxRetryCount: -1,
		MinimumInterval: Duration(5 * time.Second), MaximumInterval: Duration(5 * time.Minute)}
	fixed := RetryPolicy{Strategy: "fixedDelay", DelayInterval: Duration(10 * time.Second)}
	tests := []struct {
		p    RetryPolicy
		n    int
		want time.Duration
	}{
		{exp, 1, 5 * time.Second}, {exp, 2, 10 * time.Second}, {exp, 4, 40 * time.Second},
		{exp, 7, 5 * time.Minute}, {exp, 50, 5 * time.Minute}, {fixed, 1, 10 * time.Second}, {fixed, 9, 10 * time.Second},
	}
	for _, tt := range tests {
		if got := tt.p.Delay(tt.n); got != tt.want {
			t.Errorf("%s Delay(%d) = %v, want %v", tt.p.Strategy, tt.n, got, tt.want)
		}
	}
}

func TestParseTimeSpan(t *testing.T) {
	tests := []struct {
		in   string
		want time.Duration
		bad  bool
	}{
		{"00:10:00", 10 * time.Minute, false}, {"00:00:05", 5 * time.Second, false},
		{"1.02:03:04", 26*time.Hour + 3*time.Minute + 4*time.Second, false},
		{"00:00:00.8", 800 * time.Millisecond, false}, {"-1", 0, false}, {"", 0, false}, {"10m", 0, true},
	}
	for _, tt := range tests {
		got, err := ParseTimeSpan(tt.in)
		if (err != nil) != tt.bad || got != tt.want {
			t.Errorf("ParseTimeSpan(%q) = %v, %v", tt.in, got, err)
		}
	}
}

func TestMatchRoute(t *testing.T) {
	tests := []struct {
		route, path string
		ok          bool
		want        map[string]string
	}{
		{"v1/{*path}", "v1/disconnects", true, map[string]string{"path": "disconnects"}},
		{"v1/{*path}", "v1/devices/dev%231", true, map[string]string{"path": "devices/dev%231"}},
		{"v1/{*path}", "v1", true, map[string]string{"path": ""}},
		{"hooks/metric-alert", "hooks/metric-alert", true, map[string]string{}},
		{"hooks/metric-alert", "hooks/other", false, nil},
		{"items/{id?}", "items", true, map[string]string{}},
		{"items/{id?}", "items/7", true, map[string]string{"id": "7"}},
		{"items/{id}", "items", false, nil},
		{"items/{id}", "items/7/x", false, nil},
	}
	for _, tt := range tests {
		got, ok := matchRoute(tt.route, tt.path)
		if ok != tt.ok {
			t.Errorf("matchRoute(%q, %q) ok = %v", tt.route, tt.path, ok)
			continue
		}
		for k, v := range tt.want {
			if len(got[k]) != 1 || got[k][0] != v {
				t.Errorf("matchRoute(%q, %q)[%s] = %v, want %q", tt.route, tt.path, k, got[k], v)
			}
		}
	}
}

// TestParseResponse pins the host's response rules (reference §3).
func TestParseResponse(t *testing.T) {
	a := testApp(t, time.Now())
	jsonCT := http.Header{"Content-Type": {"application/json"}}
	tests := []struct {
		name   string
		fn     string
		status int
		header http.Header
		body   string
		want   error
		check  func(t *testing.T, r *Result)
	}{
		{"ok", "ProcessEvents", 200, jsonCT, `{"Outputs":{},"Logs":["a"],"ReturnValue":null}`, nil,
			func(t *testing.T, r *Result) {
				if len(r.Logs) != 1 || r.Logs[0] != "a" {
					t.Errorf("Logs = %v", r.Logs)
				}
			}},
		{"top-level keys case-insensitive", "ProcessEvents", 200, jsonCT, `{"outputs":{"Out":1},"LOGS":["x"]}`, nil,
			func(t *testing.T, r *Result) {
				if _, ok := r.Outputs["Out"]; !ok || len(r.Logs) != 1 {
					t.Errorf("Outputs = %v, Logs = %v", r.Outputs, r.Logs)
				}
				if _, ok := r.Outputs["out"]; ok {
					t.Error("Outputs keys must stay case-sensitive")
				}
			}},
		{"text/json accepted", "ProcessEvents", 200, http.Header{"Content-Type": {"text/json; charset=utf-8"}}, `{}`, nil, nil},
		{"500", "ProcessEvents", 500, jsonCT, `{"Logs":["lost"]}`, ErrStatus, nil},
		{"404", "ProcessEvents", 404, jsonCT, `{}`, ErrStatus, nil},
		{"no content type", "ProcessEvents", 200, http.Header{}, `{}`, ErrContentType, nil},
		{"sniffed text/plain", "ProcessEvents", 200, http.Header{"Content-Type": {"text/plain; charset=utf-8"}}, `{}`, ErrContentType, nil},
		{"empty body", "ProcessEvents", 200, jsonCT, ``, ErrEmptyResult, nil},
		{"null body", "ProcessEvents", 200, jsonCT, ` null `, ErrEmptyResult, nil},
		{"not json", "ProcessEvents", 200, jsonCT, `{"Logs":`, ErrBadResponse, nil},
		{"log object", "ProcessEvents", 200, jsonCT, `{"Logs":[{"a":1}]}`, ErrBadResponse, nil},
		{"http res not an object", "Items", 200, jsonCT, `{"Outputs":{"res":"hello"}}`, ErrBadResponse, nil},
		{"http res missing", "Items", 200, jsonCT, `{"Outputs":{}}`, nil, func(t *testing.T, r *Result) {
			o, _ := r.HTTPResponse("res")
			if o.StatusCode != 200 || o.Body != "{}" {
				t.Errorf("missing res = %+v", o)
			}
		}},
		{"http res", "Items", 200, jsonCT, `{"Outputs":{"res":{"StatusCode":"404","Body":"{\"e\":1}","Headers":{"Content-Type":"application/json"}}}}`, nil,
			func(t *testing.T, r *Result) {
				o, err := r.HTTPResponse("res")
				if err != nil || o.StatusCode != 404 || o.Body != `{"e":1}` || o.Headers["Content-Type"] != "application/json" {
					t.Errorf("res = %+v, %v", o, err)
				}
			}},
		{"return value spread", "ProcessEvents", 200, jsonCT, `{"Outputs":{"a":1},"ReturnValue":{"a":2,"b":3}}`, nil,
			func(t *testing.T, r *Result) {
				if string(r.Outputs["a"]) != "2" || string(r.Outputs["b"]) != "3" {
					t.Errorf("Outputs = %s %s", r.Outputs["a"], r.Outputs["b"])
				}
			}},
		{"base64 coercion", "ProcessEvents", 200, jsonCT, `{"Outputs":{"x":"dGVzdA==","y":"hello"}}`, nil,
			func(t *testing.T, r *Result) {
				x, _ := r.Output("x")
				y, _ := r.Output("y")
				if b, ok := x.([]byte); !ok || string(b) != "test" {
					t.Errorf("x = %#v, want bytes", x)
				}
				if y != "hello" {
					t.Errorf("y = %#v", y)
				}
			}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			r := &Result{Status: tt.status, Header: tt.header, Body: []byte(tt.body), fn: a.Function(tt.fn)}
			ParseResponse(r)
			if tt.want == nil && r.Err != nil {
				t.Fatalf("Err = %v, want success", r.Err)
			}
			if tt.want != nil && !errors.Is(r.Err, tt.want) {
				t.Fatalf("Err = %v, want %v", r.Err, tt.want)
			}
			if tt.check != nil {
				tt.check(t, r)
			}
		})
	}
}

// TestHTTPBody: the request body reaches Data.req.Body as one string layer
// (raw text, not re-encoded JSON) and its top-level properties leak into
// Metadata — only when the request has a Content-Length; a chunked request
// and a request without a body carry no Body at all (reference §2.5).
func TestHTTPBody(t *testing.T) {
	a := testApp(t, time.Date(2025, 3, 1, 10, 0, 0, 0, time.UTC))
	a.Functions["Items"].Bindings[0].Methods = []string{"get", "post", "delete"}
	body := []byte(`{"comment":"line 3 \"east\"","n":2}`)
	tests := []struct {
		name     string
		method   string
		header   http.Header
		body     []byte
		wantBody bool
	}{
		{"post with a length", "POST", http.Header{"Content-Type": {"application/json"}}, body, true},
		{"chunked post", "POST", http.Header{"Content-Type": {"application/json"}, "Transfer-Encoding": {"chunked"}}, body, false},
		{"delete without a body", "DELETE", nil, nil, false},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			inv := a.HTTP("Items", tt.method, "api/items/7", nil, tt.header, tt.body)
			if inv.BindErr != nil {
				t.Fatal(inv.BindErr)
			}
			var req struct {
				Data struct {
					Req map[string]json.RawMessage `json:"req"`
				}
				Metadata map[string]json.RawMessage
			}
			if err := json.Unmarshal(inv.Payload(0, nil), &req); err != nil {
				t.Fatal(err)
			}
			var method string
			_ = json.Unmarshal(req.Data.Req["Method"], &method)
			if method != tt.method {
				t.Errorf("Method = %q", method)
			}
			raw, has := req.Data.Req["Body"]
			if has != tt.wantBody {
				t.Fatalf("Body present = %v, want %v", has, tt.wantBody)
			}
			_, leaked := req.Metadata["comment"]
			if leaked != tt.wantBody {
				t.Errorf("body property leaked into Metadata = %v, want %v", leaked, tt.wantBody)
			}
			if !tt.wantBody {
				return
			}
			var got string
			if err := json.Unmarshal(raw, &got); err != nil || got != string(body) {
				t.Errorf("Body = %s (%v), want the raw text %s as one string layer", raw, err, body)
			}
			var hdrs map[string][]string
			_ = json.Unmarshal(req.Data.Req["Headers"], &hdrs)
			if cl := hdrs["Content-Length"]; len(cl) != 1 || cl[0] != fmt.Sprint(len(body)) {
				t.Errorf("Headers Content-Length = %v", cl)
			}
		})
	}
}
