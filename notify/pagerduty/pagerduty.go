// Package pagerduty delivers notifications to PagerDuty through the Events
// API v2 (POST https://events.pagerduty.com/v2/enqueue). Each alert of a
// notification is one event whose dedup_key is the alert key, because in
// PagerDuty each alert key is its own incident: a firing alert triggers it,
// a resolved one resolves it. Reminders are not sent at all: a trigger with
// the same dedup_key only deduplicates into an incident that is still open,
// and one a responder has already resolved would be opened anew — PagerDuty
// escalates and re-notifies on its own. The routing key is a notify.Secret
// and never appears in an error.
package pagerduty

import (
	"context"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"net/http"
	"strings"
	"time"
	"unicode/utf8"

	"github.com/disconnect-doctor/disconnect-doctor/alert"
	"github.com/disconnect-doctor/disconnect-doctor/notify"
)

// DefaultURL is the Events API v2 endpoint (the EU service region uses
// https://events.eu.pagerduty.com/v2/enqueue).
const DefaultURL = "https://events.pagerduty.com/v2/enqueue"

// Limits of the Events API v2.
const (
	maxSummary  = 1024
	maxDedupKey = 255
)

// Config configures the PagerDuty integration.
type Config struct {
	// RoutingKey is the Integration Key of an Events API v2 integration
	// (PAGERDUTY_ROUTING_KEY).
	RoutingKey notify.Secret
	// URL is the events endpoint (DefaultURL when empty).
	URL string
	// Client sends the requests (http.DefaultClient when nil).
	Client *http.Client
}

// Notifier sends events to one PagerDuty service integration.
type Notifier struct {
	key    notify.Secret
	url    string
	poster notify.Poster
}

// New returns a PagerDuty Notifier; it fails without a routing key.
func New(cfg Config) (*Notifier, error) {
	if cfg.RoutingKey == "" {
		return nil, errors.New("pagerduty: PAGERDUTY_ROUTING_KEY is empty")
	}
	if cfg.URL == "" {
		cfg.URL = DefaultURL
	}
	return &Notifier{key: cfg.RoutingKey, url: cfg.URL, poster: notify.Poster{Client: cfg.Client}}, nil
}

// Event is one Events API v2 event.
type Event struct {
	RoutingKey  string   `json:"routing_key"`
	EventAction string   `json:"event_action"`
	DedupKey    string   `json:"dedup_key"`
	Payload     *Payload `json:"payload,omitempty"`
	Client      string   `json:"client,omitempty"`
	ClientURL   string   `json:"client_url,omitempty"`
	Links       []Link   `json:"links,omitempty"`
}

// Payload is a trigger event's payload (PD-CEF).
type Payload struct {
	Summary       string         `json:"summary"`
	Source        string         `json:"source"`
	Severity      string         `json:"severity"`
	Timestamp     string         `json:"timestamp,omitempty"`
	Component     string         `json:"component,omitempty"`
	Group         string         `json:"group,omitempty"`
	Class         string         `json:"class,omitempty"`
	CustomDetails map[string]any `json:"custom_details,omitempty"`
}

// Link is a link shown on the incident.
type Link struct {
	Href string `json:"href"`
	Text string `json:"text"`
}

// Events renders the events for n: one per alert (trigger for a firing
// alert, resolve for a resolved one), none for a reminder — the incident is
// open in PagerDuty, or a responder resolved it there, and either way no
// new event is wanted. RoutingKey is left empty; Notify fills it in, so
// rendered events can be shown.
//
// A grouped notification (alert.Notification.Grouped: more alerts than a
// notification lists, such as the devices a hub incident held back) is one
// event for the group instead, dedup_key the group key: a trigger with the
// count, the first devices and the link to them all; its resolve only when
// the group's last alert resolved (StillFiring 0). Thousands of events would
// page thousands of times and run into the Events API's rate limit.
func Events(n *alert.Notification) []Event {
	if n.IsReminder() {
		return nil
	}
	if n.Grouped {
		return groupEvents(n)
	}
	var evs []Event
	for i := range n.Alerts {
		a := &n.Alerts[i]
		if a.Status == alert.StatusResolved {
			evs = append(evs, Event{EventAction: "resolve", DedupKey: DedupKey(a.Key)})
			continue
		}
		evs = append(evs, trigger(n, a))
	}
	return evs
}

