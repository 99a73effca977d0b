package handlers

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"net"
	"net/http"
	"net/http/httptest"
	"net/url"
	"os"
	"strings"
	"testing"
	"time"

	"github.com/rs/zerolog"

	"github.com/disconnect-doctor/disconnect-doctor/event"
	"github.com/disconnect-doctor/disconnect-doctor/internal/funchost"
)

// newTest returns the handler over rec with stdout/stderr buffers.
func newTest(rec *recorder, opts Options) (http.Handler, *bytes.Buffer, *bytes.Buffer) {
	var out, errw bytes.Buffer
	log := zerolog.New(SplitWriter(&out, &errw))
	return New(rec, log, opts), &out, &errw
}

func TestReadinessTouchesNothing(t *testing.T) {
	rec := &recorder{fail: errors.New("store down")}
	h, _, _ := newTest(rec, Options{})
	w := httptest.NewRecorder()
	h.ServeHTTP(w, httptest.NewRequest("GET", "/", nil))
	if w.Code != 200 || w.Header().Get("Content-Type") != "application/json" || w.Body.String() != "{}" {
		t.Errorf("GET / = %d %q %q", w.Code, w.Header().Get("Content-Type"), w.Body)
	}
	if rec.calls() != 0 {
		t.Error("readiness touched the backend")
	}
	w = httptest.NewRecorder()
	h.ServeHTTP(w, httptest.NewRequest("POST", "/NoSuchFunction", strings.NewReader("{}")))
	if w.Code != 404 || w.Header().Get("Content-Type") != "application/json" {
		t.Errorf("unknown function = %d %q", w.Code, w.Header().Get("Content-Type"))
	}
}

// TestDiagnosticLogs drives DiagnosticLogs with host-shaped batches through
// the real ingest parser.
func TestDiagnosticLogs(t *testing.T) {
	a := app(t)
	tests := []struct {
		name     string
		dataType string
		bodies   [][]byte
		read     int
		kept     int
		skipped  int
		logHas   []string
	}{
		{"100 messages of 20 records", "string", diagBatch(100), 2000, 0, 0,
			[]string{"DiagnosticLogs insights-logs-connections/0: 100 messages, read 2000"}},
		{"binary dataType", "binary", diagBatch(3), 60, 0, 0, []string{"3 messages, read 60"}},
		{"malformed and odd bodies", "string", [][]byte{
			[]byte("not json"),
			[]byte(`{"records":"wrong type"}`),
			[]byte(`{"records":[]}`),
			[]byte(`{"records":[{"category":"SomethingNew","time":"2024-05-14T11:00:00Z","resourceId":"` + hubResourceID + `","operationName":"x"}]}`),
			[]byte(`{"records":[42, {"time":"bad","category":"Connections"}]}`),
			diagBody(0),
		}, -1, -1, 1, []string{"6 messages", "skipped"}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			a.Functions[FnDiagnosticLogs].Trigger() // the binding exists
			fn := a.Functions[FnDiagnosticLogs]
			old := fn.Bindings[0].DataType
			fn.Bindings[0].DataType = tt.dataType
			t.Cleanup(func() { fn.Bindings[0].DataType = old })
			rec := &recorder{}
			h, _, errw := newTest(rec, Options{})
			r := a.Call(context.Background(), h, a.EventHubBatch(FnDiagnosticLogs, "0", tt.bodies, nil), 0)
			if r.Failed() {
				t.Fatalf("invocation failed: %v (%s)", r.Err, r.Body)
			}
			if len(rec.results) != 1 || rec.writers[0] != "insights-logs-connections/0" {
				t.Fatalf("backend got %d batches, writers %v", len(rec.results), rec.writers)
			}
			res := rec.results[0]
			if tt.read >= 0 && res.Read != tt.read {
				t.Errorf("Read = %d, want %d", res.Read, tt.read)
			}
			if tt.read == 2000 {
				// 5 of every 7 records are evidence (connect, 404104, 401003,
				// twin 500001, telemetry 500008); Routes and a twin read are not.
				if len(res.Events)+res.Ignored != 2000 || res.Ignored == 0 || len(res.Events) == 0 {
					t.Errorf("kept %d ignored %d", len(res.Events), res.Ignored)
				}
				var n404 int
				for _, e := range res.Events {
					if e.Is404104() {
						n404++
						if e.Hub != "contoso-prod-hub" || e.Device == "" {
							t.Fatalf("bad event %+v", e)
						}
					}
				}
				if n404 == 0 {
					t.Error("no 404104 parsed")
				}
			}
			if tt.skipped > 0 && res.SkippedTotal() < tt.skipped {
				t.Errorf("skipped %d, want at least %d (%v)", res.SkippedTotal(), tt.skipped, res.Skipped)
			}
			logs := strings.Join(r.Logs, "\n")
			for _, s := range tt.logHas {
				if !strings.Contains(logs, s) {
					t.Errorf("Logs %q lack %q", logs, s)
				}
			}
			if errw.Len() != 0 {
				t.Errorf("stderr on a good invocation: %s", errw)
			}
		})
	}
}

