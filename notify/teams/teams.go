// Package teams delivers notifications to a Microsoft Teams channel through
// a Workflows webhook ("When a Teams webhook request is received"): the
// message/attachments envelope around an Adaptive Card 1.4. The webhook
// answers 202 before the flow runs, so a card the flow rejects fails
// silently: the card is kept well under Teams' 28 KB limit (MaxCardBytes),
// shortening long device lists and evidence with "…and N more".
package teams

import (
	"context"
	"encoding/json"
	"fmt"
	"net/http"
	"strconv"
	"strings"

	"github.com/disconnect-doctor/disconnect-doctor/alert"
	"github.com/disconnect-doctor/disconnect-doctor/notify"
)

// MaxCardBytes is the most a posted envelope may weigh.
const MaxCardBytes = 20 * 1024

// Config configures the Teams integration.
type Config struct {
	// URL is the Workflows webhook URL (a secret: its query carries the
	// signature). Stored whole, never parsed.
	URL notify.Secret
	// Client sends the requests (http.DefaultClient when nil).
	Client *http.Client
}

// Notifier posts Adaptive Cards to one Workflows webhook.
type Notifier struct {
	url    notify.Secret
	poster notify.Poster
}

// New returns a Teams Notifier.
func New(cfg Config) *Notifier {
	return &Notifier{url: cfg.URL, poster: notify.Poster{Client: cfg.Client}}
}

// Notify posts n's card. 200 and 202 are success; 429/5xx and network
// failures are retryable; other answers are permanent.
func (t *Notifier) Notify(ctx context.Context, n *alert.Notification) (bool, error) {
	body, err := Envelope(n)
	if err != nil {
		return false, err
	}
	retry, err := t.poster.PostJSON(ctx, t.url, nil, body)
	if err != nil {
		return retry, fmt.Errorf("teams: notification %s: %w", n.NotificationID, err)
	}
	return false, nil
}

// Envelope renders the request body for n: the Workflows envelope around
// the Adaptive Card, at most MaxCardBytes.
func Envelope(n *alert.Notification) ([]byte, error) {
	for _, lim := range []limits{{40, 10, 600}, {20, 5, 300}, {10, 3, 200}, {5, 2, 120}, {0, 1, 80}} {
		b, err := json.Marshal(envelope{Type: "message", Attachments: []attachment{{
			ContentType: "application/vnd.microsoft.card.adaptive", Content: card(n, lim)}}})
		if err != nil {
			return nil, fmt.Errorf("teams: encode card %s: %w", n.NotificationID, err)
		}
		if len(b) <= MaxCardBytes {
			return b, nil
		}
	}
	return nil, fmt.Errorf("teams: card for %s exceeds %d bytes even when shortened", n.NotificationID, MaxCardBytes)
}

type envelope struct {
	Type        string       `json:"type"`
	Attachments []attachment `json:"attachments"`
}

type attachment struct {
	ContentType string  `json:"contentType"`
	ContentURL  *string `json:"contentUrl"`
	Content     any     `json:"content"`
}

// limits bound the card's lists: devices named, evidence lines, characters
// per text.
type limits struct{ devices, evidence, chars int }

type element = map[string]any

func text(s string, extra element) element {
	e := element{"type": "TextBlock", "text": s, "wrap": true}
	for k, v := range extra {
		e[k] = v
	}
	return e
}

func fact(title, value string) element { return element{"title": title, "value": value} }

