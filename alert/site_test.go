package alert_test

import (
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/disconnect-doctor/disconnect-doctor/alert"
	"github.com/disconnect-doctor/disconnect-doctor/classify"
	"github.com/disconnect-doctor/disconnect-doctor/event"
)

const outageID = "contoso-hub/203.0.113/1772359200"

// outage is a site outage's transition (package site's signal): Key.Device
// is the network.
func outage(firing bool, when time.Duration) classify.Signal {
	return classify.Signal{Kind: classify.SiteOutage, Key: event.Key{Hub: hub, Device: "203.0.113"}, Firing: firing,
		Since: at(0), At: at(when), Incident: outageID, Site: "203.0.113", Devices: 12,
		Summary: "12 devices behind 203.0.113.x lost their connection at 10:00 UTC; 12 still away"}
}

// member is a device signal package site marked as caught in the outage.
func member(s classify.Signal) classify.Signal {
	s.Incident, s.Site = outageID, "203.0.113"
	return s
}

// TestSiteOutageHoldsDeviceAlerts: one firing and one resolved for the
// outage; its members' device-offline alerts are held back while it fires;
// a member still away when it resolves is notified then, on its own; a
// device outside it is not held.
func TestSiteOutageHoldsDeviceAlerts(t *testing.T) {
	const off = classify.DeviceOffline
	steps := []step{
		{[]classify.Signal{outage(true, 4*time.Minute)}, 4 * time.Minute,
			[]string{"site-outage/contoso-hub firing : /203.0.113=firing#0"}},
		{[]classify.Signal{member(fire(off, "plc-01", 15*time.Minute, "")), member(fire(off, "plc-02", 15*time.Minute, "")),
			member(fire(off, "plc-03", 15*time.Minute, "")), fire(off, "elsewhere", 15*time.Minute, "")}, 15 * time.Minute,
			[]string{"device-offline/contoso-hub firing : /elsewhere=firing#0"}},
		// plc-01 and plc-02 come back while held: nobody hears of them.
		{[]classify.Signal{clear(off, "plc-01", 15*time.Minute, 38*time.Minute), clear(off, "plc-02", 15*time.Minute, 39*time.Minute)},
			39 * time.Minute, nil},
		// The outage resolves with plc-03 still away: it is released.
		{[]classify.Signal{outage(false, 40*time.Minute)}, 40 * time.Minute,
			[]string{"site-outage/contoso-hub resolved : /203.0.113=resolved#0", "device-offline/contoso-hub firing : /plc-03=firing#0"}},
		{nil, 3 * time.Hour, nil},
	}
	m := alert.New(alert.Config{})
	st := alert.NewState()
	blobs := map[string][]byte{}
	for i, s := range steps {
		ns := m.Apply(st, s.sigs, at(s.now))
		if got := render(ns); !slices.Equal(got, s.want) {
			t.Fatalf("step %d: got\n  %s\nwant\n  %s", i, strings.Join(got, "\n  "), strings.Join(s.want, "\n  "))
		}
		if i == 0 {
			n := ns[0]
			if !strings.Contains(n.Title(), "site outage") || !strings.Contains(n.Alerts[0].Summary, "12 devices behind 203.0.113.x") {
				t.Fatalf("firing title %q summary %q", n.Title(), n.Alerts[0].Summary)
			}
		}
		st = roundTrip(t, st, blobs)
	}
	var left []string
	for _, r := range st.Records() {
		left = append(left, r.Key)
	}
	if want := []string{"device-offline/contoso-hub/elsewhere", "device-offline/contoso-hub/plc-03"}; !slices.Equal(left, want) {
		t.Fatalf("state holds %v, want %v", left, want)
	}
}

// TestHubIncidentHoldIsNotASiteHold: a device signal caught in a hub
// incident is held by the incident's alert, not by a site outage's.
func TestHubIncidentHoldIsNotASiteHold(t *testing.T) {
	m := alert.New(alert.Config{})
	st := alert.NewState()
	m.Apply(st, []classify.Signal{outage(true, 0)}, at(0))
	ns := m.Apply(st, []classify.Signal{fire(classify.DeviceOffline, "d1", time.Minute, "inc-elsewhere")}, at(time.Minute))
	if got := render(ns); !slices.Equal(got, []string{"device-offline/contoso-hub firing : /d1=firing#0"}) {
		t.Fatalf("got %v", got)
	}
}
