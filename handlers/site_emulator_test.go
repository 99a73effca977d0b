package handlers

import (
	"context"
	"encoding/json"
	"fmt"
	"net/url"
	"strings"
	"testing"
	"time"

	"github.com/disconnect-doctor/disconnect-doctor/internal/funchost"
	"github.com/disconnect-doctor/disconnect-doctor/internal/funchost/emulator"
)

// recordFrom is record with the client's masked IP address.
func recordFrom(ip string, t time.Time, category, op, code, desc, device string) map[string]any {
	r := record(t, category, op, code, desc, device)
	r["properties"] = strings.Replace(r["properties"].(string), "81.204.17.XXX", ip, 1)
	return r
}

// TestEmulatorSiteOutage drives a site outage through the real binary under
// the host emulator: four devices behind 203.0.113.x drop within seconds of
// each other (no hub-side error) and one elsewhere at the same time. The
// webhook gets one site-outage firing and a device-offline for the device
// elsewhere only; when the four are back, one site-outage resolved. The Api
// function lists the site and its outage (GET v1/sites), and the devices'
// diagnoses name it in their evidence.
func TestEmulatorSiteOutage(t *testing.T) {
	hook, hookURL := startWebhook(t)
	h := emulator.Start(t, emulator.Options{Env: funchost.WithLocalSettings(map[string]string{
		"STATE_STORAGE": "memory", "WATERMARK": "eventtime", "ALLOWED_LATENESS": "1m", "RECONNECT_GRACE": "30s",
		"OFFLINE_AFTER": "5m", "SITE_MIN_DEVICES": "3", "ALERT_WEBHOOK_URL": hookURL + "/hook",
	}), FunctionTimeout: time.Minute, MaxAttempts: 1})
	ctx := context.Background()
	base := time.Now().UTC().Truncate(time.Minute)
	at := func(m int, s int) time.Time {
		return base.Add(time.Duration(m)*time.Minute + time.Duration(s)*time.Second)
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
			rs = append(rs, record(at(m, 0), "Connections", "deviceConnect", "", "", "gateway-1"))
		}
		return rs
	}
	plcs := []string{"plc-01", "plc-02", "plc-03", "plc-04"}
	var recs []map[string]any
	for i, d := range plcs {
		recs = append(recs, recordFrom("203.0.113.XXX", at(1, i), "Connections", "deviceConnect", "", "", d),
			recordFrom("203.0.113.XXX", at(5, 7*i), "Connections", "deviceDisconnect", "404104", "DeviceConnectionClosedRemotely", d))
	}
	recs = append(recs, recordFrom("198.51.100.XXX", at(1, 0), "Connections", "deviceConnect", "", "", "elsewhere"),
		recordFrom("198.51.100.XXX", at(5, 3), "Connections", "deviceDisconnect", "404104", "DeviceConnectionClosedRemotely", "elsewhere"))
	deliver(append(recs, filler(0, 15)...)...)
	evaluate()

	got := hook.got()
	if len(got) != 2 || !strings.Contains(got[0]+got[1], `site-outage`) {
		t.Fatalf("webhook after the drop got %d bodies %q, want a site-outage firing and a device-offline for elsewhere", len(got), got)
	}
	for _, b := range got {
		switch {
		case strings.Contains(b, `"site-outage`):
			if !strings.Contains(b, `"status":"firing"`) || !strings.Contains(b, "4 devices behind 203.0.113.x lost their connection at ") {
				t.Fatalf("site-outage body %s", b)
			}
		case strings.Contains(b, `"device-offline`):
			if !strings.Contains(b, `"deviceId":"elsewhere"`) || strings.Contains(b, "plc-0") {
				t.Fatalf("device-offline body names a member of the outage: %s", b)
			}
		default:
			t.Fatalf("unexpected body %s", b)
		}
	}

	// The site comes back.
	var back []map[string]any
	for i, d := range plcs {
		back = append(back, recordFrom("203.0.113.XXX", at(20, i), "Connections", "deviceConnect", "", "", d))
	}
	deliver(append(back, filler(16, 45)...)...)
	evaluate()
	evaluate()
	got = hook.got()[2:]
	resolved := 0
	for _, b := range got {
		if strings.Contains(b, "plc-0") {
			t.Fatalf("a member's own alert was sent: %s", b)
		}
		if strings.Contains(b, `"site-outage`) && strings.Contains(b, `"status":"resolved"`) {
			resolved++
		}
	}
	if resolved != 1 {
		t.Fatalf("after the return the webhook got %q, want one site-outage resolved", got)
	}

	key := url.Values{"code": {"k"}, "hub": {"contoso-prod-hub"}}
	code, body := apiCall(ctx, t, h, "GET", "sites", key, nil, "")
	var sites struct {
		Items []struct {
			Hub, Network string
			Outages      []struct {
				ID, Status, StartsAt, EndsAt string
				Devices, Away                int
			}
		}
	}
	if err := json.Unmarshal([]byte(body), &sites); err != nil || code != 200 || len(sites.Items) != 1 {
		t.Fatalf("GET sites: %d %s", code, body)
	}
	s := sites.Items[0]
	want := at(5, 0).Format(time.RFC3339)
	if s.Network != "203.0.113.x" || len(s.Outages) != 1 || s.Outages[0].Status != "resolved" || s.Outages[0].Devices != 4 ||
		s.Outages[0].Away != 0 || s.Outages[0].StartsAt != want || s.Outages[0].EndsAt != at(20, 3).Format(time.RFC3339) {
		t.Fatalf("GET sites: %s (want one resolved outage of 4 devices from %s)", body, want)
	}
	id := s.Outages[0].ID
	for _, st := range []string{"open", "resolved"} {
		q := url.Values{"code": {"k"}, "status": {st}}
		code, body = apiCall(ctx, t, h, "GET", "sites", q, nil, "")
		if n := strings.Count(body, id); code != 200 || (st == "open") != (n == 0) {
			t.Errorf("GET sites?status=%s: %d %s", st, code, body)
		}
	}
	if code, body = apiCall(ctx, t, h, "GET", "sites", url.Values{"code": {"k"}, "status": {"gone"}}, nil, ""); code != 400 ||
		!strings.Contains(body, `"parameter":"status"`) {
		t.Errorf("GET sites?status=gone: %d %s, want 400 naming status", code, body)
	}
	if code, _ = apiCall(ctx, t, h, "GET", "sites", url.Values{"code": {"k"}, "hub": {"no-such-hub"}}, nil, ""); code != 404 {
		t.Errorf("GET sites of an unknown hub: %d, want 404", code)
	}

	// The members' diagnoses name the outage; the device elsewhere's not.
	for _, d := range append(plcs, "elsewhere") {
		code, body = apiCall(ctx, t, h, "GET", "disconnects", url.Values{"code": {"k"}, "hub": {"contoso-prod-hub"}, "deviceId": {d}}, nil, "")
		named := strings.Contains(body, fmt.Sprintf("part of site outage %s", id))
		if code != 200 || named != (d != "elsewhere") {
			t.Errorf("disconnects of %s: %d names the outage %v: %s", d, code, named, body)
		}
	}
}
