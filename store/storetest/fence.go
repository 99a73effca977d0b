package storetest

import (
	"context"
	"errors"
	"fmt"
	"slices"
	"testing"
	"time"

	"github.com/disconnect-doctor/disconnect-doctor/classify"
	"github.com/disconnect-doctor/disconnect-doctor/store"
)

// testFencing: writes carrying a lease epoch (store.WithFence) older than
// one that has written there are refused with ErrFenced (and ErrConflict),
// and write nothing: blobs of every kind (spread device blobs included),
// blob deletes, diagnoses, incidents and outbox items. The newer holder writes on, and
// the fence's own bookkeeping never shows in a listing.
func testFencing(t *testing.T, s store.Store) {
	ctx := t.Context()
	old := store.WithFence(ctx, store.Fence{Name: "evaluate", Epoch: 1})
	succ := store.WithFence(ctx, store.Fence{Name: "evaluate", Epoch: 2})
	devs := make([]store.Blob, 40) // enough to reach every device partition
	for i := range devs {
		devs[i] = store.Blob{Key: fmt.Sprintf("hub/dev%02d", i), Data: []byte("epoch 1")}
	}
	diag := Diagnosis(1, "hub", "dev00", T0)
	inc := classify.Incident{ID: "inc-1", Hub: "hub", Open: true, Start: T0, Devices: 1}
	write := func(c context.Context, data string) []error {
		bs := slices.Clone(devs)
		for i := range bs {
			bs[i].Data = []byte(data)
		}
		d, in := diag, inc
		d.Recommendation, in.Evidence = data, []string{data}
		_, e1 := s.PutBlobs(c, store.DeviceBlobs, bs)
		_, e2 := s.PutBlobs(c, store.MetaBlobs, []store.Blob{{Key: "meta", Data: []byte(data)}})
		e3 := s.PutDiagnoses(c, []classify.Diagnosis{d})
		e4 := s.PutIncidents(c, []classify.Incident{in})
		return []error{e1, e2, e3, e4}
	}
	for i, err := range write(old, "epoch 1") {
		if err != nil {
			t.Fatalf("the first holder's write %d: %v", i, err)
		}
	}
	for i, err := range write(succ, "epoch 2") {
		if err != nil {
			t.Fatalf("the successor's write %d: %v", i, err)
		}
	}
	// the first holder wakes up late: every write is refused
	for i, err := range write(old, "late") {
		if !errors.Is(err, store.ErrFenced) || !errors.Is(err, store.ErrConflict) {
			t.Errorf("the late holder's write %d: %v, want ErrFenced and ErrConflict", i, err)
		}
	}
	if err := s.DeleteBlobs(old, store.DeviceBlobs, []string{devs[3].Key}); !errors.Is(err, store.ErrFenced) {
		t.Errorf("the late holder's delete: %v, want ErrFenced", err)
	}
	// the outbox: once the successor has queued there, the late holder's
	// notifications are refused (Table fences per partition: the outbox is
	// one)
	item := store.OutboxItem{ID: "succ/webhook", NotificationID: "succ", Channel: "webhook", Created: T0, Due: T0}
	for range 2 { // the second time the item exists: left as it is
		if err := s.Enqueue(succ, []store.OutboxItem{item}); err != nil {
			t.Fatalf("the successor's enqueue: %v", err)
		}
	}
	late := store.OutboxItem{ID: "late/webhook", NotificationID: "late", Channel: "webhook", Created: T0, Due: T0}
	if err := s.Enqueue(old, []store.OutboxItem{late}); !errors.Is(err, store.ErrFenced) {
		t.Errorf("the late holder's enqueue: %v, want ErrFenced", err)
	}
	if its, err := s.ListItems(ctx, T0.Add(-time.Hour), T0.Add(time.Hour)); err != nil || len(its) != 1 || its[0].ID != item.ID {
		t.Errorf("outbox after the late enqueue: %+v, %v; want the successor's one item", its, err)
	}
	checkFencedState(t, s, devs, "epoch 2")
	// the successor writes on (several times per partition: no claim left
	// over from its first write gets in the way), and unfenced writes too
	for _, data := range []string{"epoch 2 again", "epoch 2 third"} {
		for i, err := range write(succ, data) {
			if err != nil {
				t.Fatalf("the successor's write %d (%s): %v", i, data, err)
			}
		}
	}
	if _, err := s.PutBlobs(ctx, store.HubBlobs, []store.Blob{{Key: "h", Data: []byte("x")}}); err != nil {
		t.Fatalf("an unfenced write: %v", err)
	}
	checkFencedState(t, s, devs, "epoch 2 third")
	if err := s.DeleteBlobs(succ, store.DeviceBlobs, []string{devs[3].Key, "hub/never-written"}); err != nil {
		t.Fatalf("the successor's delete: %v", err)
	}
	if _, err := s.GetBlob(ctx, store.DeviceBlobs, devs[3].Key); !errors.Is(err, store.ErrNotFound) {
		t.Errorf("a blob the successor deleted: %v, want ErrNotFound", err)
	}
}

