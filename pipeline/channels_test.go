package pipeline

import (
	"maps"
	"slices"
	"testing"

	"github.com/disconnect-doctor/disconnect-doctor/config"
)

// TestChannelNamesAreTheChannelsBuilt: ALERT_ROUTES is checked at start-up
// against config.ChannelNames, and delivery uses the channels Channels
// builds; the two must name the same set, for every mix of settings.
func TestChannelNamesAreTheChannelsBuilt(t *testing.T) {
	all := map[string]string{
		"TEAMS_WEBHOOK_URL": "https://prod-1.westeurope.logic.azure.com/workflows/x?sig=s",
		"ALERT_WEBHOOK_URL": "https://hooks.example.net/in",
		"SMTP_HOST":         "smtp.example.net", "SMTP_FROM": "a@example.net", "ALERT_EMAIL_TO": "b@example.net",
	}
	groups := [][]string{{"TEAMS_WEBHOOK_URL"}, {"ALERT_WEBHOOK_URL"}, {"SMTP_HOST", "SMTP_FROM", "ALERT_EMAIL_TO"}}
	for mask := range 1 << len(groups) {
		env := map[string]string{}
		for i, g := range groups {
			if mask&(1<<i) != 0 {
				for _, k := range g {
					env[k] = all[k]
				}
			}
		}
		cfg, err := config.Load(func(k string) string { return env[k] })
		if err != nil {
			t.Fatal(err)
		}
		ch, err := Channels(cfg)
		if err != nil {
			t.Fatal(err)
		}
		built := slices.Sorted(maps.Keys(ch))
		named := slices.Sorted(slices.Values(cfg.ChannelNames()))
		if !slices.Equal(built, named) {
			t.Errorf("settings %v: Channels built %v, ChannelNames %v", slices.Sorted(maps.Keys(env)), built, named)
		}
	}
}
