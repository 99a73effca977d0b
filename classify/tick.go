package classify

import (
	"fmt"
	"slices"
	"strings"
	"time"

	"github.com/disconnect-doctor/disconnect-doctor/event"
)

// Output is what one Tick changed: diagnoses to upsert (keyed by EventID),
// incidents to upsert (keyed by ID), alert transitions, and devices the
// engine stopped tracking (DeviceDeleted) whose blobs the caller deletes.
type Output struct {
	Diagnoses []Diagnosis
	Incidents []Incident
	Signals   []Signal
	Removed   []event.Key
}

// Tick advances the engine to watermark: it finalizes every 404104 at t with
// t + ReconnectGrace ≤ watermark, re-evaluates final verdicts that evidence
// ingested since changed (a revision), opens hub incidents from everything
// ingested (they do not wait for the watermark) and closes them once the
// watermark has passed enough quiet minutes, and returns what changed. The
// watermark must not go backwards between calls on one State.
func (e *Engine) Tick(st *State, watermark time.Time) Output {
	w := watermark.Unix()
	var out Output
	touched := e.syncTouched(st)
	hubs := st.hubNames()
	eval := e.dueDevices(st, hubs, touched, w)
	for _, k := range eval {
		d := st.devices[k]
		if d == nil {
			continue
		}
		h := st.hub(k.Hub)
		e.evalDevice(st, h, d, w, &out)
		e.syncBuckets(st, h, d)
		if d.deleted != 0 && d.deleted <= w && !d.hasPending() {
			e.remove(st, h, d, &out)
		}
	}
	for _, n := range hubs {
		e.rejudgeEarly(st, st.hubs[n], w, &out)
		e.sealHub(st, st.hubs[n], w, &out)
	}
	st.clearTouched()
	sortOutput(&out)
	return out
}

// syncTouched brings the hub minute counts up to date with the devices
// Ingest touched, so that incidents are judged on every record in; it
// returns those devices, sorted.
func (e *Engine) syncTouched(st *State) []event.Key {
	touched := make([]event.Key, 0, len(st.touched))
	for k := range st.touched {
		if _, ok := st.devices[k]; ok {
			touched = append(touched, k)
		}
	}
	sortKeys(touched)
	for _, k := range touched {
		e.syncBuckets(st, st.hub(k.Hub), st.devices[k])
	}
	return touched
}

// hubNames returns the tracked hubs' names, sorted.
func (s *State) hubNames() []string {
	hubs := make([]string, 0, len(s.hubs))
	for n := range s.hubs {
		hubs = append(hubs, n)
	}
	slices.Sort(hubs)
	return hubs
}

// dueDevices updates every hub's incidents and returns, sorted, the
// devices this Tick judges: those touched by Ingest, those with a 404104
// in the minutes an incident change affects, and those whose own deadline
// (device.due) the watermark w has passed.
func (e *Engine) dueDevices(st *State, hubs []string, touched []event.Key, w int64) []event.Key {
	eval := make(map[event.Key]struct{}, len(touched))
	for _, k := range touched {
		eval[k] = struct{}{}
	}
	for _, n := range hubs {
		h := st.hubs[n]
		if spans := e.updateIncidents(h, w); len(spans) > 0 {
			// an incident opened, moved or closed: its devices are judged
			// again. The hub keeps counts, not members, so they are found
			// on their own timelines (rare: a few times per incident).
			for k, d := range st.devices {
				if k.Hub == n && d.has404In(spans, h.closed) {
					eval[k] = struct{}{}
				}
			}
		}
	}
	// devices with a deadline passed (d.due): one pass over the devices
	// rather than a second map keyed by device, which would cost every
	// device ~70 resident bytes to save a scan of microseconds
	for k, d := range st.devices {
		if d.due != 0 && d.due <= w {
			eval[k] = struct{}{}
		}
	}
	keys := make([]event.Key, 0, len(eval))
	for k := range eval {
		keys = append(keys, k)
	}
	sortKeys(keys)
	return keys
}

