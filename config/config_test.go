package config

import (
	"fmt"
	"strings"
	"testing"
	"time"

	"github.com/disconnect-doctor/disconnect-doctor/classify"
)

func env(m map[string]string) func(string) string {
	return func(k string) string { return m[k] }
}

func TestDefaults(t *testing.T) {
	c, err := Load(env(nil))
	if err != nil {
		t.Fatal(err)
	}
	e := c.Engine
	if e.Mode != classify.WallClock || e.AllowedLateness != 5*time.Minute || e.ReconnectGrace != 60*time.Second ||
		e.Retention != 7*24*time.Hour || e.OfflineAfter != 15*time.Minute || e.FlapCount != 3 ||
		e.FlapWindow != time.Hour || e.FlapReset != time.Hour || e.IncidentMinDevices != 10 {
		t.Errorf("engine defaults %+v", e)
	}
	if c.StaleAfter != 30*time.Minute || c.RepeatInterval != 4*time.Hour || c.ReadSafety != 2*time.Minute || c.GroupInterval != 5*time.Minute {
		t.Errorf("defaults %+v", c)
	}
	if c.Watch.SilentAfter != 15*time.Minute || c.Watch.LagAfter != 20*time.Minute {
		t.Errorf("watch defaults %+v", c.Watch)
	}
	if c.UnderHost || c.SMTP.Enabled() || c.TeamsURL != "" || c.WebhookURL != "" || c.SMTP.Port != 587 || c.SMTP.TLS != "" ||
		c.SMTP.Auth != "password" || c.Graph.Enabled() || c.PagerDuty.Enabled() || c.PagerDuty.URL != "https://events.pagerduty.com/v2/enqueue" {
		t.Errorf("channel defaults %+v", c)
	}
}

func TestValues(t *testing.T) {
	c, err := Load(env(map[string]string{
		"WATERMARK": "EventTime", "ALLOWED_LATENESS": "90s", "RETENTION": "3d", "FLAP_COUNT": "5",
		"INCIDENT_MIN_DEVICES": "25", "FUNCTIONS_WORKER_RUNTIME": "custom", "PUBLIC_BASE_URL": "https://app.example.net/",
		"TEAMS_WEBHOOK_URL": "https://prod-1.westeurope.logic.azure.com/workflows/x?sig=SECRET",
		"SMTP_HOST":         "smtp.azurecomm.net", "SMTP_FROM": "alerts@contoso.com", "SMTP_PASSWORD": "hunter2",
		"ALERT_EMAIL_TO": "a@contoso.com; b@contoso.com", "SMTP_TLS": "none",
		"PIPELINE_SILENT_AFTER": "25m", "LAG_ALERT_AFTER": "1h", "EVALUATE_READ_SAFETY": "5s",
	}))
	if err != nil {
		t.Fatal(err)
	}
	if c.Engine.Mode != classify.EventTime || c.Engine.AllowedLateness != 90*time.Second ||
		c.Engine.Retention != 72*time.Hour || c.Engine.FlapCount != 5 || c.Engine.IncidentMinDevices != 25 {
		t.Errorf("engine %+v", c.Engine)
	}
	if c.Watch.SilentAfter != 25*time.Minute || c.Watch.LagAfter != time.Hour {
		t.Errorf("watch %+v", c.Watch)
	}
	if c.ReadSafety != 5*time.Second {
		t.Errorf("read safety %v", c.ReadSafety)
	}
	if !c.UnderHost || c.PublicBaseURL != "https://app.example.net" {
		t.Errorf("host/base %v %q", c.UnderHost, c.PublicBaseURL)
	}
	if !c.SMTP.Enabled() || len(c.SMTP.To) != 2 || c.SMTP.To[1] != "b@contoso.com" || c.SMTP.TLS != "none" {
		t.Errorf("smtp %+v", c.SMTP)
	}
	// Printing the whole config must not reveal a secret.
	for _, s := range []string{fmt.Sprintf("%v", c), fmt.Sprintf("%+v", c), fmt.Sprintf("%#v", c)} {
		if strings.Contains(s, "SECRET") || strings.Contains(s, "hunter2") {
			t.Fatalf("secret printed: %s", s)
		}
	}
}

