// Package alert turns the engine's alert transitions (classify.Signal) into
// notifications for people, and delivers them through an outbox.
//
// It follows the shape of Prometheus Alertmanager: the Manager is the state
// machine (fire once, repeat while firing, resolve once, grouping, inhibition,
// hysteresis, stale suppression) and knows nothing about HTTP or SMTP; the
// Dispatcher writes every notification to the store's outbox before anything
// is sent and delivers from there with retries; the integrations
// (notify/teams, notify/email, notify/webhook) only render and send one
// Notification and say whether a failure is worth retrying.
package alert

import (
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"fmt"
	"net/url"
	"sort"
	"strconv"
	"strings"
	"time"

	"github.com/disconnect-doctor/disconnect-doctor/classify"
	"github.com/disconnect-doctor/disconnect-doctor/digest"
	"github.com/disconnect-doctor/disconnect-doctor/internal/timetext"
)

// Status values of a notification and of each alert in it.
const (
	StatusFiring   = "firing"
	StatusResolved = "resolved"
)

// Version is the generic webhook body's version (PRODUCT.md §7).
const Version = "1"

// Notification is one message to people about one group of alerts (one kind
// on one hub). Its JSON encoding is exactly the generic webhook body of
// PRODUCT.md §7; the fields tagged "-" are for the integrations and the
// outbox and are never part of that body.
type Notification struct {
	Version        string `json:"version"`
	NotificationID string `json:"notificationId"`
	// GroupKey is "<kind>/<hub>".
	GroupKey string `json:"groupKey"`
	// Status is the status of every alert in the notification: firing and
	// resolved alerts of a group go out as separate notifications.
	Status string `json:"status"`
	// Repeat is 0 for the first firing notification of its alerts and n for
	// the n-th reminder that they are still firing; 0 when resolved.
	Repeat int     `json:"repeat"`
	Alerts []Alert `json:"alerts"`
	// TruncatedAlerts counts the alerts of the group left out of Alerts (as
	// in Alertmanager's webhook): a group of more than MaxListed alerts
	// lists the first MaxListed by key. Absent when every alert is listed.
	TruncatedAlerts int `json:"truncatedAlerts,omitempty"`
	// Grouped: the alerts were announced as one group (a first firing of
	// more than MaxListed alerts, the resolved of such alerts, or a
	// reminder of more than MaxListed): a paging receiver pages the group
	// once, under the group key, instead of each alert.
	Grouped bool `json:"grouped,omitempty"`
	// StillFiring, on the resolved notification of grouped alerts, counts
	// the group's alerts (of this kind and hub) still firing: 0 (absent)
	// when this resolved ends the group.
	StillFiring int `json:"stillFiring,omitempty"`
	// Incident is the hub incident every device alert of the notification
	// was caught in and held back by (absent otherwise): the devices still
	// away after it.
	Incident string `json:"incident,omitempty"`
	// List is where the whole group can be read through the query API when
	// alerts were left out and PUBLIC_BASE_URL is set: the incident's
	// disconnects (disconnects?hub=&incident=), or the hub's disconnects of
	// the kind's cause since the group's first alert. It never carries a
	// key.
	List string `json:"list,omitempty"`
	// OmittedDevices is the number of devices of the alerts left out of
	// Alerts (kept in the outbox, not on the wire).
	OmittedDevices int `json:"-"`

	// Kind and Hub are the group's alert kind and hub.
	Kind classify.SignalKind `json:"-"`
	Hub  string              `json:"-"`
	// Due is when the notification fell due (event time of the transition,
	// or the repeat/hysteresis deadline).
	Due time.Time `json:"-"`
	// Stale marks a notification that fell due more than StaleAfter before
	// now: it is recorded in the outbox (suppressed) but never delivered.
	Stale bool `json:"-"`
	// Link is where a person can read more (PublicBaseURL + API path), empty
	// when no public base URL is configured. It never carries a key.
	Link string `json:"-"`
	// Digest is set on a daily digest (Kind KindDigest, see digest.go),
	// which only DigestNotifier channels receive.
	Digest *digest.Digest `json:"-"`
}

