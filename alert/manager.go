package alert

import (
	"sort"
	"time"

	"github.com/disconnect-doctor/disconnect-doctor/classify"
)

// Config tunes the Manager and the Dispatcher. Zero fields take the
// defaults of PRODUCT.md §4 (see New).
type Config struct {
	// RepeatInterval re-notifies a still-firing alert this often (4h).
	RepeatInterval time.Duration
	// StaleAfter: a notification due more than this before now is recorded
	// but not delivered (30m): a backlog being caught up.
	StaleAfter time.Duration
	// PublicBaseURL is where people reach the app; when set, notifications
	// carry a link to the API (never with a key in it).
	PublicBaseURL string
	// DeadAfter dead-letters an outbox item still failing this long after
	// it was created (24h).
	DeadAfter time.Duration
	// ResolveHold is the hysteresis window for device alerts (10m): a
	// device alert that clears is only notified as resolved once it has
	// stayed clear this long; if it fires again within the window the
	// episode simply continues, without resolved+firing noise. A negative
	// value disables the hold.
	ResolveHold time.Duration
	// GroupInterval (GROUP_INTERVAL, 5m) is how long a group of device
	// alerts (one kind on one hub) waits after a notification before its
	// next one, as Alertmanager's group_interval: what falls due meanwhile
	// — devices going offline minute after minute on a big hub, their
	// resolved, reminders — goes out together when the interval is over.
	// A group that has sent nothing for the interval notifies at once (a
	// single device on a small hub is not delayed). Hub incidents, site
	// outages and the pipeline's own alerts are never held. A negative
	// value disables it.
	GroupInterval time.Duration
}

// Manager is the alert state machine. It is pure: no I/O, no clock reads;
// time comes in as Apply's now. A Manager holds only configuration and is
// safe for concurrent use; the state it works on is the caller's State.
type Manager struct {
	cfg Config
}

// New returns a Manager with cfg's zero fields set to their defaults.
func New(cfg Config) *Manager {
	if cfg.RepeatInterval <= 0 {
		cfg.RepeatInterval = 4 * time.Hour
	}
	if cfg.StaleAfter <= 0 {
		cfg.StaleAfter = 30 * time.Minute
	}
	if cfg.DeadAfter <= 0 {
		cfg.DeadAfter = 24 * time.Hour
	}
	if cfg.ResolveHold == 0 {
		cfg.ResolveHold = 10 * time.Minute
	}
	if cfg.ResolveHold < 0 {
		cfg.ResolveHold = 0
	}
	if cfg.GroupInterval == 0 {
		cfg.GroupInterval = 5 * time.Minute
	}
	if cfg.GroupInterval < 0 {
		cfg.GroupInterval = 0
	}
	return &Manager{cfg: cfg}
}

// Config returns the effective configuration (defaults filled in).
func (m *Manager) Config() Config { return m.cfg }

// due is one alert that must go out in this Apply.
type due struct {
	r      *Record
	status string
	repeat int
	at     time.Time
	ends   time.Time
	// stale: fell due more than StaleAfter before now (set by markStale).
	stale bool
	// confirm: the firing that confirms a suspected hub incident.
	confirm bool
}

// Apply advances the state machine by the engine's transitions sigs and the
// passage of time up to now, and returns the notifications that fell due.
// The caller enqueues them (Dispatcher.Enqueue) before saving st, so a crash
// in between recomputes the same notifications with the same IDs.
//
// Apply is a pipeline of small stages, each with its own job (and test):
//
//	gate (which device groups wait for GroupInterval) → orderSignals →
//	transitions (fire, inhibit, hold, defer, resolve) → timers (held
//	resolves, reminders, deferred firings) → markStale → announce (drop the
//	resolved of an episode nobody was told about) → flushed (the groups
//	that notified start their interval) → batches (one per kind, hub,
//	status, reminder number, staleness; resolved alerts announced one by
//	one in chunks of maxResolvedListed) → notifications (a group of more than
//	MaxListed is one notification that lists MaxListed: see MaxListed)
//
// Firing and resolved alerts never share a notification (as in
// Alertmanager): a notification's status, title, device count and "since"
// are those of all its alerts.
func (m *Manager) Apply(st *State, sigs []classify.Signal, now time.Time) []Notification {
	g := gate{next: st.groups, now: now}
	ds := m.transitions(st, orderSignals(sigs), g)
	ds = m.timers(st, now, ds, g)
	ds = m.markStale(ds, now)
	ds = announce(ds)
	m.flushed(st, ds, now)
	return m.notifications(st, batches(ds))
}

