package handlers

import (
	"context"
	"encoding/json"
	"fmt"
	"net/url"
	"path/filepath"
	"sync"
	"testing"
	"time"

	"github.com/disconnect-doctor/disconnect-doctor/ingest"
	"github.com/disconnect-doctor/disconnect-doctor/internal/funchost"
)

const hubResourceID = "/SUBSCRIPTIONS/9F3C2B1A-4D5E-4F60-8A7B-1C2D3E4F5A6B/RESOURCEGROUPS/RG-IOT-PROD/PROVIDERS/MICROSOFT.DEVICES/IOTHUBS/CONTOSO-PROD-HUB"

// record renders one resource-log record in the shape of
// reference/iothub-telemetry.md §1.4–§1.5 (properties as a JSON string).
func record(t time.Time, category, op, code, desc, device string) map[string]any {
	props := map[string]any{"deviceId": device, "protocol": "Mqtt", "authType": nil, "maskedIpAddress": "81.204.17.XXX"}
	if category != "Connections" {
		delete(props, "authType")
		props["authenticationType"] = `{"scope":"device","type":"sas","issuer":"iothub","acceptingIpFilterRule":null}`
	}
	p, _ := json.Marshal(props)
	r := map[string]any{
		"time": t.UTC().Format(time.RFC3339), "resourceId": hubResourceID, "operationName": op,
		"category": category, "level": "Information", "properties": string(p), "location": "westeurope",
	}
	if code != "" {
		r["level"], r["resultType"], r["resultDescription"] = "Error", code, desc
	}
	return r
}

// recordsPerBody is the size of a realistic resource-log body.
const recordsPerBody = 20

// diagBody returns body m of a realistic batch: 20 records of mixed
// categories (connects, 404104 and 401003 disconnects, twin and telemetry
// server errors, a Routes error and a successful twin read that are not
// evidence).
func diagBody(m int) []byte {
	base := time.Date(2024, 5, 14, 11, 0, 0, 0, time.UTC).Add(time.Duration(m) * time.Minute)
	var recs []map[string]any
	for i := 0; len(recs) < recordsPerBody; i++ {
		dev := fmt.Sprintf("pump-%04d", m*7+i)
		at := base.Add(time.Duration(i) * time.Second)
		switch i % 7 {
		case 0:
			recs = append(recs, record(at, "Connections", "deviceConnect", "", "", dev))
		case 1:
			recs = append(recs, record(at, "Connections", "deviceDisconnect", "404104", "DeviceConnectionClosedRemotely", dev))
		case 2:
			recs = append(recs, record(at, "Connections", "deviceDisconnect", "401003", "IoTHubUnauthorized", dev))
		case 3:
			recs = append(recs, record(at, "D2CTwinOperations", "update", "500001", "ServerError", dev))
		case 4:
			recs = append(recs, record(at, "DeviceTelemetry", "ingress", "500008", "GenericTimeout", dev))
		case 5:
			recs = append(recs, record(at, "Routes", "endpointUnhealthy", "403004", "DeviceMaximumQueueDepthExceeded", dev))
		case 6:
			recs = append(recs, record(at, "C2DTwinOperations", "read", "", "", dev))
		}
	}
	b, _ := json.Marshal(map[string]any{"records": recs})
	return b
}

// diagBatch returns n realistic bodies.
func diagBatch(n int) [][]byte {
	out := make([][]byte, n)
	for i := range out {
		out[i] = diagBody(i)
	}
	return out
}

// recorder is a Backend that records what it was given; it is the boundary
// of the code under test (the handlers and the real ingest parsers).
type recorder struct {
	mu       sync.Mutex
	writers  []string
	results  []ingest.Result
	evals    int
	queries  []string
	queryQ   []url.Values
	writes   []write
	fail     error
	evalSum  string
	block    chan struct{} // when set, Ingest waits on it
	entered  chan struct{} // when set, Ingest signals entry
	discard  bool          // keep nothing (benchmarks)
	ingested int
}

func (r *recorder) Ingest(ctx context.Context, writer string, res *ingest.Result) error {
	if r.entered != nil {
		r.entered <- struct{}{}
	}
	if r.block != nil {
		<-r.block
	}
	r.mu.Lock()
	defer r.mu.Unlock()
	r.ingested++
	if r.fail != nil {
		return r.fail
	}
	if !r.discard {
		r.writers = append(r.writers, writer)
		r.results = append(r.results, *res)
	}
	return nil
}

func (r *recorder) Evaluate(ctx context.Context) (string, error) {
	r.mu.Lock()
	defer r.mu.Unlock()
	r.evals++
	if r.fail != nil {
		return "", r.fail
	}
	return r.evalSum, nil
}

func (r *recorder) Query(ctx context.Context, path string, q url.Values) (int, any) {
	r.mu.Lock()
	defer r.mu.Unlock()
	r.queries = append(r.queries, path)
	r.queryQ = append(r.queryQ, q)
	if path == "missing" {
		return 404, map[string]string{"error": "unknown device"}
	}
	return 200, map[string]any{"items": []string{"a<b>"}, "next": ""}
}

func (r *recorder) Write(ctx context.Context, method, path string, body []byte) (int, any) {
	r.mu.Lock()
	defer r.mu.Unlock()
	r.writes = append(r.writes, write{method, path, string(body)})
	return 201, map[string]string{"id": "s-1"}
}

// write is one Backend.Write call the recorder saw.
type write struct{ method, path, body string }

func (r *recorder) calls() int {
	r.mu.Lock()
	defer r.mu.Unlock()
	return r.ingested + r.evals + len(r.queries)
}

// app loads the repository's real host.json and function.json files, so
// that in-process requests are built from the same bindings the host uses.
func app(tb testing.TB) *funchost.App {
	tb.Helper()
	a, err := funchost.LoadApp("..", filepath.Join("..", "functions"), funchost.LocalSettings())
	if err != nil {
		tb.Fatal(err)
	}
	return a
}