// Alert is one alert inside a Notification (PRODUCT.md §7).
type Alert struct {
	// Key is the stable alert key kind/hub[/device[/module]].
	Key      string `json:"key"`
	Kind     string `json:"kind"`
	Status   string `json:"status"`
	Severity string `json:"severity"`
	Hub      string `json:"hub"`
	// DeviceID is empty for hub-incident.
	DeviceID string `json:"deviceId"`
	// Module is the module id of a module identity (IoT Edge "$edgeHub",
	// "$edgeAgent", a custom module), "" for a device identity.
	Module string `json:"moduleId"`
	// StartsAt and EndsAt are RFC 3339 UTC; EndsAt is "" while firing.
	StartsAt       string   `json:"startsAt"`
	EndsAt         string   `json:"endsAt"`
	Summary        string   `json:"summary"`
	Evidence       []string `json:"evidence"`
	Recommendation string   `json:"recommendation"`
	// Devices is the number of devices involved (1 for a device alert).
	Devices int `json:"devices"`
	// DevicesCounted says what Devices counts on a hub-incident (absent on
	// other kinds), because one incident's notifications count different
	// things: CountedEventGrid, CountedSoFar or CountedTotal. Read side by
	// side, 17 984 suspected, 8 746 confirmed and 64 257 resolved are one
	// incident seen three ways, not three contradicting figures.
	DevicesCounted string `json:"devicesCounted,omitempty"`
	// EventGridDevices, on the confirmation, reminders and resolved of a
	// hub-incident that was suspected first, is the Devices its suspicion
	// was sent with (CountedEventGrid); absent otherwise.
	EventGridDevices int `json:"eventGridDevices,omitempty"`
	// Subject names what an alert of the pipeline's own is about (the
	// channel of notifications-failing); empty otherwise.
	Subject string `json:"subject,omitempty"`
	// Suspected marks a hub-incident seen early in Event Grid and not yet
	// confirmed by the resource logs (cause pending); its resolved, when the
	// logs do not confirm it, withdraws it. A confirmed incident's
	// notifications carry false.
	Suspected bool `json:"suspected,omitempty"`
	// Confirmed marks the notification that confirms a suspected
	// hub-incident (the resource logs arrived and show a hub incident).
	Confirmed bool `json:"confirmed,omitempty"`

	// Repeat is 0 for the first firing notification of an episode and n for
	// the n-th reminder; it is part of the notification's identity.
	Repeat int `json:"-"`
}

// What a hub-incident's Devices counts (Alert.DevicesCounted).
const (
	// CountedEventGrid: devices whose Event Grid disconnect fell in the
	// burst a suspected incident was raised from (package suspect; a
	// sample scaled back up on a large hub). Event Grid arrives within
	// seconds, so this is the first and, early on, the largest figure.
	CountedEventGrid = "eventgrid"
	// CountedSoFar: devices with a 404104 in the incident's minutes that
	// their own evidence does not explain, in the resource logs ingested
	// so far. The logs arrive 3–10 minutes after Event Grid, so the figure
	// grows while the incident is open (first firing, confirmation,
	// reminders).
	CountedSoFar = "resource-logs-so-far"
	// CountedTotal: the same count over the incident's whole span, once it
	// is over: every device it caught (resolved).
	CountedTotal = "total"
)

// notificationID derives the idempotency key of a notification from what
// makes it that notification: its group key, status, and each alert's key,
// episode start, status and repeat number (sorted, so the order the alerts
// were computed in does not matter). A recompute after a crash gives the
// same ID; a later episode of the same alert key (a device offline again the
// next day) gives a different one, so the outbox does not mistake it for the
// earlier notification.
func notificationID(groupKey, status string, alerts []Alert) string {
	parts := make([]string, len(alerts))
	for i, a := range alerts {
		parts[i] = a.Key + "\x00" + a.StartsAt + "\x00" + a.Status + "\x00" + strconv.Itoa(a.Repeat)
		if a.Suspected {
			// The suspected firing and the confirmation are two
			// notifications of one episode.
			parts[i] += "\x00suspected"
		}
	}
	sort.Strings(parts)
	h := sha256.New()
	h.Write([]byte(groupKey + "\x01" + status + "\x01"))
	for _, p := range parts {
		h.Write([]byte(p))
		h.Write([]byte{1})
	}
	return hex.EncodeToString(h.Sum(nil)[:16])
}

// formatTime renders a time as RFC 3339 UTC, "" for the zero time.
func formatTime(t time.Time) string {
	if t.IsZero() {
		return ""
	}
	return t.UTC().Format(time.RFC3339)
}