func TestBadValuesNameTheSetting(t *testing.T) {
	cases := []struct {
		env  map[string]string
		want []string
	}{
		{map[string]string{"WATERMARK": "sometimes"}, []string{"WATERMARK"}},
		{map[string]string{"ALLOWED_LATENESS": "5 minutes"}, []string{"ALLOWED_LATENESS"}},
		{map[string]string{"RECONNECT_GRACE": "-1s"}, []string{"RECONNECT_GRACE"}},
		{map[string]string{"RETENTION": "xd"}, []string{"RETENTION"}},
		{map[string]string{"FLAP_COUNT": "0", "SMTP_PORT": "abc"}, []string{"FLAP_COUNT", "SMTP_PORT"}},
		{map[string]string{"INCIDENT_MIN_DEVICES": "1"}, []string{"INCIDENT_MIN_DEVICES"}},
		{map[string]string{"ALERT_WEBHOOK_URL": "ftp://x?token=SECRET"}, []string{"ALERT_WEBHOOK_URL"}},
		{map[string]string{"SMTP_HOST": "smtp.example.com"}, []string{"SMTP_HOST"}},
		{map[string]string{"SMTP_HOST": "h", "ALERT_EMAIL_TO": "a@b.c", "SMTP_FROM": "nope"}, []string{"SMTP_FROM"}},
		{map[string]string{"ALERT_EMAIL_TO": "a@b.c, not an address", "SMTP_HOST": "h", "SMTP_FROM": "x@y.z"}, []string{"ALERT_EMAIL_TO"}},
		{map[string]string{"SMTP_TLS": "ssl"}, []string{"SMTP_TLS"}},
		{map[string]string{"SMTP_AUTH": "cram-md5"}, []string{"SMTP_AUTH"}},
		{map[string]string{"SMTP_AUTH": "xoauth2", "SMTP_TLS": "none"}, []string{"SMTP_TLS"}},
		{map[string]string{"SMTP_AUTH": "xoauth2", "SMTP_PASSWORD": "SECRET"}, []string{"SMTP_PASSWORD"}},
		{map[string]string{"ALERT_EMAIL_TO": "a@b.c"}, []string{"ALERT_EMAIL_TO", "SMTP_HOST", "GRAPH_SENDER"}},
		{map[string]string{"GRAPH_SENDER": "alerts@contoso.com"}, []string{"GRAPH_SENDER", "ALERT_EMAIL_TO"}},
		{map[string]string{"GRAPH_SENDER": "alerts@contoso.com/../x", "ALERT_EMAIL_TO": "a@b.c"}, []string{"GRAPH_SENDER"}},
		{map[string]string{"PAGERDUTY_ROUTING_KEY": "SECRET", "PAGERDUTY_EVENTS_URL": "events.eu.pagerduty.com"}, []string{"PAGERDUTY_EVENTS_URL"}},
		{map[string]string{"PIPELINE_SILENT_AFTER": "0s", "LAG_ALERT_AFTER": "soon"}, []string{"PIPELINE_SILENT_AFTER", "LAG_ALERT_AFTER"}},
		{map[string]string{"EVALUATE_READ_SAFETY": "0s"}, []string{"EVALUATE_READ_SAFETY"}},
		{map[string]string{"GROUP_INTERVAL": "-5m"}, []string{"GROUP_INTERVAL"}},
	}
	for _, c := range cases {
		_, err := Load(env(c.env))
		if err == nil {
			t.Errorf("%v: no error", c.env)
			continue
		}
		for _, w := range c.want {
			if !strings.Contains(err.Error(), w) {
				t.Errorf("%v: error %q does not name %s", c.env, err, w)
			}
		}
		if strings.Contains(err.Error(), "SECRET") {
			t.Errorf("%v: error leaks the URL: %v", c.env, err)
		}
	}
}

// TestGroupIntervalSetting: GROUP_INTERVAL takes a duration, and 0 turns
// the interval off (alert.Config takes a negative value for that).
func TestGroupIntervalSetting(t *testing.T) {
	for v, want := range map[string]time.Duration{"": 5 * time.Minute, "2m": 2 * time.Minute, "0": -1, "1h": time.Hour} {
		c, err := Load(env(map[string]string{"GROUP_INTERVAL": v}))
		if err != nil || c.GroupInterval != want {
			t.Errorf("GROUP_INTERVAL=%q: %v, %v; want %v", v, c.GroupInterval, err, want)
		}
	}
}

func TestPasswordlessChannels(t *testing.T) {
	c, err := Load(env(map[string]string{
		"SMTP_HOST": "smtp.office365.com", "SMTP_PORT": "465", "SMTP_TLS": "Implicit", "SMTP_AUTH": "XOAUTH2",
		"SMTP_CLIENT_ID": "11111111-2222-3333-4444-555555555555", "SMTP_FROM": "alerts@contoso.com",
		"ALERT_EMAIL_TO": "oncall@contoso.com", "GRAPH_SENDER": "alerts@contoso.com", "GRAPH_CLIENT_ID": "abc",
		"PAGERDUTY_ROUTING_KEY": " R0UTINGKEYSECRET ", "PAGERDUTY_EVENTS_URL": "https://events.eu.pagerduty.com/v2/enqueue",
	}))
	if err != nil {
		t.Fatal(err)
	}
	if c.SMTP.TLS != "implicit" || c.SMTP.Auth != "xoauth2" || c.SMTP.ClientID != "11111111-2222-3333-4444-555555555555" || c.SMTP.Port != 465 {
		t.Errorf("smtp %+v", c.SMTP)
	}
	if !c.Graph.Enabled() || c.Graph.Sender != "alerts@contoso.com" || c.Graph.ClientID != "abc" || len(c.Graph.To) != 1 || c.Graph.To[0] != "oncall@contoso.com" {
		t.Errorf("graph %+v", c.Graph)
	}
	if !c.PagerDuty.Enabled() || c.PagerDuty.RoutingKey.Reveal() != "R0UTINGKEYSECRET" || c.PagerDuty.URL != "https://events.eu.pagerduty.com/v2/enqueue" {
		t.Errorf("pagerduty %+v", c.PagerDuty)
	}
	if s := fmt.Sprintf("%+v %#v", c, c); strings.Contains(s, "R0UTINGKEYSECRET") {
		t.Fatalf("routing key printed: %s", s)
	}
	// Graph alone, without SMTP, is a complete e-mail set-up.
	if _, err := Load(env(map[string]string{"GRAPH_SENDER": "alerts@contoso.com", "ALERT_EMAIL_TO": "oncall@contoso.com"})); err != nil {
		t.Errorf("Graph without SMTP: %v", err)
	}
}

func TestParseDuration(t *testing.T) {
	cases := map[string]time.Duration{"90s": 90 * time.Second, "5m": 5 * time.Minute, "1h30m": 90 * time.Minute, "7d": 168 * time.Hour, "0d": 0}
	for in, want := range cases {
		got, err := ParseDuration(in)
		if err != nil || got != want {
			t.Errorf("%q: %v, %v; want %v", in, got, err, want)
		}
	}
	for _, in := range []string{"", "d", "1.5d", "5 m", "forever"} {
		if _, err := ParseDuration(in); err == nil {
			t.Errorf("%q: no error", in)
		}
	}
}
