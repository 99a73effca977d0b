package teams

import (
	"context"
	"encoding/json"
	"fmt"
	"strconv"
	"strings"

	"github.com/disconnect-doctor/disconnect-doctor/alert"
	"github.com/disconnect-doctor/disconnect-doctor/digest"
)

// NotifyDigest posts the daily digest's card (alert.DigestNotifier), with
// the same success and retry rules as Notify.
func (t *Notifier) NotifyDigest(ctx context.Context, n *alert.Notification) (bool, error) {
	body, err := DigestEnvelope(n)
	if err != nil {
		return false, err
	}
	retry, err := t.poster.PostJSON(ctx, t.url, nil, body)
	if err != nil {
		return retry, fmt.Errorf("teams: digest %s: %w", n.NotificationID, err)
	}
	return false, nil
}

// DigestEnvelope renders the request body for a digest notification: the
// Workflows envelope around an Adaptive Card with one block per section
// (digest.Sections), at most MaxCardBytes. Each section's list ends with
// "…and N more" when items were left out, by the digest or by this card
// shortening itself to fit.
func DigestEnvelope(n *alert.Notification) ([]byte, error) {
	if n.Digest == nil {
		return nil, fmt.Errorf("teams: %s is not a digest", n.NotificationID)
	}
	for _, lim := range []limits{{digest.MaxListed + 2, 0, 200}, {5, 0, 120}, {3, 0, 80}, {1, 0, 60}, {0, 0, 40}} {
		b, err := json.Marshal(envelope{Type: "message", Attachments: []attachment{{
			ContentType: "application/vnd.microsoft.card.adaptive", Content: digestCard(n, lim)}}})
		if err != nil {
			return nil, fmt.Errorf("teams: encode digest %s: %w", n.NotificationID, err)
		}
		if len(b) <= MaxCardBytes {
			return b, nil
		}
	}
	return nil, fmt.Errorf("teams: digest %s exceeds %d bytes even when shortened", n.NotificationID, MaxCardBytes)
}

// digestCard builds the digest's Adaptive Card: the title, the window, the
// one-sentence headline, then each section as a heading and its lines (at
// most lim.devices lines of at most lim.chars characters; the first limit
// leaves room for all twelve SDK family lines).
func digestCard(n *alert.Notification, lim limits) element {
	d := n.Digest
	body := []element{
		text(clip(d.Title(), lim.chars), element{"size": "Large", "weight": "Bolder"}),
		text(d.Span()+".", element{"isSubtle": true, "spacing": "None"}),
		text(clip(d.Headline(), lim.chars*2), nil),
	}
	for _, s := range d.Sections() {
		lines := make([]string, 0, len(s.Lines))
		for _, l := range s.Lines {
			lines = append(lines, "- "+clip(l, lim.chars))
		}
		if len(lines) > lim.devices {
			s.More += len(lines) - lim.devices
			lines = lines[:lim.devices]
		}
		body = append(body, text(s.Title, element{"weight": "Bolder", "separator": true}))
		if len(lines) > 0 {
			// A Markdown list, items separated by \n (Teams card formatting).
			body = append(body, text(strings.Join(lines, "\n"), element{"spacing": "Small"}))
		}
		if s.More > 0 {
			// Its own block: a line after a list would join the last item.
			body = append(body, text("…and "+strconv.Itoa(s.More)+" more", element{"isSubtle": true, "spacing": "None"}))
		}
	}
	c := element{
		"$schema": "http://adaptivecards.io/schemas/adaptive-card.json",
		"type":    "AdaptiveCard",
		"version": "1.4",
		"body":    body,
		"msteams": element{"width": "Full"},
	}
	if n.Link != "" {
		c["actions"] = []element{{"type": "Action.OpenUrl", "title": "Open the hub's dashboard", "url": n.Link}}
	}
	return c
}

// Compile-time check: Notifier takes digests.
var _ alert.DigestNotifier = (*Notifier)(nil)