// Identity names the alert's identity for people: "pump-1",
// "gw-7/$edgeHub" for a module, the hub for a hub-wide alert.
func (a *Alert) Identity() string {
	switch {
	case a.DeviceID == "" && a.Subject != "":
		return a.Subject // the pipeline's own alerts: the channel
	case a.DeviceID == "" && a.Hub == "":
		return "disconnect-doctor" // the pipeline's own, app-wide
	case a.DeviceID == "":
		return a.Hub
	case a.Module != "":
		return a.DeviceID + "/" + a.Module
	}
	return a.DeviceID
}

// StartsAtTime parses StartsAt; the zero time when empty or malformed.
func (a *Alert) StartsAtTime() time.Time {
	t, _ := time.Parse(time.RFC3339, a.StartsAt)
	return t
}

// Title is a one-line headline for people, e.g.
// "FIRING: IoT Hub incident … on contoso-hub (120 devices)" or
// "FIRING (REMINDER 2): devices offline after a disconnect on contoso-hub (1 device)".
func (n *Notification) Title() string {
	if n.Kind != classify.HubIncident && !n.Kind.AboutDevice() {
		// The pipeline's own alerts: about a hub or the app, not devices.
		t := n.StatusWords() + ": " + KindTitle(n.Kind) + " on " + n.Where()
		if len(n.Alerts) == 1 && n.Alerts[0].Subject != "" {
			t += " (" + n.Alerts[0].Subject + ")"
		}
		return t
	}
	return n.StatusWords() + ": " + KindTitle(n.Kind) + " on " + n.Hub + " (" + n.DeviceCount() + ")"
}

// Where names what the notification is about for a headline: its hub, or
// "disconnect-doctor" for the pipeline's own app-wide alerts, which have
// none (pipeline-lagging, notifications-failing).
func (n *Notification) Where() string {
	if n.Hub == "" {
		return "disconnect-doctor"
	}
	return n.Hub
}

// StatusWords is the status as a headline starts with it: "FIRING",
// "FIRING (REMINDER 2)" or "RESOLVED".
func (n *Notification) StatusWords() string {
	s := strings.ToUpper(n.Status)
	if n.IsReminder() {
		s += " (REMINDER " + strconv.Itoa(n.Repeat) + ")"
	}
	switch {
	case n.Suspected() && n.Status == StatusFiring:
		s += " (SUSPECTED, CAUSE PENDING)"
	case n.Suspected():
		s += " (WITHDRAWN: NOT AN IOT HUB INCIDENT)"
	case n.Confirmed():
		s += " (CONFIRMED)"
	}
	return s
}

// Suspected reports whether the notification is about a suspected hub
// incident (firing: cause pending; resolved: the suspicion is withdrawn).
func (n *Notification) Suspected() bool {
	for _, a := range n.Alerts {
		if a.Suspected {
			return true
		}
	}
	return false
}

// Confirmed reports whether the notification confirms a suspected hub
// incident.
func (n *Notification) Confirmed() bool {
	for _, a := range n.Alerts {
		if a.Confirmed {
			return true
		}
	}
	return false
}

// StatusTag is the bracketed prefix of an e-mail subject that receivers can
// filter on: "[FIRING]", "[FIRING][REMINDER 2]" or "[RESOLVED]".
func (n *Notification) StatusTag() string {
	s := "[" + strings.ToUpper(n.Status) + "]"
	if n.IsReminder() {
		s += "[REMINDER " + strconv.Itoa(n.Repeat) + "]"
	}
	switch {
	case n.Suspected() && n.Status == StatusFiring:
		s += "[SUSPECTED]"
	case n.Suspected():
		s += "[WITHDRAWN]"
	case n.Confirmed():
		s += "[CONFIRMED]"
	}
	return s
}

// IsReminder reports whether n repeats a firing notification already sent.
func (n *Notification) IsReminder() bool { return n.Status == StatusFiring && n.Repeat > 0 }