// orderSignals returns sigs in event-time order; at equal times a hub
// incident's start comes before device signals and its end after them, so a
// device caught in an incident is held back even when both arrive in one
// batch.
func orderSignals(sigs []classify.Signal) []classify.Signal {
	ordered := make([]classify.Signal, len(sigs))
	copy(ordered, sigs)
	sort.SliceStable(ordered, func(i, j int) bool {
		a, b := &ordered[i], &ordered[j]
		if !a.At.Equal(b.At) {
			return a.At.Before(b.At)
		}
		return signalRank(a) < signalRank(b)
	})
	return ordered
}

// transitions applies the signals to the state, in order, and returns the
// alerts that fell due by them.
func (m *Manager) transitions(st *State, sigs []classify.Signal, g gate) []due {
	var out []due
	for i := range sigs {
		out = m.apply(st, &sigs[i], g, out)
	}
	return out
}

// timers adds what falls due by the passage of time (tick), once per key:
// keys already due in this Apply wait for the next one.
func (m *Manager) timers(st *State, now time.Time, out []due, g gate) []due {
	emitted := make(map[string]bool, len(out))
	for _, d := range out {
		emitted[d.r.Key] = true
	}
	return m.tick(st, now, emitted, g, out)
}

// markStale marks the alerts that fell due more than StaleAfter before now
// (a backlog being caught up): they are recorded, not delivered.
func (m *Manager) markStale(ds []due, now time.Time) []due {
	for i := range ds {
		ds[i].stale = now.Sub(ds[i].at) > m.cfg.StaleAfter
	}
	return ds
}

// announce records which episodes people were told about, and drops the
// resolved of the others: a fresh firing (first or reminder) announces its
// episode; a resolved goes out only for an announced episode (also one
// announced earlier in the same Apply). Telling people an alert they never
// received is over is noise.
func announce(ds []due) []due {
	announced := map[string]bool{}
	for _, d := range ds {
		if d.status == StatusFiring && !d.stale {
			d.r.Announced = true
			announced[d.r.Key] = true
		}
	}
	kept := ds[:0]
	for _, d := range ds {
		if d.status == StatusResolved && !d.r.Announced && !announced[d.r.Key] {
			continue // its firing was never delivered (stale backlog)
		}
		kept = append(kept, d)
	}
	return kept
}

func signalRank(s *classify.Signal) int {
	switch {
	case holds(s.Kind) && s.Firing:
		return 0
	case holds(s.Kind):
		return 2
	}
	return 1
}

// holds reports whether alerts of the kind hold their devices' alerts back:
// a hub incident, and a site outage (package site).
func holds(k classify.SignalKind) bool { return k == classify.HubIncident || k == classify.SiteOutage }

// inhibited reports whether a device signal is held back by its open hub
// incident's or site outage's firing alert.
func inhibited(st *State, s *classify.Signal) bool {
	if holds(s.Kind) || s.Incident == "" {
		return false
	}
	key := string(classify.HubIncident) + "/" + s.Key.Hub
	if s.Site != "" {
		key = string(classify.SiteOutage) + "/" + s.Key.Hub + "/" + s.Site
	}
	h := st.recs[key]
	return h != nil && h.Firing && h.Incident == s.Incident
}

