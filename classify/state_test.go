package classify

import (
	"testing"
	"time"

	"github.com/disconnect-doctor/disconnect-doctor/event"
)

// TestFullSamplesKeepTheirArray: a device's token-period samples are
// bounded by maxSamples, and a full list takes a new sample in place — it
// used to insert first and trim after, so every mature device kept an
// array of maxSamples+2 (two spare samples resident per device).
func TestFullSamplesKeepTheirArray(t *testing.T) {
	evs := periodic("mature", 65*time.Minute, maxSamples+4, maxSamples+4, 9*time.Second)
	r := feed(t, testConfig(), evs, 3, time.Hour)
	d := r.st.devices[evs[0].Key()]
	if len(d.samples) != maxSamples {
		t.Fatalf("%d samples, want %d", len(d.samples), maxSamples)
	}
	if cap(d.samples) > maxSamples {
		t.Errorf("samples array holds %d, want at most %d", cap(d.samples), maxSamples)
	}
	newest := periodTime(65*time.Minute, 9*time.Second, maxSamples+4).Add(-9 * time.Second).Unix()
	if got := d.samples[len(d.samples)-1].disc; got != newest {
		t.Errorf("newest sample at %d, want %d (the oldest goes, not the newest)", got, newest)
	}
}

// TestAlertStateHeldOnlyWhenUsed: a device that never fired and has no
// seed-2 verdict keeps no alert state resident; one that fired keeps it
// (its episode reference stops a second firing for the same disconnect).
func TestAlertStateHeldOnlyWhenUsed(t *testing.T) {
	evs := append(periodic("healthy", 65*time.Minute, 3, 3, 9*time.Second),
		connect("gone", at(0), 0, ""), d404("gone", at(hms(0, 30, 0))))
	r := feed(t, testConfig(), sortByTime(evs), 4, 2*time.Hour)
	if a := r.st.devices[evs[0].Key()].alerts; a != nil {
		t.Errorf("healthy device holds alert state %+v", *a)
	}
	g := r.st.devices[event.Key{Hub: testHub, Device: "gone"}]
	if g.alerts == nil || !g.offline.firing {
		t.Fatalf("offline device's alert state %+v, want offline firing", g.alerts)
	}
	blob, err := r.st.MarshalDevice(evs[0].Key())
	if err != nil {
		t.Fatal(err)
	}
	st := NewState()
	if err := st.UnmarshalDevice(evs[0].Key(), blob); err != nil {
		t.Fatal(err)
	}
	if a := st.devices[evs[0].Key()].alerts; a != nil {
		t.Errorf("decoded healthy device holds alert state %+v", *a)
	}
}
