package storetest

import (
	"errors"
	"strings"
	"testing"
	"time"

	"github.com/disconnect-doctor/disconnect-doctor/event"
	"github.com/disconnect-doctor/disconnect-doctor/store"
)

// testEventsRejected: an event the store cannot keep (a time outside what
// it holds) is refused for good — a *RejectedError naming it, wrapping
// ErrRejected — and the other events and the mark are stored.
func testEventsRejected(t *testing.T, s store.Store) {
	ctx := t.Context()
	evs := []event.Event{Event(1, "h", "d1", T0), Event(2, "h", "d2", T0), Event(3, "h", "d3", T0)}
	evs[1].Time = time.Date(2300, 1, 1, 0, 0, 0, 0, time.UTC)
	mark := &store.Mark{Writer: "insights-logs-connections/0", ID: "m1", Newest: T0, Read: 3, Kept: 3}
	err := s.AppendEvents(ctx, T0, evs, mark)
	var rej *store.RejectedError
	if !errors.As(err, &rej) || !errors.Is(err, store.ErrRejected) || len(rej.Rejected) != 1 ||
		rej.Rejected[0].Index != 1 || rej.Rejected[0].ID != evs[1].ID || rej.Rejected[0].Reason == "" {
		t.Fatalf("AppendEvents = %v (%#v), want event 1 rejected", err, rej)
	}
	var got []event.Event
	var marks []store.Mark
	err = s.ReadEvents(ctx, T0, T0.Add(time.Second), func(es []event.Event, ms []store.Mark) error {
		got, marks = append(got, es...), append(marks, ms...)
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
	if len(got) != 2 || len(marks) != 1 {
		t.Fatalf("stored %d events and %d marks, want 2 and 1", len(got), len(marks))
	}
	for _, g := range got {
		if g.ID == evs[1].ID {
			t.Error("the rejected event was stored")
		}
	}
}

// testDeadLetters: dead letters round-trip, list by At newest first with a
// limit, upsert by ID, are cut to what always fits, and are purged.
func testDeadLetters(t *testing.T, s store.Store) {
	ctx := t.Context()
	ev := Event(7, "contoso-prod-hub", "pump/0042#?", T0)
	ds := []store.DeadLetter{
		store.NewDeadLetter(T0, "insights-logs-connections/3", &ev, "refused by the table service: HTTP 400 PropertyValueTooLarge"),
		{ID: "batch/2#x", At: T0.Add(time.Hour), Writer: "eventgrid", Reason: "mark refused"},
		{ID: "late", At: T0.Add(25 * time.Hour), Writer: "metric", Reason: strings.Repeat("r", 10_000), Excerpt: strings.Repeat("é", 5_000)},
	}
	if err := s.PutDeadLetters(ctx, ds); err != nil {
		t.Fatalf("PutDeadLetters: %v", err)
	}
	all, err := s.ListDeadLetters(ctx, time.Time{}, T0.Add(48*time.Hour), 1000)
	if err != nil {
		t.Fatal(err)
	}
	if len(all) != 3 || all[0].ID != "late" || all[1].ID != "batch/2#x" || all[2].ID != ds[0].ID {
		t.Fatalf("ListDeadLetters = %+v", all)
	}
	first := all[2]
	if first.Hub != "contoso-prod-hub" || first.Device != "pump/0042#?" || !first.Time.Equal(T0) || !first.At.Equal(T0) ||
		first.Writer != "insights-logs-connections/3" || first.Kind == "" || !strings.Contains(first.Excerpt, "pump/0042#?") ||
		first.Reason != ds[0].Reason {
		t.Errorf("dead letter read back as %+v", first)
	}
	if late := all[0]; len(late.Reason) > 2048 || len(late.Excerpt) > 2048 || !strings.HasPrefix(ds[2].Excerpt, late.Excerpt) {
		t.Errorf("long fields kept as %d/%d bytes", len(late.Reason), len(late.Excerpt))
	}
	window, err := s.ListDeadLetters(ctx, T0, T0.Add(2*time.Hour), 1)
	if err != nil || len(window) != 1 || window[0].ID != "batch/2#x" {
		t.Errorf("window [T0, T0+2h) limit 1 = %+v, %v", window, err)
	}
	ds[1].Reason = "mark refused again"
	if err := s.PutDeadLetters(ctx, ds[1:2]); err != nil {
		t.Fatal(err)
	}
	if got, _ := s.ListDeadLetters(ctx, T0.Add(time.Hour), T0.Add(time.Hour+1), 10); len(got) != 1 || got[0].Reason != "mark refused again" {
		t.Errorf("upsert = %+v", got)
	}
	if err := s.Purge(ctx, T0, T0.Add(2*time.Hour)); err != nil {
		t.Fatal(err)
	}
	if got, _ := s.ListDeadLetters(ctx, time.Time{}, T0.Add(48*time.Hour), 1000); len(got) != 1 || got[0].ID != "late" {
		t.Errorf("after purge: %+v", got)
	}
}