func (m *Manager) apply(st *State, s *classify.Signal, g gate, out []due) []due {
	key := s.AlertKey()
	r := st.recs[key]
	if s.Firing {
		if r != nil && r.Firing && r.Suspected && !s.Suspected {
			return m.confirm(st, r, s, out)
		}
		if r != nil && r.Firing && s.Suspected && !r.Suspected {
			return out // the incident is known already; a suspicion adds nothing
		}
		if r != nil && r.Firing {
			// Already firing (a duplicate transition): refresh the details.
			r.update(s)
			st.touch(key)
			return out
		}
		if r != nil && !r.ResolveDue.IsZero() {
			if !s.At.After(r.ResolveDue) {
				// Hysteresis: fired again within the hold window; the
				// episode continues and the pending resolved is cancelled.
				r.Firing, r.ResolveDue, r.Ended = true, time.Time{}, time.Time{}
				r.update(s)
				st.touch(key)
				return out
			}
			// The hold had passed: the resolved goes out first.
			out = append(out, due{r: r.clone(), status: StatusResolved, repeat: r.Repeat, at: r.ResolveDue, ends: r.Ended})
		}
		r = newRecord(key, s)
		st.recs[key] = r
		st.touch(key)
		if inhibited(st, s) {
			r.Held = true
			return out
		}
		r.LastDue = s.At
		if g.waits(r) {
			r.Deferred = true // notified with its group when the interval is over (tick)
			return out
		}
		r.Notified = true
		return append(out, due{r: r, status: StatusFiring, at: s.At})
	}

	// The condition ended.
	if r == nil || !r.Firing {
		return out // unknown or already ended: nothing to say
	}
	if s.Suspected && !r.Suspected {
		return out // a withdrawn suspicion never ends a confirmed incident
	}
	r.update(s)
	r.Firing, r.Ended = false, s.At
	st.touch(key)
	if r.Held || !r.Notified {
		// Held back by an incident and over before anyone was told.
		st.remove(key)
	} else if r.Kind.AboutDevice() && r.Device != "" && (m.cfg.ResolveHold > 0 || g.waits(r)) {
		r.ResolveDue = s.At.Add(m.cfg.ResolveHold)
	} else {
		out = append(out, due{r: r.clone(), status: StatusResolved, repeat: r.Repeat, at: s.At, ends: s.At})
		st.remove(key)
	}
	if holds(r.Kind) {
		out = m.release(st, r.Incident, s.At, g, out)
	}
	return out
}

// confirm turns a suspected hub incident into the engine's confirmed one:
// the same alert key and episode (Since, reminder schedule), the engine's
// details (cause, evidence, incident ID for inhibition), and one
// notification saying it is confirmed — if the suspicion was notified;
// otherwise the episode simply continues as the engine's.
func (m *Manager) confirm(st *State, r *Record, s *classify.Signal, out []due) []due {
	r.Suspected = false
	r.update(s)
	st.touch(r.Key)
	if !r.Notified || r.Held {
		return out
	}
	return append(out, due{r: r, status: StatusFiring, at: maxTime(s.At, r.Since), confirm: true})
}

// release notifies the device alerts held back by incident now that it is
// over: those still firing are judged on their own from here on.
func (m *Manager) release(st *State, incident string, at time.Time, g gate, out []due) []due {
	for _, key := range st.sortedKeys() {
		r := st.recs[key]
		if !r.Held || r.Incident != incident {
			continue
		}
		r.Held = false
		st.touch(key)
		if !r.Firing {
			continue
		}
		r.LastDue = maxTime(at, r.Since)
		if g.waits(r) {
			r.Deferred = true
			continue
		}
		r.Notified = true
		out = append(out, due{r: r, status: StatusFiring, at: r.LastDue})
	}
	return out
}

