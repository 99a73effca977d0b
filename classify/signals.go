package classify

import (
	"cmp"
	"fmt"
	"slices"

	"github.com/disconnect-doctor/disconnect-doctor/event"
)

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

// nextOffline returns the first final, offline-eligible 404104 after the
// last offline episode whose device was not back by its offlineAt, as of
// watermark w; -1 when none (yet).
func (e *Engine) nextOffline(d *device, w int64) int {
	for i := range d.entries {
		x := &d.entries[i]
		if !x.is404104() || x.flags&fFinal == 0 || !offlineEligible(x) || x.t <= d.offline.ref {
			continue
		}
		// offlineAt is not monotonic in x.t (a token expiry waits
		// longer): a later 404104 may be due first
		at := e.offlineAt(d, x)
		if at > w || d.deleted != 0 && at >= d.deleted {
			continue
		}
		if !d.backIn(x.t, at) {
			return i
		}
	}
	return -1
}

// offlineAt is when a device not back after the final 404104 x is offline:
// OfflineAfter later (§7), or, after a token expiry its own records show (a
// 401003 beside it, or a token period learned), once its next cut-off is
// due. Such a cut-off is the hub's, on a healthy device, and its SDK
// reconnects within seconds; one with no return on record is nearly always
// a reconnect whose record was lost in delivery (in the simulator's 30 000
// devices × 2 h, 20 of the 28 device-offline alerts that followed a
// 401003-backed cut-off by OFFLINE_AFTER were raised for a device that was
// connected, and the other 8 for devices a hub incident or the run's end
// kept out). The device's next cut-off shows it came back (returnedUnseen):
// so the alert waits for that — the learned period, at most a default
// token's HubCutMax, and the grace — and a device that really stopped after
// its token ran out is alerted then. A token expiry judged on the SDK's
// prior alone may be a network drop misread, and keeps OfflineAfter.
func (e *Engine) offlineAt(d *device, x *entry) int64 {
	if x.cause != ccTokenExpiry {
		return x.t + e.offline
	}
	p, learned := learnedPeriod(d.samples, x.t, d.sdkAt(x.t))
	if !learned && x.flags&fBacked == 0 {
		return x.t + e.offline
	}
	next := int64(HubCutMax)
	if learned {
		next = min(next, p.dur+p.tol)
	}
	return x.t + max(e.offline, next+e.grace)
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

// backIn reports whether the device is known to have come back in
// [from, to]: a connect on record (connectIn), or a later disconnect that
// shows one whose record was lost (returnedUnseen).
func (d *device) backIn(from, to int64) bool {
	_, back := d.connectIn(from, to)
	return back || d.returnedUnseen(from, to) != 0
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
	sc := &signalCtx{e: e, h: h, d: d, w: w, out: out}
	e.renewalSignals(sc)
	e.offlineSignals(sc)
	e.flappingSignals(sc)
	return sc.changed
}

// signalCtx is what the device alert conditions share while one device is
// evaluated: its hub and timeline, the watermark, and where transitions go.
type signalCtx struct {
	e       *Engine
	h       *hub
	d       *device
	w       int64
	out     *Output
	changed bool
}

// emit records one transition of the device's alert conditions.
func (c *signalCtx) emit(s Signal) {
	s.Key = c.d.key
	s.Devices = 1
	c.out.Signals = append(c.out.Signals, s)
	c.changed = true
}

// incName is the ID of the hub incident that started at start ("" none).
func (c *signalCtx) incName(start int64) string {
	if start == 0 {
		return ""
	}
	return incidentID(c.h.name, start)
}

// incAt returns the start of the incident the device was caught in at t:
// its 404104 at t was part of the burst (caughtIn), not merely inside the
// incident's span; 0 none.
func (c *signalCtx) incAt(t int64) int64 {
	if k := c.d.find(t); k >= 0 {
		if in := c.e.caughtIn(c.h, c.d, k); in != nil {
			return in.idStart
		}
		return 0
	}
	if in := c.h.incidentAt(t); in != nil {
		return in.idStart
	}
	return 0
}

// alive reports whether the device identity still existed at t.
func (c *signalCtx) alive(t int64) bool { return c.d.deleted == 0 || t < c.d.deleted }

// deletedWords and deletedSummary resolve a condition because the device
// was deleted.
func (c *signalCtx) deletedWords() []string {
	return []string{"DeviceDeleted at " + clock(c.d.deleted, 0)}
}

func (c *signalCtx) deletedSummary() string {
	return fmt.Sprintf("%s is no longer tracked: device deleted", c.d.key)
}

// renewalSignals is the token-renewal-failing alert: it fires with each
// final token-renewal-failed verdict, resolves on a successful connect (or
// the device's deletion).
func (e *Engine) renewalSignals(sc *signalCtx) {
	h, d, w := sc.h, sc.d, sc.w
	for range len(d.entries) + 1 {
		if !d.renewal.firing {
			l := -1
			for i := range d.entries {
				x := &d.entries[i]
				if x.is404104() && x.flags&fFinal != 0 && x.cause == ccRenewalFailed && x.t > d.renewal.ref && sc.alive(x.t) {
					l = i
					break
				}
			}
			if l < 0 {
				break
			}
			x := &d.entries[l]
			v := e.decide(d, h, l, 0)
			d.renewal = sigState{firing: true, since: x.t, ref: x.t, inc: sc.incAt(x.t)}
			sc.emit(Signal{Kind: TokenRenewalFailing, Firing: true, Since: unix(x.t), At: unix(x.t), Incident: sc.incName(d.renewal.inc),
				Summary:        fmt.Sprintf("%s cannot renew its token: refused since %s and not reconnected", d.key, clock(x.t, 0)),
				Evidence:       v.evidence,
				Recommendation: v.rec})
		}
		rs := d.renewal
		if c, back := d.connectIn(rs.ref, w); back {
			d.renewal.firing = false
			sc.emit(Signal{Kind: TokenRenewalFailing, Since: unix(rs.since), At: unix(c), Incident: sc.incName(rs.inc),
				Summary:  fmt.Sprintf("%s connected again at %s: its token renewal works again", d.key, clock(c, 0)),
				Evidence: []string{fmt.Sprintf("successful connect at %s", clock(c, 0))}})
			continue
		}
		if d.deleted != 0 && d.deleted <= w {
			d.renewal.firing = false
			d.renewal.ref = max(d.renewal.ref, d.deleted)
			sc.emit(Signal{Kind: TokenRenewalFailing, Since: unix(rs.since), At: unix(max(d.deleted, rs.since)), Incident: sc.incName(rs.inc),
				Summary: sc.deletedSummary(), Evidence: sc.deletedWords()})
			break
		}
		if r := d.find(rs.ref); r >= 0 && d.entries[r].cause != ccRenewalFailed {
			d.renewal.firing = false
			sc.emit(Signal{Kind: TokenRenewalFailing, Since: unix(rs.since), At: unix(rs.ref + e.grace), Incident: sc.incName(rs.inc),
				Summary: fmt.Sprintf("%s: late evidence revised its failed token renewal", d.key)})
			continue
		}
		break
	}
}

// offlineSignals is the device-offline alert: not back by offlineAt after
// an eligible final 404104; each such episode fires once and resolves on the
// next successful connect, or on a later disconnect that shows the device
// had come back unseen (returnedUnseen).
func (e *Engine) offlineSignals(sc *signalCtx) {
	d, w := sc.d, sc.w
	for range len(d.entries) + 1 {
		if !d.offline.firing {
			l := e.nextOffline(d, w)
			if l < 0 {
				break
			}
			x := &d.entries[l]
			at := e.offlineAt(d, x)
			d.offline = sigState{firing: true, since: at, ref: x.t, inc: sc.incAt(x.t)}
			ev := []string{
				fmt.Sprintf("404104 at %s, judged %s", clock(x.t, 0), x.cause.cause()),
				fmt.Sprintf("no successful connect in the %s since", durWords(at-x.t)),
			}
			if at-x.t > e.offline {
				ev = append(ev, "nor its next token cut-off, due by then: the SDK reconnects at once after a cut-off, so the device has stopped")
			}
			if d.offline.inc != 0 {
				ev = append(ev, "disconnected during hub incident "+sc.incName(d.offline.inc))
			}
			// Since is the disconnect the device has been away from, as its
			// summary says ("offline since …"); At is when that became an
			// alert (offlineAt).
			sc.emit(Signal{Kind: DeviceOffline, Firing: true, Since: unix(x.t), At: unix(at), Incident: sc.incName(d.offline.inc),
				Summary:        fmt.Sprintf("%s has been offline since %s (%s)", d.key, clock(x.t, 0), x.cause.cause()),
				Evidence:       ev,
				Recommendation: "Check the device: it has not reconnected since its disconnect and has probably crashed, lost power or lost its network."})
		}
		os := d.offline
		c, back := d.connectIn(os.ref, w)
		if u := d.returnedUnseen(os.ref, w); u != 0 && (!back || u < c) {
			d.offline.firing = false
			sc.emit(Signal{Kind: DeviceOffline, Since: unix(os.ref), At: unix(max(u, os.since)), Incident: sc.incName(os.inc),
				Summary: fmt.Sprintf("%s is back: it disconnected again at %s, so it had reconnected", d.key, clock(u, 0)),
				Evidence: []string{fmt.Sprintf("disconnect at %s, %s after the one it was offline from, with no connect on record between: the record of its reconnect was lost in delivery",
					clock(u, 0), durWords(u-os.ref))}})
			continue
		}
		if back {
			d.offline.firing = false
			sc.emit(Signal{Kind: DeviceOffline, Since: unix(os.ref), At: unix(max(c, os.since)), Incident: sc.incName(os.inc),
				Summary:  fmt.Sprintf("%s is back: connected at %s", d.key, clock(c, 0)),
				Evidence: []string{fmt.Sprintf("successful connect at %s, %s after its disconnect", clock(c, 0), durWords(c-os.ref))}})
			continue
		}
		if d.deleted != 0 && d.deleted <= w {
			d.offline.firing = false
			d.offline.ref = max(d.offline.ref, d.deleted)
			sc.emit(Signal{Kind: DeviceOffline, Since: unix(os.ref), At: unix(max(d.deleted, os.since)), Incident: sc.incName(os.inc),
				Summary: sc.deletedSummary(), Evidence: sc.deletedWords()})
		}
		break
	}
}

// flappingSignals is the device-flapping alert: FlapCount seed-2 disconnects
// within FlapWindow; clears after FlapReset connected without a disconnect.
func (e *Engine) flappingSignals(sc *signalCtx) {
	h, d, w := sc.h, sc.d, sc.w
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
				if !fl[j].seed2At(at) || !sc.alive(at) {
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
				sc.emit(Signal{Kind: DeviceFlapping, Firing: true, Since: unix(at), At: unix(at), Incident: sc.incName(d.flapping.inc),
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
			sc.emit(Signal{Kind: DeviceFlapping, Since: unix(fs.since), At: unix(at), Incident: sc.incName(fs.inc),
				Summary:  fmt.Sprintf("%s has stayed connected since %s", d.key, clock(c, 0)),
				Evidence: []string{fmt.Sprintf("connected at %s and no disconnect for %s", clock(c, 0), durWords(e.flapReset))}})
			continue
		}
		if d.deleted != 0 && d.deleted <= w {
			d.flapping.firing = false
			d.flapping.ref = max(d.deleted, fs.since)
			sc.emit(Signal{Kind: DeviceFlapping, Since: unix(fs.since), At: unix(max(d.deleted, fs.since)), Incident: sc.incName(fs.inc),
				Summary: sc.deletedSummary(), Evidence: sc.deletedWords()})
		}
		break
	}
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