// TestDecodeShapes covers envelope variations the host (or its versions)
// may send: key case, Metadata before Data, only PartitionContext, a string
// layer around the partition context, cardinality one, a non-encoded array.
func TestDecodeShapes(t *testing.T) {
	body := string(diagBody(1))
	quoted, _ := json.Marshal(body)
	arr, _ := json.Marshal([]string{body})
	arrQ, _ := json.Marshal(string(arr))
	pc := `{"EventHubName":"hub-a","PartitionId":"7","ConsumerGroup":"$Default"}`
	pcQ, _ := json.Marshal(pc)
	tests := []struct {
		name, req, writer string
		read              int
	}{
		{"canonical", `{"Data":{"events":` + string(arrQ) + `},"Metadata":{"TriggerPartitionContext":` + pc + `}}`, "hub-a/7", 20},
		{"lower-case keys", `{"data":{"EVENTS":` + string(arrQ) + `},"metadata":{"partitioncontext":` + pc + `}}`, "hub-a/7", 20},
		{"metadata first", `{"Metadata":{"PartitionContext":` + pc + `},"Data":{"events":` + string(arrQ) + `}}`, "hub-a/7", 20},
		{"string partition context", `{"Data":{"events":` + string(arrQ) + `},"Metadata":{"TriggerPartitionContext":` + string(pcQ) + `}}`, "hub-a/7", 20},
		{"array not double-encoded", `{"Data":{"events":` + string(arr) + `},"Metadata":{}}`, "diagnosticlogs", 20},
		{"cardinality one", `{"Data":{"events":` + string(mustJSON(string(quoted))) + `}}`, "diagnosticlogs", 20},
		{"no events", `{"Data":{},"Metadata":null}`, "diagnosticlogs", 0},
		{"extra keys", `{"Data":{"other":[1,{"a":[]}],"events":` + string(arrQ) + `},"Metadata":{"sys":{"x":1},"SequenceNumberArray":"[1]"},"More":1}`, "diagnosticlogs", 20},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			rec := &recorder{}
			h, _, _ := newTest(rec, Options{})
			w := httptest.NewRecorder()
			h.ServeHTTP(w, httptest.NewRequest("POST", "/DiagnosticLogs", strings.NewReader(tt.req)))
			if w.Code != 200 || w.Header().Get("Content-Type") != "application/json" {
				t.Fatalf("status %d %q: %s", w.Code, w.Header().Get("Content-Type"), w.Body)
			}
			if len(rec.writers) != 1 || rec.writers[0] != tt.writer || rec.results[0].Read != tt.read {
				t.Errorf("writers %v read %v, want %s %d", rec.writers, rec.results, tt.writer, tt.read)
			}
		})
	}
}

func mustJSON(v any) []byte {
	b, err := json.Marshal(v)
	if err != nil {
		panic(err)
	}
	return b
}

