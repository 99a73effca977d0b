package alert

import (
	"encoding/json"
	"fmt"
	"sort"
	"time"

	"github.com/disconnect-doctor/disconnect-doctor/classify"
	"github.com/disconnect-doctor/disconnect-doctor/event"
)

// Record is the state of one alert key: the current episode of the
// condition and what has been notified about it. Records of episodes that
// are over and notified are removed, so the state holds only live alerts.
type Record struct {
	Key    string              `json:"key"`
	Kind   classify.SignalKind `json:"kind"`
	Hub    string              `json:"hub"`
	Device string              `json:"device,omitempty"`
	Module string              `json:"module,omitempty"`
	// Firing is the condition as the engine last reported it.
	Firing bool `json:"firing"`
	// Since is the event time the episode began; Ended when it cleared.
	Since time.Time `json:"since"`
	Ended time.Time `json:"ended,omitzero"`
	// Incident is the hub incident a device alert was caught in, or a hub
	// incident's own ID.
	Incident       string   `json:"incident,omitempty"`
	Summary        string   `json:"summary,omitempty"`
	Evidence       []string `json:"evidence,omitempty"`
	Recommendation string   `json:"recommendation,omitempty"`
	Devices        int      `json:"devices"`
	// EventGridDevices is the Devices a hub incident's suspicion was raised
	// with, kept when the engine confirms it (Alert.EventGridDevices).
	EventGridDevices int `json:"eventGridDevices,omitempty"`
	// Suspected: a hub incident raised early from Event Grid and not yet
	// confirmed by the engine (see classify.Signal.Suspected).
	Suspected bool `json:"suspected,omitempty"`
	// Held: inhibited by the open incident; nothing notified yet.
	Held bool `json:"held,omitempty"`
	// Deferred: the episode's first firing waits for its group's interval
	// (Config.GroupInterval); LastDue is when it fell due.
	Deferred bool `json:"deferred,omitempty"`
	// Notified: the episode's firing notification has gone out (or was
	// recorded as stale).
	Notified bool `json:"notified,omitempty"`
	// Announced: a firing notification of the episode (the first, or a
	// reminder) was fresh enough to be delivered. Only an announced episode
	// gets a resolved notification: telling people an alert they never
	// received is over is noise.
	Announced bool `json:"announced,omitempty"`
	// Grouped: the episode was announced in a group of more than
	// MaxListed alerts (a release after a hub incident): its resolved goes
	// out with the group's, and receivers that page (PagerDuty) paged the
	// group, not the alert.
	Grouped bool `json:"grouped,omitempty"`
	// Repeat is the number of the last reminder (0: only the first firing).
	Repeat int `json:"repeat"`
	// LastDue is when the last firing notification fell due.
	LastDue time.Time `json:"lastDue,omitzero"`
	// ResolveDue is when a held-back resolved notification goes out
	// (hysteresis); zero when none is pending.
	ResolveDue time.Time `json:"resolveDue,omitzero"`
	// SilencedBy is the ID of the active silence that silences the alert
	// now ("" when none does); Muted: the episode's firing was silenced
	// and has not been sent (see silence.go).
	SilencedBy string `json:"silencedBy,omitempty"`
	Muted      bool   `json:"muted,omitempty"` // Site: the network of the site outage (package site) holding a device
	// alert back, or a site outage's own network; "" otherwise.
	Site string `json:"site,omitempty"`
}

func newRecord(key string, s *classify.Signal) *Record {
	r := &Record{Key: key, Kind: s.Kind, Hub: s.Key.Hub, Device: s.Key.Device, Module: s.Key.Module,
		Firing: true, Since: s.Since, Incident: s.Incident, Suspected: s.Suspected, Site: s.Site}
	if s.Suspected {
		r.EventGridDevices = s.Devices
	}
	if r.Since.IsZero() {
		r.Since = s.At
	}
	r.update(s)
	return r
}

// update takes the descriptive fields of a signal that carries them.
func (r *Record) update(s *classify.Signal) {
	if s.Summary != "" {
		r.Summary = s.Summary
	}
	if len(s.Evidence) > 0 {
		r.Evidence = append([]string(nil), s.Evidence...)
	}
	if s.Recommendation != "" {
		r.Recommendation = s.Recommendation
	}
	if s.Devices > 0 {
		r.Devices = s.Devices
	}
	if s.Incident != "" && s.Firing {
		r.Incident = s.Incident
	}
}

func (r *Record) clone() *Record {
	c := *r
	c.Evidence = append([]string(nil), r.Evidence...)
	return &c
}

// alert renders the record as a notification's alert.
func (r *Record) alert(status string, repeat int, ends time.Time) Alert {
	a := Alert{Key: r.Key, Kind: string(r.Kind), Status: status, Severity: r.Kind.Severity(), Hub: r.Hub,
		DeviceID: r.Device, Module: r.Module, StartsAt: formatTime(r.Since), Summary: r.Summary,
		Evidence: append([]string{}, r.Evidence...), Recommendation: r.Recommendation, Devices: max(r.Devices, 1),
		Repeat: repeat, Suspected: r.Suspected}
	if !r.Kind.AboutDevice() {
		a.DeviceID, a.Subject = "", r.Device
	}
	if status == StatusResolved {
		a.EndsAt = formatTime(ends)
	}
	if r.Kind == classify.HubIncident {
		r.countDevices(&a)
	}
	return a
}

