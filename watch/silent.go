package watch

import (
	"fmt"
	"math/bits"
	"sort"
	"time"

	"github.com/disconnect-doctor/disconnect-doctor/classify"
	"github.com/disconnect-doctor/disconnect-doctor/event"
)

// HubInput is what the pipeline has recently received from one hub, kept
// small and bounded (two 64-minute bitmaps) whatever the hub's size.
type HubInput struct {
	// Newest is the newest event time received from the hub (any source but
	// metric alerts); LastInput the wall clock when Newest last moved
	// forward — when the hub last delivered something new.
	Newest    time.Time `json:"newest"`
	LastInput time.Time `json:"lastInput"`
	// Active: bit i is set when the hub had an event in the minute i
	// minutes before Newest's minute (event time).
	Active uint64 `json:"active"`
	// NewestLog is the newest resource-log event time (zero: never).
	NewestLog time.Time `json:"newestLog,omitzero"`
	// StateTop is the minute (Unix minutes) of the newest Event Grid or
	// routed connect/disconnect event; bit i of State is set when such an
	// event fell in minute StateTop-i.
	StateTop int64  `json:"stateTop,omitempty"`
	State    uint64 `json:"state,omitempty"`
}

// forgetHub drops the input record of a hub that has sent nothing for this
// long (a hub deleted, or moved to another app).
const forgetHub = 7 * 24 * time.Hour

// trafficWindow is the stretch of a hub's input before it went quiet that
// must have been steady for its silence to be a fault.
const trafficWindow = 60

// Observe records the events read in one tick (re-reading an event is
// harmless: every update is a maximum or a bit set). now is the wall clock.
func Observe(st *State, evs []event.Event, now time.Time) {
	for i := range evs {
		e := &evs[i]
		if e.Hub == "" || e.Source == event.Metric || e.Time.IsZero() {
			continue
		}
		h := st.Hubs[e.Hub]
		if h == nil {
			h = &HubInput{}
			st.Hubs[e.Hub] = h
		}
		if observe(h, e, now) {
			st.inputs = true
		}
	}
}

func observe(h *HubInput, e *event.Event, now time.Time) bool {
	changed := false
	m := minute(e.Time)
	if e.Time.After(h.Newest) {
		if !h.Newest.IsZero() {
			h.Active = shift(h.Active, m-minute(h.Newest))
		}
		h.Newest, h.LastInput = e.Time, now
		changed = true
	}
	if d := minute(h.Newest) - m; d >= 0 && d < 64 && h.Active&(1<<d) == 0 {
		h.Active |= 1 << d
		changed = true
	}
	if e.Source == event.ResourceLog && e.Time.After(h.NewestLog) {
		h.NewestLog = e.Time
		changed = true
	}
	if (e.Source == event.EventGrid || e.Source == event.Route) &&
		(e.Kind == event.StateConnected || e.Kind == event.StateDisconnected) {
		if h.State == 0 || m > h.StateTop {
			h.State = shift(h.State, m-h.StateTop)
			h.StateTop = m
			changed = true
		}
		if d := h.StateTop - m; d >= 0 && d < 64 && h.State&(1<<d) == 0 {
			h.State |= 1 << d
			changed = true
		}
	}
	return changed
}

func minute(t time.Time) int64 { return t.Unix() / 60 }

func shift(b uint64, n int64) uint64 {
	if n >= 64 || n < 0 {
		return 0
	}
	return b << n
}

// Silent raises pipeline-silent for a hub when
//
//   - its Event Grid or routed events show devices connecting or
//     disconnecting and no resource log as recent as the first of them has
//     arrived cfg.SilentAfter later (the diagnostic setting was deleted,
//     the Event Hub stopped delivering, DiagnosticLogs is failing); or
//   - it sent nothing at all for cfg.SilentAfter after an hour of steady
//     traffic (no gap longer than a third of SilentAfter): a quiet hub with
//     a few devices that rarely connect is not a fault, a busy one that
//     stops is.
//
// It also forgets hubs that sent nothing for a week. now is the wall clock.
func Silent(cfg Config, st *State, now time.Time) []Condition {
	if cfg.SilentAfter <= 0 {
		return nil
	}
	hubs := make([]string, 0, len(st.Hubs))
	for hub, h := range st.Hubs {
		if now.Sub(h.LastInput) > forgetHub {
			delete(st.Hubs, hub)
			st.inputs = true
			continue
		}
		hubs = append(hubs, hub)
	}
	sort.Strings(hubs)
	var out []Condition
	for _, hub := range hubs {
		if c, ok := silent(cfg, hub, st.Hubs[hub], now); ok {
			out = append(out, c)
		}
	}
	return out
}

