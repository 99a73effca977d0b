package alert

import (
	"fmt"
	"slices"
	"testing"
	"time"

	"github.com/disconnect-doctor/disconnect-doctor/classify"
)

func dueOf(kind classify.SignalKind, dev, status string, repeat int, stale bool) due {
	r := &Record{Key: string(kind) + "/h/" + dev, Kind: kind, Hub: "h", Device: dev}
	return due{r: r, status: status, repeat: repeat, stale: stale, at: time.Unix(0, 0)}
}

// TestBatches: one batch per kind, hub, staleness, status and reminder
// number; resolved before firing, first firings before reminders.
func TestBatches(t *testing.T) {
	off := classify.DeviceOffline
	ds := []due{
		dueOf(off, "d4", StatusFiring, 2, false),
		dueOf(off, "d2", StatusFiring, 0, false),
		dueOf(off, "d1", StatusResolved, 3, false),
		dueOf(off, "d3", StatusFiring, 0, false),
		dueOf(off, "d5", StatusResolved, 0, false),
		dueOf(off, "d6", StatusFiring, 0, true),
		dueOf(classify.DeviceFlapping, "d1", StatusFiring, 0, false),
	}
	var got []string
	for _, b := range batches(ds) {
		var devs []string
		for _, d := range b.alerts {
			devs = append(devs, d.r.Device)
		}
		got = append(got, fmt.Sprintf("%s %s#%d stale=%v %v", b.id.kind, b.id.status, b.id.repeat, b.id.stale, devs))
	}
	want := []string{
		"device-flapping firing#0 stale=false [d1]",
		"device-offline firing#0 stale=true [d6]",
		"device-offline resolved#0 stale=false [d1 d5]",
		"device-offline firing#0 stale=false [d2 d3]",
		"device-offline firing#2 stale=false [d4]",
	}
	if !slices.Equal(got, want) {
		t.Errorf("batches:\n%v\nwant\n%v", got, want)
	}
}

// TestAnnounce: a fresh firing announces its episode; the resolved of an
// episode never announced is dropped, of one announced (now or before) kept.
func TestAnnounce(t *testing.T) {
	off := classify.DeviceOffline
	staleFire := dueOf(off, "d1", StatusFiring, 0, true)
	neverTold := dueOf(off, "d1", StatusResolved, 0, false)
	neverTold.r = staleFire.r
	fresh := dueOf(off, "d2", StatusFiring, 0, false)
	endOfFresh := dueOf(off, "d2", StatusResolved, 0, false)
	toldBefore := dueOf(off, "d3", StatusResolved, 0, false)
	toldBefore.r.Announced = true
	got := announce([]due{staleFire, neverTold, fresh, endOfFresh, toldBefore})
	var keys []string
	for _, d := range got {
		keys = append(keys, d.r.Device+"="+d.status)
	}
	if want := []string{"d1=firing", "d2=firing", "d2=resolved", "d3=resolved"}; !slices.Equal(keys, want) {
		t.Errorf("announce kept %v, want %v", keys, want)
	}
	if staleFire.r.Announced || !fresh.r.Announced {
		t.Errorf("Announced: stale %v (want false), fresh %v (want true)", staleFire.r.Announced, fresh.r.Announced)
	}
}