// Reminder is the line a reminder leads with, worded per kind, e.g.
// "Reminder 2 — still offline since 2024-05-14 08:47:01 UTC"; "" when n is
// not a reminder.
func (n *Notification) Reminder() string {
	if !n.IsReminder() {
		return ""
	}
	still := "still firing"
	switch n.Kind {
	case classify.DeviceOffline:
		still = "still offline"
	case classify.DeviceFlapping:
		still = "still flapping"
	case classify.TokenRenewalFailing:
		still = "still unable to renew the token"
	case classify.HubIncident:
		still = "the incident is still open"
	}
	s := "Reminder " + strconv.Itoa(n.Repeat) + " — " + still
	if t := n.Since(); !t.IsZero() {
		s += " since " + n.TimeText(t)
	}
	return s
}

// TimeText renders t for this notification's text: UTC, with the date
// when it is not the date the notification fell due.
func (n *Notification) TimeText(t time.Time) string { return timetext.At(t, n.Due) }

// members returns the alerts whose status is the notification's own: all
// of them for a notification built by Apply; a payload stored by an older
// version may mix firing and resolved alerts, and only the alerts of its
// status make its headline.
func (n *Notification) members() []Alert {
	out := make([]Alert, 0, len(n.Alerts))
	for _, a := range n.Alerts {
		if a.Status == n.Status {
			out = append(out, a)
		}
	}
	if len(out) == 0 {
		return n.Alerts
	}
	return out
}

// DeviceCount says how many devices the notification is about, in words.
func (n *Notification) DeviceCount() string {
	if n.Kind != classify.HubIncident && !n.Kind.AboutDevice() {
		// The pipeline's own alerts are about the app, not devices: name
		// the subject instead (a channel), or the pipeline.
		if len(n.Alerts) == 1 && n.Alerts[0].Subject != "" {
			return n.Alerts[0].Subject
		}
		return "the pipeline"
	}
	d := n.OmittedDevices
	ms := n.members()
	for _, a := range ms {
		d += max(a.Devices, 1)
	}
	s := strconv.Itoa(d) + " devices"
	if d == 1 {
		s = "1 device"
	}
	if n.Kind == classify.HubIncident && len(ms) == 1 {
		s += countedWords(ms[0].DevicesCounted, n.Status)
	}
	return s
}

// countedWords says, after a hub-incident's device count, what it counts
// (Alert.DevicesCounted); "" for a payload stored before it was recorded.
func countedWords(counted, status string) string {
	switch {
	case counted == CountedEventGrid && status == StatusFiring:
		return " disconnected so far, per Event Grid"
	case counted == CountedEventGrid:
		return " disconnected, per Event Grid"
	case counted == CountedSoFar:
		return " disconnected so far, per the resource logs"
	case counted == CountedTotal:
		return " affected in total"
	}
	return ""
}

// AlertCount is the number of alerts of the group, listed or not.
func (n *Notification) AlertCount() int { return len(n.Alerts) + n.TruncatedAlerts }

// Listing is the line a notification about the devices of a hub incident,
// or of more alerts than it lists, leads its list with, e.g. "12314 devices
// caught in IoT Hub incident contoso-hub-20240514T0530Z are still offline.
// Listed: the first 20 of 12314 alerts (by id); all of them: <link>"; ""
// when there is nothing to add to the list.
func (n *Notification) Listing() string {
	var s string
	if n.Incident != "" && n.Status == StatusFiring {
		still := stillWords(n.Kind)
		if n.AlertCount() == 1 {
			still = strings.Replace(still, "are ", "is ", 1)
		}
		s = n.DeviceCount() + " caught in IoT Hub incident " + n.Incident + " " + still + ". "
	}
	if n.Status == StatusResolved && n.Grouped {
		s = n.DeviceCount() + " back or cleared; " + strconv.Itoa(n.StillFiring) + " of the group still firing. "
	}
	if n.TruncatedAlerts == 0 {
		return strings.TrimSpace(s)
	}
	s += "Listed: the first " + strconv.Itoa(len(n.Alerts)) + " of " + strconv.Itoa(n.AlertCount()) + " alerts (by id)"
	if n.List != "" {
		return s + "; all of them: " + n.List
	}
	return s + "; the rest in the API (GET v1/disconnects?hub=" + n.Hub + listQuery(n) + ") and the dashboard"
}

// stillWords says what the devices of a kind still are.
func stillWords(k classify.SignalKind) string {
	switch k {
	case classify.DeviceOffline:
		return "are still offline"
	case classify.DeviceFlapping:
		return "are still flapping"
	case classify.TokenRenewalFailing:
		return "are still unable to renew their token"
	}
	return "are still firing"
}

