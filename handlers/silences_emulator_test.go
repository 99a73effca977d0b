package handlers

import (
	"context"
	"encoding/json"
	"io"
	"net/http"
	"net/http/httptest"
	"net/url"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/disconnect-doctor/disconnect-doctor/internal/funchost"
	"github.com/disconnect-doctor/disconnect-doctor/internal/funchost/emulator"
)

// webhookRecorder is a local generic-webhook receiver that keeps the bodies.
type webhookRecorder struct {
	mu     sync.Mutex
	bodies []string
}

func startWebhook(t *testing.T) (*webhookRecorder, string) {
	t.Helper()
	w := &webhookRecorder{}
	srv := httptest.NewServer(http.HandlerFunc(func(rw http.ResponseWriter, r *http.Request) {
		b, _ := io.ReadAll(r.Body)
		w.mu.Lock()
		w.bodies = append(w.bodies, string(b))
		w.mu.Unlock()
		rw.WriteHeader(http.StatusNoContent)
	}))
	t.Cleanup(srv.Close)
	return w, srv.URL
}

func (w *webhookRecorder) got() []string {
	w.mu.Lock()
	defer w.mu.Unlock()
	return append([]string(nil), w.bodies...)
}

// apiCall invokes the Api function through the emulator and returns the
// HTTP status and body the host would answer the caller with.
func apiCall(ctx context.Context, t *testing.T, h *emulator.Host, method, path string, q url.Values, hdr http.Header, body string) (int, string) {
	t.Helper()
	var b []byte
	if body != "" {
		b = []byte(body)
	}
	r := h.Invoke(ctx, h.HTTP(FnApi, method, "api/v1/"+path, q, hdr, b), 0, nil)
	if r.Failed() {
		t.Fatalf("%s %s: invocation failed: %v %s", method, path, r.Err, r.Body)
	}
	res, err := r.HTTPResponse("res")
	if err != nil {
		t.Fatalf("%s %s: %v", method, path, err)
	}
	return res.StatusCode, res.Body
}

// connBody is one resource-log body of Connections records.
func connBody(recs ...map[string]any) []byte {
	b, _ := json.Marshal(map[string]any{"records": recs})
	return b
}

