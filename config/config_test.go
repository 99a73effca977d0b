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
	if c.StaleAfter != 30*time.Minute || c.RepeatInterval != 4*time.Hour {
		t.Errorf("defaults %+v", c)
	}
	if c.Watch.SilentAfter != 15*time.Minute || c.Watch.LagAfter != 20*time.Minute {
		t.Errorf("watch defaults %+v", c.Watch)
	}
	if c.UnderHost || c.SMTP.Enabled() || c.TeamsURL != "" || c.WebhookURL != "" || c.SMTP.Port != 587 || c.SMTP.TLS != "starttls" {
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
		"PIPELINE_SILENT_AFTER": "25m", "LAG_ALERT_AFTER": "1h",
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
		{map[string]string{"PIPELINE_SILENT_AFTER": "0s", "LAG_ALERT_AFTER": "soon"}, []string{"PIPELINE_SILENT_AFTER", "LAG_ALERT_AFTER"}},
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
