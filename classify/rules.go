package classify

import (
	"fmt"
	"hash/fnv"
	"math"
)

// verdict is the outcome of the rules for one 404104.
type verdict struct {
	cause      causeCode
	confidence float64
	evidence   []string
	rec        string
	incident   *incident
	class      msgClass
	reconnect  bool  // a successful connect within the grace
	reconnectT int64 // its time
	backed     bool  // a 401003 stood beside the 404104
	onPeriod   bool  // the disconnect fell on the device's learned period
	prior      bool  // a token expiry on the hub-cut SDK prior alone (sdkPrior)
	incLine    int   // index of the live incident line in evidence, -1 none
	// figLine is the evidence line quoting the hub's cut-off figures (the
	// veto, a late drop), which change with every cut-off the hub sees:
	// like the incident line, it is not part of the fingerprint, so that a
	// verdict is re-emitted when its cause or its own evidence changes, not
	// on every tick
	figLine string
	// what the hub's cut-off figures learn from it (cutStats.learn): the
	// session's age (-1 unknown), a hub-cut client, inside an incident's
	// span, a token older than the records within their first HubCutMax
	// (early) or past it (late)
	age    int64
	hubCut bool
	inSpan bool
	early  bool
	late   bool
}

// fingerprint identifies a verdict's content (cause, evidence, incident)
// so that an unchanged re-evaluation emits nothing.
func (v *verdict) fingerprint() uint32 {
	h := fnv.New32a()
	h.Write([]byte{byte(v.cause), byte(math.Round(v.confidence * 100))})
	for i, e := range v.evidence {
		if i == v.incLine || (v.figLine != "" && e == v.figLine) {
			continue // live incident counts and hub figures change; the incident start is hashed below
		}
		h.Write([]byte(e))
		h.Write([]byte{0})
	}
	if v.incident != nil {
		var b [8]byte
		for i := range b {
			b[i] = byte(v.incident.idStart >> (8 * i))
		}
		h.Write(b[:])
	}
	return h.Sum32()
}

// rule is one classification rule of PRODUCT.md §5: it looks at the facts
// gathered for one 404104 and, when it applies, returns the verdict with
// its evidence in words and its confidence. The first rule that applies
// wins (Engine.rules holds the order).
type rule struct {
	name  string
	apply func(f *facts) (verdict, bool)
}

// ruleOrder is the precedence of the rules, strongest evidence first:
// the device's own token evidence (§5 "per-device evidence first"), then
// the codes of a second client on its identity, then the hub incident whose
// burst caught it, then its SDK's documented token cut-off, and otherwise
// the device or its network.
func (e *Engine) ruleOrder() []rule {
	return []rule{
		{"tokenRenewalFailed", e.tokenRenewalFailed},
		{"tokenBy401003", e.tokenBy401003},
		{"tokenByLearnedPeriod", e.tokenByLearnedPeriod},
		{"duplicateIdentity", e.duplicateIdentity},
		{"hubBurst", e.hubBurst},
		{"tokenBySDKPrior", e.tokenBySDKPrior},
		{"deviceOrNetwork", e.deviceOrNetwork},
	}
}

// decide applies PRODUCT.md §5 to the 404104 at entries[i], on all evidence
// ingested so far: it gathers the facts once and runs the rules in order. It
// is a pure function of the device's timeline and samples, the hub's
// incidents and the configuration. ref is the time the evidence's times are
// dated against (timetext): the disconnect itself for a diagnosis, 0 (always
// dated) for alert text a reminder may repeat days later.
func (e *Engine) decide(d *device, h *hub, i int, ref int64) verdict {
	f := e.gather(d, h, i, ref)
	var v verdict
	for _, r := range e.rules {
		if rv, ok := r.apply(&f); ok {
			v = rv
			break
		}
	}
	return e.finish(&f, v)
}

