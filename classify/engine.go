// Package classify is disconnect-doctor's pure event-time engine: it joins
// the evidence around every IoT Hub 404104 DeviceConnectionClosedRemotely
// (the device's own 401003s, reconnects and learned token period, hub-wide
// bursts with hub-side errors, duplicate-identity codes) and names its cause
// with evidence, a recommendation and a confidence (PRODUCT.md §5). It also
// opens and closes hub incidents and emits the alert transitions of §7.
//
// The package does no I/O, reads no clock and keeps no globals: events and a
// watermark go in, verdicts and signals come out, and the State serializes
// to one compact blob per device and per hub. The Evaluate function owns the
// State; ingest instances only append events.
package classify

import (
	"cmp"
	"fmt"
	"math"
	"slices"
	"strings"
	"time"

	"github.com/disconnect-doctor/disconnect-doctor/event"
)

// Engine applies the classification rules with one Config. It holds no
// mutable state (everything lives in State), so one Engine may serve many
// States, though a State is not safe for concurrent use.
type Engine struct {
	cfg        Config
	grace      int64 // seconds
	lateness   int64
	offline    int64
	flapWin    int64
	flapReset  int64
	revHorizon int64 // how long decided 404104s stay open to revision
}

// New returns an engine for cfg. cfg should have passed Validate; New does
// not re-check it.
func New(cfg Config) *Engine {
	sec := func(d time.Duration) int64 { return int64(d / time.Second) }
	return &Engine{
		cfg:        cfg,
		grace:      sec(cfg.ReconnectGrace),
		lateness:   sec(cfg.AllowedLateness),
		offline:    sec(cfg.OfflineAfter),
		flapWin:    sec(cfg.FlapWindow),
		flapReset:  sec(cfg.FlapReset),
		revHorizon: max(3600, 4*sec(cfg.AllowedLateness), sec(cfg.FlapReset)+600, sec(cfg.OfflineAfter)+600),
	}
}

// Config returns the engine's configuration.
func (e *Engine) Config() Config { return e.cfg }

// IngestStats counts what Ingest did with a batch.
type IngestStats struct {
	// New events changed the state; Duplicate ones were already there.
	New, Duplicate int
	// Stale events were older than anything the engine still keeps for
	// their device or hub minute (beyond the revision horizon), or older
	// than the device's deletion; they are counted, not applied.
	Stale int
	// Ignored events are not evidence the engine uses (errors of other
	// categories that are not hub-side, events without a hub).
	Ignored int
}

// Ingest adds events to the state. It is idempotent by event ID (the same
// record twice changes nothing) and independent of order and batch split:
// verdicts are made by Tick from all evidence ingested.
func (e *Engine) Ingest(st *State, evs []event.Event) IngestStats {
	var s IngestStats
	for i := range evs {
		ev := &evs[i]
		if ev.Hub == "" || ev.Time.IsZero() {
			s.Ignored++
			continue
		}
		if ev.Kind == event.MetricFired || ev.Kind == event.MetricResolved {
			h := st.hub(ev.Hub)
			if h.addMetric(ev) {
				s.New++
				st.markHub(h)
			} else {
				s.Duplicate++
			}
			continue
		}
		hubSide := maybeHubSide(ev.Code) && ev.IsHubSide()
		devRec := ev.Device != "" && isDeviceRecord(ev)
		if !hubSide && !devRec {
			s.Ignored++
			continue
		}
		h := st.hub(ev.Hub)
		added, dup := false, false
		if hubSide {
			a, d := h.addError(ev)
			added, dup = a, d
			if a {
				st.markHub(h)
			}
		}
		if devRec {
			switch e.addDeviceEvent(st, h, ev) {
			case addNew:
				added = true
			case addDup:
				dup = true
			}
		}
		switch {
		case added:
			s.New++
			t := ev.Time.Unix()
			if t > h.frontier {
				h.frontier = t
				st.markHub(h)
			}
			if h.first == 0 || t < h.first {
				h.first = t
				st.markHub(h)
			}
		case dup:
			s.Duplicate++
		default:
			s.Stale++
		}
	}
	return s
}

// maybeHubSide is a cheap pre-check of event.HubSideCode's code ranges, so
// that the common record (a successful connect, a 404104) skips the
// category comparison.
func maybeHubSide(code int) bool {
	return code >= 400000 && code < 600000 && (code >= 500000 || code == event.CodeClosedOnFaultInjection ||
		code == event.CodeRejectedOnFaultInjection || code == event.CodeFailingOver)
}

// isDeviceRecord reports whether an event belongs on a device's timeline:
// Connections records, state events and lifecycle events.
func isDeviceRecord(ev *event.Event) bool {
	switch ev.Kind {
	case event.Connect, event.Disconnect:
		return ev.Source == event.ResourceLog
	case event.StateConnected, event.StateDisconnected, event.Created, event.Deleted:
		return true
	}
	return ev.IsUnauthorized()
}

type addResult int

const (
	addStale addResult = iota
	addNew
	addDup
)

func (e *Engine) addDeviceEvent(st *State, h *hub, ev *event.Event) addResult {
	k := ev.Key()
	t := ev.Time.Unix()
	d := st.devices[k]
	if d == nil {
		if tt, ok := h.tombs[keyHash(k)]; ok && t <= tt {
			return addStale
		}
		d = st.device(k)
	}
	if t < d.floor {
		return addStale
	}
	i := lowerBound(d.entries, t)
	for ; i < len(d.entries) && d.entries[i].t == t; i++ {
		c := idCompare(d.entries[i].id, ev.ID)
		if c == 0 {
			return addDup
		}
		if c > 0 {
			break
		}
	}
	ent := entry{id: ev.ID, t: t, code: int32(ev.Code), kind: ev.Kind, src: ev.Source}
	switch {
	case ev.IsUnauthorized():
		ent.class = classify401003(ev.Message, ev.AuthType)
	case ent.isSuccessConnect():
		// a successful connect keeps what its sdkVersion and protocol say
		// about the client (sdk.go): its token behaviour
		ent.class = msgClass(parseSDK(ev.SDK, ev.Protocol))
	}
	if ev.Kind == event.StateConnected || ev.Kind == event.StateDisconnected {
		ent.seq = normSeq(ev.Seq)
	}
	d.entries = slices.Insert(grown(d.entries, 3), i, ent)
	switch ev.Kind {
	case event.Deleted:
		if t > d.deleted {
			d.deleted = t
		}
	case event.Created:
		if t > d.deleted {
			d.deleted = 0
		}
	}
	st.touch(d)
	st.markDev(d)
	if k.Module == "" && (ev.Kind == event.Deleted || ev.Kind == event.Created) {
		lifecycleModules(st, k, ev.Kind, t)
	}
	return addNew
}

