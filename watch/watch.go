// Package watch is the pipeline watching itself: alert conditions raised by
// the pipeline rather than by the engine (classify) — the input went
// silent, the watermark lags, a channel's notifications are dead-lettered,
// and any kind added later (a hub whose stored state is broken, a store
// rejecting a record). It is pure: observations and a time in, alert
// transitions out; the pipeline does the I/O.
//
// # The mechanism
//
// The engine emits transitions (a Signal when a condition starts or ends).
// What the pipeline knows about itself is a level instead — "this is true
// now" — so a check reports Conditions, and Reconcile turns them into the
// same classify.Signal transitions, which the pipeline hands to
// alert.Manager.Apply together with the engine's. Grouping, reminders
// (REPEAT_INTERVAL), stale suppression, notification IDs, the outbox and
// the channels are therefore exactly those of every other alert.
//
//   - A Condition raised in a tick whose key (kind/hub[/subject]) is not
//     active starts an episode: a firing Signal (Since: the condition's own
//     Since, so a recompute after a crash gives the same notification ID).
//   - An active key raised again only refreshes its details (a firing
//     Signal again when summary or evidence changed, which the Manager
//     treats as a refresh, not a new alert).
//   - An active key not raised in a tick ends — a resolved Signal — once its
//     hold is over: Hold keeps a condition firing that long after it was
//     last raised. Use it for evidence that is an event rather than a level
//     (a write rejected once), and as hysteresis for a level that hovers at
//     its threshold.
//
// The active conditions are the State, persisted by the pipeline as one
// blob (store.MetaBlobs, key "watch") and shown by the API's health.
//
// # Adding a kind
//
//  1. Name it in classify/types.go beside PipelineSilent (and give it its
//     severity in SignalKind.Severity).
//  2. Raise it: either a check function here of the shape of Lagging,
//     Silent or Failing — a pure function of what the pipeline observed,
//     called from the pipeline's tick — or, for something the pipeline
//     finds while doing I/O (a blob it cannot decode, a record the store
//     refuses), append a Condition to the tick's list where it is found
//     (Pipeline.raise) with a Hold long enough to be seen.
//  3. Document it in the README's alert table.
//
// A check must raise the condition in every tick for as long as it is true
// (or rely on Hold): not raising it is what resolves it.
package watch

import (
	"encoding/json"
	"fmt"
	"slices"
	"sort"
	"time"

	"github.com/disconnect-doctor/disconnect-doctor/classify"
	"github.com/disconnect-doctor/disconnect-doctor/event"
)

// Condition is an alert condition of the pipeline that is true now.
type Condition struct {
	Kind classify.SignalKind `json:"kind"`
	// Hub is the hub the condition is about; "" for the app as a whole.
	Hub string `json:"hub,omitempty"`
	// Subject names what within the hub or app it is about (a channel, a
	// table); "" for none. It is the alert key's third segment and the
	// alert's "subject" in notifications.
	Subject string `json:"subject,omitempty"`
	// Since is when the condition began (the first unmatched event, the last
	// input); zero means "when first raised".
	Since time.Time `json:"since"`
	// Hold keeps the condition firing this long after it was last raised.
	Hold time.Duration `json:"hold,omitempty"`
	// Summary, Evidence and Recommendation are what people read.
	Summary        string   `json:"summary"`
	Evidence       []string `json:"evidence,omitempty"`
	Recommendation string   `json:"recommendation,omitempty"`
}

// Key is the condition's alert key: kind/hub[/subject], as
// classify.Signal.AlertKey gives it.
func (c *Condition) Key() string {
	s := classify.Signal{Kind: c.Kind, Key: event.Key{Hub: c.Hub, Device: c.Subject}}
	return s.AlertKey()
}

// Active is a condition whose episode is open.
type Active struct {
	Condition
	// Until is when the episode ends if the condition is not raised again
	// (last raised + Hold, moved in steps of a quarter of Hold so that a
	// condition raised every tick does not rewrite the state every tick).
	Until time.Time `json:"until,omitzero"`
}

// State is what the pipeline's own alerting remembers between ticks: the
// open episodes by alert key, the delivery record of each channel (for
// Failing) and the recent input of each hub (for Silent). The zero value is
// not usable; use NewState or Unmarshal. Not safe for concurrent use
// (Evaluate runs one at a time).
type State struct {
	Active   map[string]*Active   `json:"active"`
	Channels map[string]*Channel  `json:"channels,omitempty"`
	Hubs     map[string]*HubInput `json:"hubs,omitempty"`
	// dirty: Active or Channels changed (the blob should be written now);
	// inputs: Hubs changed (written with the next commit).
	dirty, inputs bool
}

