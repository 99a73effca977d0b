package pipeline

import (
	"fmt"
	"os"

	"github.com/Azure/azure-sdk-for-go/sdk/azcore"

	"github.com/disconnect-doctor/disconnect-doctor/alert"
	"github.com/disconnect-doctor/disconnect-doctor/config"
	"github.com/disconnect-doctor/disconnect-doctor/internal/azcred"
	"github.com/disconnect-doctor/disconnect-doctor/notify/email"
	"github.com/disconnect-doctor/disconnect-doctor/notify/graph"
	"github.com/disconnect-doctor/disconnect-doctor/notify/pagerduty"
	"github.com/disconnect-doctor/disconnect-doctor/notify/teams"
	"github.com/disconnect-doctor/disconnect-doctor/notify/webhook"
)

// Credential builds the token credential for a channel that authenticates
// with an identity: clientID selects a user-assigned managed identity, empty
// DefaultAzureCredential. It returns the credential and the identity in
// words for error messages. Tests replace it at the TokenCredential
// boundary.
type Credential func(clientID string) (azcore.TokenCredential, string, error)

// AzureCredential is the production Credential (internal/azcred). Without
// a client id it is DefaultAzureCredential, named in errors as the app's
// managed identity (AZURE_CLIENT_ID's when that is set), whom a permission
// is granted to.
func AzureCredential(clientID string) (azcore.TokenCredential, string, error) {
	cred, how, err := azcred.New(clientID, "")
	if clientID == "" {
		how = "the app's managed identity (" + how + ")"
		if id := os.Getenv("AZURE_CLIENT_ID"); id != "" {
			how = "managed identity AZURE_CLIENT_ID=" + id + " (DefaultAzureCredential)"
		}
	}
	return cred, how, err
}

// Channels builds the notification channels the settings enable: "teams"
// (TEAMS_WEBHOOK_URL), "webhook" (ALERT_WEBHOOK_URL), "email" (SMTP_HOST
// with ALERT_EMAIL_TO), "graph" (GRAPH_SENDER with ALERT_EMAIL_TO) and
// "pagerduty" (PAGERDUTY_ROUTING_KEY), with azure credentials.
func Channels(cfg config.Config) (map[string]alert.Notifier, error) {
	return ChannelsWith(cfg, AzureCredential)
}

// ChannelsWith is Channels with the credential source given.
func ChannelsWith(cfg config.Config, cred Credential) (map[string]alert.Notifier, error) {
	ch := make(map[string]alert.Notifier)
	if cfg.TeamsURL != "" {
		ch["teams"] = teams.New(teams.Config{URL: cfg.TeamsURL})
	}
	if cfg.WebhookURL != "" {
		ch["webhook"] = webhook.New(webhook.Config{URL: cfg.WebhookURL})
	}
	if cfg.SMTP.Enabled() {
		ec := email.Config{
			Host: cfg.SMTP.Host, Port: cfg.SMTP.Port, Username: cfg.SMTP.Username, Password: cfg.SMTP.Password,
			From: cfg.SMTP.From, To: cfg.SMTP.To, TLS: cfg.SMTP.TLS,
		}
		if cfg.SMTP.Auth == "xoauth2" {
			c, who, err := cred(cfg.SMTP.ClientID)
			if err != nil {
				return nil, fmt.Errorf("pipeline: e-mail channel (SMTP_AUTH=xoauth2): %w", err)
			}
			ec.Auth, ec.Credential, ec.Identity = email.AuthXOAuth2, c, who
		}
		e, err := email.New(ec)
		if err != nil {
			return nil, fmt.Errorf("pipeline: e-mail channel: %w", err)
		}
		ch["email"] = e
	}
	if cfg.Graph.Enabled() {
		c, who, err := cred(cfg.Graph.ClientID)
		if err != nil {
			return nil, fmt.Errorf("pipeline: graph channel: %w", err)
		}
		g, err := graph.New(graph.Config{Sender: cfg.Graph.Sender, To: cfg.Graph.To, Credential: c, Identity: who})
		if err != nil {
			return nil, fmt.Errorf("pipeline: graph channel: %w", err)
		}
		ch["graph"] = g
	}
	if cfg.PagerDuty.Enabled() {
		p, err := pagerduty.New(pagerduty.Config{RoutingKey: cfg.PagerDuty.RoutingKey, URL: cfg.PagerDuty.URL})
		if err != nil {
			return nil, fmt.Errorf("pipeline: pagerduty channel: %w", err)
		}
		ch["pagerduty"] = p
	}
	return ch, nil
}