// lifecycleModules applies a device identity's deletion (or re-creation)
// at t to its tracked modules: IoT Hub deletes a device's modules with it,
// and sends no event of their own.
func lifecycleModules(st *State, k event.Key, kind event.Kind, t int64) {
	for _, md := range st.modulesOf(k) {
		switch {
		case kind == event.Deleted && t > md.deleted:
			md.deleted = t
		case kind == event.Created && t > md.deleted:
			md.deleted = 0
		default:
			continue
		}
		st.touch(md)
		st.markDev(md)
	}
}

func idCompare(a, b event.ID) int {
	for i := range a {
		if a[i] != b[i] {
			if a[i] < b[i] {
				return -1
			}
			return 1
		}
	}
	return 0
}

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

	touched := make([]event.Key, 0, len(st.touched))
	for k := range st.touched {
		if _, ok := st.devices[k]; ok {
			touched = append(touched, k)
		}
	}
	sortKeys(touched)
	for _, k := range touched {
		d := st.devices[k]
		e.syncBuckets(st, st.hub(k.Hub), d)
	}

	hubs := make([]string, 0, len(st.hubs))
	for n := range st.hubs {
		hubs = append(hubs, n)
	}
	slices.Sort(hubs)
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
	for _, k := range keys {
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
		h := st.hubs[n]
		sealed, closed := h.sealed, h.closed
		e.seal(h, w)
		if h.sealed != sealed || h.closed != closed {
			st.markHub(h)
		}
		for _, in := range h.inc {
			if fp := in.fingerprint(); fp != in.emitted {
				in.emitted = fp
				out.Incidents = append(out.Incidents, in.toIncident(n, in.start))
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
	for k := range st.touched {
		if d := st.devices[k]; d != nil {
			d.inTouched = false
		}
	}
	st.touched = emptied(st.touched)

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
	return out
}

func (d *device) hasPending() bool {
	for i := range d.entries {
		if d.entries[i].is404104() && d.entries[i].flags&fFinal == 0 {
			return true
		}
	}
	return false
}

// syncBuckets records in the hub's minute buckets which of the device's
// 404104s are not explained by its own token evidence: per open minute, the
// second of its first unexplained one. The device remembers what it added
// (contrib), takes it back and adds the new judgement, so that the hub
// keeps counts instead of member sets.
func (e *Engine) syncBuckets(st *State, h *hub, d *device) {
	h.adopt(d)
	var now []contrib // open minutes only
	for i := range d.entries {
		ent := &d.entries[i]
		if !ent.is404104() {
			continue
		}
		m := floorDiv(ent.t, 60)
		if h.closed != 0 && m <= h.closed {
			continue
		}
		if h.bucketFor(m) == nil {
			continue
		}
		if n := len(now); n > 0 && now[n-1].m == m {
			continue // the minute's first unexplained one counts
		}
		// explained: a 401003 beside it, or closely on its own period
		// (the reconnect is not known here; decide asks no less)
		if te := d.tokenEvidence(ent.t); te.beside < 0 && !te.close {
			now = append(now, contrib{m: m, sec: uint8(ent.t - m*60)})
		}
	}
	// the frozen part: minutes past lateness, the two before the first
	// open one still needed for its overlap counts
	kept := d.contrib[:0:0]
	for _, c := range d.contrib {
		if c.m <= h.closed && c.m >= h.closed-1 {
			kept = append(kept, c)
		}
	}
	next := append(kept, now...)
	if slices.Equal(openPart(next, h.closed), openPart(d.contrib, h.closed)) {
		d.contrib = next // at most pruned: the counts are unchanged
		return
	}
	h.count(d.contrib, -1)
	h.count(next, +1)
	d.contrib = next
	st.markHub(h)
	st.markDev(d)
}

// adopt gives a device decoded from a blob older than its contrib list the
// contributions the hub's old layout named for it.
func (h *hub) adopt(d *device) {
	if !d.contribKnown {
		d.contrib, d.contribKnown = h.legacy[d.hash], true
		delete(h.legacy, d.hash)
	}
}

// openPart returns the contributions to minutes past closed (cs is sorted).
func openPart(cs []contrib, closed int64) []contrib {
	i := 0
	for i < len(cs) && closed != 0 && cs[i].m <= closed {
		i++
	}
	return cs[i:]
}

// count adds (sign +1) or takes back (-1) a device's contributions cs to
// the open minutes' counts.
func (h *hub) count(cs []contrib, sign int32) {
	in := func(m int64) bool {
		for _, c := range cs {
			if c.m == m {
				return true
			}
		}
		return false
	}
	for _, c := range cs {
		if h.closed != 0 && c.m <= h.closed {
			continue
		}
		b := h.buckets[c.m]
		if b == nil || b.compact {
			continue
		}
		in1, in2 := in(c.m-1), in(c.m-2)
		s := int(sign)
		b.nDev += s
		b.secs[c.sec] += sign
		if in1 {
			b.p1 += s
		}
		if in2 {
			b.p2 += s
		}
		if in1 && in2 {
			b.p3 += s
		}
	}
}

// evalDevice decides due 404104s, revises final ones whose evidence changed,
// and updates the device's alert conditions.
func (e *Engine) evalDevice(st *State, h *hub, d *device, w int64, out *Output) {
	changed := false
	for i := range d.entries {
		ent := &d.entries[i]
		if !ent.is404104() {
			continue
		}
		final := ent.flags&fFinal != 0
		if !final && ent.t+e.grace > w {
			if ent.flags&fAnnounced == 0 {
				ent.flags |= fAnnounced
				changed = true
				out.Diagnoses = append(out.Diagnoses, Diagnosis{Key: d.key, Time: unix(ent.t), EventID: ent.id, Cause: Pending})
			}
			continue
		}
		if final && (ent.t-besideBefore-e.grace < d.floor || ent.t < w-e.revHorizon) {
			continue // frozen: its evidence may have been pruned
		}
		v := e.decide(d, h, i, ent.t)
		if final && ent.flags&fRetro != 0 {
			if v.cause != ccDeviceOrNetwork {
				ent.flags &^= fRetro // new evidence of its own decides now
			} else if si := d.sampleAt(ent.t); si >= 0 && d.samples[si].retroAt != 0 {
				v = retroVerdict(&d.samples[si], e.grace)
			} else {
				continue // revised by a period learned later; its sample is gone
			}
		}
		if final && ent.flags&fUnprior != 0 {
			if !v.prior {
				ent.flags &^= fUnprior // new evidence of its own decides now
			} else if si := d.sampleAt(ent.t); si >= 0 && d.samples[si].retroAt != 0 && d.samples[si].prior {
				v = unpriorVerdict(&d.samples[si], e.grace)
			} else {
				continue // revised by a period learned later; its sample is gone
			}
		}
		fp := v.fingerprint()
		causeChanged := final && v.cause != ent.cause
		switch {
		case !final:
			ent.flags |= fFinal | fAnnounced
		case v.cause != ent.cause:
			if ent.rev < 255 {
				ent.rev++
			}
		case fp != ent.fp:
			// same cause, new evidence: re-emit without counting a revision
		default:
			continue
		}
		ent.cause, ent.fp, ent.conf = v.cause, fp, uint8(v.confidence*100+0.5)
		changed = true
		diag := Diagnosis{
			Key: d.key, Time: unix(ent.t), EventID: ent.id, Cause: v.cause.cause(), Final: true,
			Confidence: v.confidence, Evidence: v.evidence, Recommendation: v.rec, Revisions: int(ent.rev),
		}
		if v.incident != nil {
			diag.Incident = incidentID(h.name, v.incident.idStart)
		}
		out.Diagnoses = append(out.Diagnoses, diag)
		d.recordSample(i, &v)
		d.recordFlap(ent.t, ent.cause, ent.flags&(fRetro|fUnprior) != 0)
		if (!final || causeChanged) && (v.cause == ccTokenExpiry || v.cause == ccRenewalFailed) && (v.backed || v.onPeriod) {
			e.reviseEarlier(d, i, out)
		}
	}
	if e.evalSignals(h, d, w, out) {
		changed = true
	}
	if e.prune(d, w) {
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

func unix(t int64) time.Time { return time.Unix(t, 0).UTC() }

// recordSample keeps the token-period sample of the 404104 at entries[i]:
// session start (sessionStart) → disconnect, for the causes whose timing says something about
// the token (token verdicts and plain device-or-network ones; never a hub
// incident or a duplicate identity, whose timing is someone else's).
func (d *device) recordSample(i int, v *verdict) {
	ent := &d.entries[i]
	t := ent.t
	idx := d.sampleAt(t)
	keep := ent.cause == ccTokenExpiry || ent.cause == ccRenewalFailed || ent.cause == ccDeviceOrNetwork
	start, anch, ok := d.sessionStart(t)
	if !keep || !ok {
		if idx >= 0 {
			d.samples = slices.Delete(d.samples, idx, idx+1)
		}
		return
	}
	s := sample{disc: t, dur: int32(t - start), backed: v.backed, anch: anch, cause: ent.cause, prior: v.prior,
		id: ent.id, rev: ent.rev, back: -1}
	if v.reconnect {
		s.back = int32(v.reconnectT - t)
	}
	if idx >= 0 {
		if o := d.samples[idx]; ent.flags&(fRetro|fUnprior) != 0 && o.retroAt != 0 {
			// a verdict revised by a later-learned period keeps what
			// revised it
			s.back, s.anch, s.dur, s.prior = o.back, o.anch, o.dur, o.prior
			s.retroAt, s.pdur, s.ptol, s.pn, s.pby = o.retroAt, o.pdur, o.ptol, o.pn, o.pby
		}
		d.samples[idx] = s
		return
	}
	pos, _ := slices.BinarySearchFunc(d.samples, t, func(s sample, t int64) int { return cmp.Compare(s.disc, t) })
	d.samples = slices.Insert(grown(d.samples, 2), pos, s)
	if len(d.samples) > maxSamples {
		d.samples = slices.Delete(d.samples, 0, len(d.samples)-maxSamples)
	}
}

// sampleAt returns the index of the sample of the 404104 at t, or -1.
func (d *device) sampleAt(t int64) int {
	i, ok := slices.BinarySearchFunc(d.samples, t, func(s sample, t int64) int { return cmp.Compare(s.disc, t) })
	if !ok {
		return -1
	}
	return i
}

// reviseEarlier is the retroactive half of "learned, not hard-coded,
// periods" (PRODUCT.md §5 "later evidence may revise a verdict"): the 404104
// at entries[i] was just judged a token expiry on the device's own token
// evidence (a 401003 beside it, or its learned period), so the device's
// token period is now known — from the samples up to and including this
// one. Earlier device-or-network verdicts of the device that were made
// before that period was known, and whose session age falls on it, were
// token expiries too: a device with a custom token lifetime (20 min, 3 h) has
// no SDK prior, and its first expiries look random until a 401003 or
// regularity shows its period. They are revised to token-expiry. A
// verdict whose session the period does not explain stays; one without a
// reconnect within the grace must fall within closeMatch of the period (as
// decide asks of a period match that is the only token evidence left).
//
// Symmetrically, earlier token-expiry verdicts that rested on the hub-cut
// SDK prior alone (a .NET or Java session of the SDK's usual age, before
// any period was known: the weakest token evidence) are revised to
// device-or-network when the device's own period does not fit their
// session: the device is evidently not on the default schedule the prior
// assumed, and its drop was not its token running out. A prior verdict the
// period does fit stays.
//
// It works from the samples, which outlive the bounded timeline, and runs
// only when the confirming verdict is first made (or changes), in time order,
// so the outcome does not depend on how records were batched.
func (e *Engine) reviseEarlier(d *device, i int, out *Output) {
	t := d.entries[i].t
	si := d.sampleAt(t)
	if si < 0 {
		return
	}
	sdk := d.sdkAt(t)
	if p, ok := learnedPeriod(d.samples, t+1, sdk); !ok || abs64(int64(d.samples[si].dur)-p.dur) > p.tol {
		return
	}
	// Revising a prior verdict away from its token cause needs a period the
	// device has shown consistently: the confirming session's duration must
	// be exact (not anchored on a disconnect whose reconnect record was
	// lost: it then only bounds the session from above) and agree with the
	// period known before it, if any (a 401003 ending a session that does
	// not fit the known period confirms a token expiry, not a new period).
	cs := &d.samples[si]
	confirmed := !cs.anch
	if prev, had := learnedPeriod(d.samples, t, sdk); had && abs64(int64(cs.dur)-prev.dur) > prev.tol {
		confirmed = false
	}
	var others []sample // allocated only when there is a candidate
	for j := range d.samples[:si] {
		s := &d.samples[j]
		unprior := s.cause == ccTokenExpiry && s.prior
		if unprior && !confirmed {
			continue
		}
		if (s.cause != ccDeviceOrNetwork && !unprior) || s.retroAt != 0 || s.dur <= 0 {
			continue
		}
		// the period the other sessions show: a candidate never votes for
		// itself (as decide learns a period only from earlier disconnects)
		others = append(append(others[:0], d.samples[:j]...), d.samples[j+1:]...)
		p, ok := learnedPeriod(others, t+1, sdk)
		if !ok {
			continue
		}
		off := abs64(int64(s.dur) - p.dur)
		if unprior {
			if off > p.tol {
				e.revise(d, s, t, p, ccDeviceOrNetwork, out)
			}
			continue
		}
		if off > p.tol || (s.back < 0 && off > closeMatch) {
			continue
		}
		e.revise(d, s, t, p, ccTokenExpiry, out)
	}
}

// revise records the revision of sample s, decided when the disconnect at
// by made the device's period p known: to token-expiry (an earlier
// device-or-network verdict the period explains; fRetro), or to
// device-or-network (a token verdict that rested on the SDK prior alone and
// that the period does not fit; fUnprior). See reviseEarlier.
func (e *Engine) revise(d *device, s *sample, by int64, p period, to causeCode, out *Output) {
	s.cause, s.retroAt = to, by
	s.pdur, s.ptol, s.pn, s.pby = int32(p.dur), int32(p.tol), uint8(min(p.n, 255)), p.by
	if s.rev < 255 {
		s.rev++
	}
	var v verdict
	flag := fRetro
	if to == ccDeviceOrNetwork {
		v, flag = unpriorVerdict(s, e.grace), fUnprior
		d.unpriorFlap(s.disc, by)
	} else {
		v = retroVerdict(s, e.grace)
		d.reviseFlap(s.disc, by)
	}
	if k := d.find(s.disc); k >= 0 && d.entries[k].id == s.id {
		x := &d.entries[k]
		x.cause, x.rev, x.flags = to, s.rev, x.flags|flag
		x.fp, x.conf = v.fingerprint(), uint8(v.confidence*100+0.5)
	}
	out.Diagnoses = append(out.Diagnoses, Diagnosis{
		Key: d.key, Time: unix(s.disc), EventID: s.id, Cause: to.cause(), Final: true,
		Confidence: v.confidence, Evidence: v.evidence, Recommendation: v.rec, Revisions: int(s.rev),
	})
}

// unpriorVerdict renders a verdict unprior revised from its sample alone,
// so that it reads the same whether or not the timeline entry is still kept.
func unpriorVerdict(s *sample, grace int64) verdict {
	v := verdict{cause: ccDeviceOrNetwork, incLine: -1, reconnect: s.back >= 0}
	since := "connected"
	if s.anch {
		since = "disconnected (its reconnect record is missing)"
	}
	from := fmt.Sprintf("from %d sessions repeating it (the disconnect at %s)", s.pn, clock(s.retroAt, s.disc))
	if s.pby {
		from = "from the 401003 at " + clock(s.retroAt, s.disc)
	}
	ev := []string{
		fmt.Sprintf("no 401003 within %ds", besideBefore),
		fmt.Sprintf("%s %s before; first judged a token expiry on its SDK's usual cut-off alone (no period learned yet)", since, durWords(int64(s.dur))),
		fmt.Sprintf("its token period, learned later %s, is %s (±%s); this session ended at %s, off that period",
			from, durWords(int64(s.pdur)), durWords(int64(s.ptol)), durWords(int64(s.dur))),
		"not part of a hub incident's burst",
	}
	conf := 0.65
	if s.pby {
		conf += 0.05
	}
	if s.back >= 0 {
		ev = append(ev, fmt.Sprintf("reconnected %s later", durWords(int64(s.back))))
		v.reconnectT = s.disc + int64(s.back)
	} else {
		ev = append(ev, fmt.Sprintf("no successful connect within %s", durWords(grace)))
		conf += 0.1
	}
	v.evidence = ev
	v.confidence = math.Round(clamp01(conf)*100) / 100
	v.rec = recommendation(ccDeviceOrNetwork, mcNone, v.reconnect)
	return v
}

// retroVerdict renders a verdict revised by reviseEarlier from its sample
// alone, so that it reads the same whether or not the timeline entry is
// still kept.
func retroVerdict(s *sample, grace int64) verdict {
	v := verdict{cause: ccTokenExpiry, class: mcGeneric, incLine: -1, reconnect: s.back >= 0}
	since := "connected"
	if s.anch {
		since = "disconnected (its reconnect record is missing)"
	}
	ev := []string{
		fmt.Sprintf("no 401003 within %ds", besideBefore),
		fmt.Sprintf("%s %s before, matching its token period of %s (±%s)", since, durWords(int64(s.dur)), durWords(int64(s.pdur)), durWords(int64(s.ptol))),
	}
	if s.pby {
		ev = append(ev, fmt.Sprintf("the period was learned later: its expiry at %s (401003) showed a %s token period", clock(s.retroAt, s.disc), durWords(int64(s.pdur))))
	} else {
		ev = append(ev, fmt.Sprintf("the period was learned later: its disconnect at %s fell on a %s token period repeated by %d sessions", clock(s.retroAt, s.disc), durWords(int64(s.pdur)), s.pn))
	}
	conf := 0.55
	if s.pby {
		conf += 0.05
	}
	if s.back >= 0 {
		ev = append(ev, fmt.Sprintf("reconnected %s later", durWords(int64(s.back))))
		v.reconnectT = s.disc + int64(s.back)
		conf += 0.08
	} else {
		ev = append(ev, fmt.Sprintf("no successful connect within %s", durWords(grace)))
		conf -= 0.1
	}
	v.evidence = ev
	v.confidence = math.Round(clamp01(conf)*100) / 100
	v.rec = recommendation(ccTokenExpiry, mcGeneric, v.reconnect)
	return v
}

// recordFlap keeps the times of final seed-2 verdicts (flapping counts
// device-or-network disconnects; a hub-transient one never counts). A
// verdict revised by a later-learned period (retro) leaves flaps through
// reviseFlap instead and keeps its flapRev.
func (d *device) recordFlap(t int64, c causeCode, retro bool) {
	idx, found := slices.BinarySearch(d.flaps, t)
	seed2 := c == ccDeviceOrNetwork || c == ccDuplicateIdentity
	switch {
	case seed2 && !found:
		d.flaps = slices.Insert(d.flaps, idx, t)
		if len(d.flaps) > maxFlaps {
			d.flaps = slices.Delete(d.flaps, 0, len(d.flaps)-maxFlaps)
		}
	case !seed2 && found:
		d.flaps = slices.Delete(d.flaps, idx, idx+1)
	}
	if !retro {
		if k := slices.IndexFunc(d.flapRevs, func(r flapRev) bool { return r.t == t }); k >= 0 {
			d.flapRevs = slices.Delete(d.flapRevs, k, k+1)
		}
	}
}

// reviseFlap moves the seed-2 verdict at t from flaps to flapRevs: it was
// revised by the disconnect at by.
func (d *device) reviseFlap(t, by int64) {
	idx, found := slices.BinarySearch(d.flaps, t)
	if !found {
		return
	}
	d.flaps = slices.Delete(d.flaps, idx, idx+1)
	pos, _ := slices.BinarySearchFunc(d.flapRevs, t, func(r flapRev, t int64) int { return cmp.Compare(r.t, t) })
	d.flapRevs = slices.Insert(d.flapRevs, pos, flapRev{t: t, by: by})
	if len(d.flapRevs) > maxFlaps {
		d.flapRevs = slices.Delete(d.flapRevs, 0, len(d.flapRevs)-maxFlaps)
	}
}

// unpriorFlap records the verdict at t, revised to seed-2 by the disconnect
// at by, as counting for flapping windows ending at or after by only.
func (d *device) unpriorFlap(t, by int64) {
	if idx, found := slices.BinarySearch(d.flaps, t); found {
		d.flaps = slices.Delete(d.flaps, idx, idx+1)
	}
	if k := slices.IndexFunc(d.flapRevs, func(r flapRev) bool { return r.t == t }); k >= 0 {
		d.flapRevs = slices.Delete(d.flapRevs, k, k+1)
	}
	pos, _ := slices.BinarySearchFunc(d.flapRevs, t, func(r flapRev, t int64) int { return cmp.Compare(r.t, t) })
	d.flapRevs = slices.Insert(d.flapRevs, pos, flapRev{t: t, by: by, late: true})
	if len(d.flapRevs) > maxFlaps {
		d.flapRevs = slices.Delete(d.flapRevs, 0, len(d.flapRevs)-maxFlaps)
	}
}

// prune bounds the timeline: entries older than the revision horizon go,
// except the newest successful connect, 404104, disconnect and state event
// (the rules still need them), never a pending 404104; then at most
// maxEntries remain. The floor moves up so that re-delivered old records
// are recognized as stale instead of re-added.
func (e *Engine) prune(d *device, w int64) bool {
	cut := w - e.revHorizon
	n := len(d.entries)
	if n == 0 || (d.entries[0].t >= cut && n <= maxEntries) {
		return false
	}
	keep := make([]bool, n)
	lastConn, last404, lastDisc, lastState := -1, -1, -1, -1
	for i := range d.entries {
		x := &d.entries[i]
		switch {
		case x.isSuccessConnect() && x.t < cut:
			lastConn = i // the connect current at the cut: any 404104 still accepted may end its token
		case x.is404104():
			last404 = i
		}
		if x.kind == event.Disconnect {
			lastDisc = i
		}
		if x.kind == event.StateConnected || x.kind == event.StateDisconnected {
			lastState = i
		}
		keep[i] = x.t >= cut || (x.is404104() && x.flags&fFinal == 0)
	}
	must := make([]bool, n)
	for _, i := range []int{lastConn, last404, lastDisc, lastState} {
		if i >= 0 {
			must[i] = true
		}
	}
	// the connect that presented the token each kept 404104 ends
	lc := -1
	for i := range d.entries {
		x := &d.entries[i]
		if x.isSuccessConnect() {
			lc = i
		}
		if x.is404104() && keep[i] && lc >= 0 {
			must[lc] = true
		}
		if x.is404104() && keep[i] {
			// and the disconnect its session start is anchored on
			if a, anch := d.sessionStartIdx(x.t); anch {
				must[a] = true
			}
		}
		if x.is404104() && x.flags&fFinal == 0 {
			must[i] = true
		}
	}
	for i := range must {
		keep[i] = keep[i] || must[i]
	}
	kept := 0
	for _, k := range keep {
		if k {
			kept++
		}
	}
	for i := 0; i < n && kept > maxEntries; i++ {
		x := &d.entries[i]
		if !keep[i] || must[i] {
			continue
		}
		keep[i] = false
		kept--
		if x.t+1 > cut {
			cut = x.t + 1
		}
	}
	if kept == n {
		if cut > d.floor && d.entries[0].t >= cut {
			d.floor = cut
		}
		return false
	}
	out := d.entries[:0]
	for i := range d.entries {
		if keep[i] {
			out = append(out, d.entries[i])
		}
	}
	clear(d.entries[len(out):])
	d.entries = clipped(out, 1)
	if cut > d.floor {
		d.floor = cut
	}
	return true
}

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
				if _, back := d.connectIn(x.t, x.t+e.offline); !back {
					take(x.t + e.offline)
					break
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
	}
	return due
}

func (d *device) last404() int {
	for i := len(d.entries) - 1; i >= 0; i-- {
		if d.entries[i].is404104() {
			return i
		}
	}
	return -1
}

// nextOffline returns the first final, offline-eligible 404104 after the
// last offline episode whose device was not back OfflineAfter later, as of
// watermark w; -1 when none (yet).
func (e *Engine) nextOffline(d *device, w int64) int {
	for i := range d.entries {
		x := &d.entries[i]
		if !x.is404104() || x.flags&fFinal == 0 || !offlineEligible(x) || x.t <= d.offline.ref {
			continue
		}
		at := x.t + e.offline
		if at > w {
			return -1
		}
		if d.deleted != 0 && at >= d.deleted {
			return -1
		}
		if _, back := d.connectIn(x.t, at); !back {
			return i
		}
	}
	return -1
}

// offlineEligible: the verdicts after which a device that stays away is
// "offline" (§7): device-or-network, duplicate identity, hub-transient
// (judged on its own once the incident is over) and a token expiry without
// return. A failing renewal has its own, critical, alert.
func offlineEligible(x *entry) bool {
	switch x.cause {
	case ccDeviceOrNetwork, ccDuplicateIdentity, ccHubTransient, ccTokenExpiry:
		return true
	}
	return false
}

// connectIn returns the first evidence that the device connected in
// [from, to]: a successful resource-log connect, or a Connected state event
// that is the newest (by sequence number) of the state events there.
// Judging "not back" only up to an event time (never "up to whatever has
// arrived") keeps signals independent of how records were batched.
func (d *device) connectIn(from, to int64) (int64, bool) {
	lo, hi := d.window(from, to)
	for i := lo; i < hi; i++ {
		if d.entries[i].isSuccessConnect() {
			return d.entries[i].t, true
		}
	}
	return d.stateConnectedIn(from, to)
}

// flapResetAt returns when a flapping device that started flapping at since
// cleared: the first successful connect after since followed by FlapReset
// without any disconnect, if that point is at or before w.
func (e *Engine) flapResetAt(d *device, since, w int64) (c, at int64, ok bool) {
	for i := lowerBound(d.entries, since); i < len(d.entries); i++ {
		x := &d.entries[i]
		if !(x.isSuccessConnect() || x.kind == event.StateConnected) {
			continue
		}
		end := x.t + e.flapReset
		if end > w {
			return 0, 0, false
		}
		lo, hi := d.window(x.t+1, end)
		clean := true
		for j := lo; j < hi; j++ {
			if k := d.entries[j].kind; k == event.Disconnect || k == event.StateDisconnected {
				clean = false
				break
			}
		}
		if clean {
			return x.t, end, true
		}
	}
	return 0, 0, false
}

// evalSignals updates the device's alert conditions (§7) and emits each
// transition once. Every condition is judged as of event times (the
// watermark, the disconnect plus a duration), never "as of what has arrived",
// so the transitions do not depend on batching. A condition that starts and
// ends within one Tick emits both transitions.
func (e *Engine) evalSignals(h *hub, d *device, w int64, out *Output) bool {
	changed := false
	emit := func(s Signal) {
		s.Key = d.key
		s.Devices = 1
		out.Signals = append(out.Signals, s)
		changed = true
	}
	incName := func(start int64) string {
		if start == 0 {
			return ""
		}
		return incidentID(h.name, start)
	}
	incAt := func(t int64) int64 {
		// the incident the device was caught in: its 404104 at t was part
		// of the burst (caughtIn), not merely inside the incident's span
		if k := d.find(t); k >= 0 {
			if in := e.caughtIn(h, d, k); in != nil {
				return in.idStart
			}
			return 0
		}
		if in := h.incidentAt(t); in != nil {
			return in.idStart
		}
		return 0
	}
	alive := func(t int64) bool { return d.deleted == 0 || t < d.deleted }
	deletedWords := []string{"DeviceDeleted at " + clock(d.deleted, 0)}
	deletedSummary := fmt.Sprintf("%s is no longer tracked: device deleted", d.key)

	// token renewal failing: fires with each final token-renewal-failed
	// verdict, resolves on a successful connect (or the device's deletion).
	for range len(d.entries) + 1 {
		if !d.renewal.firing {
			l := -1
			for i := range d.entries {
				x := &d.entries[i]
				if x.is404104() && x.flags&fFinal != 0 && x.cause == ccRenewalFailed && x.t > d.renewal.ref && alive(x.t) {
					l = i
					break
				}
			}
			if l < 0 {
				break
			}
			x := &d.entries[l]
			v := e.decide(d, h, l, 0)
			d.renewal = sigState{firing: true, since: x.t, ref: x.t, inc: incAt(x.t)}
			emit(Signal{Kind: TokenRenewalFailing, Firing: true, Since: unix(x.t), At: unix(x.t), Incident: incName(d.renewal.inc),
				Summary:        fmt.Sprintf("%s cannot renew its token: refused since %s and not reconnected", d.key, clock(x.t, 0)),
				Evidence:       v.evidence,
				Recommendation: v.rec})
		}
		rs := d.renewal
		if c, back := d.connectIn(rs.ref, w); back {
			d.renewal.firing = false
			emit(Signal{Kind: TokenRenewalFailing, Since: unix(rs.since), At: unix(c), Incident: incName(rs.inc),
				Summary:  fmt.Sprintf("%s connected again at %s: its token renewal works again", d.key, clock(c, 0)),
				Evidence: []string{fmt.Sprintf("successful connect at %s", clock(c, 0))}})
			continue
		}
		if d.deleted != 0 && d.deleted <= w {
			d.renewal.firing = false
			d.renewal.ref = max(d.renewal.ref, d.deleted)
			emit(Signal{Kind: TokenRenewalFailing, Since: unix(rs.since), At: unix(max(d.deleted, rs.since)), Incident: incName(rs.inc),
				Summary: deletedSummary, Evidence: deletedWords})
			break
		}
		if r := d.find(rs.ref); r >= 0 && d.entries[r].cause != ccRenewalFailed {
			d.renewal.firing = false
			emit(Signal{Kind: TokenRenewalFailing, Since: unix(rs.since), At: unix(rs.ref + e.grace), Incident: incName(rs.inc),
				Summary: fmt.Sprintf("%s: late evidence revised its failed token renewal", d.key)})
			continue
		}
		break
	}

	// offline: not back OfflineAfter after an eligible final 404104; each
	// such episode fires once and resolves on the next successful connect.
	for range len(d.entries) + 1 {
		if !d.offline.firing {
			l := e.nextOffline(d, w)
			if l < 0 {
				break
			}
			x := &d.entries[l]
			at := x.t + e.offline
			d.offline = sigState{firing: true, since: at, ref: x.t, inc: incAt(x.t)}
			ev := []string{
				fmt.Sprintf("404104 at %s, judged %s", clock(x.t, 0), x.cause.cause()),
				fmt.Sprintf("no successful connect in the %s since", durWords(e.offline)),
			}
			if d.offline.inc != 0 {
				ev = append(ev, "disconnected during hub incident "+incName(d.offline.inc))
			}
			// Since is the disconnect the device has been away from, as its
			// summary says ("offline since …"); At is when that became an
			// alert (OfflineAfter later).
			emit(Signal{Kind: DeviceOffline, Firing: true, Since: unix(x.t), At: unix(at), Incident: incName(d.offline.inc),
				Summary:        fmt.Sprintf("%s has been offline since %s (%s)", d.key, clock(x.t, 0), x.cause.cause()),
				Evidence:       ev,
				Recommendation: "Check the device: it has not reconnected since its disconnect and has probably crashed, lost power or lost its network."})
		}
		os := d.offline
		if c, back := d.connectIn(os.ref, w); back {
			d.offline.firing = false
			emit(Signal{Kind: DeviceOffline, Since: unix(os.ref), At: unix(max(c, os.since)), Incident: incName(os.inc),
				Summary:  fmt.Sprintf("%s is back: connected at %s", d.key, clock(c, 0)),
				Evidence: []string{fmt.Sprintf("successful connect at %s, %s after its disconnect", clock(c, 0), durWords(c-os.ref))}})
			continue
		}
		if d.deleted != 0 && d.deleted <= w {
			d.offline.firing = false
			d.offline.ref = max(d.offline.ref, d.deleted)
			emit(Signal{Kind: DeviceOffline, Since: unix(os.ref), At: unix(max(d.deleted, os.since)), Incident: incName(os.inc),
				Summary: deletedSummary, Evidence: deletedWords})
		}
		break
	}

	// flapping: FlapCount seed-2 disconnects within FlapWindow; clears after
	// FlapReset connected without a disconnect.
	n := e.cfg.FlapCount
	for range len(d.flaps) + 1 {
		if !d.flapping.firing {
			var fl []flapRev // by = maxT: still seed-2
			for _, t := range d.flaps {
				if t > d.flapping.ref && t <= w {
					fl = append(fl, flapRev{t: t, by: maxT})
				}
			}
			for _, r := range d.flapRevs {
				if r.t > d.flapping.ref && r.t <= w {
					fl = append(fl, r)
				}
			}
			slices.SortFunc(fl, func(a, b flapRev) int { return cmp.Compare(a.t, b.t) })
			fired := false
			for j := range fl {
				at := fl[j].t
				if at+e.flapHold() > w {
					break // not yet: whether an incident catches it is still open
				}
				if !fl[j].seed2At(at) || !alive(at) {
					continue
				}
				// the window ending at at counts the verdicts that were
				// seed-2 then (a later-learned period revised some to
				// token-expiry, and some prior-based ones to seed-2)
				win := make([]int64, 0, n)
				for k := j; k >= 0 && len(win) < n; k-- {
					if fl[k].seed2At(at) {
						win = append(win, fl[k].t)
					}
				}
				if len(win) < n || at-win[n-1] >= e.flapWin {
					continue
				}
				slices.Reverse(win)
				d.flapping = sigState{firing: true, since: at, ref: d.flapping.ref, inc: e.flapIncident(h, d, at)}
				ev := make([]string, 0, n)
				for _, t := range win {
					ev = append(ev, "device-or-network 404104 at "+clock(t, 0))
				}
				emit(Signal{Kind: DeviceFlapping, Firing: true, Since: unix(at), At: unix(at), Incident: incName(d.flapping.inc),
					Summary:        fmt.Sprintf("%s disconnected %d times within %s (device or network side)", d.key, n, durWords(e.flapWin)),
					Evidence:       ev,
					Recommendation: "Test the device's connectivity and power, check its MQTT keep-alive settings and update it to the latest SDK."})
				fired = true
				break
			}
			if !fired {
				break
			}
		}
		fs := d.flapping
		if c, at, ok := e.flapResetAt(d, fs.since, w); ok {
			d.flapping.firing = false
			d.flapping.ref = at
			emit(Signal{Kind: DeviceFlapping, Since: unix(fs.since), At: unix(at), Incident: incName(fs.inc),
				Summary:  fmt.Sprintf("%s has stayed connected since %s", d.key, clock(c, 0)),
				Evidence: []string{fmt.Sprintf("connected at %s and no disconnect for %s", clock(c, 0), durWords(e.flapReset))}})
			continue
		}
		if d.deleted != 0 && d.deleted <= w {
			d.flapping.firing = false
			d.flapping.ref = max(d.deleted, fs.since)
			emit(Signal{Kind: DeviceFlapping, Since: unix(fs.since), At: unix(max(d.deleted, fs.since)), Incident: incName(fs.inc),
				Summary: deletedSummary, Evidence: deletedWords})
		}
		break
	}
	return changed
}

// flapHold is how long after its last disconnect a flapping condition waits
// before it is judged (seconds): a hub incident notifies from ingested data
// while device alerts follow the watermark, which trails ingest by
// ALLOWED_LATENESS, so a device caught in an incident that began up to that
// long after its flapping started would otherwise get its flapping alert
// while the incident it is caught in is open (§7 inhibition). The wait lets
// the disconnects of that span be decided (grace) with their burst
// neighbours in (burstSpan).
func (e *Engine) flapHold() int64 { return e.lateness + e.grace + burstSpan }

// flapIncident returns the start of the incident a device whose flapping
// condition began at at is caught in: the one its 404104 at at was part of,
// or one that caught one of its 404104s within ALLOWED_LATENESS after;
// 0 none.
func (e *Engine) flapIncident(h *hub, d *device, at int64) int64 {
	lo, hi := d.window(at, at+e.lateness)
	for k := lo; k < hi; k++ {
		if d.entries[k].is404104() && d.entries[k].flags&fFinal != 0 {
			if in := e.caughtIn(h, d, k); in != nil {
				return in.idStart
			}
		}
	}
	return 0
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
	h.tombs[d.hash] = d.deleted
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

// Forget implements retention: it drops devices with no record since before
// (and nothing pending), and hub history older than before. A dropped
// device's open alert conditions (offline, flapping, failing renewal) are
// resolved in Output.Signals with the reason — otherwise their alerts would
// keep firing, and reminding, for good; Output.Removed lists the dropped
// devices so that the caller deletes their blobs.
func (e *Engine) Forget(st *State, before time.Time) Output {
	b := before.Unix()
	var out Output
	for k, d := range st.devices {
		if d.hasPending() {
			continue
		}
		if n := len(d.entries); n > 0 && d.entries[n-1].t >= b {
			continue
		}
		out.Removed = append(out.Removed, k)
	}
	sortKeys(out.Removed)
	for _, k := range out.Removed {
		out.Signals = append(out.Signals, e.forgetSignals(st, st.devices[k], b)...)
		st.dropDevice(k)
	}
	for _, h := range st.hubs {
		changed := false
		kept := h.inc[:0]
		for _, in := range h.inc {
			if !in.open && in.end < b && in.sigClosed {
				changed = true
				continue
			}
			kept = append(kept, in)
		}
		h.inc = kept
		for k, t := range h.tombs {
			if t < b {
				delete(h.tombs, k)
				changed = true
			}
		}
		ms := h.metrics[:0]
		for _, m := range h.metrics {
			if m.t >= b {
				ms = append(ms, m)
			}
		}
		if len(ms) != len(h.metrics) {
			changed = true
		}
		h.metrics = ms
		if changed {
			st.markHub(h)
		}
	}
	return out
}

// forgetSignals resolves the open alert conditions of a device retention
// drops at b: "no longer tracked: no record for 7 days".
func (e *Engine) forgetSignals(st *State, d *device, b int64) []Signal {
	at := b + int64(e.cfg.Retention/time.Second)
	summary := fmt.Sprintf("%s is no longer tracked: no record for %s", d.key, longDurWords(e.cfg.Retention))
	var ev []string
	if n := len(d.entries); n > 0 {
		ev = append(ev, "last record at "+clock(d.entries[n-1].t, 0))
	}
	ev = append(ev, "state older than RETENTION ("+longDurWords(e.cfg.Retention)+") is removed; a record from the device starts tracking it again")
	var out []Signal
	h := st.hub(d.key.Hub)
	for _, c := range []struct {
		kind SignalKind
		s    *sigState
	}{{TokenRenewalFailing, &d.renewal}, {DeviceOffline, &d.offline}, {DeviceFlapping, &d.flapping}} {
		if !c.s.firing {
			continue
		}
		c.s.firing = false
		inc := ""
		if c.s.inc != 0 {
			inc = incidentID(h.name, c.s.inc)
		}
		since := c.s.since
		if c.kind == DeviceOffline {
			since = c.s.ref // as its firing signal said: the disconnect
		}
		out = append(out, Signal{Kind: c.kind, Key: d.key, Since: unix(since), At: unix(max(at, c.s.since)),
			Incident: inc, Summary: summary, Evidence: ev, Devices: 1})
	}
	return out
}

// longDurWords says a retention-sized duration in days when it is whole
// days ("7 days"), else as durWords does.
func longDurWords(d time.Duration) string {
	const day = 24 * time.Hour
	switch {
	case d == day:
		return "1 day"
	case d > day && d%day == 0:
		return fmt.Sprintf("%d days", d/day)
	}
	return durWords(int64(d / time.Second))
}