// TestBadEnvelopeNeverFails: input the handler cannot read is answered 200
// with the reason (a failure would be retried forever), and reported on
// stderr.
func TestBadEnvelopeNeverFails(t *testing.T) {
	tests := []struct {
		name, body string
		max        int64
		reason     string
	}{
		{"not json", `{"Data":`, 0, "bad request json"},
		{"trailing garbage", `{"Data":{}} x`, 0, "bad request json"},
		{"too large", `{"Data":{"events":"` + strings.Repeat("x", 4096) + `"}}`, 1024, "request larger than 1024 bytes"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			rec := &recorder{}
			h, _, errw := newTest(rec, Options{MaxBodyBytes: tt.max})
			w := httptest.NewRecorder()
			h.ServeHTTP(w, httptest.NewRequest("POST", "/DiagnosticLogs", strings.NewReader(tt.body)))
			var env envelope
			if w.Code != 200 || json.Unmarshal(w.Body.Bytes(), &env) != nil {
				t.Fatalf("status %d body %s", w.Code, w.Body)
			}
			if len(env.Logs) != 1 || !strings.Contains(env.Logs[0], tt.reason) {
				t.Errorf("Logs = %v", env.Logs)
			}
			if !strings.Contains(errw.String(), tt.reason) {
				t.Errorf("stderr %q lacks the reason", errw)
			}
		})
	}
}

// TestBackendFailure: only a Backend error answers 500, logged on stderr
// (the host drops Logs of a non-2xx).
func TestBackendFailure(t *testing.T) {
	a := app(t)
	build := map[string]func() *funchost.Invocation{
		FnDiagnosticLogs: func() *funchost.Invocation { return a.EventHubBatch(FnDiagnosticLogs, "2", diagBatch(2), nil) },
		FnConnectionStateRoute: func() *funchost.Invocation {
			return a.EventHubBatch(FnConnectionStateRoute, "0", [][]byte{[]byte(`{}`)}, nil)
		},
		FnConnectionEvents: func() *funchost.Invocation {
			return a.EventGrid(FnConnectionEvents, []byte(`{"id":"1"}`), funchost.EventGridText)
		},
		FnEvaluate: func() *funchost.Invocation { return a.Timer(FnEvaluate) },
		FnMetricAlert: func() *funchost.Invocation {
			return a.HTTP(FnMetricAlert, "POST", "api/hooks/metric-alert", nil, nil, []byte(`{"schemaId":"x"}`))
		},
	}
	for name, mk := range build {
		t.Run(name, func(t *testing.T) {
			rec := &recorder{fail: errors.New("store: unavailable: table dcdoctorevents")}
			h, out, errw := newTest(rec, Options{})
			r := a.Call(context.Background(), h, mk(), 0)
			if !errors.Is(r.Err, funchost.ErrStatus) || r.Status != 500 {
				t.Fatalf("Err = %v status %d, want 500", r.Err, r.Status)
			}
			if r.Header.Get("Content-Type") != "application/json" || len(r.Body) == 0 {
				t.Errorf("500 without a JSON body: %q %q", r.Header.Get("Content-Type"), r.Body)
			}
			if !strings.Contains(errw.String(), "store: unavailable") || !strings.Contains(errw.String(), `"level":"error"`) {
				t.Errorf("stderr = %q", errw)
			}
			if strings.Contains(out.String(), "store: unavailable") {
				t.Errorf("the error went to stdout: %q", out)
			}
		})
	}
}

