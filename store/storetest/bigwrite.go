package storetest

import (
	"fmt"
	"testing"
	"time"

	"github.com/disconnect-doctor/disconnect-doctor/classify"
	"github.com/disconnect-doctor/disconnect-doctor/event"
	"github.com/disconnect-doctor/disconnect-doctor/store"
)

// BigWrite is more rows of one hub than a store keeps together in one
// write (Table spreads a hub's diagnoses over partitions above 800).
const BigWrite = 1000

// BigWriteDiagnoses returns n diagnoses of hub, several sharing a time.
func BigWriteDiagnoses(hub string, n int) []classify.Diagnosis {
	ds := make([]classify.Diagnosis, n)
	for i := range ds {
		ds[i] = Diagnosis(i, hub, fmt.Sprintf("dev%05d", i), T0.Add(time.Duration(i/3)*time.Second))
	}
	return ds
}

// revise returns ds[i] for each i, revised: another cause, final, one more
// revision, another incident.
func revise(ds []classify.Diagnosis, idx []int) []classify.Diagnosis {
	out := make([]classify.Diagnosis, len(idx))
	for j, i := range idx {
		d := ds[i]
		d.Cause, d.Final, d.Revisions, d.Incident = classify.HubTransient, true, d.Revisions+1, "inc-revised"
		d.Evidence = append([]string{"revised"}, d.Evidence...)
		out[j] = d
		ds[i] = d
	}
	return out
}

// testDiagnosesBigWrite: a write of more than BigWrite rows of one hub is
// listed like any other — every row once, newest first, paging across
// page sizes — by hub and across hubs; and a diagnosis rewritten by a
// write of the other size (small after big, big after small) is listed
// once, with its newest content.
func testDiagnosesBigWrite(t *testing.T, s store.Store) {
	ctx := t.Context()
	big := BigWriteDiagnoses("hub-big", BigWrite)
	small := []classify.Diagnosis{Diagnosis(1, "hub-small", "s1", T0), Diagnosis(2, "hub-small", "s2", T0.Add(time.Minute))}
	if err := s.PutDiagnoses(ctx, append(append([]classify.Diagnosis(nil), big...), small...)); err != nil {
		t.Fatalf("PutDiagnoses(big): %v", err)
	}
	// small after big: revised in a call of a few rows
	if err := s.PutDiagnoses(ctx, revise(big, []int{0, 1, 499, 998})); err != nil {
		t.Fatalf("PutDiagnoses(revisions): %v", err)
	}
	checkBigWrite(t, s, big, small)

	// big after small: a hub first written a few rows at a time, then all
	// at once with some of those revised
	later := BigWriteDiagnoses("hub-late", BigWrite)
	if err := s.PutDiagnoses(ctx, later[10:13]); err != nil {
		t.Fatalf("PutDiagnoses(small first): %v", err)
	}
	revise(later, []int{10, 11})
	if err := s.PutDiagnoses(ctx, later); err != nil {
		t.Fatalf("PutDiagnoses(big after small): %v", err)
	}
	checkBigWrite(t, s, later, nil)
	checkListed(t, s, store.DiagnosisQuery{Limit: 333}, append(append(append([]classify.Diagnosis(nil), big...), small...), later...))
}

// checkBigWrite lists the big hub's diagnoses with several page sizes and
// the small hub's.
func checkBigWrite(t *testing.T, s store.Store, big, small []classify.Diagnosis) {
	t.Helper()
	hub := big[0].Key.Hub
	first := checkListed(t, s, store.DiagnosisQuery{Hub: hub, Limit: 1000}, big)
	for _, limit := range []int{77, 999} {
		got := checkListed(t, s, store.DiagnosisQuery{Hub: hub, Limit: limit}, big)
		for i := range got {
			if got[i].EventID != first[i].EventID {
				t.Fatalf("limit %d: order differs from limit 1000 at %d", limit, i)
			}
		}
	}
	// a page smaller than the rows rewritten by small writes
	page, _, err := s.ListDiagnoses(t.Context(), store.DiagnosisQuery{Hub: hub, Limit: 2})
	if err != nil || len(page) != 2 || page[0].EventID != first[0].EventID || page[1].EventID != first[1].EventID {
		t.Fatalf("a page of 2: %d diagnoses, %v; want the first 2 of the listing", len(page), err)
	}
	if small != nil {
		checkListed(t, s, store.DiagnosisQuery{Hub: small[0].Key.Hub}, small)
	}
	// a filter the revisions changed: the revised rows alone
	var revised []classify.Diagnosis
	for _, d := range big {
		if d.Incident == "inc-revised" {
			revised = append(revised, d)
		}
	}
	checkListed(t, s, store.DiagnosisQuery{Hub: hub, Incident: "inc-revised", Limit: 3}, revised)
}

// checkListed pages through q and checks it lists exactly want (each once,
// with its content), newest first.
func checkListed(t *testing.T, s store.Store, q store.DiagnosisQuery, want []classify.Diagnosis) []classify.Diagnosis {
	t.Helper()
	got := listDiags(t, s, q)
	checkNewestFirst(t, got)
	if len(got) != len(want) {
		t.Fatalf("%+v: listed %d diagnoses, want %d", q, len(got), len(want))
	}
	byID := map[event.ID]classify.Diagnosis{}
	for _, d := range got {
		if _, dup := byID[d.EventID]; dup {
			t.Fatalf("%+v: diagnosis %v listed twice", q, d.EventID)
		}
		byID[d.EventID] = d
	}
	for _, w := range want {
		if g, ok := byID[w.EventID]; !ok || !sameDiag(g, w) {
			t.Fatalf("%+v: diagnosis %v/%v missing or not its newest content: got %+v, want %+v", q, w.Key, w.EventID, g, w)
		}
	}
	return got
}