// tick emits what falls due by the passage of time: first firings their
// group's interval deferred, pending resolved notifications whose hold is
// over, and reminders. Keys already notified in this Apply, and groups
// still inside their interval, wait for a later one.
func (m *Manager) tick(st *State, now time.Time, emitted map[string]bool, g gate, out []due) []due {
	for _, key := range st.sortedKeys() {
		r := st.recs[key]
		if emitted[key] || g.waits(r) {
			continue // one notification per key and Apply; a group in its interval waits
		}
		switch {
		case r.Deferred && r.Firing && !r.Held:
			// A first firing its group's interval held back.
			r.Deferred, r.Notified = false, true
			st.touch(key)
			out = append(out, due{r: r, status: StatusFiring, at: r.LastDue})
		case !r.ResolveDue.IsZero() && !now.Before(r.ResolveDue):
			out = append(out, due{r: r.clone(), status: StatusResolved, repeat: r.Repeat, at: r.ResolveDue, ends: r.Ended})
			st.remove(key)
		case r.Firing && r.Notified && !r.Held:
			next := r.LastDue.Add(m.cfg.RepeatInterval)
			if now.Before(next) {
				continue
			}
			// Skip reminders missed while nothing ran: one reminder, for
			// the latest boundary, numbered as if all had been sent.
			n := int(now.Sub(r.LastDue) / m.cfg.RepeatInterval)
			r.Repeat += n
			r.LastDue = r.LastDue.Add(time.Duration(n) * m.cfg.RepeatInterval)
			st.touch(key)
			out = append(out, due{r: r, status: StatusFiring, repeat: r.Repeat, at: r.LastDue})
		}
	}
	return out
}

// MaxListed bounds the alerts one notification lists in full. A group of
// more alerts (thousands of devices released at once after a hub incident,
// or a reminder that they are still away) is still one notification: it
// lists the first MaxListed alerts by key and counts the rest
// (Notification.TruncatedAlerts), so that a notification, its outbox item
// and every message rendered from it weigh the same for 21 devices as for
// 100 000 — never thousands of notifications, never a card over Teams'
// limit, never an outbox row carrying every device id.
const MaxListed = 20

// maxResolvedListed bounds a resolved notification of alerts announced one
// by one (not grouped): it lists each of them, so that a receiver that
// opened one page per alert (PagerDuty) can close each, and a larger
// number of them resolving together is split into several notifications.
// Each was announced in a notification of at most MaxListed, so these stay
// proportional to the notifications already sent.
const maxResolvedListed = 100

// batchID is what the alerts of one notification share.
type batchID struct {
	kind   classify.SignalKind
	hub    string
	stale  bool
	status string
	// repeat is the reminder number of firing alerts (0: first firing);
	// always 0 for resolved ones.
	repeat int
	// grouped (resolved only): the alerts' episodes were announced as a
	// group (Record.Grouped). Their resolved goes apart from those of
	// alerts announced one by one, which are listed in full (chunks of
	// maxResolvedListed) so that a receiver that opened one page per alert
	// (PagerDuty) can close each.
	grouped bool
}

// batch is the alerts of one notification.
type batch struct {
	id     batchID
	alerts []due
}

// batches groups due alerts into notifications: one per kind, hub,
// staleness, status and reminder number (resolved alerts announced one by
// one are split into chunks of maxResolvedListed), in a deterministic order: by hub
// and kind, stale before fresh, resolved before firing (a resolved and a
// firing of the same key in one Apply are an old episode's end and a new
// one's start), first firings before reminders; alerts by key within a
// batch.
func batches(ds []due) []batch {
	groups := map[batchID][]due{}
	var order []batchID
	for _, d := range ds {
		id := batchID{kind: d.r.Kind, hub: d.r.Hub, stale: d.stale, status: d.status}
		if d.status == StatusFiring {
			id.repeat = d.repeat
		} else {
			id.grouped = d.r.Grouped
		}
		if _, ok := groups[id]; !ok {
			order = append(order, id)
		}
		groups[id] = append(groups[id], d)
	}
	sort.Slice(order, func(i, j int) bool {
		a, b := order[i], order[j]
		switch {
		case a.hub != b.hub:
			return a.hub < b.hub
		case holds(a.kind) != holds(b.kind):
			// A hub's incident (or site outage) before its device alerts:
			// its start comes before the devices it does not hold back,
			// its end before the devices it releases.
			return holds(a.kind)
		case a.kind != b.kind:
			return a.kind < b.kind
		case a.stale != b.stale:
			return a.stale
		case a.status != b.status:
			return a.status == StatusResolved
		case a.grouped != b.grouped:
			return b.grouped
		}
		return a.repeat < b.repeat
	})
	var out []batch
	for _, id := range order {
		members := groups[id]
		sort.SliceStable(members, func(i, j int) bool { return members[i].r.Key < members[j].r.Key })
		if id.status == StatusFiring || id.grouped {
			out = append(out, batch{id: id, alerts: members})
			continue
		}
		for len(members) > 0 {
			chunk := members[:min(len(members), maxResolvedListed)]
			members = members[len(chunk):]
			out = append(out, batch{id: id, alerts: chunk})
		}
	}
	return out
}

