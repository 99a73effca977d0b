package main

import (
	"strings"
	"testing"
	"time"

	"github.com/disconnect-doctor/disconnect-doctor/classify"
)

// checkSiteOutages: a run's injected site outages each end as one
// site-outage firing and one resolved (found on the injected network,
// started within minutes of the injected start, holding its devices), and
// no member of one gets a device-offline of its own while it lasts.
func checkSiteOutages(t *testing.T, res *RunResult, fired, resolved int) {
	t.Helper()
	want := len(res.Fleet.Sites)
	if want == 0 {
		t.Fatal("the run's fleet injects no site outage")
	}
	if fired != want || resolved != want {
		t.Errorf("site outages: %d firing episodes and %d resolved notifications, want %d of each", fired, resolved, want)
	}
	if len(res.Sites) != want {
		t.Fatalf("%d site outages found, %d injected: %+v", len(res.Sites), want, res.Sites)
	}
	for i, ts := range res.Fleet.Sites {
		o := res.Sites[i]
		start := time.Unix(o.Start, 0)
		if o.Network != ts.Network || o.Open || start.Before(ts.Start) || start.Sub(ts.Start) > 5*time.Minute ||
			o.Devices < len(ts.Devices)*3/4 {
			t.Errorf("site outage found %+v, injected %s from %s with %d identities", o, ts.Network, ts.Start, len(ts.Devices))
		}
		members := map[string]bool{}
		for _, d := range ts.Devices {
			members[d] = true
		}
		for _, n := range res.Notifications {
			for _, a := range n.Alerts {
				id := a.DeviceID
				if a.Module != "" {
					id += "/" + a.Module
				}
				at := a.StartsAtTime()
				if classify.SignalKind(a.Kind) == classify.DeviceOffline && members[id] && !at.Before(ts.Start) && at.Before(ts.End) {
					t.Errorf("device-offline %s sent for a member of site outage %s", a.Key, o.ID)
				}
			}
		}
		if !strings.HasPrefix(o.ID, "contoso-prod-hub/"+ts.Network+"/") {
			t.Errorf("site outage id %s", o.ID)
		}
	}
}