// sealHub folds the minutes the watermark passed into hub h's baseline and
// emits its incidents' changes and their firing and resolved signals, once
// each.
func (e *Engine) sealHub(st *State, h *hub, w int64, out *Output) {
	sealed, closed := h.sealed, h.closed
	e.seal(h, w)
	if h.sealed != sealed || h.closed != closed {
		st.markHub(h)
	}
	for _, in := range h.inc {
		if fp := in.fingerprint(); fp != in.emitted {
			in.emitted = fp
			out.Incidents = append(out.Incidents, in.toIncident(h.name, in.start))
			st.markHub(h)
		}
		if !in.sigFired {
			in.sigFired = true
			out.Signals = append(out.Signals, e.incidentSignal(h, in, true))
			st.markHub(h)
		}
		if !in.open && !in.sigClosed {
			in.sigClosed = true
			out.Signals = append(out.Signals, e.incidentSignal(h, in, false))
			st.markHub(h)
		}
	}
}

// clearTouched empties Ingest's work list after a Tick.
func (s *State) clearTouched() {
	for k := range s.touched {
		if d := s.devices[k]; d != nil {
			d.inTouched = false
		}
	}
	s.touched = emptied(s.touched)
}

// sortOutput orders a Tick's output deterministically: diagnoses by time,
// device and record ID; signals by time, kind and device.
func sortOutput(out *Output) {
	slices.SortStableFunc(out.Diagnoses, func(a, b Diagnosis) int {
		if c := a.Time.Compare(b.Time); c != 0 {
			return c
		}
		if keyLess(a.Key, b.Key) {
			return -1
		}
		if keyLess(b.Key, a.Key) {
			return 1
		}
		return idCompare(a.EventID, b.EventID)
	})
	slices.SortStableFunc(out.Signals, func(a, b Signal) int {
		if c := a.At.Compare(b.At); c != 0 {
			return c
		}
		if a.Kind != b.Kind {
			return strings.Compare(string(a.Kind), string(b.Kind))
		}
		if keyLess(a.Key, b.Key) {
			return -1
		}
		if keyLess(b.Key, a.Key) {
			return 1
		}
		return 0
	})
}

func (d *device) hasPending() bool {
	for i := range d.entries {
		if d.entries[i].is404104() && d.entries[i].flags&fFinal == 0 {
			return true
		}
	}
	return false
}

