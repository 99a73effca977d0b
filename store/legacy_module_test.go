package store

import (
	"encoding/json"
	"testing"
	"time"

	"github.com/Azure/azure-sdk-for-go/sdk/data/aztables"

	"github.com/disconnect-doctor/disconnect-doctor/classify"
	"github.com/disconnect-doctor/disconnect-doctor/event"
)

// TestTableModuleFilterOnOlderRows: diagnoses rows written before the
// Module property existed (only the JSON document knows the module) are
// still filtered right when the query names the device, as upgrading
// leaves such rows for up to RETENTION.
func TestTableModuleFilterOnOlderRows(t *testing.T) {
	t.Parallel()
	ctx := t.Context()
	tb := azuriteTable(t)
	t0 := time.Date(2026, 3, 1, 10, 0, 0, 0, time.UTC)
	var ds []classify.Diagnosis
	for i, m := range []string{"", "$edgeHub", "$edgeAgent"} {
		k := event.Key{Hub: "edge", Device: "gw-1", Module: m}
		d := classify.Diagnosis{Key: k, Time: t0.Add(time.Duration(i) * time.Minute), Cause: classify.DeviceOrNetwork, Final: true}
		d.EventID = event.NewID(&event.Event{Hub: k.Hub, Device: k.Device, Module: k.Module, Time: d.Time}, "")
		ds = append(ds, d)
	}
	if err := tb.PutDiagnoses(ctx, ds); err != nil {
		t.Fatal(err)
	}
	// Make every row look like an older version's: no Module property.
	c, err := tb.client(ctx, tDiag)
	if err != nil {
		t.Fatal(err)
	}
	pager := c.NewListEntitiesPager(nil)
	stripped := 0
	for pager.More() {
		page, err := pager.NextPage(ctx)
		if err != nil {
			t.Fatal(err)
		}
		for _, raw := range page.Entities {
			var m map[string]any
			if err := json.Unmarshal(raw, &m); err != nil {
				t.Fatal(err)
			}
			if _, ok := m["Module"]; !ok {
				t.Fatalf("a new row lacks the Module property: %v", m)
			}
			delete(m, "Module")
			for k := range m {
				if k == "odata.etag" || k == "Timestamp" || k == "odata.metadata" {
					delete(m, k)
				}
			}
			b, _ := json.Marshal(m)
			if _, err := c.UpsertEntity(ctx, b, &aztables.UpsertEntityOptions{UpdateMode: aztables.UpdateModeReplace}); err != nil {
				t.Fatal(err)
			}
			stripped++
		}
	}
	if stripped != len(ds) { // one row per diagnosis
		t.Fatalf("stripped %d rows, want %d", stripped, len(ds))
	}
	for _, q := range []struct {
		module string
		want   int
	}{{"", 1}, {"$edgeHub", 1}, {"nope", 0}} {
		got, _, err := tb.ListDiagnoses(ctx, DiagnosisQuery{Hub: "edge", Device: "gw-1", Module: q.module, ByModule: true})
		if err != nil {
			t.Fatal(err)
		}
		if len(got) != q.want || (q.want == 1 && got[0].Key.Module != q.module) {
			t.Errorf("module %q: %v, want %d", q.module, got, q.want)
		}
	}
}