// card builds the Adaptive Card: a title with status (and reminder
// number), kind and hub; for a reminder, the line saying what is still
// firing since when; what
// happened in plain words; a FactSet (cause, hub, devices, since,
// evidence); the recommendation; a link when the notification has one.
func card(n *alert.Notification, lim limits) element {
	color := "Attention"
	if n.Status == alert.StatusResolved {
		color = "Good"
	}
	since := "unknown"
	if s := n.Since(); !s.IsZero() {
		since = n.TimeText(s)
	}
	var devices, evidence, recs []string
	seenRec := map[string]bool{}
	for _, a := range n.Alerts {
		if a.DeviceID != "" {
			devices = append(devices, a.Identity()+" ("+a.Status+")")
		}
		for _, e := range a.Evidence {
			evidence = append(evidence, clip(e, lim.chars))
		}
		if a.Recommendation != "" && !seenRec[a.Recommendation] {
			seenRec[a.Recommendation] = true
			recs = append(recs, clip(a.Recommendation, lim.chars*2))
		}
	}
	deviceFact := n.DeviceCount()
	if len(devices) > 0 {
		deviceFact += ": " + strings.Join(moreOf(devices, lim.devices, n.TruncatedAlerts), ", ")
	}
	evidenceFact := "none recorded"
	if len(evidence) > 0 {
		evidenceFact = strings.Join(more(evidence, lim.evidence), "\n\n")
	}
	body := []element{
		text(n.StatusWords()+": "+string(n.Kind)+" on "+n.Where(), element{"size": "Large", "weight": "Bolder", "color": color}),
	}
	if r := n.Reminder(); r != "" {
		body = append(body, text(r, element{"weight": "Bolder"}))
	}
	body = append(body, text(alert.Explanation(n.Kind), nil))
	if n.Status == alert.StatusResolved {
		body = append(body, text("This is over: each alert below says why (back, cleared, or no longer tracked).", element{"color": "Good"}))
	}
	if l := n.Listing(); l != "" {
		body = append(body, text(l, element{"weight": "Bolder"}))
	}
	for i, a := range n.Alerts {
		if i == 3 {
			body = append(body, text("…and "+strconv.Itoa(n.AlertCount()-3)+" more alerts in this group", element{"isSubtle": true}))
			break
		}
		if a.Summary != "" {
			body = append(body, text(clip(a.Summary, lim.chars), nil))
		}
	}
	body = append(body, element{"type": "FactSet", "facts": []element{
		fact("Cause", alert.KindTitle(n.Kind)),
		fact("Hub", n.Where()),
		fact("Devices", deviceFact),
		fact("Since", since),
		fact("Evidence", evidenceFact),
	}})
	if len(recs) > 0 {
		body = append(body, text("**What to do:** "+strings.Join(more(recs, 3), " "), nil))
	}
	c := element{
		"$schema": "http://adaptivecards.io/schemas/adaptive-card.json",
		"type":    "AdaptiveCard",
		"version": "1.4",
		"body":    body,
		"msteams": element{"width": "Full"},
	}
	var actions []element
	if n.Link != "" {
		actions = append(actions, element{"type": "Action.OpenUrl", "title": "Open in disconnect-doctor", "url": n.Link})
	}
	if n.List != "" {
		actions = append(actions, element{"type": "Action.OpenUrl", "title": "All " + strconv.Itoa(n.AlertCount()) + " (API)", "url": n.List})
	}
	if len(actions) > 0 {
		c["actions"] = actions
	}
	return c
}

// more keeps the first max items and ends the list with "…and N more".
func more(items []string, max int) []string { return moreOf(items, max, 0) }

// moreOf is more for a list of which omitted items were left out before
// (a notification's alerts beyond alert.MaxListed): they count in "…and N
// more".
func moreOf(items []string, max, omitted int) []string {
	if len(items) <= max && omitted == 0 {
		return items
	}
	out := append([]string(nil), items[:min(len(items), max)]...)
	return append(out, "…and "+strconv.Itoa(len(items)-len(out)+omitted)+" more")
}

// clip shortens s to at most n runes, ending it with "…".
func clip(s string, n int) string {
	if n <= 0 {
		return ""
	}
	r := []rune(s)
	if len(r) <= n {
		return s
	}
	return string(r[:n-1]) + "…"
}

// Compile-time check: Notifier is an alert.Notifier.
var _ alert.Notifier = (*Notifier)(nil)
