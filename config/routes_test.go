package config

import (
	"slices"
	"strings"
	"testing"
)

func TestAlertRoutes(t *testing.T) {
	channels := map[string]string{
		"TEAMS_WEBHOOK_URL": "https://prod-1.westeurope.logic.azure.com/workflows/x?sig=SECRET",
		"ALERT_WEBHOOK_URL": "https://hooks.example.net/in?token=SECRET",
	}
	with := func(routes string) map[string]string {
		m := map[string]string{"ALERT_ROUTES": routes}
		for k, v := range channels {
			m[k] = v
		}
		return m
	}
	c, err := Load(env(channels))
	if err != nil || c.Routes != nil || !slices.Equal(c.ChannelNames(), []string{"teams", "webhook"}) {
		t.Fatalf("unset: routes %v, channels %v, %v", c.Routes, c.ChannelNames(), err)
	}
	c, err = Load(env(with(`{"routes":[{"hubs":["*-test-*"],"channels":["webhook"]}],"default":["teams"]}`)))
	if err != nil || c.Routes == nil {
		t.Fatalf("valid routes: %v", err)
	}
	for _, tc := range []struct{ doc, want string }{
		{`{"routes":[{"channels":["teams"]},{"name":"mail","channels":["email"]}]}`, `ALERT_ROUTES: routes[1] ("mail").channels[0]: channel "email" is not configured`},
		{`{"routes":[{"hubs":["prod-["],"channels":["teams"]}]}`, "ALERT_ROUTES: routes[0].hubs[0]: malformed glob"},
		{`{"routes":[{"kinds":["offline"],"channels":["teams"]}]}`, `ALERT_ROUTES: routes[0].kinds[0]: unknown alert kind "offline"`},
		{`{"routes":[{"channels":["sms"]}]}`, `ALERT_ROUTES: routes[0].channels[0]: unknown channel "sms"`},
	} {
		_, err := Load(env(with(tc.doc)))
		if err == nil || !strings.Contains(err.Error(), tc.want) {
			t.Errorf("%s: error %v, want %q", tc.doc, err, tc.want)
		}
		if err != nil && strings.Contains(err.Error(), "SECRET") {
			t.Errorf("error leaks a channel URL: %v", err)
		}
	}
}