func TestConnectionEvents(t *testing.T) {
	a := app(t)
	read := func(name string) []byte {
		b, err := os.ReadFile("testdata/" + name)
		if err != nil {
			t.Fatal(err)
		}
		return b
	}
	egArray := read("eg_disconnected_eventgrid_schema.json")
	cloud := read("eg_module_connected_cloudevents.json")
	tests := []struct {
		name  string
		event []byte
		shape funchost.EventGridShape
		kind  event.Kind
	}{
		{"event grid array as text", egArray, funchost.EventGridText, event.StateDisconnected},
		{"event grid array as object", egArray, funchost.EventGridObject, event.StateDisconnected},
		{"cloudevents as text", cloud, funchost.EventGridText, event.StateConnected},
		{"cloudevents as object", cloud, funchost.EventGridObject, event.StateConnected},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			rec := &recorder{}
			h, _, _ := newTest(rec, Options{})
			r := a.Call(context.Background(), h, a.EventGrid(FnConnectionEvents, tt.event, tt.shape), 0)
			if r.Failed() {
				t.Fatalf("failed: %v", r.Err)
			}
			if len(rec.results) != 1 || rec.writers[0] != "eventgrid" {
				t.Fatalf("backend got %v", rec.writers)
			}
			evs := rec.results[0].Events
			if len(evs) != 1 || evs[0].Kind != tt.kind || evs[0].Hub != "contoso-prod-hub" {
				t.Fatalf("events = %+v (%s)", evs, rec.results[0].Summary())
			}
			if !strings.Contains(strings.Join(r.Logs, ""), "ConnectionEvents eventgrid: read 1, kept 1") {
				t.Errorf("Logs = %v", r.Logs)
			}
		})
	}
	t.Run("batch dispatch", func(t *testing.T) {
		// function.json has "cardinality": "many": one invocation for the
		// whole delivery, one Ingest for all its events.
		var evs []json.RawMessage
		for _, b := range [][]byte{egArray, cloud} {
			for _, ev := range funchost.SplitEventGrid(b) {
				evs = append(evs, json.RawMessage(ev))
			}
		}
		evs = append(evs, json.RawMessage(`{"id":"x","eventType":"Microsoft.Storage.BlobCreated","subject":"s","eventTime":"2024-05-14T10:00:00Z","data":{}}`))
		body, _ := json.Marshal(evs)
		invs := a.EventGridDelivery(FnConnectionEvents, body, funchost.EventGridText)
		if len(invs) != 1 {
			t.Fatalf("%d invocations for one delivery, want 1", len(invs))
		}
		rec := &recorder{}
		h, _, _ := newTest(rec, Options{})
		if r := a.Call(context.Background(), h, invs[0], 0); r.Failed() {
			t.Fatalf("failed: %v", r.Err)
		}
		if len(rec.results) != 1 || rec.results[0].Read != 3 || len(rec.results[0].Events) != 2 || rec.results[0].Ignored != 1 {
			t.Fatalf("backend got %d results: %s", len(rec.results), rec.results[0].Summary())
		}
	})
	t.Run("missing event", func(t *testing.T) {
		rec := &recorder{}
		h, _, _ := newTest(rec, Options{})
		w := httptest.NewRecorder()
		h.ServeHTTP(w, httptest.NewRequest("POST", "/ConnectionEvents", strings.NewReader(`{"Data":{"event":null}}`)))
		if w.Code != 200 || rec.results[0].Skipped["no event"] != 1 {
			t.Errorf("%d %v", w.Code, rec.results)
		}
	})
}