// Since returns the earliest StartsAt of the alerts of the notification's
// status.
func (n *Notification) Since() time.Time {
	var s time.Time
	for _, a := range n.members() {
		if t := a.StartsAtTime(); !t.IsZero() && (s.IsZero() || t.Before(s)) {
			s = t
		}
	}
	return s
}

// KindTitle describes an alert kind for a person who has never heard of
// 404104.
func KindTitle(k classify.SignalKind) string {
	switch k {
	case classify.HubIncident:
		return "IoT Hub incident (many devices disconnected at once)"
	case classify.TokenRenewalFailing:
		return "devices cannot renew their security token"
	case classify.DeviceOffline:
		return "devices offline after a disconnect"
	case classify.DeviceFlapping:
		return "devices keep disconnecting (flapping)"
	case classify.SiteOutage:
		return "site outage (devices behind one network lost their connection together)"
	case classify.PipelineSilent:
		return "no resource logs arriving (pipeline silent)"
	case classify.PipelineLagging:
		return "diagnoses running late (pipeline lagging)"
	case classify.NotificationsFailing:
		return "notifications failing"
	case classify.HubStateBroken:
		return "a hub's stored state cannot be read or written"
	case classify.RecordsRejected:
		return "input records refused by the state store (dead letters)"
	}
	return string(k)
}

// Explanation is the sentence every message starts with, saying what
// happened in plain words.
func Explanation(k classify.SignalKind) string {
	const base = "Azure IoT Hub closed device connections (error 404104, DeviceConnectionClosedRemotely). "
	switch k {
	case classify.PipelineSilent:
		return "disconnect-doctor is not receiving the hub's resource logs, so it cannot diagnose disconnects or see a hub incident: silence here does not mean the hub is healthy."
	case classify.PipelineLagging:
		return "disconnect-doctor is behind its input: disconnects are diagnosed, and device alerts sent, later than usual."
	case classify.NotificationsFailing:
		return "disconnect-doctor cannot deliver its notifications on one of its channels: alerts sent there are lost."
	case classify.HubStateBroken:
		return "disconnect-doctor cannot read or write the stored state of one hub: that hub's diagnoses may be incomplete until it is fixed; the other hubs are evaluated as usual."
	case classify.RecordsRejected:
		return "disconnect-doctor's state store refused some input records for good: they were set aside as dead letters (GET v1/deadletters) so that the rest of their batches went on, and they are missing from the diagnoses."
	case classify.HubIncident:
		return base + "Many devices were disconnected at the same time while IoT Hub itself reported server errors: the cause is on the Azure side, not on the devices."
	case classify.TokenRenewalFailing:
		return base + "The devices' SAS tokens expired and they are not getting back in: IoT Hub keeps refusing their credentials (401003)."
	case classify.DeviceOffline:
		return base + "The devices did not come back afterwards: they may have crashed, lost power or lost their network."
	case classify.DeviceFlapping:
		return base + "The devices disconnect again and again for device- or network-side reasons."
	case classify.SiteOutage:
		return base + "Several devices behind one network location lost their connection together, with no error on IoT Hub's side: the site's network (router, uplink, power) is the likely cause. Their own alerts are held back while it lasts."
	}
	return base
}

// link builds the dashboard link of a group, or "" without a base URL: the
// incident page for a hub incident (found by the incident's start, which
// the alert carries, not its id), the overview (with the pipeline's health)
// for the pipeline's own alerts, the hub page (which lists its site
// outages) for a site outage, the device page for a single device (with
// its module), the hub page otherwise. Device ids travel in the query, so
// every character an id may hold survives. The link never carries the
// function key: a key posted to a Teams channel or a mailbox is a key for
// everyone who reads them; the person opening it adds ?code=<key> (or the
// app sits behind App Service authentication).
func link(base string, kind classify.SignalKind, hub string, alerts []Alert) string {
	if base == "" {
		return ""
	}
	ui := strings.TrimRight(base, "/") + "/api/v1/ui"
	switch {
	case kind == classify.HubIncident && len(alerts) > 0 && alerts[0].StartsAt != "":
		return ui + "/incidents?" + url.Values{"hub": {hub}, "at": {alerts[0].StartsAt}}.Encode()
	case kind != classify.HubIncident && kind != classify.SiteOutage && !kind.AboutDevice():
		return ui // the pipeline's own alerts: the overview shows its health
	case len(alerts) == 1 && alerts[0].DeviceID != "":
		q := url.Values{"hub": {hub}, "id": {alerts[0].DeviceID}}
		if alerts[0].Module != "" {
			q.Set("module", alerts[0].Module)
		}
		return ui + "/devices?" + q.Encode()
	}
	return ui + "/hubs/" + url.PathEscape(hub)
}

