package pipeline

import (
	"fmt"

	"github.com/disconnect-doctor/disconnect-doctor/alert"
	"github.com/disconnect-doctor/disconnect-doctor/config"
	"github.com/disconnect-doctor/disconnect-doctor/notify/email"
	"github.com/disconnect-doctor/disconnect-doctor/notify/teams"
	"github.com/disconnect-doctor/disconnect-doctor/notify/webhook"
)

// Channels builds the notification channels the settings enable: "teams"
// (TEAMS_WEBHOOK_URL), "webhook" (ALERT_WEBHOOK_URL) and "email" (SMTP_HOST
// with ALERT_EMAIL_TO).
func Channels(cfg config.Config) (map[string]alert.Notifier, error) {
	ch := make(map[string]alert.Notifier)
	if cfg.TeamsURL != "" {
		ch["teams"] = teams.New(teams.Config{URL: cfg.TeamsURL})
	}
	if cfg.WebhookURL != "" {
		ch["webhook"] = webhook.New(webhook.Config{URL: cfg.WebhookURL})
	}
	if cfg.SMTP.Enabled() {
		e, err := email.New(email.Config{
			Host: cfg.SMTP.Host, Port: cfg.SMTP.Port, Username: cfg.SMTP.Username, Password: cfg.SMTP.Password,
			From: cfg.SMTP.From, To: cfg.SMTP.To, TLS: cfg.SMTP.TLS,
		})
		if err != nil {
			return nil, fmt.Errorf("pipeline: e-mail channel: %w", err)
		}
		ch["email"] = e
	}
	return ch, nil
}
