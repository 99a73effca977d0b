package api

import (
	"context"
	"net/http"
	"net/url"
	"slices"
	"testing"
	"time"

	"github.com/disconnect-doctor/disconnect-doctor/classify"
	"github.com/disconnect-doctor/disconnect-doctor/event"
	"github.com/disconnect-doctor/disconnect-doctor/store"
)

// TestDisconnectsModuleFilter (issue 10 item 5): moduleId is applied — a
// device's query no longer mixes the device with its modules when a module
// (or, with moduleId=, the device identity itself) is asked for; a module
// id alone lists that module across the hub's devices.
func TestDisconnectsModuleFilter(t *testing.T) {
	ctx := context.Background()
	st := store.NewMemory()
	ids := []event.Key{
		{Hub: "edge-hub", Device: "gw-1"}, {Hub: "edge-hub", Device: "gw-1", Module: "$edgeHub"},
		{Hub: "edge-hub", Device: "gw-1", Module: "$edgeAgent"}, {Hub: "edge-hub", Device: "gw-1", Module: "filter"},
		{Hub: "edge-hub", Device: "gw-2", Module: "$edgeHub"},
	}
	var ds []classify.Diagnosis
	for i, k := range ids {
		d := classify.Diagnosis{Key: k, Time: t0.Add(time.Duration(i) * time.Minute), Cause: classify.DeviceOrNetwork, Final: true}
		d.EventID = event.NewID(&event.Event{Hub: k.Hub, Device: k.Device, Module: k.Module, Time: d.Time}, "")
		ds = append(ds, d)
		if _, err := st.PutBlobs(ctx, store.DeviceBlobs, []store.Blob{{Key: k.Path(), Data: []byte("x")}}); err != nil {
			t.Fatal(err)
		}
	}
	if _, err := st.PutBlobs(ctx, store.HubBlobs, []store.Blob{{Key: "edge-hub", Data: []byte("x")}}); err != nil {
		t.Fatal(err)
	}
	if err := st.PutDiagnoses(ctx, ds); err != nil {
		t.Fatal(err)
	}
	a := New(st, nil, nil)
	for _, c := range []struct {
		query string
		want  []string // deviceId/moduleId, newest first
	}{
		{"hub=edge-hub&deviceId=gw-1", []string{"gw-1/filter", "gw-1/$edgeAgent", "gw-1/$edgeHub", "gw-1/"}},
		{"hub=edge-hub&deviceId=gw-1&moduleId=", []string{"gw-1/"}},
		{"hub=edge-hub&deviceId=gw-1&moduleId=" + url.QueryEscape("$edgeHub"), []string{"gw-1/$edgeHub"}},
		{"hub=edge-hub&moduleId=" + url.QueryEscape("$edgeHub"), []string{"gw-2/$edgeHub", "gw-1/$edgeHub"}},
		{"moduleId=filter", []string{"gw-1/filter"}},
	} {
		var p page
		if s := get(t, a, "disconnects", c.query, &p); s != http.StatusOK {
			t.Fatalf("%s: status %d", c.query, s)
		}
		var got []string
		for _, it := range p.Items {
			got = append(got, it.DeviceID+"/"+it.ModuleID)
		}
		if !slices.Equal(got, c.want) {
			t.Errorf("disconnects?%s = %v, want %v", c.query, got, c.want)
		}
	}
	var e Error
	if s := get(t, a, "disconnects", "hub=edge-hub&deviceId=gw-1&moduleId=nope", &e); s != http.StatusNotFound {
		t.Errorf("unknown module: status %d %+v, want 404", s, e)
	}
}
