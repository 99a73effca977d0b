package alert_test

import (
	"context"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/disconnect-doctor/disconnect-doctor/alert"
	"github.com/disconnect-doctor/disconnect-doctor/classify"
	"github.com/disconnect-doctor/disconnect-doctor/store"
)

// issueRoutes are the examples of issue 14: production hubs to Teams and
// e-mail, test hubs to the webhook only, token-renewal-failed to e-mail as
// well.
const issueRoutes = `{"routes":[
  {"name":"token renewal to e-mail too","kinds":["token-renewal-failed"],"channels":["email"],"continue":true},
  {"name":"production","hubs":["*-prod-*","Contoso-Prod"],"channels":["teams","email"]},
  {"name":"test","hubs":["*-test-*"],"channels":["webhook"]}
]}`

var allChannels = []string{"email", "teams", "webhook"}

func note(kind classify.SignalKind, hub string) *alert.Notification {
	return &alert.Notification{Kind: kind, Hub: hub, GroupKey: string(kind) + "/" + hub, NotificationID: string(kind) + hub}
}

func TestRoutesChannels(t *testing.T) {
	rs, err := alert.ParseRoutes(issueRoutes, allChannels)
	if err != nil {
		t.Fatal(err)
	}
	crit, err := alert.ParseRoutes(`{"routes":[{"severities":["critical"],"channels":["teams"]}],"default":["webhook"]}`, allChannels)
	if err != nil {
		t.Fatal(err)
	}
	none, err := alert.ParseRoutes(`{"routes":[{"hubs":["lab-?"],"channels":["webhook"]}],"default":[]}`, allChannels)
	if err != nil {
		t.Fatal(err)
	}
	digest, err := alert.ParseRoutes(`{"routes":[{"kinds":["daily-digest"],"channels":["email"]}]}`, allChannels)
	if err != nil {
		t.Fatalf("the digest's kind in a route: %v", err)
	}
	cases := []struct {
		name string
		rs   *alert.Routes
		n    *alert.Notification
		want []string
	}{
		{"production hub", rs, note(classify.DeviceOffline, "fabrikam-prod-eu"), []string{"email", "teams"}},
		{"production hub named exactly (glob lower-cased)", rs, note(classify.HubIncident, "contoso-prod"), []string{"email", "teams"}},
		{"test hub", rs, note(classify.DeviceFlapping, "fabrikam-test-1"), []string{"webhook"}},
		{"token renewal on a test hub: e-mail as well", rs, note(classify.TokenRenewalFailing, "fabrikam-test-1"), []string{"email", "webhook"}},
		{"token renewal on a production hub: no duplicate e-mail", rs, note(classify.TokenRenewalFailing, "x-prod-1"), []string{"email", "teams"}},
		{"no route matches: every configured channel", rs, note(classify.DeviceOffline, "lab"), allChannels},
		{"a continue route that matched counts: no default added", rs, note(classify.TokenRenewalFailing, "lab"), []string{"email"}},
		{"by severity", crit, note(classify.HubIncident, "lab"), []string{"teams"}},
		{"default channels", crit, note(classify.DeviceOffline, "lab"), []string{"webhook"}},
		{"glob ?", none, note(classify.DeviceOffline, "lab-1"), []string{"webhook"}},
		{"default [] sends nowhere", none, note(classify.DeviceOffline, "lab-10"), nil},
		{"the daily digest routed by its kind", digest, note(alert.KindDigest, "lab"), []string{"email"}},
		{"alerts past the digest's route", digest, note(classify.DeviceOffline, "lab"), allChannels},
	}
	for _, c := range cases {
		got := c.rs.Channels(c.n, allChannels)
		if !slices.Equal(got, c.want) && !(len(got) == 0 && len(c.want) == 0) {
			t.Errorf("%s: %v, want %v", c.name, got, c.want)
		}
	}
}

func TestParseRoutesErrors(t *testing.T) {
	cases := []struct {
		name, doc  string
		configured []string
		want       string
	}{
		{"unknown channel", `{"routes":[{"channels":["teams"]},{"name":"ops","channels":["slack"]}]}`, allChannels, `routes[1] ("ops").channels[0]: unknown channel "slack"`},
		{"channel not configured", `{"routes":[{"hubs":["a"],"channels":["pagerduty"]}]}`, allChannels, `routes[0].channels[0]: channel "pagerduty" is not configured`},
		{"bad glob", `{"routes":[{"hubs":["ok-*","prod-[eu"],"channels":["teams"]}]}`, allChannels, "routes[0].hubs[1]: malformed glob"},
		{"empty glob", `{"routes":[{"hubs":[""],"channels":["teams"]}]}`, allChannels, "routes[0].hubs[0]: empty glob"},
		{"unknown kind", `{"routes":[{"channels":["teams"]},{"kinds":["device-offline","token-expired"],"channels":["email"]}]}`, allChannels, `routes[1].kinds[1]: unknown alert kind "token-expired"`},
		{"unknown severity", `{"routes":[{"severities":["page"],"channels":["teams"]}]}`, allChannels, `routes[0].severities[0]: unknown severity "page"`},
		{"no channels", `{"routes":[{"hubs":["a"]}]}`, allChannels, "routes[0].channels: a route needs at least one channel"},
		{"unknown field", `{"routes":[{"hub":"a","channels":["teams"]}]}`, allChannels, `unknown field "hub"`},
		{"default not configured", `{"routes":[],"default":["email"]}`, []string{"teams"}, `default[0]: channel "email" is not configured`},
		{"not JSON", `teams`, allChannels, "not a routes document"},
		{"two documents", `{"routes":[]} {}`, allChannels, "not one JSON object"},
		{"a bare list", `[{"channels":["teams"]}]`, allChannels, "not a routes document"},
	}
	for _, c := range cases {
		_, err := alert.ParseRoutes(c.doc, c.configured)
		if err == nil || !strings.Contains(err.Error(), c.want) {
			t.Errorf("%s: error %v, want one containing %q", c.name, err, c.want)
		}
	}
}

