package alert

import (
	"net/url"
	"strings"
	"testing"

	"github.com/disconnect-doctor/disconnect-doctor/classify"
)

// TestLink: notifications open the matching dashboard page, with every
// legal id character intact, the module of a module identity, and never a
// key.
func TestLink(t *testing.T) {
	const base = "https://dd.example.com/"
	nasty := "a-b.c+d%e_f#g*h?i!j(k)l,m:n=o@p$q'r"
	tests := []struct {
		name   string
		base   string
		kind   classify.SignalKind
		alerts []Alert
		path   string
		query  url.Values
	}{
		{"no base URL", "", classify.DeviceOffline, []Alert{{DeviceID: "d1"}}, "", nil},
		{"hub incident", base, classify.HubIncident, []Alert{{StartsAt: "2026-12-06T04:00:00Z"}},
			"/api/v1/ui/incidents", url.Values{"hub": {"hub-1"}, "at": {"2026-12-06T04:00:00Z"}}},
		{"one device", base, classify.DeviceOffline, []Alert{{DeviceID: nasty}},
			"/api/v1/ui/devices", url.Values{"hub": {"hub-1"}, "id": {nasty}}},
		{"one module", base, classify.DeviceFlapping, []Alert{{DeviceID: "edge-1", Module: "$edgeHub"}},
			"/api/v1/ui/devices", url.Values{"hub": {"hub-1"}, "id": {"edge-1"}, "module": {"$edgeHub"}}},
		{"several devices", base, classify.DeviceOffline, []Alert{{DeviceID: "d1"}, {DeviceID: "d2"}},
			"/api/v1/ui/hubs/hub-1", url.Values{}},
		{"site outage", base, classify.SiteOutage, []Alert{{Subject: "203.0.113", StartsAt: "2026-12-06T04:00:00Z"}},
			"/api/v1/ui/hubs/hub-1", url.Values{}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got := link(tt.base, tt.kind, "hub-1", tt.alerts)
			if tt.path == "" {
				if got != "" {
					t.Fatalf("link = %q, want none", got)
				}
				return
			}
			u, err := url.Parse(got)
			if err != nil {
				t.Fatalf("link %q: %v", got, err)
			}
			if u.Scheme != "https" || u.Host != "dd.example.com" || u.Path != tt.path {
				t.Errorf("link %q: want https://dd.example.com%s", got, tt.path)
			}
			if q := u.Query(); q.Encode() != tt.query.Encode() {
				t.Errorf("link %q: query %v, want %v", got, q, tt.query)
			}
			if strings.Contains(strings.ToLower(got), "code=") {
				t.Errorf("link %q carries a key", got)
			}
		})
	}
}