func TestConnectionStateRoute(t *testing.T) {
	a := app(t)
	props := []map[string]any{
		{"hubName": "contoso-prod-hub", "deviceId": "pump-0042", "opType": "deviceConnected",
			"iothub-message-schema": "deviceConnectionStateNotification", "operationTimestamp": "2024-05-14T11:05:31.4470012Z"},
		{"hubName": "contoso-prod-hub", "deviceId": "pump-0043", "opType": "deviceDisconnected",
			"iothub-message-schema": "deviceConnectionStateNotification"}, // no timestamp: enqueued time
		{"hubName": "contoso-prod-hub", "deviceId": "x"}, // no opType: ignored
	}
	bodies := [][]byte{
		[]byte(`{"sequenceNumber":"000000000000000001DAA1BEC0CAF0F00000000300000000000000000000004C"}`),
		[]byte(`{"sequenceNumber":"000000000000000001DAA1BEC0CAF0F00000000300000000000000000000004D"}`),
		[]byte(`{}`),
	}
	enq := time.Date(2024, 5, 14, 11, 6, 2, 118e6, time.UTC)
	rec := &recorder{}
	h, _, _ := newTest(rec, Options{})
	r := a.Call(context.Background(), h, a.EventHubBatch(FnConnectionStateRoute, "3", bodies, props, funchost.Enqueued(enq)), 0)
	if r.Failed() {
		t.Fatal(r.Err)
	}
	if rec.writers[0] != "connection-state/3" {
		t.Errorf("writer = %s", rec.writers[0])
	}
	res := rec.results[0]
	if res.Read != 3 || len(res.Events) != 2 || res.Ignored != 1 {
		t.Fatalf("%s", res.Summary())
	}
	if e := res.Events[0]; e.Device != "pump-0042" || e.Kind != event.StateConnected || e.Seq == "" {
		t.Errorf("event 0 = %+v", e)
	}
	if e := res.Events[1]; e.Device != "pump-0043" || !e.Time.Equal(enq) {
		t.Errorf("event 1 = %+v, want time %v from EnqueuedTimeUtcArray", e, enq)
	}
}

func TestEvaluate(t *testing.T) {
	a := app(t)
	tests := []struct {
		name string
		req  string
		want string
	}{
		{"host timer", string(a.Timer(FnEvaluate).Payload(0, nil)), "Evaluate: tick ok"},
		{"null schedule status", `{"Data":{"timer":{"Schedule":{"AdjustForDST":true},"ScheduleStatus":null,"IsPastDue":true}},"Metadata":{}}`, "Evaluate: tick ok (past due)"},
		{"unparsable times", `{"Data":{"timer":{"ScheduleStatus":{"Last":"garbage","Next":17},"IsPastDue":"no"}}}`, "Evaluate: tick ok"},
		{"no timer", `{"Data":{}}`, "Evaluate: tick ok"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			rec := &recorder{evalSum: "tick ok"}
			h, _, _ := newTest(rec, Options{})
			w := httptest.NewRecorder()
			h.ServeHTTP(w, httptest.NewRequest("POST", "/Evaluate", strings.NewReader(tt.req)))
			var env envelope
			if w.Code != 200 || json.Unmarshal(w.Body.Bytes(), &env) != nil || rec.evals != 1 {
				t.Fatalf("%d %s evals=%d", w.Code, w.Body, rec.evals)
			}
			if len(env.Logs) != 1 || env.Logs[0] != tt.want {
				t.Errorf("Logs = %v, want %q", env.Logs, tt.want)
			}
		})
	}
}

func TestMetricAlert(t *testing.T) {
	a := app(t)
	fired, err := os.ReadFile("testdata/metric_fired.json")
	if err != nil {
		t.Fatal(err)
	}
	tests := []struct {
		name   string
		body   []byte
		status int
		kept   int
	}{
		{"fired", fired, 200, 1},
		{"json that is not our alert is accepted as ignored", []byte(`{"hello":1}`), 200, 0},
		{"not json", []byte(`<xml/>`), 400, 0},
		{"empty", nil, 400, 0},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			rec := &recorder{}
			h, _, _ := newTest(rec, Options{})
			r := a.Call(context.Background(), h, a.HTTP(FnMetricAlert, "POST", "api/hooks/metric-alert",
				url.Values{"code": {"fn-key"}}, http.Header{"Content-Type": {"application/json"}}, tt.body), 0)
			if r.Failed() {
				t.Fatalf("invocation failed: %v", r.Err)
			}
			res, err := r.HTTPResponse("res")
			if err != nil || res.StatusCode != tt.status || res.Headers["Content-Type"] != "application/json" {
				t.Fatalf("res = %+v, %v", res, err)
			}
			if !json.Valid([]byte(res.Body)) {
				t.Errorf("res body is not JSON: %q", res.Body)
			}
			if len(rec.results) != 1 || rec.writers[0] != "metric" || len(rec.results[0].Events) != tt.kept {
				t.Errorf("backend got %v", rec.results)
			}
		})
	}
}