// TestEmulatorSilences drives silences through the real binary under the
// host emulator: created, listed and deleted through the Api function (POST
// and DELETE with the host's request shape, function key in the query); a
// silenced device-offline is recorded with the silence's ID and not sent; a
// device that went offline and came back during the silence is never
// mentioned; when the silence is deleted the alert still firing goes out at
// the next Evaluate.
func TestEmulatorSilences(t *testing.T) {
	hook, hookURL := startWebhook(t)
	h := emulator.Start(t, emulator.Options{Env: funchost.WithLocalSettings(map[string]string{
		"STATE_STORAGE": "memory", "WATERMARK": "eventtime", "ALLOWED_LATENESS": "1m", "RECONNECT_GRACE": "30s",
		"OFFLINE_AFTER": "5m", "ALERT_WEBHOOK_URL": hookURL + "/hook?sig=silence-test-secret",
	}), FunctionTimeout: time.Minute, MaxAttempts: 1})
	ctx := context.Background()
	key := url.Values{"code": {"function-key"}}
	jsonHdr := http.Header{"Content-Type": {"application/json"}}

	// Bad input: 400 naming the field, nothing stored; a chunked request
	// reaches the handler without its body.
	for _, c := range []struct {
		name, body string
		hdr        http.Header
		param      string
	}{
		{"over-wide", `{"matchers":{"hub":"*"},"endsAt":"2099-01-01T00:00:00Z","createdBy":"a","comment":"c"}`, jsonHdr, "matchers.hub"},
		{"unknown kind", `{"matchers":{"hub":"contoso-prod-hub","kind":"device-gone"},"endsAt":"2099-01-01T00:00:00Z","createdBy":"a","comment":"c"}`, jsonHdr, "matchers.kind"},
		{"chunked", `{"matchers":{"hub":"contoso-prod-hub"},"endsAt":"2099-01-01T00:00:00Z","createdBy":"a","comment":"c"}`,
			http.Header{"Content-Type": {"application/json"}, "Transfer-Encoding": {"chunked"}}, "body"},
	} {
		code, body := apiCall(ctx, t, h, "POST", "silences", key, c.hdr, c.body)
		var e struct{ Error, Parameter string }
		_ = json.Unmarshal([]byte(body), &e)
		if code != 400 || e.Parameter != c.param {
			t.Errorf("%s: %d %s, want 400 naming %s", c.name, code, body, c.param)
		}
	}

	// The maintenance window: device-offline on the pumps of the hub.
	base := time.Now().UTC().Truncate(time.Second)
	code, body := apiCall(ctx, t, h, "POST", "silences", key, jsonHdr,
		`{"matchers":{"hub":"CONTOSO-PROD-HUB","deviceId":"pump-*","kind":"device-offline"},"endsAt":"`+
			base.Add(2*time.Hour).Format(time.RFC3339)+`","createdBy":"alice@contoso.com","comment":"pump firmware update"}`)
	var sil struct {
		ID, Status string
		Alerts     []string
	}
	if err := json.Unmarshal([]byte(body), &sil); err != nil || code != 201 || sil.ID == "" || sil.Status != "active" {
		t.Fatalf("create: %d %s", code, body)
	}

	deliver := func(recs ...map[string]any) {
		t.Helper()
		out := h.DeliverPartition(ctx, FnDiagnosticLogs, "0", []emulator.Batch{{Bodies: [][]byte{connBody(recs...)}}})
		if !out[0].Succeeded() {
			t.Fatalf("deliver: %v", out[0].Last().Err)
		}
	}
	evaluate := func() {
		t.Helper()
		if r := h.Invoke(ctx, h.Timer(FnEvaluate), 0, nil); r.Failed() {
			t.Fatalf("Evaluate: %v %s", r.Err, r.Body)
		}
	}
	filler := func(from, to int) []map[string]any {
		var rs []map[string]any
		for m := from; m <= to; m++ {
			rs = append(rs, record(base.Add(time.Duration(m)*time.Minute), "Connections", "deviceConnect", "", "", "gateway-1"))
		}
		return rs
	}
	at := func(m int) time.Time { return base.Add(time.Duration(m) * time.Minute) }
	// Both pumps drop at minute 5 and stay away past OFFLINE_AFTER.
	deliver(append([]map[string]any{
		record(at(1), "Connections", "deviceConnect", "", "", "pump-0001"),
		record(at(1), "Connections", "deviceConnect", "", "", "pump-0002"),
		record(at(5), "Connections", "deviceDisconnect", "404104", "DeviceConnectionClosedRemotely", "pump-0001"),
		record(at(5), "Connections", "deviceDisconnect", "404104", "DeviceConnectionClosedRemotely", "pump-0002"),
	}, filler(0, 15)...)...)
	evaluate()
	// pump-0002 comes back during the silence; time runs on past the
	// resolve hold.
	deliver(append([]map[string]any{record(at(20), "Connections", "deviceConnect", "", "", "pump-0002")}, filler(16, 45)...)...)
	evaluate()
	evaluate()
	if got := hook.got(); len(got) != 0 {
		t.Fatalf("silenced alerts were sent: %q", got)
	}

	// Recorded and visible: the device's alert names the silence, and the
	// silence lists the alert.
	code, body = apiCall(ctx, t, h, "GET", "devices/pump-0001", url.Values{"code": {"k"}, "hub": {"contoso-prod-hub"}}, nil, "")
	var dev struct {
		Alerts []struct {
			Kind, SilencedBy string
			Firing           bool
		}
	}
	if err := json.Unmarshal([]byte(body), &dev); err != nil || code != 200 || len(dev.Alerts) != 1 ||
		dev.Alerts[0].Kind != "device-offline" || !dev.Alerts[0].Firing || dev.Alerts[0].SilencedBy != sil.ID {
		t.Fatalf("device pump-0001: %d %s", code, body)
	}
	code, body = apiCall(ctx, t, h, "GET", "silences/"+sil.ID, key, nil, "")
	if err := json.Unmarshal([]byte(body), &sil); err != nil || code != 200 || len(sil.Alerts) != 1 ||
		sil.Alerts[0] != "device-offline/contoso-prod-hub/pump-0001" {
		t.Fatalf("silence: %d %s", code, body)
	}

	// Deleting the silence expires it; the next Evaluate sends the alert
	// that is still firing, and only that one.
	code, body = apiCall(ctx, t, h, "DELETE", "silences/"+sil.ID, key, nil, "")
	if err := json.Unmarshal([]byte(body), &sil); err != nil || code != 200 || sil.Status != "expired" {
		t.Fatalf("delete: %d %s", code, body)
	}
	evaluate()
	got := hook.got()
	if len(got) != 1 || !strings.Contains(got[0], `"status":"firing"`) || !strings.Contains(got[0], `"deviceId":"pump-0001"`) ||
		strings.Contains(got[0], "pump-0002") {
		t.Fatalf("after the silence ended the webhook got %q, want one firing for pump-0001", got)
	}
	evaluate()
	if n := len(hook.got()); n != 1 {
		t.Errorf("the firing was sent %d times", n)
	}
	code, body = apiCall(ctx, t, h, "GET", "silences", url.Values{"code": {"k"}, "status": {"expired"}}, nil, "")
	var list struct{ Items []struct{ ID string } }
	if err := json.Unmarshal([]byte(body), &list); err != nil || code != 200 || len(list.Items) != 1 || list.Items[0].ID != sil.ID {
		t.Errorf("list expired: %d %s", code, body)
	}
	if all := strings.Join(h.Stdout(), "\n") + strings.Join(h.Stderr(), "\n"); strings.Contains(all, "silence-test-secret") {
		t.Error("the webhook secret reached a log line")
	}
}