// checkFencedState checks that every fenced row holds data, and that the
// listings hold only data rows.
func checkFencedState(t *testing.T, s store.Store, devs []store.Blob, data string) {
	t.Helper()
	ctx := t.Context()
	n := 0
	if err := s.ListBlobs(ctx, store.DeviceBlobs, func(bs []store.Blob) error {
		for _, b := range bs {
			n++
			if string(b.Data) != data {
				t.Errorf("device blob %s = %q, want %q", b.Key, b.Data, data)
			}
		}
		return nil
	}); err != nil {
		t.Fatalf("ListBlobs: %v", err)
	}
	if n != len(devs) {
		t.Errorf("ListBlobs listed %d device blobs, want %d", n, len(devs))
	}
	if b, err := s.GetBlob(ctx, store.MetaBlobs, "meta"); err != nil || string(b.Data) != data {
		t.Errorf("meta blob = %q, %v; want %q", b.Data, err, data)
	}
	ds, _, err := s.ListDiagnoses(ctx, store.DiagnosisQuery{})
	if err != nil || len(ds) != 1 || ds[0].Recommendation != data {
		t.Errorf("diagnoses = %+v, %v; want one, of %q", ds, err, data)
	}
	is, err := s.ListIncidents(ctx, "", nil)
	if err != nil || len(is) != 1 || !slices.Equal(is[0].Evidence, []string{data}) {
		t.Errorf("incidents = %+v, %v; want one, of %q", is, err, data)
	}
}

// testDiagnosesAcrossHubs: a listing across many hubs is one order —
// newest first, then by key, whatever the hub — paged with a cursor that
// crosses hub boundaries, and filtered by time and cause like one hub's.
func testDiagnosesAcrossHubs(t *testing.T, s store.Store) {
	var all []classify.Diagnosis
	for i := range 230 {
		hub := fmt.Sprintf("hub-%d", i%7)
		all = append(all, Diagnosis(i, hub, fmt.Sprintf("dev%03d", i), T0.Add(time.Duration(i*37%101)*time.Second)))
	}
	if err := s.PutDiagnoses(t.Context(), all); err != nil {
		t.Fatalf("PutDiagnoses: %v", err)
	}
	whole := listDiags(t, s, store.DiagnosisQuery{Limit: 1000})
	if len(whole) != len(all) {
		t.Fatalf("listed %d diagnoses across hubs, want %d", len(whole), len(all))
	}
	checkNewestFirst(t, whole)
	for _, limit := range []int{1, 13, 100} {
		paged := listDiags(t, s, store.DiagnosisQuery{Limit: limit})
		if len(paged) != len(whole) {
			t.Fatalf("pages of %d: %d diagnoses, want %d", limit, len(paged), len(whole))
		}
		for i := range whole {
			if paged[i].EventID != whole[i].EventID {
				t.Fatalf("pages of %d: diagnosis %d differs from the whole listing", limit, i)
			}
		}
	}
	from, to := T0.Add(20*time.Second), T0.Add(60*time.Second)
	var want []classify.Diagnosis
	for _, d := range whole {
		if !d.Time.Before(from) && d.Time.Before(to) && d.Cause == classify.TokenExpiry {
			want = append(want, d)
		}
	}
	got := listDiags(t, s, store.DiagnosisQuery{From: from, To: to, Cause: classify.TokenExpiry, Limit: 4})
	if len(got) != len(want) || len(want) == 0 {
		t.Fatalf("time range and cause across hubs: %d diagnoses, want %d (> 0)", len(got), len(want))
	}
	for i := range want {
		if got[i].EventID != want[i].EventID {
			t.Fatalf("time range and cause across hubs: diagnosis %d differs", i)
		}
	}
}
