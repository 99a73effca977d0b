package handlers

import (
	"context"
	"errors"
	"fmt"
	"net"
	"net/http"
	"net/http/httptest"
	"os"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/disconnect-doctor/disconnect-doctor/internal/funchost"
	"github.com/disconnect-doctor/disconnect-doctor/internal/funchost/emulator"
)

// These tests run the real handler binary (./cmd/handler) under the host
// emulator: host-shaped requests over a real socket, the real pipeline on
// the in-memory store.

// memoryEnv is the app settings of a handler with in-process state (and the
// settings function.json references, which have no default).
func memoryEnv() map[string]string {
	return funchost.WithLocalSettings(map[string]string{"STATE_STORAGE": "memory", "WATERMARK": "eventtime"})
}

func TestEmulatorDiagnosticLogs(t *testing.T) {
	h := emulator.Start(t, emulator.Options{Env: memoryEnv(), FunctionTimeout: time.Minute})
	ctx := context.Background()
	tests := []struct {
		name   string
		bodies [][]byte
		logHas []string
	}{
		{"100 messages of 20 records, mixed categories", diagBatch(100),
			[]string{"DiagnosticLogs insights-logs-connections/4: 100 messages, read 2000"}},
		{"malformed, wrong types, empty records, unknown categories", [][]byte{
			[]byte("{not json"),
			[]byte(`{"records":{"a":1}}`),
			[]byte(`{"records":[]}`),
			[]byte(`{"records":[{"category":"BrandNewCategory","time":"2024-05-14T11:00:00Z","resourceId":"` + hubResourceID + `","operationName":"x"}]}`),
			[]byte(`{"records":[{"category":"Connections","operationName":"deviceConnect","time":17}]}`),
		}, []string{"5 messages", "skipped"}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			out := h.DeliverPartition(ctx, FnDiagnosticLogs, "4", []emulator.Batch{{Bodies: tt.bodies}})
			r := out[0].Last()
			if r.Failed() || len(out[0].Results) != 1 {
				t.Fatalf("invocation failed: %v (%d attempts) %s", r.Err, len(out[0].Results), r.Body)
			}
			if r.Status != 200 || !strings.HasPrefix(r.Header.Get("Content-Type"), "application/json") {
				t.Errorf("answer %d %q", r.Status, r.Header.Get("Content-Type"))
			}
			logs := strings.Join(r.Logs, "\n")
			for _, s := range tt.logHas {
				if !strings.Contains(logs, s) {
					t.Errorf("Logs %q lack %q", logs, s)
				}
			}
		})
	}
}

func TestEmulatorConnectionEvents(t *testing.T) {
	h := emulator.Start(t, emulator.Options{Env: memoryEnv(), FunctionTimeout: time.Minute})
	egArray, err := os.ReadFile("testdata/eg_disconnected_eventgrid_schema.json")
	if err != nil {
		t.Fatal(err)
	}
	cloud, err := os.ReadFile("testdata/eg_module_connected_cloudevents.json")
	if err != nil {
		t.Fatal(err)
	}
	tests := []struct {
		name  string
		event []byte
		shape funchost.EventGridShape
	}{
		{"event grid array, text", egArray, funchost.EventGridText},
		{"event grid array, object", egArray, funchost.EventGridObject},
		{"cloudevents, text", cloud, funchost.EventGridText},
		{"cloudevents, object", cloud, funchost.EventGridObject},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			r := h.Invoke(context.Background(), h.EventGrid(FnConnectionEvents, tt.event, tt.shape), 0, nil)
			if r.Failed() {
				t.Fatalf("failed: %v %s", r.Err, r.Body)
			}
			if !strings.Contains(strings.Join(r.Logs, ""), "read 1, kept 1") {
				t.Errorf("Logs = %v", r.Logs)
			}
		})
	}
}

func TestEmulatorApiAndTimer(t *testing.T) {
	h := emulator.Start(t, emulator.Options{Env: memoryEnv(), FunctionTimeout: time.Minute})
	ctx := context.Background()
	if r := h.Invoke(ctx, h.Timer(FnEvaluate), 0, nil); r.Failed() {
		t.Fatalf("Evaluate: %v %s", r.Err, r.Body)
	}
	r := h.Invoke(ctx, h.HTTP(FnApi, "GET", "api/v1/health", nil, nil, nil), 0, nil)
	if r.Failed() {
		t.Fatalf("Api: %v", r.Err)
	}
	res, err := r.HTTPResponse("res")
	if err != nil || res.StatusCode != 200 || res.Headers["Content-Type"] != "application/json" {
		t.Errorf("health = %+v, %v", res, err)
	}
}

// closedPort returns a local port nothing listens on.
func closedPort(t *testing.T) int {
	t.Helper()
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	port := l.Addr().(*net.TCPAddr).Port
	l.Close()
	return port
}