// finish completes a rule's verdict with what every verdict carries: the
// reconnect and token facts later stages read (samples, revisions), the
// incident it was caught in even when its own evidence decided, the
// rounded confidence and the recommendation.
func (e *Engine) finish(f *facts, v verdict) verdict {
	v.backed = f.te.beside >= 0
	v.onPeriod = f.te.onPeriod
	v.figLine = f.figLine
	v.reconnect, v.reconnectT = f.reconnect, f.reconnectT
	v.age, v.hubCut, v.inSpan = f.te.connected, f.te.sdk.hubCut(), f.h.incidentAt(f.t) != nil
	v.early, v.late = f.ageSpan()
	if v.cause != ccHubTransient && f.inc != nil {
		v.incident = f.inc
		v.evidence = append(v.evidence, fmt.Sprintf("during hub incident %s, but the device's own evidence decides", incidentID(f.h.name, f.inc.idStart)))
	}
	v.confidence = math.Round(clamp01(v.confidence)*100) / 100
	v.rec = recommendation(v.cause, v.class, f.back())
	return v
}

// tokenRenewalFailed: the device's own token evidence (a 401003 beside the
// disconnect, or its learned period — or, neither shown yet, its SDK's
// cut-off age) and it is not getting back in — 401003s continue on its
// connects, or the hub says the identity is gone.
func (e *Engine) tokenRenewalFailed(f *facts) (verdict, bool) {
	if !(f.te.ok() || f.prior) || f.back() {
		return verdict{}, false
	}
	class := f.tokenClass()
	if f.failed == 0 && class != mcDeviceGone {
		return verdict{}, false
	}
	v := verdict{cause: ccRenewalFailed, class: class, incLine: -1}
	ev := f.tokenWords(nil)
	ev = f.reconnectWords(ev)
	if f.failed > 0 {
		ev = append(ev, fmt.Sprintf("401003 continues: %d refused connect(s) between %s and %s%s",
			f.failed, clock(f.firstFail, f.ref), clock(f.lastFail, f.ref), classWords(class)))
	}
	v.evidence = ev
	v.confidence = 0.7 + 0.05*float64(min(f.failed, 5))
	if f.te.beside < 0 {
		v.confidence -= 0.1
	}
	return v, true
}

// tokenBy401003: the hub refused the device's token beside the disconnect
// (reference §2.2: 401003 → 404104 → reconnect) and the device is back or
// not refused again.
func (e *Engine) tokenBy401003(f *facts) (verdict, bool) {
	if f.te.beside < 0 {
		return verdict{}, false
	}
	return f.tokenExpiry(), true
}

// tokenByLearnedPeriod: the session ended on the device's own learned token
// period (§5 "learned, not hard-coded, periods"); closely on it when that
// match is all the token evidence left (see gather).
func (e *Engine) tokenByLearnedPeriod(f *facts) (verdict, bool) {
	if !f.te.onPeriod {
		return verdict{}, false
	}
	return f.tokenExpiry(), true
}

// duplicateIdentity: a second client on the identity knocked this one off —
// 400027 around the disconnect, or 409002 outside a hub incident (during
// one, link conflicts are the reconnect storm's side effect). When a hub
// incident's burst caught the disconnect, the burst explains it unless the
// 400027 is its own, logged within besideAfter of it: a device whose two
// clients knock each other off every few minutes has a 400027 within the
// grace of nearly any disconnect of its, the hub's included.
func (e *Engine) duplicateIdentity(f *facts) (verdict, bool) {
	n400027, first := f.n400027, f.dupT
	if f.inc != nil {
		n400027, first = f.near400027, f.nearT
	}
	if n400027 == 0 && (f.n409002 == 0 || f.inc != nil) {
		return verdict{}, false
	}
	v := verdict{cause: ccDuplicateIdentity, incLine: -1}
	var ev []string
	if n400027 > 0 {
		ev = append(ev, fmt.Sprintf("400027 ConnectionForcefullyClosedOnNewConnection ×%d around the disconnect (first at %s)", n400027, clock(first, f.ref)))
	}
	if f.n409002 > 0 {
		ev = append(ev, fmt.Sprintf("409002 LinkCreationConflict ×%d around the disconnect", f.n409002))
	}
	ev = append(ev, fmt.Sprintf("no 401003 within %ds", besideBefore))
	v.evidence = f.reconnectWords(ev)
	v.confidence = 0.7
	if n400027 > 0 {
		v.confidence += 0.1
	}
	if n400027+f.n409002 > 1 {
		v.confidence += 0.1
	}
	return v, true
}