// NewState returns an empty state.
func NewState() *State {
	return &State{Active: map[string]*Active{}, Channels: map[string]*Channel{}, Hubs: map[string]*HubInput{}}
}

// Unmarshal loads a state saved by Marshal.
func Unmarshal(data []byte) (*State, error) {
	st := NewState()
	if len(data) == 0 {
		return st, nil
	}
	if err := json.Unmarshal(data, st); err != nil {
		return nil, fmt.Errorf("watch: decode state: %w", err)
	}
	if st.Active == nil {
		st.Active = map[string]*Active{}
	}
	if st.Channels == nil {
		st.Channels = map[string]*Channel{}
	}
	if st.Hubs == nil {
		st.Hubs = map[string]*HubInput{}
	}
	return st, nil
}

// Marshal serializes the state for its blob.
func (st *State) Marshal() ([]byte, error) {
	b, err := json.Marshal(st)
	if err != nil {
		return nil, fmt.Errorf("watch: encode state: %w", err)
	}
	return b, nil
}

// Dirty reports whether the open episodes or the channels changed since
// ClearDirty: the caller saves the state in this tick. Inputs reports
// whether only the hubs' input records changed, which can wait for the
// next commit (they are rebuilt from re-read events after a crash).
func (st *State) Dirty() (alerts, inputs bool) { return st.dirty, st.inputs }

// ClearDirty forgets the changes after the caller saved them.
func (st *State) ClearDirty() { st.dirty, st.inputs = false, false }

// Conditions returns the open episodes, sorted by key (for the API).
func (st *State) Conditions() []Active {
	keys := make([]string, 0, len(st.Active))
	for k := range st.Active {
		keys = append(keys, k)
	}
	sort.Strings(keys)
	out := make([]Active, len(keys))
	for i, k := range keys {
		out[i] = *st.Active[k]
	}
	return out
}

// Reconcile turns the conditions raised in one tick into alert transitions
// (see the package comment) and updates st. now is the alert side's now
// (the wall clock in production). The signals are sorted by key.
func Reconcile(st *State, raised []Condition, now time.Time) []classify.Signal {
	var out []classify.Signal
	seen := make(map[string]bool, len(raised))
	for i := range raised {
		c := raised[i]
		key := c.Key()
		if seen[key] {
			continue // the first raise of a key in a tick wins
		}
		seen[key] = true
		until := now.Add(c.Hold)
		a := st.Active[key]
		if a == nil {
			if c.Since.IsZero() || c.Since.After(now) {
				c.Since = now
			}
			a = &Active{Condition: c, Until: until}
			st.Active[key] = a
			st.dirty = true
			out = append(out, signal(a, true, now))
			continue
		}
		if until.Sub(a.Until) > c.Hold/4 {
			a.Until = until
			st.dirty = true
		}
		if c.Summary != a.Summary || !slices.Equal(c.Evidence, a.Evidence) || c.Recommendation != a.Recommendation || c.Hold != a.Hold {
			a.Summary, a.Evidence, a.Recommendation, a.Hold = c.Summary, c.Evidence, c.Recommendation, c.Hold
			st.dirty = true
			out = append(out, signal(a, true, now))
		}
	}
	for key, a := range st.Active {
		if seen[key] || now.Before(a.Until) {
			continue
		}
		delete(st.Active, key)
		st.dirty = true
		out = append(out, signal(a, false, now))
	}
	sort.SliceStable(out, func(i, j int) bool { return out[i].AlertKey() < out[j].AlertKey() })
	return out
}

func signal(a *Active, firing bool, now time.Time) classify.Signal {
	return classify.Signal{Kind: a.Kind, Key: event.Key{Hub: a.Hub, Device: a.Subject}, Firing: firing,
		Since: a.Since, At: now, Summary: a.Summary, Evidence: slices.Clone(a.Evidence),
		Recommendation: a.Recommendation, Devices: 1}
}

// Adopt takes over the alert side's firing records of kinds this package
// does not know as active (records the state lost, e.g. after a crash
// between saving the alert state and saving this one), so that they are
// resolved when their condition is no longer raised instead of firing
// forever. firing lists those records: kind, hub, subject and since.
func Adopt(st *State, firing []Condition) {
	for _, c := range firing {
		if _, ok := st.Active[c.Key()]; ok {
			continue
		}
		st.Active[c.Key()] = &Active{Condition: c}
		st.dirty = true
	}
}