// evalDevice decides due 404104s, revises final ones whose evidence changed,
// and updates the device's alert conditions.
func (e *Engine) evalDevice(st *State, h *hub, d *device, w int64, out *Output) {
	lent := st.holdAlerts(d)
	defer st.releaseAlerts(d, lent)
	changed := false
	for i := range d.entries {
		ent := &d.entries[i]
		if !ent.is404104() {
			continue
		}
		final := ent.flags&fFinal != 0
		if e.pending(ent, w) {
			if ent.flags&fAnnounced == 0 {
				ent.flags |= fAnnounced
				changed = true
				out.Diagnoses = append(out.Diagnoses, Diagnosis{Key: d.key, Time: unix(ent.t), EventID: ent.id, Cause: Pending})
			}
			continue
		}
		if final && e.frozen(d, ent, w) {
			continue
		}
		v, ok := e.keepRevision(d, ent, e.decide(d, h, i, ent.t))
		if !ok {
			continue
		}
		fp := v.fingerprint()
		causeChanged := final && v.cause != ent.cause
		switch {
		case !final:
			ent.flags |= fFinal | fAnnounced
			if h.cuts.learn(&v) {
				ent.flags |= fUnlogged
			}
			st.markHub(h)
		case v.cause != ent.cause:
			if ent.rev < 255 {
				ent.rev++
			}
		case fp != ent.fp:
			// same cause, new evidence: re-emit without counting a revision
		default:
			continue
		}
		if ent.flags&fUnlogged != 0 && v.backed {
			ent.flags &^= fUnlogged
			h.cuts.relog(&v)
			st.markHub(h)
		}
		ent.cause, ent.fp, ent.conf = v.cause, fp, uint8(v.confidence*100+0.5)
		if ent.flags &^= fBacked; v.backed {
			ent.flags |= fBacked
		}
		changed = true
		diag := Diagnosis{
			Key: d.key, Time: unix(ent.t), EventID: ent.id, Cause: v.cause.cause(), Final: true,
			Confidence: v.confidence, Evidence: v.evidence, Recommendation: v.rec, Revisions: int(ent.rev),
		}
		if v.incident != nil {
			diag.Incident = incidentID(h.name, v.incident.idStart)
		}
		out.Diagnoses = append(out.Diagnoses, diag)
		d.recordSample(i, &v, h)
		if !final && v.backed {
			if a, b, ok := d.backedPair(ent.t); ok {
				h.delays.pair(a, b)
			}
		}
		d.recordFlap(ent.t, ent.cause, ent.flags&(fRetro|fUnprior) != 0)
		if (!final || causeChanged) && (v.cause == ccTokenExpiry || v.cause == ccRenewalFailed) && (v.backed || v.onPeriod) {
			e.reviseEarlier(d, h, i, out)
		}
	}
	if e.evalSignals(h, d, w, out) {
		changed = true
	}
	if e.prune(d, w, h.first) {
		changed = true
	}
	if due := e.nextDue(d, w); due != d.due {
		d.due = due
		changed = true
	}
	if changed {
		st.markDev(d)
	}
}

// pending is the rule for a 404104 not yet decided (PRODUCT.md §5
// "pending"): until the watermark passes t + ReconnectGrace, the reconnect
// that supports or weighs against every other rule may still arrive, and so
// may evidence up to ALLOWED_LATENESS late.
func (e *Engine) pending(ent *entry, w int64) bool {
	return ent.flags&fFinal == 0 && ent.t+e.grace > w
}

// frozen reports whether a final verdict is no longer re-judged: its
// evidence (the 401003 beside it, its reconnect) may have been pruned from
// the timeline, or it is older than the revision horizon.
func (e *Engine) frozen(d *device, ent *entry, w int64) bool {
	return ent.t-besideBefore-e.grace < d.floor || ent.t < w-e.revHorizon
}

// keepRevision keeps a verdict that reviseEarlier revised (fRetro, fUnprior)
// rendered from its sample while the rules still give the cause it was
// revised from: the revision rests on a period learned later, which decide
// does not see. When the device's own new evidence decides otherwise, the
// rules' verdict v stands and the revision mark goes. ok is false when the
// revision's sample is gone (nothing to re-render: the verdict stays as
// emitted).
func (e *Engine) keepRevision(d *device, ent *entry, v verdict) (verdict, bool) {
	if ent.flags&fFinal == 0 {
		return v, true
	}
	if ent.flags&fRetro != 0 {
		if v.cause != ccDeviceOrNetwork {
			ent.flags &^= fRetro // new evidence of its own decides now
		} else if si := d.sampleAt(ent.t); si >= 0 && d.samples[si].retroIn != 0 {
			v = retroVerdict(&d.samples[si], e.grace)
		} else {
			return v, false // revised by a period learned later; its sample is gone
		}
	}
	if ent.flags&fUnprior != 0 {
		if !v.prior {
			ent.flags &^= fUnprior // new evidence of its own decides now
		} else if si := d.sampleAt(ent.t); si >= 0 && d.samples[si].retroIn != 0 && d.samples[si].prior() {
			v = unpriorVerdict(&d.samples[si], e.grace)
		} else {
			return v, false // revised by a period learned later; its sample is gone
		}
	}
	return v, true
}

func unix(t int64) time.Time { return time.Unix(t, 0).UTC() }

