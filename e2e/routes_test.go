package e2e

import (
	"context"
	"encoding/json"
	"net/http"
	"net/url"
	"testing"
	"time"

	"github.com/disconnect-doctor/disconnect-doctor/internal/funchost"
	"github.com/disconnect-doctor/disconnect-doctor/internal/funchost/emulator"
)

// idChars are the characters IoT Hub allows in a device or module id
// besides letters and digits.
const idChars = "-.+%_#*?!(),:=@$'"

const routesResourceID = "/SUBSCRIPTIONS/9F3C2B1A-4D5E-4F60-8A7B-1C2D3E4F5A6B/RESOURCEGROUPS/RG-IOT/PROVIDERS/MICROSOFT.DEVICES/IOTHUBS/ROUTES-HUB"

// connRecord renders one Connections resource-log record
// (reference/iothub-telemetry.md §1.4).
func connRecord(at time.Time, op, code, device string) map[string]any {
	props, _ := json.Marshal(map[string]any{"deviceId": device, "protocol": "Mqtt", "authType": nil, "maskedIpAddress": "81.204.17.XXX"})
	r := map[string]any{"time": at.UTC().Format(time.RFC3339), "resourceId": routesResourceID, "operationName": op,
		"category": "Connections", "level": "Information", "properties": string(props), "location": "westeurope"}
	if code != "" {
		r["level"], r["resultType"], r["resultDescription"] = "Error", code, "DeviceConnectionClosedRemotely"
	}
	return r
}

// TestDeviceIDsThroughHost: through the real handler under the emulated
// host, a device whose id holds each character IoT Hub allows is found by
// devices/{id} (the client escaping the id with url.PathEscape) and by
// disconnects?deviceId=.
func TestDeviceIDsThroughHost(t *testing.T) {
	ctx := context.Background()
	h := emulator.Start(t, emulator.Options{
		Env:             funchost.WithLocalSettings(map[string]string{"STATE_STORAGE": "memory", "WATERMARK": "eventtime", "ALLOWED_LATENESS": "1m"}),
		FunctionTimeout: time.Minute, MaxAttempts: 1,
	})
	t0 := time.Date(2026, 11, 29, 10, 0, 0, 0, time.UTC)
	var ids []string
	var recs []map[string]any
	for _, c := range idChars {
		id := "dev" + string(c) + "7" + string(c) + "25"
		ids = append(ids, id)
		recs = append(recs, connRecord(t0, "deviceConnect", "", id),
			connRecord(t0.Add(time.Hour), "deviceDisconnect", "404104", id),
			connRecord(t0.Add(time.Hour+20*time.Second), "deviceConnect", "", id))
	}
	// A later record moves the event-time watermark past every disconnect.
	recs = append(recs, connRecord(t0.Add(2*time.Hour), "deviceConnect", "", "late-device"))
	body, _ := json.Marshal(map[string]any{"records": recs})
	h.Clock = func() time.Time { return t0.Add(2 * time.Hour) }
	for _, o := range h.DeliverPartition(ctx, "DiagnosticLogs", "0", []emulator.Batch{{Bodies: [][]byte{body}}}) {
		if !o.Succeeded() {
			t.Fatalf("DiagnosticLogs: %v %s", o.Last().Err, o.Last().Body)
		}
	}
	for range settleEvaluations {
		mustInvoke(ctx, t, h, h.Timer("Evaluate"))
	}
	for _, id := range ids {
		var dev struct {
			DeviceID string            `json:"deviceId"`
			Timeline []json.RawMessage `json:"timeline"`
		}
		if st := apiGet(ctx, t, h, "devices/"+url.PathEscape(id), url.Values{"hub": {"routes-hub"}}, &dev); st != http.StatusOK || dev.DeviceID != id || len(dev.Timeline) == 0 {
			t.Errorf("devices/%s = %d %q with %d timeline entries", url.PathEscape(id), st, dev.DeviceID, len(dev.Timeline))
		}
		var ds struct {
			Items []wireDiagnosis `json:"items"`
		}
		if st := apiGet(ctx, t, h, "disconnects", url.Values{"hub": {"routes-hub"}, "deviceId": {id}}, &ds); st != http.StatusOK || len(ds.Items) != 1 || ds.Items[0].DeviceID != id {
			t.Errorf("disconnects?deviceId=%s = %d %+v", id, st, ds.Items)
		}
	}
}
