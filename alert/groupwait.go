package alert

import (
	"encoding/json"
	"fmt"
	"time"

	"github.com/disconnect-doctor/disconnect-doctor/classify"
)

// Group intervals (Config.GroupInterval), after Alertmanager's
// group_interval: a group of device alerts — one kind on one hub, the
// notification's groupKey — that has just notified waits GroupInterval
// before it notifies again, and what fell due meanwhile goes out together.
// At 100 000 devices a hub has a device going offline nearly every minute;
// without the interval that is a notification a minute (and a PagerDuty
// event each), with it one per interval. A group quiet for the interval
// notifies at once, so the first device alert of a small hub is not
// delayed (Alertmanager's group_wait: none here, the engine's verdicts
// already wait for the watermark).
//
// What waits is kept on the alert records, so nothing is lost across
// ticks, restarts or a change of lease holder: a first firing is marked
// Deferred (not Notified: a device back before its group's next
// notification is never notified, as a hold-back), a resolved keeps its
// ResolveDue, a reminder stays due. The groups' next times are one blob,
// groupsKey, bounded by the groups that notified within the interval.

// groupsKey is the alert blob holding the groups' next times. Alert keys
// start with their kind, so it cannot be one.
const groupsKey = "~groups"

// gate says which groups wait for their interval in one Apply.
type gate struct {
	next map[string]time.Time
	now  time.Time
}

// waits reports whether r's group is inside its interval: r's
// notifications wait for the group's next one.
func (g gate) waits(r *Record) bool {
	if !r.Kind.AboutDevice() {
		return false
	}
	next, ok := g.next[groupOf(r.Kind, r.Hub)]
	return ok && g.now.Before(next)
}

// groupOf is a group's key: the notification's groupKey.
func groupOf(kind classify.SignalKind, hub string) string { return string(kind) + "/" + hub }

// flushed starts the interval of every device group that notified in this
// Apply (a stale notification is recorded, not sent, and does not count),
// and forgets groups whose interval is over.
func (m *Manager) flushed(st *State, ds []due, now time.Time) {
	for g, next := range st.groups {
		if !now.Before(next) {
			delete(st.groups, g)
			st.touch(groupsKey)
		}
	}
	if m.cfg.GroupInterval <= 0 {
		return
	}
	for _, d := range ds {
		if d.stale || !d.r.Kind.AboutDevice() {
			continue
		}
		if st.groups == nil {
			st.groups = map[string]time.Time{}
		}
		st.groups[groupOf(d.r.Kind, d.r.Hub)] = now.Add(m.cfg.GroupInterval)
		st.touch(groupsKey)
	}
}

// groupsDoc is the groupsKey blob.
type groupsDoc struct {
	Next map[string]time.Time `json:"next"`
}

func (s *State) unmarshalGroups(data []byte) error {
	var d groupsDoc
	if err := json.Unmarshal(data, &d); err != nil {
		return fmt.Errorf("alert: load state %s: %w", groupsKey, err)
	}
	s.groups = d.Next
	return nil
}

func (s *State) marshalGroups() ([]byte, bool, error) {
	if len(s.groups) == 0 {
		return nil, false, nil
	}
	data, err := json.Marshal(groupsDoc{Next: s.groups})
	if err != nil {
		return nil, false, fmt.Errorf("alert: save state %s: %w", groupsKey, err)
	}
	return data, true, nil
}