// listLink is the query API's list of a group too large to list in a
// notification (Notification.List), or "" without a base URL.
func listLink(base string, n *Notification) string {
	if base == "" {
		return ""
	}
	return strings.TrimRight(base, "/") + "/api/v1/disconnects?hub=" + url.QueryEscape(n.Hub) + listQuery(n)
}

// listQuery is the rest of the query that lists a group's disconnects: the
// incident its devices were caught in, or the cause of its kind since its
// first alert.
func listQuery(n *Notification) string {
	if n.Incident != "" {
		return "&" + url.Values{"incident": {n.Incident}}.Encode()
	}
	q := url.Values{}
	if s := n.Since(); !s.IsZero() {
		q.Set("from", formatTime(s))
	}
	switch n.Kind { // device-offline follows a disconnect of any cause of the device's own
	case classify.DeviceFlapping:
		q.Set("cause", string(classify.DeviceOrNetwork))
	case classify.TokenRenewalFailing:
		q.Set("cause", string(classify.TokenRenewalFailed))
	}
	if len(q) == 0 {
		return ""
	}
	return "&" + q.Encode()
}

// Truncated returns n as the outbox keeps it and the channels send it: a
// grouped notification lists at most MaxListed alerts, the others counted
// (TruncatedAlerts, OmittedDevices); any other is listed whole (at most
// MaxListed firing, or maxResolvedListed resolved, alerts). n itself is left
// as it is.
func (n *Notification) Truncated() *Notification {
	if !n.Grouped || len(n.Alerts) <= MaxListed {
		return n
	}
	c := *n
	c.Alerts = append([]Alert(nil), n.Alerts[:MaxListed]...)
	for _, a := range n.Alerts[MaxListed:] {
		c.OmittedDevices += max(a.Devices, 1)
	}
	c.TruncatedAlerts += len(n.Alerts) - MaxListed
	return &c
}

// outboxPayload is what the outbox stores: the webhook body plus the
// non-wire fields the integrations need after a restart. Decoding it as a
// plain Notification also works (the extra keys are ignored).
type outboxPayload struct {
	*Notification
	Link  string    `json:"link,omitempty"`
	Kind  string    `json:"kind,omitempty"`
	Hub   string    `json:"hub,omitempty"`
	Due   time.Time `json:"due"`
	Stale bool      `json:"stale,omitempty"`
	// Digest is the daily digest's content (DigestNotification).
	Digest *digest.Digest `json:"digest,omitempty"`
	// OmittedDevices: Notification.OmittedDevices.
	OmittedDevices int `json:"omittedDevices,omitempty"`
}

// EncodePayload serializes n for an outbox item: the first MaxListed of its
// alerts and the count of the others, so an item's size does not grow with
// the group's.
func EncodePayload(n *Notification) ([]byte, error) {
	n = n.Truncated()
	b, err := json.Marshal(outboxPayload{Notification: n, Link: n.Link, Kind: string(n.Kind), Hub: n.Hub, Due: n.Due,
		Stale: n.Stale, Digest: n.Digest, OmittedDevices: n.OmittedDevices})
	if err != nil {
		return nil, fmt.Errorf("alert: encode notification %s: %w", n.NotificationID, err)
	}
	return b, nil
}

// DecodePayload is the inverse of EncodePayload.
func DecodePayload(b []byte) (*Notification, error) {
	p := outboxPayload{Notification: &Notification{}}
	if err := json.Unmarshal(b, &p); err != nil {
		return nil, fmt.Errorf("alert: decode notification: %w", err)
	}
	n := p.Notification
	if n.NotificationID == "" {
		return nil, fmt.Errorf("alert: decode notification: no notificationId")
	}
	n.Link, n.Kind, n.Hub, n.Due, n.Stale, n.Digest = p.Link, classify.SignalKind(p.Kind), p.Hub, p.Due, p.Stale, p.Digest
	n.OmittedDevices = p.OmittedDevices
	return n, nil
}