// group marks the episodes announced by a first firing of more than
// MaxListed alerts as announced in a group (Record.Grouped), so that their
// resolved goes out grouped too, and returns, per kind and hub, how many
// alerts announced in a group are still live after this Apply (for the
// resolved of a group: "1 200 back, 11 114 still offline").
func group(st *State, bs []batch) map[string]int {
	grouped := false
	for _, b := range bs {
		if b.id.status == StatusFiring && b.id.repeat == 0 && len(b.alerts) > MaxListed {
			for _, d := range b.alerts {
				if !d.r.Grouped {
					d.r.Grouped = true
					st.touch(d.r.Key)
				}
			}
		}
		grouped = grouped || (b.id.status == StatusResolved && b.id.grouped)
	}
	if !grouped {
		return nil
	}
	live := map[string]int{}
	for _, r := range st.recs {
		if r.Grouped {
			live[string(r.Kind)+"/"+r.Hub]++
		}
	}
	return live
}

// notifications renders each batch as a Notification with its identity and
// links. A notification carries every alert of its batch; the outbox keeps
// only the first MaxListed of a larger one (EncodePayload), after the
// silence stage has seen them all.
func (m *Manager) notifications(st *State, bs []batch) []Notification {
	live := group(st, bs)
	ns := make([]Notification, 0, len(bs))
	for _, b := range bs {
		n := Notification{Version: Version, GroupKey: string(b.id.kind) + "/" + b.id.hub, Status: b.id.status,
			Repeat: b.id.repeat, Kind: b.id.kind, Hub: b.id.hub, Stale: b.id.stale,
			Alerts: make([]Alert, 0, len(b.alerts))}
		for _, d := range b.alerts {
			if d.at.After(n.Due) {
				n.Due = d.at
			}
			a := d.r.alert(d.status, d.repeat, d.ends)
			a.Confirmed = d.confirm
			n.Alerts = append(n.Alerts, a)
		}
		n.Grouped = b.id.grouped || (b.id.status == StatusFiring && len(b.alerts) > MaxListed)
		if n.Grouped && n.Status == StatusResolved {
			n.StillFiring = live[n.GroupKey]
		}
		n.Incident = sharedIncident(b.alerts)
		m.identify(&n)
		ns = append(ns, n)
	}
	return ns
}

// identify sets what follows from a notification's alerts: its ID and
// links.
func (m *Manager) identify(n *Notification) {
	n.NotificationID = notificationID(n.GroupKey, n.Status, n.Alerts)
	n.Link = link(m.cfg.PublicBaseURL, n.Kind, n.Hub, n.Alerts)
	n.List = ""
	if n.Grouped && len(n.Alerts) > MaxListed {
		n.List = listLink(m.cfg.PublicBaseURL, n)
	}
}

// sharedIncident returns the hub incident every device alert of the batch
// was caught in ("" when they were not, or not all in the same one): the
// devices an incident held back and released.
func sharedIncident(ds []due) string {
	if len(ds) == 0 || !ds[0].r.Kind.AboutDevice() {
		return ""
	}
	inc := ds[0].r.Incident
	for _, d := range ds[1:] {
		if d.r.Incident != inc {
			return ""
		}
	}
	return inc
}

func maxTime(a, b time.Time) time.Time {
	if a.After(b) {
		return a
	}
	return b
}
