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

// TestHeadlineFromItsOwnStatus: a payload stored by an older version may
// mix firing and resolved alerts; its title, device count and "since" are
// those of the alerts of its status only (issue 10: a "firing" that led
// with a resolved alert and counted it).
func TestHeadlineFromItsOwnStatus(t *testing.T) {
	n := alert.Notification{Status: alert.StatusFiring, Kind: classify.DeviceOffline, Hub: hub, Due: at(3 * time.Hour),
		Alerts: []alert.Alert{
			{Key: "device-offline/contoso-hub/d1", Status: alert.StatusResolved, DeviceID: "d1", StartsAt: "2026-03-01T09:00:00Z", Devices: 1},
			{Key: "device-offline/contoso-hub/d2", Status: alert.StatusFiring, DeviceID: "d2", StartsAt: "2026-03-01T11:00:00Z", Devices: 1},
		}}
	if got := n.DeviceCount(); got != "1 device" {
		t.Errorf("DeviceCount = %q, want 1 device (the firing one)", got)
	}
	if got := n.Since(); !got.Equal(at(time.Hour)) {
		t.Errorf("Since = %v, want the firing alert's start %v", got, at(time.Hour))
	}
	if got := n.Title(); got != "FIRING: devices offline after a disconnect on contoso-hub (1 device)" {
		t.Errorf("Title = %q", got)
	}
}

func TestReminderWords(t *testing.T) {
	base := alert.Notification{Status: alert.StatusFiring, Hub: hub, Due: at(26 * time.Hour),
		Alerts: []alert.Alert{{Status: alert.StatusFiring, StartsAt: "2026-03-01T10:00:00Z", Devices: 1}}}
	cases := []struct {
		kind           classify.SignalKind
		status         string
		repeat         int
		tag, words, rm string
	}{
		{classify.DeviceOffline, alert.StatusFiring, 0, "[FIRING]", "FIRING", ""},
		{classify.DeviceOffline, alert.StatusFiring, 2, "[FIRING][REMINDER 2]", "FIRING (REMINDER 2)",
			"Reminder 2 — still offline since 2026-03-01 10:00:00 UTC"},
		{classify.DeviceFlapping, alert.StatusFiring, 1, "[FIRING][REMINDER 1]", "FIRING (REMINDER 1)",
			"Reminder 1 — still flapping since 2026-03-01 10:00:00 UTC"},
		{classify.TokenRenewalFailing, alert.StatusFiring, 3, "[FIRING][REMINDER 3]", "FIRING (REMINDER 3)",
			"Reminder 3 — still unable to renew the token since 2026-03-01 10:00:00 UTC"},
		{classify.HubIncident, alert.StatusFiring, 1, "[FIRING][REMINDER 1]", "FIRING (REMINDER 1)",
			"Reminder 1 — the incident is still open since 2026-03-01 10:00:00 UTC"},
		{classify.DeviceOffline, alert.StatusResolved, 0, "[RESOLVED]", "RESOLVED", ""},
	}
	for _, tc := range cases {
		n := base
		n.Kind, n.Status, n.Repeat = tc.kind, tc.status, tc.repeat
		n.Alerts = []alert.Alert{base.Alerts[0]}
		n.Alerts[0].Status = tc.status
		if got := n.StatusTag(); got != tc.tag {
			t.Errorf("%s#%d StatusTag = %q, want %q", tc.kind, tc.repeat, got, tc.tag)
		}
		if got := n.StatusWords(); got != tc.words {
			t.Errorf("%s#%d StatusWords = %q, want %q", tc.kind, tc.repeat, got, tc.words)
		}
		if got := n.Reminder(); got != tc.rm {
			t.Errorf("%s#%d Reminder = %q, want %q", tc.kind, tc.repeat, got, tc.rm)
		}
	}
	same := base
	same.Kind, same.Repeat, same.Due = classify.DeviceOffline, 1, at(4*time.Hour)
	if got := same.Reminder(); got != "Reminder 1 — still offline since 10:00:00 UTC" {
		t.Errorf("same-day reminder = %q (no date when it is the notification's own)", got)
	}
}

// TestOrphans: only firing device alerts whose identity is no longer
// tracked get a resolving signal; a hub's alert and tracked devices are left
// alone.
func TestOrphans(t *testing.T) {
	m := alert.New(alert.Config{})
	st := alert.NewState()
	mod := fire(classify.DeviceFlapping, "edge-1", 0, "")
	mod.Key.Module = "$edgeHub"
	m.Apply(st, []classify.Signal{fire(classify.HubIncident, "", 0, "I1"), fire(classify.DeviceOffline, "kept", time.Minute, ""),
		fire(classify.DeviceOffline, "gone", time.Minute, ""), mod}, at(2*time.Minute))
	tracked := func(k event.Key) bool { return k.Device == "kept" }
	sigs := st.Orphans(tracked, at(time.Hour))
	var keys []string
	for _, s := range sigs {
		if s.Firing || !s.At.Equal(at(time.Hour)) || !strings.Contains(s.Summary, "no longer tracked") {
			t.Errorf("signal %+v", s)
		}
		keys = append(keys, s.AlertKey())
	}
	if want := []string{"device-flapping/contoso-hub/edge-1/$edgeHub", "device-offline/contoso-hub/gone"}; !slices.Equal(keys, want) {
		t.Errorf("orphans %v, want %v", keys, want)
	}
	ns := m.Apply(st, sigs, at(time.Hour+11*time.Minute))
	if got := render(ns); !slices.Equal(got, []string{"device-flapping/contoso-hub resolved : /edge-1/$edgeHub=resolved#0", "device-offline/contoso-hub resolved : /gone=resolved#0"}) {
		t.Errorf("after the hold: %v", got)
	}
}
