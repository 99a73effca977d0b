// Package webhook delivers notifications as the generic JSON webhook of
// PRODUCT.md §7 (ALERT_WEBHOOK_URL): the body is the alert.Notification's
// JSON, POSTed with Content-Type application/json and an Idempotency-Key
// header carrying the notificationId, so a receiver can drop the one
// duplicate at-least-once delivery may produce.
package webhook

import (
	"context"
	"encoding/json"
	"fmt"
	"net/http"

	"github.com/disconnect-doctor/disconnect-doctor/alert"
	"github.com/disconnect-doctor/disconnect-doctor/notify"
)

// Config configures the webhook integration.
type Config struct {
	// URL is the receiver's endpoint (a secret: it may carry a token).
	URL notify.Secret
	// Client sends the requests (http.DefaultClient when nil).
	Client *http.Client
}

// Notifier posts notifications to one webhook URL.
type Notifier struct {
	url    notify.Secret
	poster notify.Poster
}

// New returns a webhook Notifier.
func New(cfg Config) *Notifier {
	return &Notifier{url: cfg.URL, poster: notify.Poster{Client: cfg.Client}}
}

// Notify posts n: the first alert.MaxListed of its alerts, with
// truncatedAlerts counting the others and list linking to them all. 2xx is
// success; 429/5xx and network failures are retryable; other answers are
// permanent. Errors never mention the URL.
func (w *Notifier) Notify(ctx context.Context, n *alert.Notification) (bool, error) {
	body, err := json.Marshal(n.Truncated())
	if err != nil {
		return false, fmt.Errorf("webhook: encode %s: %w", n.NotificationID, err)
	}
	h := http.Header{}
	h.Set("Idempotency-Key", n.NotificationID)
	retry, err := w.poster.PostJSON(ctx, w.url, h, body)
	if err != nil {
		return retry, fmt.Errorf("webhook: notification %s: %w", n.NotificationID, err)
	}
	return false, nil
}
