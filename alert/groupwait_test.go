package alert_test

import (
	"slices"
	"testing"
	"time"

	"github.com/disconnect-doctor/disconnect-doctor/alert"
	"github.com/disconnect-doctor/disconnect-doctor/classify"
)

// TestGroupInterval: device alerts of one kind and hub that fall due in
// successive minutes go out once per GroupInterval (5 minutes), the first
// of a quiet group at once; a device back before its group's next
// notification is never notified; other hubs, other kinds and hub incidents
// do not wait; what waits survives the store between ticks.
func TestGroupInterval(t *testing.T) {
	const off = classify.DeviceOffline
	other := func(s classify.Signal) classify.Signal { s.Key.Hub = "other-hub"; return s }
	steps := []struct {
		sigs []classify.Signal
		now  time.Duration
		want []string
	}{
		{[]classify.Signal{fire(off, "d1", 0, "")}, 0, // a quiet group: at once
			[]string{"device-offline/contoso-hub firing : /d1=firing#0"}},
		{[]classify.Signal{fire(off, "d2", time.Minute, ""), other(fire(off, "x1", time.Minute, ""))}, time.Minute,
			[]string{"device-offline/other-hub firing : /x1=firing#0"}}, // d2 waits; another hub does not
		{[]classify.Signal{fire(off, "d3", 2*time.Minute, ""), fire(classify.DeviceFlapping, "f1", 2*time.Minute, "")}, 2 * time.Minute,
			[]string{"device-flapping/contoso-hub firing : /f1=firing#0"}},
		{[]classify.Signal{fire(off, "d4", 3*time.Minute, ""), fire(classify.HubIncident, "", 3*time.Minute, "inc-9")}, 3 * time.Minute,
			[]string{"hub-incident/contoso-hub firing : =firing#0"}}, // an incident never waits
		{[]classify.Signal{clear(classify.HubIncident, "", 3*time.Minute, 4*time.Minute)}, 4 * time.Minute,
			[]string{"hub-incident/contoso-hub resolved : =resolved#0"}},
		{nil, 5 * time.Minute, // the interval is over: what waited, together
			[]string{"device-offline/contoso-hub firing : /d2=firing#0,/d3=firing#0,/d4=firing#0"}},
		{[]classify.Signal{fire(off, "d5", 6*time.Minute, ""), clear(off, "d1", 0, 7*time.Minute)}, 7 * time.Minute, nil},
		{[]classify.Signal{fire(off, "d6", 8*time.Minute, ""), clear(off, "d6", 8*time.Minute, 9*time.Minute)}, 9 * time.Minute, nil},
		{nil, 10 * time.Minute, // d6 came and went unnotified; d1's resolved and d5 go out
			[]string{"device-offline/contoso-hub resolved : /d1=resolved#0", "device-offline/contoso-hub firing : /d5=firing#0"}},
		{nil, 16 * time.Minute, nil},
		{[]classify.Signal{fire(off, "d7", 17*time.Minute, "")}, 17 * time.Minute, // quiet for the interval: at once again
			[]string{"device-offline/contoso-hub firing : /d7=firing#0"}},
	}
	m := alert.New(alert.Config{ResolveHold: -1})
	st := alert.NewState()
	blobs := map[string][]byte{}
	for i, s := range steps {
		got := render(m.Apply(st, s.sigs, at(s.now)))
		if !slices.Equal(got, s.want) {
			t.Errorf("step %d (+%s):\n got %q\nwant %q", i, s.now, got, s.want)
		}
		st = roundTrip(t, st, blobs)
	}
	if _, ok := blobs["~groups"]; !ok {
		t.Errorf("no group is inside its interval after d7's notification: blobs %v", len(blobs))
	}
}

// TestGroupIntervalDisabled: GroupInterval < 0 notifies every tick, as
// before it existed.
func TestGroupIntervalDisabled(t *testing.T) {
	m := alert.New(alert.Config{ResolveHold: -1, GroupInterval: -1})
	st := alert.NewState()
	for i := range 4 {
		d := time.Duration(i) * time.Minute
		if ns := m.Apply(st, []classify.Signal{fire(classify.DeviceOffline, "d"+string(rune('0'+i)), d, "")}, at(d)); len(ns) != 1 {
			t.Fatalf("minute %d: %q, want one notification", i, render(ns))
		}
	}
}
