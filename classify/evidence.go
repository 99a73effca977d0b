package classify

import (
	"fmt"

	"github.com/disconnect-doctor/disconnect-doctor/event"
)

// Rule windows around a 404104 at t (seconds). A 401003 "beside" the 404104
// is the hub refusing the token that the disconnect ends; resource-log times
// have second precision, so the window is generous on both sides.
const (
	besideBefore = 30
	besideAfter  = 5
)

// tokenEvidence is the device's own token evidence for a 404104 at t.
type tokenEvidence struct {
	beside     int // index of the 401003 beside, -1 none
	onPeriod   bool
	close      bool // on its period within closeMatch
	loose      bool // on its period, but not closely enough without other token evidence
	havePeriod bool
	p          period
	connected  int64 // seconds since the session's token was made (device.tokenStartIdx), -1 unknown
	anchored   bool  // connected runs from the previous disconnect (its reconnect record was lost)
	refused    bool  // … or from a connect the hub refused after it
	reused     bool  // … or from an earlier connect, whose token the session's own connect presented again
	start      int   // the entry connected runs from, -1 none
	sdk        connSDK
	// repeatAt: the period p is the one the device's previous session,
	// ended by a token cut-off at repeatAt, lasted from its own connect
	// (repeatsLastCut); 0 none.
	repeatAt int64
}

// ok reports whether the device's own records show the token pattern: a
// 401003 beside the 404104, or the disconnect on its learned period.
func (te *tokenEvidence) ok() bool { return te.beside >= 0 || te.onPeriod }

// outlived reports whether the token's age on record runs past HubCutMax
// while the device has shown no period: a token longer than a default one
// (the hub's late figures judge it). With a period shown, such an age is
// off that period instead.
func (te *tokenEvidence) outlived() bool { return te.connected > HubCutMax && !te.havePeriod }

func (d *device) tokenEvidence(t, first, tol int64) tokenEvidence {
	te := tokenEvidence{beside: -1, connected: -1}
	si, anch := d.sessionStartIdx(t)
	haveStart := si >= 0
	var st int64
	if haveStart {
		st = d.entries[si].t
	}
	lo, hi := d.window(t-besideBefore, t+besideAfter)
	for i := lo; i < hi; i++ {
		// a 401003 before the session's connect refused the previous
		// token, not the one this disconnect ends
		if x := &d.entries[i]; x.isUnauthorized() && (!haveStart || anch || x.t >= st) {
			// the closest one wins; ties go to the earlier record
			if te.beside < 0 || abs64(d.entries[i].t-t) < abs64(d.entries[te.beside].t-t) {
				te.beside = i
			}
		}
	}
	te.sdk = d.sdkAt(t)
	te.p, te.havePeriod = learnedPeriod(d.samples, t, te.sdk)
	var walked []int
	var visit func(int) // only a client the hub cuts off is walked back
	if te.sdk.hubCut() {
		visit = func(i int) { walked = append(walked, i) }
	}
	ti, tanch := d.tokenStartIdx(t, first, visit)
	if ti < 0 || !te.fits(t-d.entries[ti].t) {
		if c := d.fittingStart(t, walked, &te); c >= 0 {
			ti, tanch = c, c == si && anch
		} else if te.beside >= 0 && haveStart && !anch && d.repeatsDrop(si, t, tol) {
			ti, tanch = si, false
		}
	}
	te.start = ti
	if ti >= 0 {
		te.connected, te.anchored = t-d.entries[ti].t, tanch
		te.refused = tanch && d.entries[ti].isRefusedConnect()
		te.reused = ti != si
	}
	if te.havePeriod && te.connected >= 0 && te.fits(te.connected) {
		te.onPeriod = true
		te.close = abs64(te.connected-te.p.dur) <= closeMatch
	}
	d.repeatsLastCut(&te, tol)
	return te
}

// fits reports whether a token age of age seconds is one at which the
// device's token ends: its learned period, or — none learned — the hub's
// cut-off of a default .NET or Java token.
func (te *tokenEvidence) fits(age int64) bool {
	if te.havePeriod {
		return abs64(age-te.p.dur) <= te.p.tol
	}
	return te.sdk.hubCut() && age >= HubCutMin && age <= HubCutMax
}

// fittingStart returns the newest connect among walked (the entries the
// walk back of tokenStartIdx rested on, newest first) from which the age of
// a 404104 at t fits its token (fits), for when the age tokenStartIdx gives
// does not: the connect where the client made its token after all — one
// that creates its client anew after a drop (the session's own connect),
// or one whose cut-off a hub incident's burst hid (a connect further
// back). -1 none.
func (d *device) fittingStart(t int64, walked []int, te *tokenEvidence) int {
	for _, i := range walked {
		if x := &d.entries[i]; x.kind == event.Connect && te.fits(t-x.t) {
			return i
		}
	}
	return -1
}