// hubBurst: the disconnect was part of the burst of a hub incident (many
// devices at once, unexplained by their own evidence, with hub-side errors
// above the hub's usual rate: caughtIn).
func (e *Engine) hubBurst(f *facts) (verdict, bool) {
	in := f.inc
	if in == nil {
		return verdict{}, false
	}
	v := verdict{cause: ccHubTransient, incident: in, incLine: 0}
	ev := []string{in.summary(f.ref), fmt.Sprintf("no 401003 within %ds", besideBefore)}
	if f.te.havePeriod && f.te.connected >= 0 {
		ev = append(ev, fmt.Sprintf("connected %s before, off its learned token period of %s", durWords(f.te.connected), durWords(f.te.p.dur)))
	}
	ev = f.reconnectWords(ev)
	v.confidence = 0.75
	if in.metric {
		v.confidence += 0.1
		ev = append(ev, "a connected-devices metric alert fired during the incident")
	}
	if in.hubErrors >= 3*max(1, in.devices) {
		v.confidence += 0.05
	}
	v.evidence = ev
	return v, true
}

// tokenBySDKPrior: no token evidence of its own and no period learned yet,
// but a .NET or Java client over MQTT whose session ended at the age the hub
// cuts such clients off (sdkPrior), with the reconnect that follows a cut —
// inside a hub incident's span, where the hub itself refuses reconnects, a
// missing one says nothing against it.
func (e *Engine) tokenBySDKPrior(f *facts) (verdict, bool) {
	if !f.prior || !(f.back() || f.h.incidentAt(f.t) != nil) {
		return verdict{}, false
	}
	v := f.tokenExpiry()
	v.prior = !f.unknownAge // only a known session age can be found off a period learned later
	return v, true
}

// deviceOrNetwork: nothing else explains the disconnect — no token evidence,
// no second client, not part of a hub burst: keep-alive timeout, reset or
// crash on the device's side (PRODUCT.md §1 cause 2).
func (e *Engine) deviceOrNetwork(f *facts) (verdict, bool) {
	v := verdict{cause: ccDeviceOrNetwork, incLine: -1}
	ev := f.tokenWords(nil)
	if in := f.h.incidentAt(f.t); in != nil {
		ev = append(ev, fmt.Sprintf("during hub incident %s, but not part of its burst: fewer than %d other devices disconnected unexplained within %ds",
			incidentID(f.h.name, in.idStart), e.hubBurstPeers(f.h), burstSpan))
	} else {
		ev = append(ev, "no hub incident at the time")
	}
	v.evidence = f.reconnectWords(ev)
	v.confidence = 0.6
	if f.te.havePeriod {
		v.confidence += 0.1 // its token period is known and this is off it
	}
	if !f.back() {
		v.confidence += 0.1 // slow or no return points at the device or its network
	}
	if f.te.connected < 0 {
		v.confidence -= 0.1 // little history to go on
	}
	return v, true
}

// tokenExpiry renders a token-expiry verdict on the facts (by 401003, by
// learned period, or by the SDK prior alone).
func (f *facts) tokenExpiry() verdict {
	v := verdict{cause: ccTokenExpiry, class: f.tokenClass(), incLine: -1}
	if !f.te.ok() {
		v.class = mcGeneric
	}
	ev := f.tokenWords(nil)
	ev = f.reconnectWords(ev)
	if f.failed > 0 {
		ev = append(ev, fmt.Sprintf("%d more 401003 after the disconnect", f.failed))
	}
	v.evidence = ev
	conf := 0.55
	if f.te.beside >= 0 {
		conf = 0.8
	}
	if !f.te.ok() { // the SDK prior alone: the device's own timing, not the hub's word
		conf = 0.5
		if f.unknownAge {
			conf = 0.42
		}
	}
	if f.te.beside >= 0 && f.te.onPeriod {
		conf += 0.1
	}
	if f.te.onPeriod && f.te.p.by {
		conf += 0.05
	}
	switch {
	case f.reconnect:
		conf += 0.08
	case f.unseenBack == 0:
		conf -= 0.1
	}
	v.confidence = conf
	return v
}
