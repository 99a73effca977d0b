package config

import (
	"strings"

	"github.com/disconnect-doctor/disconnect-doctor/alert"
)

// ChannelNames are the notification channels the settings configure, by
// the names ALERT_ROUTES uses (alert.KnownChannels). pipeline.Channels
// builds exactly these.
func (c Config) ChannelNames() []string {
	var names []string
	if c.TeamsURL != "" {
		names = append(names, "teams")
	}
	if c.WebhookURL != "" {
		names = append(names, "webhook")
	}
	if c.SMTP.Enabled() {
		names = append(names, "email")
	}
	if c.Graph.Enabled() {
		names = append(names, "graph")
	}
	if c.PagerDuty.Enabled() {
		names = append(names, "pagerduty")
	}
	return names
}

// routes reads ALERT_ROUTES (after the channel settings): unset means
// every notification to every configured channel.
func (l *loader) routes(c *Config) {
	v := strings.TrimSpace(l.getenv("ALERT_ROUTES"))
	if v == "" {
		return
	}
	rs, err := alert.ParseRoutes(v, c.ChannelNames())
	if err != nil {
		l.fail("ALERT_ROUTES", err)
		return
	}
	c.Routes = rs
}