// repeatsLastCut finds the token period a device's last cut-off hid. That
// cut-off's session began at a reconnect after a hub incident's drop, and
// its age ran back across that reconnect because, by the default hour's
// renewal age (tokenDue), the client presented its token again there: so a
// custom 20-minute token, due by then and renewed at that reconnect, reads
// as a 64-minute one. When the session ending at t began at the reconnect
// after that cut-off and lasts, within tol, as long as the cut-off's
// session did from its own connect, the two sessions repeat that age: the
// token lives that long, and the age across the incident was wrong. te then
// holds that age as the period (its onPeriod, with repeatAt the cut-off),
// and recordSample corrects the cut-off's sample so the period is learned
// from now on.
//
// It applies to a client the hub cuts off, whose session is on record from
// its own connect, when nothing else about its token decides (no 401003,
// not on its learned period), and not when the cut-off's age across the
// incident fell on a period the device had shown before it (the token was
// reused, as the walk said). A reconnect after a drop of the device's own is
// repeatsDrop's case, decided at the cut-off itself.
func (d *device) repeatsLastCut(te *tokenEvidence, tol int64) {
	if te.ok() || !te.sdk.hubCut() || te.start < 0 || te.reused || te.anchored {
		return
	}
	j := d.last404104Before(te.start)
	if j < 0 || (d.entries[j].cause != ccTokenExpiry && d.entries[j].cause != ccRenewalFailed) {
		return
	}
	pt := d.entries[j].t
	k := d.sampleAt(pt)
	if k < 0 || !d.samples[k].reused() {
		return
	}
	if p, ok := learnedPeriod(d.samples, pt, te.sdk); ok && abs64(int64(d.samples[k].dur)-p.dur) <= p.tol {
		return // the reused age fell on the period known then: the token was reused
	}
	c, anch := d.sessionStartIdx(pt)
	if c < 0 || anch {
		return
	}
	if b := d.last404104Before(c); b < 0 || d.entries[b].cause != ccHubTransient {
		return
	}
	own := pt - d.entries[c].t
	if own < hubCutDelayMax || abs64(te.connected-own) > tol {
		return
	}
	te.p = period{dur: own, tol: tol, n: 2, by: d.samples[k].backed()}
	te.havePeriod, te.onPeriod, te.repeatAt = true, true, pt
	te.close = abs64(te.connected-own) <= closeMatch
}

// repeatsDrop reports whether the session from the connect at entries[si]
// to a 401003-backed cut-off at t lasted, within tol, as long as the
// session before it, which ended in a 404104 judged device-or-network, did
// from its own connect: the device's sessions repeat that age, so that
// 404104 was a cut-off whose 401003 went unlogged and the reconnect after
// it made a new token — not, as the default hour's renewal age has it
// (tokenStartIdx), a drop the token outlived. tokenEvidence asks it only
// when the age across the reconnect fits no cut-off; reviseEarlier then
// revises that 404104 on the period this cut-off teaches.
func (d *device) repeatsDrop(si int, t, tol int64) bool {
	j := d.last404104Before(si)
	if j < 0 || d.entries[j].cause != ccDeviceOrNetwork {
		return false
	}
	own, ok := d.ownAge(d.entries[j].t)
	return ok && abs64(t-d.entries[si].t-own) <= tol
}

// ownAge returns the age of the session ending at t from its own connect,
// when that connect is on record and the age is one a token can have (at
// least the hub's longest enforcement delay).
func (d *device) ownAge(t int64) (int64, bool) {
	c, anch := d.sessionStartIdx(t)
	if c < 0 || anch {
		return 0, false
	}
	own := t - d.entries[c].t
	return own, own >= hubCutDelayMax
}

// last404104Before returns the index of the 404104 that ended the session
// before the connect at entries[ci] (the 401003 of a cut-off may be logged
// after it in the same second), or -1 when none is on record.
func (d *device) last404104Before(ci int) int {
	for i := ci - 1; i >= 0; i-- {
		switch x := &d.entries[i]; {
		case x.isSuccessConnect():
			return -1
		case x.is404104():
			return i
		}
	}
	return -1
}

