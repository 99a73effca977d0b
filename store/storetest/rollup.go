package storetest

import (
	"strconv"
	"testing"
	"time"

	"github.com/disconnect-doctor/disconnect-doctor/classify"
	"github.com/disconnect-doctor/disconnect-doctor/event"
	"github.com/disconnect-doctor/disconnect-doctor/rollup"
	"github.com/disconnect-doctor/disconnect-doctor/store"
)

// testRollup runs the dashboard's rollup (its two blob kinds) on the store:
// a diagnosis counted pending then final moves between columns, saving the
// same output twice (a replayed tick) counts nothing twice, a minute's
// hub-side error count is the engine's (set, never added: read twice it
// counts once), a minute with more disconnects than one row holds spreads
// over pages, a revision moves a count, minutes older than the
// member window are left out, a new day removes the members of two days
// before, and Read spans a day boundary.
func testRollup(t *testing.T, s store.Store) {
	ctx := t.Context()
	hub := "rollup-hub"
	day0 := time.Date(2026, 11, 26, 0, 0, 0, 0, time.UTC)
	late := day0.Add(23*time.Hour + 58*time.Minute) // 23:58, day 0
	early := day0.Add(24*time.Hour + time.Minute)   // 00:01, day 1
	diag := func(i int, dev string, at time.Time, c classify.Cause) classify.Diagnosis {
		d := Diagnosis(i, hub, dev, at)
		d.Cause = c
		return d
	}
	r := rollup.New(s, 7*24*time.Hour)
	wm := early.Add(5 * time.Minute)
	// errs stands in for the engine's deduplicated count (classify.State.HubErrors).
	errCount := map[int64]int{early.Unix() / 60: 1}
	errs := func(h string, tm time.Time) (int, bool) {
		n, ok := errCount[tm.Unix()/60]
		return n, ok && h == hub
	}
	pending := []classify.Diagnosis{diag(1, "a", late, classify.Pending), diag(2, "b", late, classify.Pending), diag(3, NastyKeys[1], early, classify.Pending)}
	if err := r.Save(ctx, pending, wm, errs); err != nil {
		t.Fatalf("Save pending: %v", err)
	}
	final := []classify.Diagnosis{diag(1, "a", late, classify.TokenExpiry), diag(2, "b", late, classify.DeviceOrNetwork), diag(3, NastyKeys[1], early, classify.HubTransient)}
	hubErr := Event(10, hub, "c", early) // a resource-log record (i%3 != 0)
	hubErr.Category, hubErr.Code = "Connections", 500001
	other := Event(11, hub, "c", early.Add(30*time.Second))
	for range 2 { // a replayed tick: the same output and events again
		r.Note([]event.Event{hubErr, other, hubErr}, 2)
		if err := r.Save(ctx, final, wm, errs); err != nil {
			t.Fatalf("Save final: %v", err)
		}
	}
	// A verdict older than the member window changes nothing.
	if err := r.Save(ctx, []classify.Diagnosis{diag(4, "d", wm.Add(-rollup.MemberWindow-time.Hour), classify.TokenExpiry)}, wm, errs); err != nil {
		t.Fatalf("Save old: %v", err)
	}
	sr, err := rollup.Read(ctx, s, hub, late.Add(-time.Hour), early.Add(time.Hour))
	if err != nil {
		t.Fatalf("Read: %v", err)
	}
	col := func(c classify.Cause) int {
		for i, x := range rollup.Causes {
			if x == c {
				return i
			}
		}
		t.Fatalf("no column for %s", c)
		return -1
	}
	at := func(tm time.Time) rollup.Counts { return sr.Minutes[int(tm.Sub(sr.Start)/time.Minute)] }
	var want0, want1 rollup.Counts
	want0[col(classify.TokenExpiry)], want0[col(classify.DeviceOrNetwork)] = 1, 1
	want1[col(classify.HubTransient)], want1[rollup.HubErrors] = 1, 1
	if got := at(late); got != want0 {
		t.Errorf("minute %s: %v, want %v", late.Format(time.TimeOnly), got, want0)
	}
	if got := at(early); got != want1 {
		t.Errorf("minute %s: %v, want %v", early.Format(time.TimeOnly), got, want1)
	}
	var total uint32
	for _, c := range sr.Minutes {
		total += c.Disconnects() + c[rollup.HubErrors]
	}
	if total != 4 {
		t.Errorf("total counted %d, want 4 (3 disconnects, 1 hub error)", total)
	}
	if !sr.LastRecord.Equal(other.Time) {
		t.Errorf("LastRecord %v, want %v", sr.LastRecord, other.Time)
	}
	// A revision moves the count.
	if err := r.Save(ctx, []classify.Diagnosis{diag(2, "b", late, classify.TokenExpiry)}, wm, errs); err != nil {
		t.Fatal(err)
	}
	if sr, err = rollup.Read(ctx, s, hub, late, late.Add(time.Minute)); err != nil {
		t.Fatal(err)
	}
	if got := sr.Minutes[0][col(classify.TokenExpiry)]; got != 2 || sr.Minutes[0][col(classify.DeviceOrNetwork)] != 0 {
		t.Errorf("after revision: %v, want 2 token-expiry and no device-or-network", sr.Minutes[0])
	}
	// More errors counted by the engine later: the column is set to its
	// count, not added to.
	errCount[early.Unix()/60] = 3
	r.Note([]event.Event{hubErr}, 0)
	if err := r.Save(ctx, nil, wm, errs); err != nil {
		t.Fatal(err)
	}
	if sr, err = rollup.Read(ctx, s, hub, early, early.Add(time.Minute)); err != nil || sr.Minutes[0][rollup.HubErrors] != 3 || sr.Minutes[0][col(classify.HubTransient)] != 1 {
		t.Errorf("after the engine counted 3 errors: %v, %v; want 3 hub errors and the hub-transient kept", sr.Minutes, err)
	}
	// A whole hub dropping in one minute: more members than one row holds.
	big := early.Add(2 * time.Minute)
	const many = 90_000
	ds := make([]classify.Diagnosis, many)
	for i := range ds {
		ds[i] = diag(100+i, "m"+strconv.Itoa(i), big.Add(time.Duration(i%60)*time.Second), classify.HubTransient)
	}
	if err := r.Save(ctx, ds, wm, errs); err != nil {
		t.Fatalf("Save %d disconnects in one minute: %v", many, err)
	}
	if err := rollup.New(s, 7*24*time.Hour).Save(ctx, ds[:10], wm, errs); err != nil { // another instance, a replay
		t.Fatal(err)
	}
	if sr, err = rollup.Read(ctx, s, hub, big, big.Add(time.Minute)); err != nil || sr.Minutes[0][col(classify.HubTransient)] != many {
		t.Errorf("minute of %d disconnects: %v, %v", many, sr.Minutes, err)
	}
	// Day 2 begins: day 0's members go (a late revision of day 0 would now
	// start an empty minute), day 0's counts stay.
	day2 := day0.Add(48*time.Hour + time.Minute)
	if err := r.Save(ctx, []classify.Diagnosis{diag(5, "e", day2, classify.Pending)}, day2, errs); err != nil {
		t.Fatal(err)
	}
	if _, err := s.GetBlob(ctx, store.RollupMemberBlobs, hub+"/"+strconv.FormatInt(late.Unix()/60*60, 10)); err == nil {
		t.Errorf("members of %v survived the start of day 2", late)
	}
	if _, err := s.GetBlob(ctx, store.RollupMemberBlobs, hub+"/"+strconv.FormatInt(early.Unix()/60*60, 10)); err != nil {
		t.Errorf("members of day 1 gone at the start of day 2: %v", err)
	}
	if sr, err = rollup.Read(ctx, s, hub, late, late.Add(time.Minute)); err != nil || sr.Minutes[0].Disconnects() != 2 {
		t.Errorf("day 0 counts after day 2 began: %v, %v", sr.Minutes, err)
	}
	// Day 3 begins: day 1's members go, every page of its busy minute too.
	bigKey := hub + "/" + strconv.FormatInt(big.Unix()/60*60, 10)
	if _, err := s.GetBlob(ctx, store.RollupMemberBlobs, bigKey+"/1"); err != nil {
		t.Fatalf("the second page of the minute of %d disconnects: %v", many, err)
	}
	day3 := day0.Add(72*time.Hour + time.Minute)
	if err := r.Save(ctx, []classify.Diagnosis{diag(6, "f", day3, classify.Pending)}, day3, errs); err != nil {
		t.Fatal(err)
	}
	for _, key := range []string{bigKey, bigKey + "/1", hub + "/" + strconv.FormatInt(early.Unix()/60*60, 10)} {
		if _, err := s.GetBlob(ctx, store.RollupMemberBlobs, key); err == nil {
			t.Errorf("member row %s of day 1 survived the start of day 3", key)
		}
	}
}