func trigger(n *alert.Notification, a *alert.Alert) Event {
	component := "hub"
	if a.DeviceID != "" {
		component = a.DeviceID
		if a.Module != "" {
			component += "/" + a.Module
		}
	}
	// payload.source is required: the pipeline's own app-wide alerts
	// (pipeline-lagging, notifications-failing) have no hub.
	source := a.Hub
	if source == "" {
		source = "disconnect-doctor"
	}
	if a.Subject != "" {
		component = a.Subject // the failing channel
	}
	summary := a.Summary
	if summary == "" {
		summary = alert.KindTitle(n.Kind) + " on " + a.Hub
	}
	details := map[string]any{
		"alertKey":       a.Key,
		"notificationId": n.NotificationID,
		"startsAt":       a.StartsAt,
		"devices":        a.Devices,
		"evidence":       a.Evidence,
		"recommendation": a.Recommendation,
	}
	if a.DeviceID != "" {
		details["deviceId"] = a.DeviceID
	}
	if a.Module != "" {
		details["moduleId"] = a.Module
	}
	// A suspected hub incident and its confirmation are two triggers of one
	// dedup_key: the confirmation updates the open incident with its cause.
	if a.Suspected {
		details["suspected"] = true
	}
	if a.Confirmed {
		details["confirmed"] = true
	}
	ev := Event{EventAction: "trigger", DedupKey: DedupKey(a.Key), Client: "disconnect-doctor",
		Payload: &Payload{Summary: truncate(summary, maxSummary), Source: source, Severity: severity(a.Severity),
			Timestamp: a.StartsAt, Component: component, Group: source, Class: a.Kind, CustomDetails: details}}
	if n.Link != "" {
		ev.ClientURL = n.Link
		ev.Links = []Link{{Href: n.Link, Text: "disconnect-doctor: " + alert.KindTitle(n.Kind) + " on " + a.Hub}}
	}
	return ev
}

// maxFirstDevices bounds the devices a group's trigger names.
const maxFirstDevices = 20

// groupEvents renders a grouped notification as one event of its group.
func groupEvents(n *alert.Notification) []Event {
	key := DedupKey(n.GroupKey)
	if n.Status == alert.StatusResolved {
		if n.StillFiring > 0 {
			return nil // the group's incident stays open for the devices still away
		}
		return []Event{{EventAction: "resolve", DedupKey: key}}
	}
	if len(n.Alerts) == 0 {
		return nil
	}
	first := n.Alerts[0]
	var devices []string
	for i := range n.Alerts[:min(len(n.Alerts), maxFirstDevices)] {
		devices = append(devices, n.Alerts[i].Identity())
	}
	summary := n.DeviceCount() + ": " + alert.KindTitle(n.Kind) + " on " + n.Hub
	if n.Incident != "" {
		summary += ", caught in IoT Hub incident " + n.Incident
	}
	details := map[string]any{
		"groupKey":       n.GroupKey,
		"notificationId": n.NotificationID,
		"alerts":         n.AlertCount(),
		"devices":        n.DeviceCount(),
		"firstDevices":   devices,
		"since":          formatSince(n),
		"recommendation": first.Recommendation,
	}
	if n.Incident != "" {
		details["incident"] = n.Incident
	}
	if n.List != "" {
		details["list"] = n.List
	}
	ev := Event{EventAction: "trigger", DedupKey: key, Client: "disconnect-doctor",
		Payload: &Payload{Summary: truncate(summary, maxSummary), Source: n.Hub, Severity: severity(first.Severity),
			Timestamp: first.StartsAt, Component: "devices", Group: n.Hub, Class: string(n.Kind), CustomDetails: details}}
	for _, l := range []struct{ href, text string }{{n.Link, "disconnect-doctor: " + alert.KindTitle(n.Kind) + " on " + n.Hub},
		{n.List, "all " + n.DeviceCount() + " (API)"}} {
		if l.href != "" {
			ev.Links = append(ev.Links, Link{Href: l.href, Text: l.text})
		}
	}
	if n.Link != "" {
		ev.ClientURL = n.Link
	}
	return []Event{ev}
}