func TestApi(t *testing.T) {
	a := app(t)
	tests := []struct {
		name, path string
		query      url.Values
		wantPath   string
		status     int
	}{
		{"disconnects", "api/v1/disconnects", url.Values{"hub": {"contoso-prod-hub"}, "code": {"s3cret-key"}}, "disconnects", 200},
		{"device", "api/v1/devices/pump%230042", url.Values{"hub": {"h"}}, "devices/pump#0042", 200},
		{"escaped percent", "api/v1/devices/cell%3A07%2520", url.Values{"hub": {"h"}}, "devices/cell:07%20", 200},
		{"lone percent", "api/v1/devices/100%25", url.Values{"hub": {"h"}}, "devices/100%", 200},
		{"unknown", "api/v1/missing", nil, "missing", 404},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			rec := &recorder{}
			h, out, _ := newTest(rec, Options{})
			r := a.Call(context.Background(), h, a.HTTP(FnApi, "GET", tt.path, tt.query, nil, nil), 0)
			if r.Failed() {
				t.Fatal(r.Err)
			}
			res, err := r.HTTPResponse("res")
			if err != nil || res.StatusCode != tt.status || res.Headers["Content-Type"] != "application/json" || !json.Valid([]byte(res.Body)) {
				t.Fatalf("res = %+v, %v", res, err)
			}
			if rec.queries[0] != tt.wantPath {
				t.Errorf("path = %q, want %q", rec.queries[0], tt.wantPath)
			}
			if _, ok := rec.queryQ[0]["code"]; ok {
				t.Error("the function key reached the backend")
			}
			if tt.query.Get("hub") != "" && rec.queryQ[0].Get("hub") != tt.query.Get("hub") {
				t.Errorf("query = %v", rec.queryQ[0])
			}
			if strings.Contains(out.String(), "s3cret") || strings.Contains(strings.Join(r.Logs, ""), "s3cret") {
				t.Error("the function key reached a log")
			}
		})
	}
}

// idChars are the characters IoT Hub allows in a device or module id
// besides letters and digits.
const idChars = "-.+%_#*?!(),:=@$'"

// escapeAll percent-encodes every byte that is not a letter or digit, the
// most a client may escape.
func escapeAll(s string) string {
	var b strings.Builder
	for i := 0; i < len(s); i++ {
		c := s[i]
		if 'a' <= c && c <= 'z' || 'A' <= c && c <= 'Z' || '0' <= c && c <= '9' {
			b.WriteByte(c)
			continue
		}
		fmt.Fprintf(&b, "%%%02X", c)
	}
	return b.String()
}

// TestApiDeviceIDs: every character legal in a device id reaches the
// backend as it is, in devices/{id} (escaped minimally or fully by the
// client) and in disconnects?deviceId=: the host decodes once, the handler
// never again.
func TestApiDeviceIDs(t *testing.T) {
	a := app(t)
	for _, c := range idChars {
		id := "dev" + string(c) + "7" + string(c) + "25"
		for _, enc := range []string{url.PathEscape(id), escapeAll(id)} {
			rec := &recorder{}
			h, _, _ := newTest(rec, Options{})
			r := a.Call(context.Background(), h, a.HTTP(FnApi, "GET", "api/v1/devices/"+enc, url.Values{"hub": {"h"}}, nil, nil), 0)
			if r.Failed() || len(rec.queries) != 1 {
				t.Fatalf("%q: %v", id, r.Err)
			}
			if want := "devices/" + id; rec.queries[0] != want {
				t.Errorf("devices/%s: path %q, want %q", enc, rec.queries[0], want)
			}
		}
		rec := &recorder{}
		h, _, _ := newTest(rec, Options{})
		r := a.Call(context.Background(), h, a.HTTP(FnApi, "GET", "api/v1/disconnects", url.Values{"deviceId": {id}}, nil, nil), 0)
		if r.Failed() || len(rec.queryQ) != 1 {
			t.Fatalf("%q: %v", id, r.Err)
		}
		if got := rec.queryQ[0].Get("deviceId"); got != id {
			t.Errorf("disconnects?deviceId: got %q, want %q", got, id)
		}
	}
}

