package graph

import (
	"context"
	"encoding/json"
	"fmt"

	"github.com/disconnect-doctor/disconnect-doctor/alert"
	"github.com/disconnect-doctor/disconnect-doctor/notify/email"
)

// RenderDigest builds the sendMail body for a digest with notify/email's
// digest subject and HTML body.
func RenderDigest(n *alert.Notification, to []string) ([]byte, error) {
	if n.Digest == nil {
		return nil, fmt.Errorf("graph: %s is not a digest", n.NotificationID)
	}
	b, err := json.Marshal(request(email.DigestSubject(n), email.DigestHTML(n), to))
	if err != nil {
		return nil, fmt.Errorf("graph: encode digest %s: %w", n.NotificationID, err)
	}
	return b, nil
}

// NotifyDigest sends the daily digest (alert.DigestNotifier). Errors never
// carry the token.
func (g *Notifier) NotifyDigest(ctx context.Context, n *alert.Notification) (bool, error) {
	body, err := RenderDigest(n, g.cfg.To)
	if err != nil {
		return false, err
	}
	retry, err := g.send(ctx, body)
	if err != nil {
		return retry, fmt.Errorf("graph: digest %s: %w", n.NotificationID, err)
	}
	return false, nil
}

// Compile-time check: Notifier takes digests.
var _ alert.DigestNotifier = (*Notifier)(nil)
