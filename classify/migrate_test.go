package classify

import (
	"os"
	"path/filepath"
	"reflect"
	"strings"
	"testing"
	"time"

	"github.com/disconnect-doctor/disconnect-doctor/event"
)

// TestHubBlobV2Migrates: state saved by the previous layout (hub minutes as
// member sets; testdata/v2, written by that version from the burst fixture
// while its minutes were open) loads into counts equal to what this version
// builds from the same records, and goes on to the same diagnoses,
// incidents and signals.
func TestHubBlobV2Migrates(t *testing.T) {
	evs := sortByTime(burst(12, true, at(hms(3, 22, 0)), "pump"))
	fresh := feed(t, testConfig(), evs, 5, 0)

	old := NewState()
	devs, err := filepath.Glob("testdata/v2/dev/*.bin")
	if err != nil || len(devs) != 12 {
		t.Fatalf("v2 device blobs: %d, %v", len(devs), err)
	}
	for _, p := range devs {
		b, err := os.ReadFile(p)
		if err != nil {
			t.Fatal(err)
		}
		k := event.Key{Hub: testHub, Device: strings.TrimSuffix(filepath.Base(p), ".bin")}
		if err := old.UnmarshalDevice(k, b); err != nil {
			t.Fatal(err)
		}
	}
	hb, err := os.ReadFile("testdata/v2/hub.bin")
	if err != nil {
		t.Fatal(err)
	}
	if hb[0] != hubBlobV2 {
		t.Fatalf("fixture is hub blob v%d, want v2", hb[0])
	}
	if err := old.UnmarshalHub(testHub, hb); err != nil {
		t.Fatal(err)
	}
	fh, oh := fresh.st.hubs[testHub], old.hubs[testHub]
	open := 0
	for m, fb := range fh.buckets {
		ob := oh.buckets[m]
		if ob == nil {
			t.Fatalf("minute %d missing after migration", m)
		}
		if fb.nDev != ob.nDev || fb.p1 != ob.p1 || fb.p2 != ob.p2 || fb.p3 != ob.p3 || fb.errs != ob.errs || !reflect.DeepEqual(fb.secs, ob.secs) {
			t.Errorf("minute %d: migrated %+v, built %+v", m, *ob, *fb)
		}
		if !fb.compact {
			open++
		}
	}
	if open == 0 {
		t.Fatal("fixture has no open minute: nothing to migrate")
	}

	e := New(testConfig())
	for w := at(hms(3, 24, 0)); w.Before(at(hms(4, 30, 0))); w = w.Add(time.Minute) {
		a, b := e.Tick(fresh.st, w), e.Tick(old, w)
		if !reflect.DeepEqual(a, b) {
			t.Fatalf("at %s the migrated state gives\n%+v\nwant\n%+v", w, b, a)
		}
	}
	if len(oh.legacy) != 0 {
		t.Errorf("%d devices still read from the old sets", len(oh.legacy))
	}
}
