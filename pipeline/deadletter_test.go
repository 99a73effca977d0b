package pipeline

import (
	"context"
	"strings"
	"testing"
	"time"

	"github.com/disconnect-doctor/disconnect-doctor/event"
	"github.com/disconnect-doctor/disconnect-doctor/ingest"
	"github.com/disconnect-doctor/disconnect-doctor/store"
	"github.com/disconnect-doctor/disconnect-doctor/store/storetest"
)

// TestIngestSetsAsideRefusedEvents: an event of a batch the store refuses
// for good becomes a dead letter naming it; Ingest succeeds (the host must
// not retry the batch), the other events are stored, and the next tick
// raises records-rejected — which resolves an hour after the last one.
func TestIngestSetsAsideRefusedEvents(t *testing.T) {
	ctx := context.Background()
	st := store.NewMemory()
	c := &clock{t: time.Date(2026, 12, 6, 10, 0, 0, 0, time.UTC)}
	p := newPipeline(t, st, c, "a")
	at := c.t.Add(-time.Hour)
	res := &ingest.Result{Read: 3}
	for i, dev := range []string{"d1", "d2", "d3"} {
		e := storetest.Event(i, "hub-a", dev, at)
		if dev == "d2" {
			e.Time = time.Date(2300, 1, 1, 0, 0, 0, 0, time.UTC) // nothing the store can hold
		}
		res.Keep(e)
	}
	if err := p.Ingest(ctx, "insights-logs-connections/0", res); err != nil {
		t.Fatalf("Ingest = %v, want the batch to go on", err)
	}
	ds, err := st.ListDeadLetters(ctx, time.Time{}, c.t.Add(time.Hour), 10)
	if err != nil || len(ds) != 1 || ds[0].Device != "d2" || ds[0].Hub != "hub-a" || ds[0].Writer != "insights-logs-connections/0" ||
		!strings.Contains(ds[0].Reason, "outside what the store holds") || ds[0].ID != res.Events[1].ID.String() {
		t.Fatalf("dead letters %+v, %v", ds, err)
	}
	var stored []event.Event
	err = st.ReadEvents(ctx, time.Time{}, c.t.Add(time.Hour), func(es []event.Event, _ []store.Mark) error {
		stored = append(stored, es...)
		return nil
	})
	if err != nil || len(stored) != 2 {
		t.Fatalf("stored %d events, %v", len(stored), err)
	}
	firing := func() bool {
		t.Helper()
		if _, err := p.Tick(ctx); err != nil {
			t.Fatal(err)
		}
		b, err := st.GetBlob(ctx, store.AlertBlobs, "records-rejected/")
		return err == nil && strings.Contains(string(b.Data), `"firing":true`)
	}
	if !firing() {
		t.Fatal("records-rejected does not fire")
	}
	c.t = c.t.Add(3 * time.Hour) // no dead letter in the last hour, hold over
	if firing() {
		t.Error("records-rejected still fires three hours after the last dead letter")
	}
}
