package alert_test

import (
	"testing"

	"github.com/disconnect-doctor/disconnect-doctor/alert"
	"github.com/disconnect-doctor/disconnect-doctor/classify"
)

// TestPipelineAlertsRender: the pipeline's own alerts are about the app or
// a channel, not devices: their headlines name the app (no empty hub), the
// channel instead of a device count, and link to the dashboard overview.
func TestPipelineAlertsRender(t *testing.T) {
	m := alert.New(alert.Config{PublicBaseURL: "https://app.example.net"})
	st := alert.NewState()
	sigs := []classify.Signal{
		{Kind: classify.PipelineLagging, Firing: true, Since: t0, At: t0, Summary: "behind", Devices: 1},
		{Kind: classify.NotificationsFailing, Firing: true, Since: t0, At: t0, Summary: "dead", Devices: 1},
	}
	sigs[1].Key.Device = "teams"
	ns := m.Apply(st, sigs, t0)
	if len(ns) != 2 {
		t.Fatalf("%d notifications", len(ns))
	}
	want := map[classify.SignalKind][3]string{
		classify.PipelineLagging:      {"FIRING: diagnoses running late (pipeline lagging) on disconnect-doctor", "the pipeline", "disconnect-doctor"},
		classify.NotificationsFailing: {"FIRING: notifications failing on disconnect-doctor (teams)", "teams", "teams"},
	}
	for _, n := range ns {
		w := want[n.Kind]
		a := n.Alerts[0]
		if n.Title() != w[0] || n.DeviceCount() != w[1] || a.Identity() != w[2] || a.DeviceID != "" ||
			n.Link != "https://app.example.net/api/v1/ui" || a.Severity != n.Kind.Severity() {
			t.Errorf("%s: title %q, count %q, identity %q, deviceId %q, link %q", n.Kind, n.Title(), n.DeviceCount(), a.Identity(), a.DeviceID, n.Link)
		}
	}
}
