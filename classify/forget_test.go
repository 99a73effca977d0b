package classify

import (
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/disconnect-doctor/disconnect-doctor/event"
)

func moduleEv(e event.Event, module string) event.Event {
	e.Module = module
	return withID(e)
}

// TestDeviceDeletedResolvesItsModules (issue 10 items 1 and 5): deleting a
// device identity deletes its modules with it; an offline module's alert
// resolves with the reason, and the modules stop being tracked.
func TestDeviceDeletedResolvesItsModules(t *testing.T) {
	evs := []event.Event{
		connect("edge-1", at(0), 0, ""),
		moduleEv(connect("edge-1", at(0), 0, ""), "$edgeHub"),
		moduleEv(d404("edge-1", at(hms(0, 5, 0))), "$edgeHub"),
		d404("edge-1", at(hms(0, 5, 0))),
		withID(event.Event{Source: event.EventGrid, Kind: event.Deleted, Hub: testHub, Device: "edge-1", Time: at(hms(0, 40, 0))}),
		connect("other", at(hms(1, 30, 0)), 0, ""),
	}
	r := feed(t, testConfig(), sortByTime(evs), 1, time.Hour)
	var mod []Signal
	for _, s := range r.signalsOf(DeviceOffline, "edge-1") {
		if s.Key.Module == "$edgeHub" {
			mod = append(mod, s)
		}
	}
	if len(mod) != 2 || !mod[0].Firing || mod[1].Firing {
		t.Fatalf("module offline signals %+v, want firing then resolved by the device's deletion", mod)
	}
	if !strings.Contains(mod[1].Summary, "no longer tracked: device deleted") {
		t.Errorf("resolve summary %q lacks the reason", mod[1].Summary)
	}
	for _, k := range []event.Key{{Hub: testHub, Device: "edge-1"}, {Hub: testHub, Device: "edge-1", Module: "$edgeHub"}} {
		if _, ok := r.st.devices[k]; ok {
			t.Errorf("%s still tracked after the device's deletion", k)
		}
	}
}

// TestForgetResolvesOpenConditions (issue 10 item 1): retention drops a
// device whose offline, flapping or renewal condition is open; Forget
// resolves each with the reason, once.
func TestForgetResolvesOpenConditions(t *testing.T) {
	cfg := testConfig()
	cfg.Retention = 7 * 24 * time.Hour
	evs := []event.Event{connect("gone", at(0), 0, ""), d404("gone", at(hms(0, 5, 0))), connect("other", at(hms(2, 0, 0)), 0, "")}
	r := feed(t, cfg, sortByTime(evs), 1, time.Hour)
	if s := r.signalsOf(DeviceOffline, "gone"); len(s) != 1 || !s[0].Firing {
		t.Fatalf("offline signals before retention %+v", s)
	}
	e := New(cfg)
	out := e.Forget(r.st, at(8*24*time.Hour).Add(-cfg.Retention))
	if len(out.Removed) != 2 {
		t.Fatalf("forgot %v, want gone and other", out.Removed)
	}
	if len(out.Signals) != 1 {
		t.Fatalf("signals %+v, want the gone device's offline resolved", out.Signals)
	}
	s := out.Signals[0]
	if s.Kind != DeviceOffline || s.Firing || s.Key.Device != "gone" || !s.Since.Equal(at(hms(0, 5, 0))) {
		t.Errorf("signal %+v", s)
	}
	if want := "contoso-prod-hub/gone is no longer tracked: no record for 7 days"; s.Summary != want {
		t.Errorf("summary %q, want %q", s.Summary, want)
	}
	if !containsLine(s.Evidence, "last record at 2024-05-14 10:05:00 UTC") {
		t.Errorf("evidence %q", s.Evidence)
	}
	if again := e.Forget(r.st, at(9*24*time.Hour)); len(again.Signals)+len(again.Removed) != 0 {
		t.Errorf("a second Forget did something: %+v", again)
	}
}

// TestModuleIndex: the module index follows the tracked identities through
// add, load and drop, so a deletion reaches exactly the device's modules.
func TestModuleIndex(t *testing.T) {
	st := NewState()
	for _, k := range []event.Key{{Hub: "h", Device: "d"}, {Hub: "h", Device: "d", Module: "$edgeHub"},
		{Hub: "h", Device: "d", Module: "m2"}, {Hub: "h", Device: "d2", Module: "$edgeHub"}, {Hub: "h2", Device: "d", Module: "x"}} {
		st.device(k)
	}
	names := func(k event.Key) []string {
		var out []string
		for _, d := range st.modulesOf(k) {
			out = append(out, d.key.Module)
		}
		slices.Sort(out)
		return out
	}
	if got := names(event.Key{Hub: "h", Device: "d"}); !slices.Equal(got, []string{"$edgeHub", "m2"}) {
		t.Fatalf("modules of h/d: %v", got)
	}
	st.dropDevice(event.Key{Hub: "h", Device: "d", Module: "m2"})
	if got := names(event.Key{Hub: "h", Device: "d"}); !slices.Equal(got, []string{"$edgeHub"}) {
		t.Fatalf("after drop: %v", got)
	}
	// a state loaded from blobs has the same index
	data, err := st.MarshalDevice(event.Key{Hub: "h", Device: "d", Module: "$edgeHub"})
	if err != nil {
		t.Fatal(err)
	}
	loaded := NewState()
	if err := loaded.UnmarshalDevice(event.Key{Hub: "h", Device: "d", Module: "$edgeHub"}, data); err != nil {
		t.Fatal(err)
	}
	if got := loaded.modulesOf(event.Key{Hub: "h", Device: "d"}); len(got) != 1 || got[0].key.Module != "$edgeHub" {
		t.Fatalf("loaded index: %v", got)
	}
}