// sdkPrior is the token evidence of a device's SDK while no period is
// learned for it (reference §6.1, §6.2, §8 "use sdkVersion from the last
// deviceConnect"): a .NET or Java client over MQTT is cut off by the hub at
// token lifespan plus up to ~10 minutes, so a session of that age ending in
// a 404104 is its token running out. A learned period takes precedence,
// unless it is a default token's own (period.defaultToken: the hub's delay
// within its 5–10 minutes may differ between cut-offs, so the window stays
// evidence beside it), and C, Node and Python clients, which renew cleanly,
// never get this prior.
//
// unknownAge: the session began before the hub's records did (no connect on
// record — the first hour after the diagnostic setting or this app started,
// or a device quiet since before retention) and those records began less
// than the window's end (HubCutMax) before t. Its age is then unknown, but
// not unconstrained: a default .NET or Java client is cut once every 65–70
// minutes, so every one connected before the records began is cut exactly
// once within their first HubCutMax — unless something else ends its
// session first. A disconnect of such a client in that span, with no 401003
// and the quick reconnect a cut-off brings, is therefore its cut-off unless
// the device's network dropped before its token ran out, which on any fleet
// where network drops are rarer than once an hour per device is the less
// likely of the two. The verdict stays token-expiry, at the lowest
// confidence a token verdict has, and says that the age could not be
// checked. (Judging it device-or-network instead, on the ground that no age
// means no timing evidence, was measured on the 30 000-device run: 2 961
// such verdicts were token cut-offs whose 401003 was not logged, 69 were
// network drops.) Past HubCutMax after the records began the age is known to
// exceed the window, so the token is not a default one and the documented
// prior does not apply; only the hub's own figures on such longer tokens
// (cutStats.lateCutLikelier) can make the drop its cut-off. So with a
// session age on record past HubCutMax: the token outlived a default one.
func (te *tokenEvidence) sdkPrior(h *hub, t int64) (prior, unknownAge bool) {
	if te.ok() || (te.havePeriod && !te.p.defaultToken()) || !te.sdk.hubCut() {
		return false, false
	}
	if te.connected > HubCutMax {
		return te.outlived() && h.cuts.lateCutLikelier(), false
	}
	if te.connected >= 0 {
		return te.connected >= HubCutMin, false
	}
	if h.first != 0 && (t-h.first <= HubCutMax || h.cuts.lateCutLikelier()) {
		return true, true
	}
	return false, false
}

// facts is everything the rules look at for one 404104, gathered once by
// Engine.gather: the device's own token evidence, whether and when it came
// back, the 401003s refusing its reconnects, the codes of a second client
// on its identity, the hub incident whose burst caught it, and its SDK's
// documented token cut-off.
type facts struct {
	d     *device
	h     *hub
	i     int   // index of the 404104 in d.entries
	t     int64 // its time
	ref   int64 // the time evidence text is dated against (clock)
	grace int64 // ReconnectGrace, seconds

	te tokenEvidence

	// reconnect: a successful connect within the grace, at reconnectT.
	reconnect  bool
	reconnectT int64
	// unseenBack: no reconnect within the grace, but the device
	// disconnected again at unseenBack with no connect on record before
	// that (returnedUnseen): it came back, when is unknown; 0 when not so.
	unseenBack int64
	// failed 401003s after the disconnect within the grace (refused
	// connects), the first and last of them, and the class of the last.
	failed              int
	firstFail, lastFail int64
	failClass           msgClass
	// duplicate-identity codes within the grace either side, and the
	// time of the first; near400027 and nearT: the 400027s within
	// besideAfter of it (the hub closing the old connection at the moment
	// of this disconnect), and the time of the first.
	n400027, n409002 int
	dupT             int64
	near400027       int
	nearT            int64
	// inc is the hub incident whose burst the disconnect was part of.
	inc *incident
	// prior: the SDK's token cut-off explains the session's age (sdkPrior);
	// unknownAge: that age is only consistent with it (no connect on record);
	// late: past the records' first HubCutMax, on the hub's figures.
	prior, unknownAge, late bool
	// figLine is the evidence line tokenWords wrote from the hub's live
	// cut-off figures (verdict.figLine), "" none.
	figLine string
	// veto: the prior would hold on an unknown age, but the hub's own
	// cut-off figures make a network drop the likelier cause
	// (cutStats.cutLikelier).
	veto bool
}