func silent(cfg Config, hub string, h *HubInput, now time.Time) (Condition, bool) {
	c := Condition{Kind: classify.PipelineSilent, Hub: hub,
		Recommendation: "disconnect-doctor cannot diagnose this hub until its resource logs arrive again. Check the " +
			"hub's diagnostic setting (it must stream the Connections category to the Event Hub), the Event Hub's " +
			"incoming messages and the DiagnosticLogs function's failures; Azure Monitor delivers resource logs " +
			"30 s to 20 min late, so raise PIPELINE_SILENT_AFTER if this hub's logs are usually slower."}
	logs := "no resource log from this hub has been received"
	if !h.NewestLog.IsZero() {
		logs = "the newest resource log received is of " + h.NewestLog.UTC().Format(time.RFC3339)
	}
	if first, n, ok := unmatchedState(h); ok && now.Sub(first) > cfg.SilentAfter {
		c.Since = first
		c.Summary = fmt.Sprintf("no resource logs from %s for %s while Event Grid shows devices connecting or disconnecting", hub, now.Sub(first).Truncate(time.Minute))
		c.Evidence = []string{
			fmt.Sprintf("Event Grid or routed connection events in %d minute(s) since %s", n, first.UTC().Format(time.RFC3339)),
			logs,
		}
		return c, true
	}
	if now.Sub(h.LastInput) > cfg.SilentAfter && steady(h.Active, cfg.SilentAfter) {
		c.Since = h.LastInput
		c.Summary = fmt.Sprintf("nothing received from %s for %s after steady traffic", hub, now.Sub(h.LastInput).Truncate(time.Minute))
		c.Evidence = []string{
			"last input received at " + h.LastInput.UTC().Format(time.RFC3339) + ", of event time " + h.Newest.UTC().Format(time.RFC3339),
			fmt.Sprintf("events in %d of the %d minutes before", bits.OnesCount64(h.Active&(1<<trafficWindow-1)), trafficWindow),
			logs,
		}
		return c, true
	}
	return Condition{}, false
}

// unmatchedState returns the start of the earliest minute with Event Grid
// or routed connection events later than the newest resource log, and how
// many such minutes there are.
func unmatchedState(h *HubInput) (time.Time, int, bool) {
	if h.State == 0 {
		return time.Time{}, 0, false
	}
	logMin := int64(-1 << 62)
	if !h.NewestLog.IsZero() {
		logMin = minute(h.NewestLog)
	}
	var first int64
	n := 0
	for d := int64(63); d >= 0; d-- {
		m := h.StateTop - d
		if h.State&(1<<d) == 0 || m <= logMin {
			continue
		}
		if n == 0 {
			first = m
		}
		n++
	}
	if n == 0 {
		return time.Time{}, 0, false
	}
	return time.Unix(first*60, 0).UTC(), n, true
}

// steady reports whether the hour before the hub's newest event had input
// throughout, with no gap longer than a third of silentAfter (at least one
// minute).
func steady(active uint64, silentAfter time.Duration) bool {
	maxGap := max(int(silentAfter/time.Minute)/3, 1)
	if active>>(trafficWindow-1) == 0 {
		// Nothing as old as the window's start: the traffic has not lasted
		// an hour (a new hub, or the first hour after a deployment).
		return false
	}
	gap := 0
	for d := 0; d < trafficWindow; d++ {
		if active&(1<<d) != 0 {
			gap = 0
			continue
		}
		gap++
		if gap > maxGap {
			return false
		}
	}
	return true
}