// TestServeGraceful: when the context ends, Serve stops accepting and lets
// an in-flight invocation finish before it returns.
func TestServeGraceful(t *testing.T) {
	rec := &recorder{block: make(chan struct{}), entered: make(chan struct{}, 1)}
	h, _, _ := newTest(rec, Options{})
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	served := make(chan error, 1)
	go func() { served <- serveListener(ctx, ln, h, zerolog.Nop()) }()
	t.Cleanup(func() { cancel() })

	a := app(t)
	reply := make(chan *http.Response, 1)
	go func() {
		resp, err := http.Post("http://"+ln.Addr().String()+"/DiagnosticLogs", "application/json",
			bytes.NewReader(a.EventHubBatch(FnDiagnosticLogs, "0", diagBatch(1), nil).Payload(0, nil)))
		if err != nil {
			t.Errorf("in-flight request: %v", err)
			close(reply)
			return
		}
		reply <- resp
	}()
	<-rec.entered // the invocation is in the Backend
	cancel()
	select {
	case err := <-served:
		t.Fatalf("Serve returned with an invocation in flight: %v", err)
	case <-time.After(100 * time.Millisecond): // give Shutdown a chance to (wrongly) return
	}
	close(rec.block)
	resp := <-reply
	if resp == nil || resp.StatusCode != 200 {
		t.Fatalf("in-flight invocation answer: %v", resp)
	}
	resp.Body.Close()
	if err := <-served; err != nil {
		t.Fatalf("Serve = %v", err)
	}
	if _, err := net.DialTimeout("tcp", ln.Addr().String(), time.Second); err == nil {
		t.Error("still accepting after shutdown")
	}
}

func TestServeListenError(t *testing.T) {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer ln.Close()
	if err := Serve(context.Background(), ln.Addr().String(), http.NotFoundHandler(), zerolog.Nop()); err == nil {
		t.Error("Serve on a busy port returned nil")
	}
}

func TestSplitWriter(t *testing.T) {
	var out, errw bytes.Buffer
	log := zerolog.New(SplitWriter(&out, &errw))
	log.Info().Msg("info line")
	log.Warn().Msg("warn line")
	log.Error().Msg("error line")
	if !strings.Contains(out.String(), "info line") || !strings.Contains(out.String(), "warn line") || strings.Contains(out.String(), "error line") {
		t.Errorf("stdout = %q", out.String())
	}
	if !strings.Contains(errw.String(), "error line") || strings.Contains(errw.String(), "info") {
		t.Errorf("stderr = %q", errw.String())
	}
}

// TestBatchIDFromSequenceNumbers: an Event Hubs batch is identified by its
// sequence numbers, the same on every retry, so its progress counts once.
func TestBatchIDFromSequenceNumbers(t *testing.T) {
	a := app(t)
	inv := a.EventHubBatch(FnDiagnosticLogs, "2", diagBatch(3), nil)
	var ids []string
	for retry := range 2 {
		rec := &recorder{}
		h, _, _ := newTest(rec, Options{})
		if r := a.Call(context.Background(), h, inv, retry); r.Failed() || len(rec.results) != 1 {
			t.Fatalf("attempt %d: %v", retry, r.Err)
		}
		ids = append(ids, rec.results[0].Batch)
	}
	want := fmt.Sprintf("%d-%d/3", inv.FirstSequence, inv.LastSequence)
	if ids[0] != want || ids[1] != want {
		t.Errorf("batch ids %q, want %q on both attempts", ids, want)
	}
}