// gather collects the facts for the 404104 at d.entries[i].
func (e *Engine) gather(d *device, h *hub, i int, ref int64) facts {
	t := d.entries[i].t
	f := facts{d: d, h: h, i: i, t: t, ref: ref, grace: e.grace, te: d.tokenEvidence(t, h.first, h.repeatTol())}
	f.reconnectT, f.reconnect = d.reconnectAfter(t, e.grace)
	if !f.reconnect {
		f.unseenBack = d.returnedUnseen(t, maxT)
	}
	f.gatherRefusals()
	f.gatherDuplicates()
	f.inc = e.caughtIn(h, d, i)
	f.prior, f.unknownAge = f.te.sdkPrior(h, t)
	_, late := f.ageSpan()
	f.late = f.prior && late
	if f.unknownAge && !f.late && f.back() && !h.cuts.cutLikelier() {
		f.prior, f.unknownAge, f.veto = false, false, true
	}
	if f.te.beside < 0 && f.te.onPeriod && !f.te.close && (!f.back() || f.inc != nil) {
		// the period match is all that is left of the token signature:
		// it must be close, not merely within the enforcement jitter
		f.te.onPeriod, f.te.loose = false, true
	}
	return f
}

// reconnectAfter returns the device's return after a 404104 at t: a
// successful resource-log connect in [t, t+grace] (same second counts: a
// device can be back within the second), else a Connected state event
// whose sequence number is the newest there.
func (d *device) reconnectAfter(t, grace int64) (int64, bool) {
	lo, hi := d.window(t, t+grace)
	for j := lo; j < hi; j++ {
		if d.entries[j].isSuccessConnect() {
			return d.entries[j].t, true
		}
	}
	return d.stateConnectedIn(t, t+grace)
}

// returnedUnseen returns the time of the device's first disconnect record
// in (t, to] when no successful connect or Connected state event precedes
// it there, else 0. A device cannot be disconnected again without having
// connected: it came back, and the records of that return were lost in
// delivery (resource logs "might be lost", reference §1.6). The 404104 at
// t then cannot be said not to have been followed by a reconnect — only
// that the time of it is unknown — and a device-offline alert for it would
// be false. Records within besideAfter of t are the disconnect's own (a
// 401003 logged just after it), not a later one.
func (d *device) returnedUnseen(t, to int64) int64 {
	lo, hi := d.window(t+besideAfter+1, to)
	for j := lo; j < hi; j++ {
		switch x := &d.entries[j]; {
		case x.isSuccessConnect() || x.kind == event.StateConnected:
			return 0
		case x.kind == event.Disconnect:
			return x.t
		}
	}
	return 0
}

// ageSpan says where the token's age stands against a default token's
// HubCutMax, for the hub's cut-off figures (cutKindOf) and the prior that
// judges a late drop on them (sdkPrior): early, a token older than the
// records within their first HubCutMax; late, one older than the records
// past it, or on record past HubCutMax with no period shown (outlived).
func (f *facts) ageSpan() (early, late bool) {
	if f.te.connected < 0 && f.h.first != 0 {
		early = f.t-f.h.first <= HubCutMax
		return early, !early
	}
	return false, f.te.outlived()
}

// back reports whether the device is known to have come back after the
// 404104: within the grace on record, or unseen before it disconnected
// again.
func (f *facts) back() bool { return f.reconnect || f.unseenBack != 0 }

// gatherRefusals counts the 401003s that continue after the disconnect
// within the grace: refused connects.
func (f *facts) gatherRefusals() {
	lo, hi := f.d.window(f.t, f.t+f.grace)
	for j := lo; j < hi; j++ {
		x := &f.d.entries[j]
		if !x.isUnauthorized() || !(x.kind == event.Connect || x.t > f.t+besideAfter) {
			continue
		}
		if f.failed == 0 {
			f.firstFail = x.t
		}
		f.failed++
		f.lastFail = x.t
		f.failClass = x.class
	}
}

// gatherDuplicates counts 400027 / 409002 within the grace either side of
// the disconnect.
func (f *facts) gatherDuplicates() {
	lo, hi := f.d.window(f.t-f.grace, f.t+f.grace)
	for j := lo; j < hi; j++ {
		x := &f.d.entries[j]
		if !x.isDupIdentity() {
			continue
		}
		if x.code == event.CodeClosedOnNewConnection {
			f.n400027++
			if abs64(x.t-f.t) <= besideAfter {
				if f.near400027 == 0 {
					f.nearT = x.t
				}
				f.near400027++
			}
		} else {
			f.n409002++
		}
		if f.dupT == 0 {
			f.dupT = x.t
		}
	}
}

// tokenClass is what the 401003s say about a token verdict's fix: the one
// beside the disconnect, overridden by the refusals that follow it.
func (f *facts) tokenClass() msgClass {
	c := mcGeneric
	if f.te.beside >= 0 {
		c = f.d.entries[f.te.beside].class
	}
	if f.failed > 0 && f.failClass != mcNone {
		c = f.failClass
	}
	return c
}