// formatSince is when the group's first alert began, RFC 3339 ("" unknown).
func formatSince(n *alert.Notification) string {
	if s := n.Since(); !s.IsZero() {
		return s.UTC().Format(time.RFC3339)
	}
	return ""
}

// severity maps an alert's severity onto PagerDuty's (critical, error,
// warning, info); anything unknown is "error", never dropped.
func severity(s string) string {
	switch s {
	case "critical", "warning", "error", "info":
		return s
	}
	return "error"
}

// DedupKey is the alert key, which PagerDuty takes up to 255 characters;
// a longer one (long device and module ids) keeps its first 190 and adds a
// hash of the whole, so it stays unique and stable.
func DedupKey(key string) string {
	if len(key) <= maxDedupKey {
		return key
	}
	sum := sha256.Sum256([]byte(key))
	return strings.ToValidUTF8(key[:190], "") + "~" + hex.EncodeToString(sum[:32])
}

// truncate cuts s to at most max bytes on a rune boundary, ending in "…".
func truncate(s string, max int) string {
	if len(s) <= max {
		return s
	}
	cut := max - len("…")
	for cut > 0 && !utf8.RuneStart(s[cut]) {
		cut--
	}
	return s[:cut] + "…"
}

// Notify sends n's events in order. A failure stops at that event; the
// retry resends the ones before it, which PagerDuty deduplicates by
// dedup_key (a trigger into the same open incident, a resolve of a resolved
// one is ignored).
func (p *Notifier) Notify(ctx context.Context, n *alert.Notification) (bool, error) {
	for _, ev := range Events(n) {
		ev.RoutingKey = p.key.Reveal() // only in the body sent
		body, err := json.Marshal(ev)
		if err != nil {
			return false, fmt.Errorf("pagerduty: encode %s: %w", n.NotificationID, err)
		}
		retry, err := p.poster.PostJSON(ctx, notify.Secret(p.url), nil, body)
		if err != nil {
			retry, err = p.explain(retry, notify.Scrub(err, p.key))
			return retry, fmt.Errorf("pagerduty: notification %s: %s %s: %w", n.NotificationID, ev.EventAction, ev.DedupKey, err)
		}
	}
	return false, nil
}

// explain makes a refused routing key a ConfigError naming the setting.
// PagerDuty answers 400 "invalid event" with the reason in errors[], and
// some refusals of a wrong kind of key are 403/404.
func (p *Notifier) explain(retry bool, err error) (bool, error) {
	var he *notify.HTTPError
	if !errors.As(err, &he) {
		return retry, err
	}
	mentionsKey := strings.Contains(strings.ToLower(he.Body), "routing")
	if (he.Status == http.StatusBadRequest && mentionsKey) || he.Status == http.StatusForbidden || he.Status == http.StatusNotFound {
		return true, &notify.ConfigError{Err: err, Fix: "check PAGERDUTY_ROUTING_KEY: it must be the Integration Key of an " +
			"Events API v2 integration (PagerDuty: Service → Integrations → Events API V2), not a REST API key"}
	}
	return retry, err
}

// Compile-time check: Notifier is an alert.Notifier.
var _ alert.Notifier = (*Notifier)(nil)
