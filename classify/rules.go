package classify

import (
	"fmt"
	"hash/fnv"
	"math"
	"time"

	"github.com/disconnect-doctor/disconnect-doctor/event"
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
}

// fingerprint identifies a verdict's content (cause, evidence, incident)
// so that an unchanged re-evaluation emits nothing.
func (v *verdict) fingerprint() uint32 {
	h := fnv.New32a()
	h.Write([]byte{byte(v.cause), byte(math.Round(v.confidence * 100))})
	for i, e := range v.evidence {
		if i == v.incLine {
			continue // live incident counts change; the incident start is hashed below
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

// decide applies PRODUCT.md §5 to the 404104 at entries[i], on all evidence
// ingested so far. It is a pure function of the device's timeline and
// samples, the hub's incidents and the configuration. ref is the time the
// evidence's times are dated against (timetext): the disconnect itself for a
// diagnosis, 0 (always dated) for alert text a reminder may repeat days later.
func (e *Engine) decide(d *device, h *hub, i int, ref int64) verdict {
	ent := &d.entries[i]
	t := ent.t
	grace := int64(e.cfg.ReconnectGrace / time.Second)
	te := d.tokenEvidence(t)
	v := verdict{incLine: -1, backed: te.beside >= 0}

	// reconnect: a successful resource-log connect in [t, t+grace] (same
	// second counts: a device can be back within the second), else a
	// Connected state event whose sequence number is the newest there.
	lo, hi := d.window(t, t+grace)
	for j := lo; j < hi; j++ {
		if d.entries[j].isSuccessConnect() {
			v.reconnect, v.reconnectT = true, d.entries[j].t
			break
		}
	}
	if !v.reconnect {
		if ct, ok := d.stateConnectedIn(t, t+grace); ok {
			v.reconnect, v.reconnectT = true, ct
		}
	}
	// 401003s continuing after the disconnect: failed connects.
	failed, firstFail, lastFail := 0, int64(0), int64(0)
	var failClass msgClass
	for j := lo; j < hi; j++ {
		x := &d.entries[j]
		if !x.isUnauthorized() {
			continue
		}
		if x.kind == event.Connect || x.t > t+besideAfter {
			if failed == 0 {
				firstFail = x.t
			}
			failed++
			lastFail = x.t
			failClass = x.class
		}
	}
	// duplicate identity: 400027 / 409002 around the 404104.
	n400027, n409002 := 0, 0
	var dupT int64
	dlo, dhi := d.window(t-grace, t+grace)
	for j := dlo; j < dhi; j++ {
		x := &d.entries[j]
		if x.isDupIdentity() {
			if x.code == event.CodeClosedOnNewConnection {
				n400027++
			} else {
				n409002++
			}
			if dupT == 0 {
				dupT = x.t
			}
		}
	}
	inc := e.caughtIn(h, d, i)
	prior, unknownAge := te.sdkPrior(h, t)
	if te.beside < 0 && te.onPeriod && !te.close && (!v.reconnect || inc != nil) {
		// the period match is all that is left of the token signature:
		// it must be close, not merely within the enforcement jitter
		te.onPeriod, te.loose = false, true
	}

	v.onPeriod = te.onPeriod
	switch {
	case te.ok():
		v.class = mcGeneric
		if te.beside >= 0 {
			v.class = d.entries[te.beside].class
		}
		if failed > 0 && failClass != mcNone {
			v.class = failClass
		}
		if !v.reconnect && failed > 0 {
			v.cause = ccRenewalFailed
		} else {
			v.cause = ccTokenExpiry
		}
		if v.class == mcDeviceGone && !v.reconnect {
			v.cause = ccRenewalFailed
		}
	case n400027 > 0 || (n409002 > 0 && inc == nil):
		v.cause = ccDuplicateIdentity
	case inc != nil:
		v.cause = ccHubTransient
		v.incident = inc
	case prior && (v.reconnect || h.incidentAt(t) != nil):
		// the SDK's documented cut-off with the reconnect that follows it
		// (inside a hub incident's span, where the hub itself refuses
		// reconnects, a missing one says nothing against it)
		v.cause = ccTokenExpiry
		v.class = mcGeneric
		v.prior = !unknownAge // only a known session age can be found off a period learned later
	default:
		v.cause = ccDeviceOrNetwork
	}
	if v.cause != ccHubTransient && inc != nil {
		v.incident = inc // caught in it even if explained otherwise
	}

	// Evidence, in words, and confidence.
	ev := make([]string, 0, 6)
	conf := 0.0
	tokenWords := func() {
		if te.beside >= 0 {
			b := &d.entries[te.beside]
			ev = append(ev, fmt.Sprintf("401003 IoTHubUnauthorized at %s, %s the disconnect%s",
				clock(b.t, ref), relWords(b.t-t), classWords(b.class)))
		} else {
			ev = append(ev, fmt.Sprintf("no 401003 within %ds", besideBefore))
		}
		since := "connected"
		if te.anchored {
			since = "disconnected (its reconnect record is missing)"
		}
		switch {
		case te.onPeriod:
			ev = append(ev, fmt.Sprintf("%s %s before, matching its learned token period of %s (±%s)",
				since, durWords(te.connected), durWords(te.p.dur), durWords(te.p.tol)))
		case te.havePeriod && te.connected >= 0:
			ev = append(ev, fmt.Sprintf("%s %s before, off its learned token period of %s (±%s)",
				since, durWords(te.connected), durWords(te.p.dur), durWords(te.p.tol)))
		case te.connected >= 0:
			ev = append(ev, fmt.Sprintf("%s %s before; no token period learned yet", since, durWords(te.connected)))
		case h.first != 0:
			ev = append(ev, fmt.Sprintf("its connect is not on record (records began at %s, %s before)", clock(h.first, ref), durWords(t-h.first)))
		}
		if prior {
			ev = append(ev, fmt.Sprintf("a %s client over MQTT (sdkVersion of its connect), which IoT Hub cuts off at token expiry, %s–%s after connecting with default tokens",
				te.sdk.family(), durWords(hubCutLifespan+hubCutDelayMin), durWords(hubCutLifespan+hubCutDelayMax)))
		}
	}
	reconnectWords := func() {
		if v.reconnect {
			ev = append(ev, fmt.Sprintf("reconnected %s later", durWords(v.reconnectT-t)))
		} else {
			ev = append(ev, fmt.Sprintf("no successful connect within %s", durWords(grace)))
		}
	}
	switch v.cause {
	case ccTokenExpiry:
		tokenWords()
		reconnectWords()
		if failed > 0 {
			ev = append(ev, fmt.Sprintf("%d more 401003 after the disconnect", failed))
		}
		conf = 0.55
		if te.beside >= 0 {
			conf = 0.8
		}
		if !te.ok() { // the SDK prior alone: the device's own timing, not the hub's word
			conf = 0.5
			if unknownAge {
				conf = 0.42
			}
		}
		if te.beside >= 0 && te.onPeriod {
			conf += 0.1
		}
		if te.onPeriod && te.p.by {
			conf += 0.05
		}
		if v.reconnect {
			conf += 0.08
		} else {
			conf -= 0.1
		}
	case ccRenewalFailed:
		tokenWords()
		reconnectWords()
		if failed > 0 {
			ev = append(ev, fmt.Sprintf("401003 continues: %d refused connect(s) between %s and %s%s",
				failed, clock(firstFail, ref), clock(lastFail, ref), classWords(v.class)))
		}
		conf = 0.7 + 0.05*float64(min(failed, 5))
		if te.beside < 0 {
			conf -= 0.1
		}
	case ccDuplicateIdentity:
		if n400027 > 0 {
			ev = append(ev, fmt.Sprintf("400027 ConnectionForcefullyClosedOnNewConnection ×%d around the disconnect (first at %s)", n400027, clock(dupT, ref)))
		}
		if n409002 > 0 {
			ev = append(ev, fmt.Sprintf("409002 LinkCreationConflict ×%d around the disconnect", n409002))
		}
		ev = append(ev, fmt.Sprintf("no 401003 within %ds", besideBefore))
		reconnectWords()
		conf = 0.7
		if n400027 > 0 {
			conf += 0.1
		}
		if n400027+n409002 > 1 {
			conf += 0.1
		}
	case ccHubTransient:
		v.incLine = len(ev)
		ev = append(ev, inc.summary(ref))
		ev = append(ev, fmt.Sprintf("no 401003 within %ds", besideBefore))
		if te.havePeriod && te.connected >= 0 {
			ev = append(ev, fmt.Sprintf("connected %s before, off its learned token period of %s", durWords(te.connected), durWords(te.p.dur)))
		}
		reconnectWords()
		conf = 0.75
		if inc.metric {
			conf += 0.1
			ev = append(ev, "a connected-devices metric alert fired during the incident")
		}
		if inc.hubErrors >= 3*max(1, inc.devices) {
			conf += 0.05
		}
	case ccDeviceOrNetwork:
		tokenWords()
		if in := h.incidentAt(t); inc == nil && in != nil {
			ev = append(ev, fmt.Sprintf("during hub incident %s, but not part of its burst: fewer than %d other devices disconnected unexplained within %ds",
				incidentID(h.name, in.idStart), e.hubBurstPeers(h), burstSpan))
		} else if inc == nil {
			ev = append(ev, "no hub incident at the time")
		}
		reconnectWords()
		conf = 0.6
		if te.havePeriod {
			conf += 0.1 // its token period is known and this is off it
		}
		if !v.reconnect {
			conf += 0.1 // slow or no return points at the device or its network
		}
		if te.connected < 0 {
			conf -= 0.1 // little history to go on
		}
	}
	if v.incident != nil && v.cause != ccHubTransient {
		ev = append(ev, fmt.Sprintf("during hub incident %s, but the device's own evidence decides", incidentID(h.name, v.incident.idStart)))
	}
	v.evidence = ev
	v.confidence = math.Round(clamp01(conf)*100) / 100
	v.rec = recommendation(v.cause, v.class, v.reconnect)
	return v
}
