package pipeline

import (
	"context"
	"errors"
	"maps"
	"slices"
	"testing"

	"github.com/Azure/azure-sdk-for-go/sdk/azcore"
	"github.com/Azure/azure-sdk-for-go/sdk/azcore/policy"

	"github.com/disconnect-doctor/disconnect-doctor/config"
)

// noToken is a credential never asked for a token here (nothing is sent).
type noToken struct{}

func (noToken) GetToken(context.Context, policy.TokenRequestOptions) (azcore.AccessToken, error) {
	return azcore.AccessToken{}, errors.New("not in this test")
}

// TestChannelNamesAreTheChannelsBuilt: ALERT_ROUTES is checked at start-up
// against config.ChannelNames, and delivery uses the channels Channels
// builds; the two must name the same set, for every mix of settings.
func TestChannelNamesAreTheChannelsBuilt(t *testing.T) {
	all := map[string]string{
		"TEAMS_WEBHOOK_URL": "https://prod-1.westeurope.logic.azure.com/workflows/x?sig=s",
		"ALERT_WEBHOOK_URL": "https://hooks.example.net/in",
		"SMTP_HOST":         "smtp.example.net", "SMTP_FROM": "a@example.net", "ALERT_EMAIL_TO": "b@example.net",
		"GRAPH_SENDER": "alerts@example.net", "PAGERDUTY_ROUTING_KEY": "R0UT1NGKEY0123456789abcdef012345",
	}
	groups := [][]string{{"TEAMS_WEBHOOK_URL"}, {"ALERT_WEBHOOK_URL"}, {"SMTP_HOST", "SMTP_FROM", "ALERT_EMAIL_TO"},
		{"GRAPH_SENDER", "ALERT_EMAIL_TO"}, {"PAGERDUTY_ROUTING_KEY"}}
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
		ch, err := ChannelsWith(cfg, func(string) (azcore.TokenCredential, string, error) { return noToken{}, "test identity", nil })
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