// tokenWords appends the token evidence in words: the 401003 beside the
// disconnect (or its absence), the session's age against the learned period,
// and the SDK's cut-off when it applies.
func (f *facts) tokenWords(ev []string) []string {
	te := &f.te
	if te.beside >= 0 {
		b := &f.d.entries[te.beside]
		ev = append(ev, fmt.Sprintf("401003 IoTHubUnauthorized at %s, %s the disconnect%s",
			clock(b.t, f.ref), relWords(b.t-f.t), classWords(b.class)))
	} else {
		ev = append(ev, fmt.Sprintf("no 401003 within %ds", besideBefore))
	}
	since := sinceWords(te.anchored, te.refused, te.reused)
	switch {
	case te.repeatAt != 0:
		ev = append(ev, fmt.Sprintf("%s %s before, as long as its session before lasted from its own connect (%s) to its token expiry at %s: its token lives that long, so the reconnect after the hub incident made a new one",
			since, durWords(te.connected), durWords(te.p.dur), clock(te.repeatAt, f.ref)))
	case te.onPeriod:
		ev = append(ev, fmt.Sprintf("%s %s before, matching its learned token period of %s (±%s)",
			since, durWords(te.connected), durWords(te.p.dur), durWords(te.p.tol)))
	case te.havePeriod && te.connected >= 0:
		ev = append(ev, fmt.Sprintf("%s %s before, off its learned token period of %s (±%s)",
			since, durWords(te.connected), durWords(te.p.dur), durWords(te.p.tol)))
	case te.connected >= 0:
		ev = append(ev, fmt.Sprintf("%s %s before; no token period learned yet", since, durWords(te.connected)))
	case f.h.first != 0:
		ev = append(ev, fmt.Sprintf("its connect is not on record (records began at %s, %s before)", clock(f.h.first, f.ref), durWords(f.t-f.h.first)))
	}
	if f.veto {
		f.figLine = fmt.Sprintf("a %s client over MQTT whose session began before the records did, as one its token cut-off ends would, %s",
			te.sdk.family(), f.h.cuts.vetoWords())
		ev = append(ev, f.figLine)
	}
	if f.late {
		// a token longer than the default: the hub's own figures, not the
		// SDK's documented cut-off, are the evidence (sdkPrior)
		lived := fmt.Sprintf("predates the records by more than %s", durWords(HubCutMax))
		if te.connected >= 0 {
			lived = "has lived " + durWords(te.connected)
		}
		f.figLine = fmt.Sprintf("a %s client over MQTT whose token %s, longer than a default token lives: %s",
			te.sdk.family(), lived, f.h.cuts.lateWords())
		return append(ev, f.figLine)
	}
	if f.prior {
		ev = append(ev, fmt.Sprintf("a %s client over MQTT (sdkVersion of its connect), which IoT Hub cuts off at token expiry, %s–%s after connecting with default tokens",
			te.sdk.family(), durWords(hubCutLifespan+hubCutDelayMin), durWords(hubCutLifespan+hubCutDelayMax)))
		if f.unknownAge {
			// why the prior holds without a session age (sdkPrior): each
			// such client connected before the records began is cut once
			// within their first HubCutMax, and that cut-off is by far the
			// likelier of the two things that end its session then
			ev = append(ev, fmt.Sprintf("its session began before the records did: such a client is cut off once within the records' first %s, so this is most likely that cut-off, though its session's age cannot be checked",
				durWords(HubCutMax)))
		}
	}
	return ev
}

// reconnectWords appends whether the device came back within the grace.
func (f *facts) reconnectWords(ev []string) []string {
	if f.reconnect {
		return append(ev, fmt.Sprintf("reconnected %s later", durWords(f.reconnectT-f.t)))
	}
	if f.unseenBack != 0 {
		return append(ev, fmt.Sprintf("no connect on record after it, yet it disconnected again at %s: it came back, and the record of its reconnect was lost in delivery",
			clock(f.unseenBack, f.ref)))
	}
	return append(ev, fmt.Sprintf("no successful connect within %s", durWords(f.grace)))
}

// sinceWords names what a session's age runs from (tokenStartIdx): its
// connect, or — when the reconnect record was lost — the disconnect or the
// refused connect it is anchored on, or the earlier connect whose token its
// reconnects presented again.
func sinceWords(anchored, refused, reused bool) string {
	switch {
	case refused:
		return "refused a connect (its successful reconnect record is missing)"
	case anchored:
		return "disconnected (its reconnect record is missing)"
	case reused:
		return "first connected with this token (its reconnects since reused it)"
	}
	return "connected"
}