// TestEmulatorReadinessWithStorageDown: GET / answers while the state
// store is unreachable (Start returns only once the readiness probe got an
// answer), because readiness touches no dependency.
func TestEmulatorReadinessWithStorageDown(t *testing.T) {
	conn := fmt.Sprintf("DefaultEndpointsProtocol=http;AccountName=devstoreaccount1;AccountKey=%s;TableEndpoint=http://127.0.0.1:%d/devstoreaccount1;", accountKey, closedPort(t))
	h := emulator.Start(t, emulator.Options{Env: funchost.WithLocalSettings(map[string]string{"STATE_STORAGE": conn})})
	resp, err := http.Get(h.URL() + "/")
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	if resp.StatusCode != 200 || resp.Header.Get("Content-Type") != "application/json" {
		t.Errorf("GET / = %d %q", resp.StatusCode, resp.Header.Get("Content-Type"))
	}
}

// accountKey is Azurite's published development key (not a secret, but
// treated as one: it must not reach a log line).
const accountKey = "Eby8vdM02xNOcqFlqUwJPLlmEtlCDXJ1OUzFT50uSRZ6IFsuFq2UVErCz4I6tq/K1SZFPTOtr/KBHBeksoGMGw=="

// TestEmulatorStorageFailure: with a table endpoint that refuses every
// request (a storage account whose key was rotated: a real HTTP server
// answering 403 at once), a batch answers 500, the emulator retries the
// same batch per the retry policy, the partition is checkpointed after the
// final attempt, the error is on stderr, and the account key never reaches
// a log line.
func TestEmulatorStorageFailure(t *testing.T) {
	var hits atomic.Int64
	table := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		hits.Add(1)
		w.Header().Set("Content-Type", "application/json;odata=minimalmetadata")
		w.Header().Set("x-ms-error-code", "AuthenticationFailed")
		w.WriteHeader(http.StatusForbidden)
		_, _ = w.Write([]byte(`{"odata.error":{"code":"AuthenticationFailed","message":{"lang":"en-US","value":"Server failed to authenticate the request."}}}`))
	}))
	t.Cleanup(table.Close)
	conn := fmt.Sprintf("DefaultEndpointsProtocol=http;AccountName=devstoreaccount1;AccountKey=%s;TableEndpoint=%s/devstoreaccount1;", accountKey, table.URL)
	h := emulator.Start(t, emulator.Options{
		Env:             funchost.WithLocalSettings(map[string]string{"STATE_STORAGE": conn, "WATERMARK": "eventtime"}),
		FunctionTimeout: time.Minute,
		MaxAttempts:     3,
	})
	out := h.DeliverPartition(context.Background(), FnDiagnosticLogs, "0", []emulator.Batch{{Bodies: diagBatch(2)}})
	b := out[0]
	if b.Succeeded() || len(b.Results) != 3 || !b.Bounded {
		t.Fatalf("succeeded=%v attempts=%d bounded=%v last=%v %s", b.Succeeded(), len(b.Results), b.Bounded, b.Last().Err, b.Last().Body)
	}
	for i, r := range b.Results {
		if !errors.Is(r.Err, funchost.ErrStatus) || r.Status != 500 || r.RetryCount != i {
			t.Errorf("attempt %d: %v status %d retry %d", i, r.Err, r.Status, r.RetryCount)
		}
	}
	if hits.Load() == 0 {
		t.Error("the table endpoint was never called")
	}
	if seq, ok := h.Checkpoint("insights-logs-connections", "0"); !ok || seq != b.Invocation.LastSequence {
		t.Errorf("checkpoint = %d, %v", seq, ok)
	}
	stderr := strings.Join(h.Stderr(), "\n")
	if !strings.Contains(stderr, "DiagnosticLogs") || !strings.Contains(stderr, `"level":"error"`) {
		t.Errorf("stderr lacks the failure:\n%s", stderr)
	}
	all := stderr + strings.Join(h.Stdout(), "\n")
	if strings.Contains(all, accountKey) || strings.Contains(all, "AccountKey") {
		t.Error("the storage account key reached a log line")
	}
}

// TestEmulatorUnsetSettingDoesNotLoad (issue 10 item 8): without
// DIAGNOSTICS_EVENTHUB_NAME the host does not load DiagnosticLogs (its
// function.json references %DIAGNOSTICS_EVENTHUB_NAME% and the host has no
// default), so no batch reaches the handler; the other functions work.
func TestEmulatorUnsetSettingDoesNotLoad(t *testing.T) {
	env := funchost.WithLocalSettings(map[string]string{"STATE_STORAGE": "memory"})
	delete(env, "DIAGNOSTICS_EVENTHUB_NAME")
	h := emulator.Start(t, emulator.Options{Env: env, FunctionTimeout: time.Minute})
	ctx := context.Background()
	out := h.DeliverPartition(ctx, FnDiagnosticLogs, "0", []emulator.Batch{{Bodies: diagBatch(1)}})
	if r := out[0].Last(); !errors.Is(r.Err, funchost.ErrNotLoaded) || !strings.Contains(r.Err.Error(), "'%DIAGNOSTICS_EVENTHUB_NAME%' does not resolve to a value") {
		t.Errorf("DiagnosticLogs: %v", r.Err)
	}
	for _, line := range h.Stdout() {
		if strings.Contains(line, "DiagnosticLogs") {
			t.Errorf("the handler saw a DiagnosticLogs invocation: %s", line)
		}
	}
	r := h.Invoke(ctx, h.HTTP(FnApi, "GET", "api/v1/health", nil, nil, nil), 0, nil)
	if r.Failed() {
		t.Fatalf("Api: %v", r.Err)
	}
}
