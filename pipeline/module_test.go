package pipeline

import (
	"context"
	"encoding/json"
	"net/http"
	"net/url"
	"strings"
	"testing"
	"time"

	"github.com/disconnect-doctor/disconnect-doctor/api"
	"github.com/disconnect-doctor/disconnect-doctor/event"
	"github.com/disconnect-doctor/disconnect-doctor/ingest"
	"github.com/disconnect-doctor/disconnect-doctor/store"
)

// TestModuleIdentity (issue 10 item 5): an IoT Edge module is an identity
// of its own end to end — its alert names device/module and carries the
// module id, and devices/{id}?moduleId= shows its timeline and alerts
// apart from the device's.
func TestModuleIdentity(t *testing.T) {
	ctx := context.Background()
	st := store.NewMemory()
	start := time.Date(2026, 3, 1, 10, 0, 0, 0, time.UTC)
	c := &clock{t: start}
	rec := &recorder{}
	p := eventtimePipeline(t, st, c, rec)
	mod := func(e event.Event) event.Event {
		e.Module = "$edgeHub"
		e.ID = event.NewID(&e, "")
		return e
	}
	res := &ingest.Result{}
	for _, e := range []event.Event{
		connections("gw-1", event.Connect, 0, start),
		mod(connections("gw-1", event.Connect, 0, start)),
		mod(connections("gw-1", event.Disconnect, event.CodeConnectionClosedRemotely, start.Add(time.Minute))),
	} {
		res.Keep(e)
	}
	if err := p.Ingest(ctx, "eh/0", res); err != nil {
		t.Fatal(err)
	}
	for m := 1; m <= 40; m++ {
		now := start.Add(time.Duration(m) * time.Minute)
		c.t = now
		r := &ingest.Result{}
		r.Keep(connections("alive", event.Connect, 0, now))
		if err := p.Ingest(ctx, "eh/0", r); err != nil {
			t.Fatal(err)
		}
		if _, err := p.Tick(ctx); err != nil {
			t.Fatal(err)
		}
	}
	key := "device-offline/forget-hub/gw-1/$edgeHub"
	got := rec.about(key)
	if len(got) != 1 || !strings.Contains(got[0], "forget-hub/gw-1/$edgeHub has been offline since") {
		t.Fatalf("notifications about the module: %q", got)
	}
	for _, n := range rec.ns {
		if n.Alerts[0].Key == key && (n.Alerts[0].Module != "$edgeHub" || n.Alerts[0].DeviceID != "gw-1" || n.Alerts[0].Identity() != "gw-1/$edgeHub") {
			t.Errorf("module alert %+v", n.Alerts[0])
		}
	}

	query := func(path, q string) (int, map[string]any) {
		vals, _ := url.ParseQuery(q)
		status, body := p.Query(ctx, path, vals)
		b, err := api.MarshalBody(body)
		if err != nil {
			t.Fatal(err)
		}
		var m map[string]any
		if err := json.Unmarshal(b, &m); err != nil {
			t.Fatal(err)
		}
		return status, m
	}
	status, m := query("devices/gw-1", "hub=forget-hub&moduleId="+url.QueryEscape("$edgeHub"))
	if status != http.StatusOK || m["moduleId"] != "$edgeHub" || m["deviceId"] != "gw-1" {
		t.Fatalf("devices/gw-1?moduleId=$edgeHub: %d %v", status, m)
	}
	alerts, _ := m["alerts"].([]any)
	if len(alerts) != 1 || alerts[0].(map[string]any)["key"] != key {
		t.Errorf("module's alerts %v", alerts)
	}
	status, m = query("devices/gw-1", "hub=forget-hub")
	if status != http.StatusOK || m["moduleId"] != "" {
		t.Fatalf("devices/gw-1: %d %v", status, m)
	}
	if alerts, _ := m["alerts"].([]any); len(alerts) != 0 {
		t.Errorf("the device identity shows its module's alerts: %v", alerts)
	}
	status, m = query("disconnects", "hub=forget-hub&deviceId=gw-1&moduleId=")
	if items, _ := m["items"].([]any); status != http.StatusOK || len(items) != 0 {
		t.Errorf("the device identity alone has no disconnect, got %d %v", status, m)
	}
	status, m = query("disconnects", "hub=forget-hub&deviceId=gw-1&moduleId="+url.QueryEscape("$edgeHub"))
	if items, _ := m["items"].([]any); status != http.StatusOK || len(items) != 1 {
		t.Errorf("the module's disconnects: %d %v", status, m)
	}
}
