package watch

import (
	"fmt"
	"time"

	"github.com/disconnect-doctor/disconnect-doctor/classify"
)

// Config holds the thresholds of the built-in checks.
type Config struct {
	// SilentAfter is PIPELINE_SILENT_AFTER (15m).
	SilentAfter time.Duration
	// LagAfter is LAG_ALERT_AFTER (20m).
	LagAfter time.Duration
}

// DefaultConfig returns the defaults of the settings.
func DefaultConfig() Config { return Config{SilentAfter: 15 * time.Minute, LagAfter: 20 * time.Minute} }

// lagHold is the hysteresis of pipeline-lagging: a watermark that dips
// under the threshold for a few ticks does not resolve and re-fire it.
const lagHold = 5 * time.Minute

// Lagging raises pipeline-lagging when the watermark (the event time up to
// which verdicts are final) is behind the wall clock by more than
// cfg.LagAfter: the app is falling behind its input (a backlog, a slow
// store, an Event Hubs partition stuck behind the others). A zero watermark
// (nothing ingested yet) raises nothing; Silent covers missing input. Only
// meaningful on the wall clock (WATERMARK=wallclock).
func Lagging(cfg Config, now, watermark time.Time) []Condition {
	if watermark.IsZero() || cfg.LagAfter <= 0 {
		return nil
	}
	lag := now.Sub(watermark)
	if lag <= cfg.LagAfter {
		return nil
	}
	return []Condition{{
		Kind:    classify.PipelineLagging,
		Since:   watermark.Add(cfg.LagAfter).Truncate(time.Minute),
		Hold:    lagHold,
		Summary: fmt.Sprintf("verdicts are %s behind the wall clock (LAG_ALERT_AFTER %s)", lag.Truncate(time.Second), cfg.LagAfter),
		Evidence: []string{
			"watermark " + watermark.UTC().Format(time.RFC3339) + ", wall clock " + now.UTC().Format(time.RFC3339),
		},
		Recommendation: "The app is behind its input: disconnects are diagnosed and alerted late. Check the function app's " +
			"Evaluate and DiagnosticLogs invocations (failures, timeouts), the Event Hubs consumer group's backlog, " +
			"and Table storage throttling; scale the plan up if a backlog keeps growing.",
	}}
}

// Channel is the delivery record of one notification channel.
type Channel struct {
	// LastDelivered is when a notification was last delivered on it.
	LastDelivered time.Time `json:"lastDelivered,omitzero"`
	// FirstDead is the first dead letter since LastDelivered (zero when
	// none), LastDead the latest, Dead how many, LastError the latest error
	// (redacted by the notifier: never a secret).
	FirstDead time.Time `json:"firstDead,omitzero"`
	LastDead  time.Time `json:"lastDead,omitzero"`
	Dead      int       `json:"dead,omitempty"`
	LastError string    `json:"lastError,omitempty"`
}

// Outcome is the final fate of one outbox item (delivered or
// dead-lettered), as the pipeline's delivery reports it.
type Outcome struct {
	Channel string
	Kind    classify.SignalKind
	Dead    bool
	Error   string
	At      time.Time
}

// Deliveries records what a delivery did to each channel. A dead letter of
// a notifications-failing notification is not counted: the alert about a
// failing channel is sent to that channel too (it may be back), and its own
// dead letter must not keep it firing or raise it again. Any delivery
// proves the channel works.
func Deliveries(st *State, outs []Outcome) {
	for _, o := range outs {
		ch := st.Channels[o.Channel]
		if ch == nil {
			ch = &Channel{}
			st.Channels[o.Channel] = ch
		}
		switch {
		case !o.Dead:
			if o.At.After(ch.LastDelivered) {
				ch.LastDelivered = o.At
				if !ch.FirstDead.IsZero() && !ch.LastDead.After(o.At) {
					ch.FirstDead, ch.Dead = time.Time{}, 0
				}
			}
		case o.Kind == classify.NotificationsFailing:
			continue
		default:
			if ch.FirstDead.IsZero() {
				ch.FirstDead = o.At
			}
			ch.LastDead, ch.LastError = o.At, o.Error
			ch.Dead++
		}
		st.dirty = true
	}
}

// Failing raises notifications-failing for each channel with dead letters
// since its last delivery. It resolves when a notification is delivered on
// the channel again (a reminder of this alert, sent to every channel,
// proves a repaired channel).
func Failing(st *State) []Condition {
	var out []Condition
	for name, ch := range st.Channels {
		if ch.FirstDead.IsZero() {
			continue
		}
		ev := []string{fmt.Sprintf("%d notification(s) dead-lettered on %s since %s", ch.Dead, name, ch.FirstDead.UTC().Format(time.RFC3339))}
		if !ch.LastDelivered.IsZero() {
			ev = append(ev, "last delivered "+ch.LastDelivered.UTC().Format(time.RFC3339))
		}
		if ch.LastError != "" {
			ev = append(ev, "last error: "+ch.LastError)
		}
		out = append(out, Condition{
			Kind: classify.NotificationsFailing, Subject: name, Since: ch.FirstDead,
			Summary:  fmt.Sprintf("notifications to %s are being dead-lettered", name),
			Evidence: ev,
			Recommendation: "Alerts are not reaching this channel. Check its setting (a Teams workflow that was " +
				"deleted or lost its owner, an expired webhook, SMTP credentials) and the handler's log lines " +
				"\"alert: notification dead-lettered\"; the API's health lists the channel until a notification " +
				"is delivered on it again.",
		})
	}
	return out
}