const maxT = int64(1) << 62

// nextDue is the earliest watermark at which the device needs a Tick
// without new evidence: a pending 404104's grace end, the offline deadline,
// the flapping reset. 0 when nothing is scheduled.
func (e *Engine) nextDue(d *device, w int64) int64 {
	var due int64
	take := func(t int64) {
		if due == 0 || t < due {
			due = t
		}
	}
	for i := range d.entries {
		x := &d.entries[i]
		if x.is404104() && x.flags&fFinal == 0 {
			take(x.t + e.grace)
		}
	}
	if d.deleted != 0 {
		if d.deleted > w {
			take(d.deleted) // resolve its alerts and stop tracking it then
		}
		return due
	}
	if !d.offline.firing {
		for i := range d.entries {
			x := &d.entries[i]
			if x.is404104() && x.flags&fFinal != 0 && offlineEligible(x) && x.t > d.offline.ref {
				if at := e.offlineAt(d, x); !d.backIn(x.t, at) {
					take(at) // offlineAt is not monotonic: the earliest
				}
			}
		}
	}
	if !d.flapping.firing {
		// a flapping condition is judged flapHold after its last disconnect
		for _, t := range d.flaps {
			if t > d.flapping.ref && t+e.flapHold() > w {
				take(t + e.flapHold())
			}
		}
		for _, r := range d.flapRevs {
			if r.t > d.flapping.ref && r.t+e.flapHold() > w {
				take(r.t + e.flapHold())
			}
		}
	}
	if d.flapping.firing {
		for i := lowerBound(d.entries, d.flapping.since); i < len(d.entries); i++ {
			if x := &d.entries[i]; x.isSuccessConnect() || x.kind == event.StateConnected {
				take(x.t + e.flapReset) // a candidate reset point; re-checked then
			}
		}
	}
	if d.renewal.firing || d.offline.firing {
		// resolution waits for the watermark to reach the connect
		ref := d.renewal.ref
		if d.offline.firing {
			ref = d.offline.ref
		}
		if c, ok := d.connectIn(ref, maxT); ok {
			take(c)
		}
		if d.offline.firing {
			if u := d.returnedUnseen(ref, maxT); u != 0 {
				take(u)
			}
		}
	}
	return due
}

// find returns the index of the 404104 at time t, or -1.
func (d *device) find(t int64) int {
	for i := lowerBound(d.entries, t); i < len(d.entries) && d.entries[i].t == t; i++ {
		if d.entries[i].is404104() {
			return i
		}
	}
	return -1
}

// remove stops tracking a deleted device (its firing signals were resolved
// by evalSignals): a tombstone in the hub makes re-delivered older records
// stale instead of re-creating it.
func (e *Engine) remove(st *State, h *hub, d *device, out *Output) {
	if h.tombs == nil {
		h.tombs = make(map[uint64]int64)
	}
	h.tombs[keyHash(d.key)] = d.deleted
	st.markHub(h)
	st.dropDevice(d.key)
	out.Removed = append(out.Removed, d.key)
}

func (e *Engine) incidentSignal(h *hub, in *incident, firing bool) Signal {
	api := in.toIncident(h.name, 0)
	s := Signal{Kind: HubIncident, Key: event.Key{Hub: h.name}, Firing: firing, Incident: api.ID,
		Evidence: api.Evidence, Devices: in.devices, Since: unix(in.start)}
	if firing {
		s.At = unix(in.start)
		s.Summary = fmt.Sprintf("IoT Hub %s: %d devices disconnected at once with %d hub-side errors", h.name, in.devices, in.hubErrors)
		s.Recommendation = recommendation(ccHubTransient, mcNone, true)
	} else {
		s.At = unix(in.end)
		s.Summary = fmt.Sprintf("IoT Hub %s is back to its usual rate since %s (%d devices were affected)", h.name, clock(in.end, 0), in.devices)
	}
	return s
}
