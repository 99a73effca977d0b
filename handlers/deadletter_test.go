package handlers

import (
	"context"
	"encoding/json"
	"strings"
	"testing"
	"time"

	"github.com/disconnect-doctor/disconnect-doctor/internal/azurite"
	"github.com/disconnect-doctor/disconnect-doctor/internal/funchost"
	"github.com/disconnect-doctor/disconnect-doctor/internal/funchost/emulator"
)

// TestEmulatorRecordRefusedByStore (issue 10 item 9): through the real
// binary on Azurite, a batch the table service refuses part of for good
// (HTTP 400) is not failed and retried for ever: the invocation succeeds on
// its first attempt, the records are stored, what was refused is set aside
// and listed by GET v1/deadletters and counted in health, the refusal is an
// error on stderr, and Evaluate raises records-rejected.
//
// No record a hub sends is refused today (events are cut to fit a row), so
// the refusal is provoked where the service really refuses: an Event Hub
// name of 40 000 characters (real ones have at most 256) makes the batch's
// progress mark a string over Azurite's (and Azure's) property limit, and
// the service answers PropertyValueTooLarge.
func TestEmulatorRecordRefusedByStore(t *testing.T) {
	srv := azurite.Start(t, azurite.Options{})
	hubName := "insights-logs-" + strings.Repeat("x", 40_000)
	h := emulator.Start(t, emulator.Options{
		Env: funchost.WithLocalSettings(map[string]string{
			"STATE_STORAGE": srv.ConnString(), "STATE_TABLE_PREFIX": srv.Prefix(), "WATERMARK": "eventtime",
			"DIAGNOSTICS_EVENTHUB_NAME": hubName,
		}),
		FunctionTimeout: time.Minute, MaxAttempts: 3,
	})
	ctx := context.Background()
	at := time.Date(2024, 5, 14, 11, 0, 0, 0, time.UTC)
	body, _ := json.Marshal(map[string]any{"records": []any{
		record(at, "Connections", "deviceConnect", "", "", "pump-0001"),
		record(at.Add(time.Second), "Connections", "deviceDisconnect", "404104", "DeviceConnectionClosedRemotely", "pump-0001"),
		record(at.Add(10*time.Minute), "Connections", "deviceConnect", "", "", "pump-0002"),
	}})
	out := h.DeliverPartition(ctx, FnDiagnosticLogs, "0", []emulator.Batch{{Bodies: [][]byte{body}}})
	if r := out[0].Last(); r.Failed() || len(out[0].Results) != 1 {
		t.Fatalf("batch failed or was retried: %d attempts, %v %s", len(out[0].Results), r.Err, r.Body)
	}
	// The handler's stderr reaches the emulator asynchronously.
	for deadline := time.Now().Add(10 * time.Second); !strings.Contains(strings.Join(h.Stderr(), "\n"), "set aside as dead letters"); {
		if time.Now().After(deadline) {
			t.Fatalf("no error on stderr: %q", h.Stderr())
		}
		time.Sleep(20 * time.Millisecond)
	}
	api := func(path string) map[string]any {
		t.Helper()
		r := h.Invoke(ctx, h.HTTP(FnApi, "GET", "api/v1/"+path, nil, nil, nil), 0, nil)
		res, err := r.HTTPResponse("res")
		if r.Failed() || err != nil || res.StatusCode != 200 {
			t.Fatalf("GET %s: %v %v %d %s", path, r.Err, err, res.StatusCode, res.Body)
		}
		var m map[string]any
		if err := json.Unmarshal([]byte(res.Body), &m); err != nil {
			t.Fatal(err)
		}
		return m
	}
	items, _ := api("deadletters")["items"].([]any)
	if len(items) != 1 {
		t.Fatalf("deadletters = %v", items)
	}
	dl := items[0].(map[string]any)
	if !strings.HasPrefix(dl["writer"].(string), "insights-logs-xxx") || !strings.Contains(dl["reason"].(string), "PropertyValueTooLarge") ||
		!strings.Contains(dl["excerpt"].(string), "a batch of 3 records") {
		t.Errorf("dead letter %v", dl)
	}
	if hl := api("health"); hl["deadLetters"] != float64(1) {
		t.Errorf("health %v", hl)
	}
	if r := h.Invoke(ctx, h.Timer(FnEvaluate), 0, nil); r.Failed() {
		t.Fatalf("Evaluate: %v %s", r.Err, r.Body)
	}
	pl, _ := json.Marshal(api("health")["pipeline"])
	if !strings.Contains(string(pl), `"kind":"records-rejected"`) {
		t.Errorf("health's pipeline alerts lack records-rejected: %s", pl)
	}
	d, _ := json.Marshal(api("disconnects"))
	if !strings.Contains(string(d), "pump-0001") {
		t.Errorf("the batch's other records were not diagnosed: %s", d)
	}
}