// countDevices says what a hub incident's device count counts
// (Alert.DevicesCounted) and, once a suspected incident is confirmed, sets
// Event Grid's count beside the engine's, with a line of evidence relating
// the two.
func (r *Record) countDevices(a *Alert) {
	switch {
	case r.Suspected:
		a.DevicesCounted = CountedEventGrid
		return
	case a.Status == StatusResolved:
		a.DevicesCounted = CountedTotal
	default:
		a.DevicesCounted = CountedSoFar
	}
	if r.EventGridDevices <= 0 {
		return
	}
	a.EventGridDevices = r.EventGridDevices
	line := fmt.Sprintf("Event Grid saw %d devices disconnect when this incident was suspected; ", r.EventGridDevices)
	if a.DevicesCounted == CountedTotal {
		line += fmt.Sprintf("%d were affected in total", a.Devices)
	} else {
		line += fmt.Sprintf("the resource logs, 3–10 minutes behind it, show %d so far", a.Devices)
	}
	a.Evidence = append(a.Evidence, line)
}

// State is the alert side's persistent state: one Record per alert key. The
// caller loads it from store.AlertBlobs (Unmarshal per blob), passes it to
// Manager.Apply, and writes back the keys Dirty lists (Marshal; a key whose
// record is gone is deleted). State is not safe for concurrent use; Evaluate
// runs one at a time under a lease.
type State struct {
	recs  map[string]*Record
	dirty map[string]bool
	// groups is when each device group inside its GroupInterval may
	// notify next (groupwait.go), stored as the blob groupsKey.
	groups map[string]time.Time
}

// NewState returns an empty state.
func NewState() *State {
	return &State{recs: map[string]*Record{}, dirty: map[string]bool{}}
}

func (s *State) touch(key string)  { s.dirty[key] = true }
func (s *State) remove(key string) { delete(s.recs, key); s.dirty[key] = true }

func (s *State) sortedKeys() []string {
	keys := make([]string, 0, len(s.recs))
	for k := range s.recs {
		keys = append(keys, k)
	}
	sort.Strings(keys)
	return keys
}

// Unmarshal loads one alert key's record from a blob.
func (s *State) Unmarshal(key string, data []byte) error {
	if key == groupsKey {
		return s.unmarshalGroups(data)
	}
	var r Record
	if err := json.Unmarshal(data, &r); err != nil {
		return fmt.Errorf("alert: load state %s: %w", key, err)
	}
	if r.Key != key {
		return fmt.Errorf("alert: load state %s: blob holds key %q", key, r.Key)
	}
	s.recs[key] = &r
	return nil
}

// Marshal serializes one key's record for its blob. ok is false when the key
// has no record (its alert is over): the caller deletes the blob.
func (s *State) Marshal(key string) (data []byte, ok bool, err error) {
	if key == groupsKey {
		return s.marshalGroups()
	}
	r := s.recs[key]
	if r == nil {
		return nil, false, nil
	}
	data, err = json.Marshal(r)
	if err != nil {
		return nil, false, fmt.Errorf("alert: save state %s: %w", key, err)
	}
	return data, true, nil
}

// Dirty returns the keys changed since the state was loaded or since
// ClearDirty, sorted.
func (s *State) Dirty() []string {
	keys := make([]string, 0, len(s.dirty))
	for k := range s.dirty {
		keys = append(keys, k)
	}
	sort.Strings(keys)
	return keys
}

// ClearDirty forgets the changes after the caller saved them.
func (s *State) ClearDirty() { clear(s.dirty) }

// Orphans returns a resolving signal at at for every firing device alert
// whose identity tracked says the engine no longer holds: the engine
// resolves the alerts of the devices it drops, but versions before it did
// not, and their records would otherwise keep firing (and reminding) for
// good. Pass the engine's State.Tracks after its Tick; alerts of other kinds
// (a hub's, the product's own) are not about a tracked identity and are left
// alone.
func (s *State) Orphans(tracked func(event.Key) bool, at time.Time) []classify.Signal {
	var out []classify.Signal
	for _, key := range s.sortedKeys() {
		r := s.recs[key]
		if !r.Firing || r.Device == "" || !r.Kind.AboutDevice() {
			continue
		}
		k := event.Key{Hub: r.Hub, Device: r.Device, Module: r.Module}
		if tracked(k) {
			continue
		}
		out = append(out, classify.Signal{Kind: r.Kind, Key: k, Since: r.Since, At: maxTime(at, r.Since), Devices: 1,
			Summary:  k.String() + " is no longer tracked: no record within RETENTION, or the device was deleted",
			Evidence: []string{"the engine holds no state for this identity any more; a record from it starts tracking it again"}})
	}
	return out
}

// Get returns a copy of one key's record (for the API: a device's current
// alert states).
func (s *State) Get(key string) (Record, bool) {
	r := s.recs[key]
	if r == nil {
		return Record{}, false
	}
	return *r.clone(), true
}

// Records returns copies of all records, sorted by key.
func (s *State) Records() []Record {
	out := make([]Record, 0, len(s.recs))
	for _, k := range s.sortedKeys() {
		out = append(out, *s.recs[k].clone())
	}
	return out
}