// TestEnqueueFollowsRoutes: the outbox gets one item per notification and
// routed channel, and none for a channel the routes leave out.
func TestEnqueueFollowsRoutes(t *testing.T) {
	rs, err := alert.ParseRoutes(issueRoutes, allChannels)
	if err != nil {
		t.Fatal(err)
	}
	st := store.NewMemory()
	d := &alert.Dispatcher{Store: st, Routes: rs, Channels: map[string]alert.Notifier{"teams": nil, "email": nil, "webhook": nil}}
	now := time.Date(2026, 12, 6, 5, 0, 0, 0, time.UTC)
	ns := []alert.Notification{*note(classify.DeviceOffline, "a-prod-1"), *note(classify.DeviceOffline, "a-test-1"), *note(classify.TokenRenewalFailing, "a-test-1")}
	if err := d.Enqueue(context.Background(), ns, now); err != nil {
		t.Fatal(err)
	}
	items, err := st.ListItems(context.Background(), now, now.Add(time.Second))
	if err != nil {
		t.Fatal(err)
	}
	var ids []string
	for _, it := range items {
		ids = append(ids, it.ID)
	}
	slices.Sort(ids)
	want := []string{"device-offlinea-prod-1/email", "device-offlinea-prod-1/teams", "device-offlinea-test-1/webhook",
		"token-renewal-faileda-test-1/email", "token-renewal-faileda-test-1/webhook"}
	if !slices.Equal(ids, want) {
		t.Errorf("outbox items %q, want %q", ids, want)
	}
}

// FuzzParseRoutes: any document is accepted or refused with an error,
// never a panic; accepted routes only ever choose configured channels.
func FuzzParseRoutes(f *testing.F) {
	f.Add(issueRoutes)
	f.Add(`{"routes":[{"hubs":["[a-"],"channels":["teams"]}],"default":[]}`)
	f.Add(`{"routes":[{"severities":["critical"],"kinds":["hub-incident"],"channels":["webhook"],"continue":true}],"default":["email"]}`)
	f.Fuzz(func(t *testing.T, doc string) {
		rs, err := alert.ParseRoutes(doc, allChannels)
		if err != nil {
			return
		}
		for _, k := range classify.Kinds() {
			for _, hub := range []string{"contoso-prod-1", "x-test-2", "lab", ""} {
				for _, ch := range rs.Channels(note(k, hub), allChannels) {
					if !slices.Contains(allChannels, ch) {
						t.Fatalf("routed to %q, not configured", ch)
					}
				}
			}
		}
	})
}

// TestNotificationsFailingIgnoresRoutes: the alert about a failing channel
// goes to every configured channel, even where ALERT_ROUTES would send its
// kind (or severity) only to the failing one.
func TestNotificationsFailingIgnoresRoutes(t *testing.T) {
	rs, err := alert.ParseRoutes(`{"routes":[{"severities":["critical"],"channels":["teams"]}],"default":["teams"]}`, allChannels)
	if err != nil {
		t.Fatal(err)
	}
	st := store.NewMemory()
	d := &alert.Dispatcher{Store: st, Routes: rs, Channels: map[string]alert.Notifier{"teams": nil, "email": nil, "webhook": nil}}
	now := time.Date(2026, 12, 6, 5, 0, 0, 0, time.UTC)
	ns := []alert.Notification{*note(classify.NotificationsFailing, ""), *note(classify.HubIncident, "h")}
	if err := d.Enqueue(context.Background(), ns, now); err != nil {
		t.Fatal(err)
	}
	items, err := st.ListItems(context.Background(), now.Add(-time.Second), now.Add(time.Second))
	if err != nil {
		t.Fatal(err)
	}
	var ids []string
	for _, it := range items {
		ids = append(ids, it.ID)
	}
	slices.Sort(ids)
	want := []string{"hub-incidenth/teams", "notifications-failing/email", "notifications-failing/teams", "notifications-failing/webhook"}
	if !slices.Equal(ids, want) {
		t.Errorf("outbox items %q, want %q", ids, want)
	}
}
