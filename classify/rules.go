package classify

import (
	"fmt"
	"hash/fnv"
	"math"
	"strings"
	"time"

	"github.com/disconnect-doctor/disconnect-doctor/event"
	"github.com/disconnect-doctor/disconnect-doctor/internal/timetext"
)

// msgClass sorts 401003 records by what their errorMessage / authType say,
// because each class has its own fix (PRODUCT.md §1).
type msgClass uint8

const (
	mcNone        msgClass = iota
	mcGeneric              // token refused: expired or badly generated
	mcClockDrift           // the device's clock is off by more than 5 minutes
	mcX509                 // thumbprint / certificate problem
	mcDeviceGone           // the hub does not contain the device, or it is disabled
	mcNotAllowed           // an authorization rule / principal does not allow access
	mcMissingAuth          // no authorization header: token not generated at all
)

var msgClassNames = [...]string{"", "token refused", "clock drift", "X.509 certificate", "device deleted or disabled",
	"access not allowed", "authorization missing"}

func (c msgClass) String() string {
	if int(c) < len(msgClassNames) {
		return msgClassNames[c]
	}
	return ""
}

// classify401003 maps a 401003's errorMessage and authType to its class.
func classify401003(msg, authType string) msgClass {
	m := strings.ToLower(msg)
	switch {
	case strings.Contains(m, "does not contain the specified device"), strings.Contains(m, "disabled"),
		strings.Contains(m, "not found"):
		return mcDeviceGone
	case strings.Contains(m, "clock"), strings.Contains(m, "skew"), strings.Contains(m, "drift"),
		strings.Contains(m, "not yet valid"), strings.Contains(m, "in the future"):
		return mcClockDrift
	case strings.Contains(m, "thumbprint"), strings.Contains(m, "certificate") && !strings.Contains(m, "renew token or certificate"):
		return mcX509
	case strings.Contains(m, "authorization header missing"):
		return mcMissingAuth
	case strings.Contains(m, "does not allow access"), strings.Contains(m, "is not authorized"):
		return mcNotAllowed
	}
	a := strings.ToLower(authType)
	if strings.Contains(a, "x509") || strings.Contains(a, "certificate") || strings.Contains(a, "selfsigned") {
		return mcX509
	}
	return mcGeneric
}

// Rule windows around a 404104 at t (seconds). A 401003 "beside" the 404104
// is the hub refusing the token that the disconnect ends; resource-log times
// have second precision, so the window is generous on both sides.
const (
	besideBefore = 30
	besideAfter  = 5
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

// period is a learned token period.
type period struct {
	dur int64 // seconds
	tol int64
	n   int  // samples supporting it
	by  bool // backed by a 401003-confirmed expiry
}

// periodTolerance is the jitter a 401003-backed period tolerates: the hub
// enforces expiry minutes after the token's end, and clocks drift, so ±3
// minutes or ±3 %, whichever is larger.
func periodTolerance(d int64) int64 {
	return max(180, d*3/100)
}

// regularTolerance is how closely durations must agree to teach a period
// without any 401003: ±1 minute or ±2.5 %, whichever is larger. It is small
// relative to the period on purpose — a device whose network drops every
// 10–15 minutes has durations that agree within ±3 minutes by chance, and
// only real regularity says "token".
func regularTolerance(d int64) int64 {
	return max(60, d/40)
}

// closeMatch is how close to its learned period a disconnect must fall to
// count as on it when the period match is the only token evidence left: no
// 401003 beside it and no reconnect within the grace (or a hub incident at
// the time, which explains both the disconnect and the failed reconnects).
// One minute covers second-precision records and reconnect jitter; the
// device's own cut-offs repeat that closely.
const closeMatch = 60

// minRegular is how many agreeing durations teach a period without any
// 401003: two agreeing durations are a coincidence a random device produces
// easily; three that agree tightly, with no longer session contradicting
// them, are a schedule.
const minRegular = 3

// learnedPeriod returns the device's token period as learned from samples
// of disconnects strictly before t. A period backed by a 401003 (the hub's
// own word that the token was refused) is taken from the newest backed
// sample and the samples agreeing with it. Without any 401003 a period needs
// real regularity: at least minRegular durations agreeing within
// regularTolerance, and no sample longer than the period plus twice that
// tolerance (a token that lives P cannot keep a session open longer). SDKs that
// renew before expiry with a clean disconnect (C, Node, Python: reference
// §6.1, §6.4) never learn an unbacked period — their renewals log no 404104.
func learnedPeriod(samples []sample, t int64, sdk connSDK) (period, bool) {
	// backed first: the hub's 401003 is the documented token signature
	for i := len(samples) - 1; i >= 0; i-- {
		s := samples[i]
		if s.disc >= t || s.dur <= 0 || !s.backed {
			continue
		}
		d := int64(s.dur)
		tol := periodTolerance(d)
		sum, n, lo, hi := d, 1, d, d
		for j := range samples {
			o := samples[j]
			if j == i || o.disc >= t || o.dur <= 0 {
				continue
			}
			if od := int64(o.dur); abs64(od-d) <= tol {
				sum += od
				n++
				lo, hi = min(lo, od), max(hi, od)
			}
		}
		p := sum / int64(n)
		ptol := periodTolerance(p)
		if n >= 2 {
			// the device's own regularity sets the tolerance: the spread
			// of its agreeing durations plus a minute (second-precision
			// records, reconnect jitter), never more than periodTolerance
			ptol = min(ptol, hi-lo+closeMatch)
		}
		return period{dur: p, tol: ptol, n: n, by: true}, true
	}
	if sdk.cleanRenew() {
		return period{}, false
	}
	for i := len(samples) - 1; i >= 0; i-- {
		s := samples[i]
		if s.disc >= t || s.dur <= 0 {
			continue
		}
		d := int64(s.dur)
		tol := regularTolerance(d)
		sum, n := d, 1
		for j := range samples {
			o := samples[j]
			if j == i || o.disc >= t || o.dur <= 0 {
				continue
			}
			if abs64(int64(o.dur)-d) <= tol {
				sum += int64(o.dur)
				n++
			}
		}
		if n < minRegular {
			continue
		}
		p := sum / int64(n)
		ptol := regularTolerance(p)
		contradicted := false
		for _, o := range samples {
			if o.disc < t && int64(o.dur) > p+ptol+ptol {
				contradicted = true
				break
			}
		}
		if contradicted {
			continue
		}
		return period{dur: p, tol: ptol, n: n}, true
	}
	return period{}, false
}

func abs64(x int64) int64 {
	if x < 0 {
		return -x
	}
	return x
}

// window finds entry indexes with t in [from, to] (inclusive).
func (d *device) window(from, to int64) (lo, hi int) {
	lo = lowerBound(d.entries, from)
	hi = lowerBound(d.entries, to+1)
	return lo, hi
}

func lowerBound(es []entry, t int64) int {
	lo, hi := 0, len(es)
	for lo < hi {
		m := int(uint(lo+hi) >> 1)
		if es[m].t < t {
			lo = m + 1
		} else {
			hi = m
		}
	}
	return lo
}

// lastConnectBefore returns the newest successful resource-log connect
// strictly before t (the connect that presented the token a 404104 at t
// ends), or -1.
func (d *device) lastConnectBefore(t int64) int {
	for i := lowerBound(d.entries, t) - 1; i >= 0; i-- {
		if d.entries[i].isSuccessConnect() {
			return i
		}
	}
	return -1
}

// stateConnectedIn reports whether Event Grid / route state events say the
// device was connected in [from, to]: the newest state event (by sequence
// number, never by time across devices) in that window is a Connected one.
func (d *device) stateConnectedIn(from, to int64) (int64, bool) {
	lo, hi := d.window(from, to)
	best := -1
	for i := lo; i < hi; i++ {
		e := &d.entries[i]
		if e.kind != event.StateConnected && e.kind != event.StateDisconnected {
			continue
		}
		if best < 0 || seqLess(d.entries[best].seq, e.seq) {
			best = i
		}
	}
	if best >= 0 && d.entries[best].kind == event.StateConnected {
		return d.entries[best].t, true
	}
	return 0, false
}

// seqLess orders normalized sequence numbers (upper-case, no leading zeros).
func seqLess(a, b string) bool {
	if len(a) != len(b) {
		return len(a) < len(b)
	}
	return a < b
}

func normSeq(s string) string {
	s = strings.ToUpper(strings.TrimLeft(s, "0"))
	for i := 0; i < len(s); i++ {
		c := s[i]
		if !(c >= '0' && c <= '9' || c >= 'A' && c <= 'F') {
			return "" // not hex: unusable for ordering
		}
	}
	return s
}

// sessionStart returns when the session a 404104 at t ends began: the
// newest successful connect before t — unless a disconnect record lies
// between that connect and the 404104's own records (its 401003 comes up to
// besideBefore earlier), which means the reconnect after that disconnect
// was lost in delivery: the session then began just after that disconnect,
// and the start is anchored on it (anchored true). ok is false when no
// connect or earlier disconnect of the device is on record.
func (d *device) sessionStart(t int64) (start int64, anchored, ok bool) {
	i, anch := d.sessionStartIdx(t)
	if i < 0 {
		return 0, false, false
	}
	return d.entries[i].t, anch, true
}

// sessionStartIdx is sessionStart's entry index (-1 none); prune keeps that
// entry for every 404104 it keeps.
func (d *device) sessionStartIdx(t int64) (int, bool) {
	c := d.lastConnectBefore(t)
	for i := lowerBound(d.entries, t-besideBefore) - 1; i > c; i-- {
		x := &d.entries[i]
		if x.src == event.ResourceLog && x.kind == event.Disconnect {
			return i, true
		}
	}
	return c, false
}

// tokenEvidence is the device's own token evidence for a 404104 at t.
type tokenEvidence struct {
	beside     int // index of the 401003 beside, -1 none
	onPeriod   bool
	close      bool // on its period within closeMatch
	loose      bool // on its period, but not closely enough without other token evidence
	havePeriod bool
	p          period
	connected  int64 // seconds since the session began, -1 unknown
	anchored   bool  // connected runs from the previous disconnect (its reconnect record was lost)
	sdk        connSDK
}

// ok reports whether the device's own records show the token pattern: a
// 401003 beside the 404104, or the disconnect on its learned period.
func (te *tokenEvidence) ok() bool { return te.beside >= 0 || te.onPeriod }

func (d *device) tokenEvidence(t int64) tokenEvidence {
	te := tokenEvidence{beside: -1, connected: -1}
	st, anch, haveStart := d.sessionStart(t)
	if haveStart {
		te.connected, te.anchored = t-st, anch
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
	if te.havePeriod && te.connected >= 0 && abs64(te.connected-te.p.dur) <= te.p.tol {
		te.onPeriod = true
		te.close = abs64(te.connected-te.p.dur) <= closeMatch
	}
	return te
}

// sdkPrior is the token evidence of a device's SDK while no period is
// learned for it (reference §6.1, §6.2, §8 "use sdkVersion from the last
// deviceConnect"): a .NET or Java client over MQTT is cut off by the hub at
// token lifespan plus up to ~10 minutes, so a session of that age ending in
// a 404104 is its token running out. unknownAge: the session began before
// the hub's records did (no connect on record) and those records began less
// than the window's end before t, so its age is consistent with the window.
// A learned period always takes precedence, and C, Node and Python clients,
// which renew cleanly, never get this prior.
func (te *tokenEvidence) sdkPrior(h *hub, t int64) (prior, unknownAge bool) {
	if te.ok() || te.havePeriod || !te.sdk.hubCut() {
		return false, false
	}
	if te.connected >= 0 {
		return te.connected >= hubCutMin && te.connected <= hubCutMax, false
	}
	if h.first != 0 && t-h.first <= hubCutMax {
		return true, true
	}
	return false, false
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

func clamp01(x float64) float64 {
	return math.Max(0.05, math.Min(0.99, x))
}

// recommendation is the operator's next step for a verdict (PRODUCT.md §1).
func recommendation(c causeCode, class msgClass, back bool) string {
	switch c {
	case ccTokenExpiry:
		return "No action needed: the device's SAS token expired and its SDK renewed it and reconnected, which is expected. " +
			"If the volume of these disconnects matters, use a longer token lifetime, an SDK that renews before expiry, or AMQP, which refreshes tokens in the connection."
	case ccRenewalFailed:
		switch class {
		case mcClockDrift:
			return "The device's clock is more than 5 minutes off, so IoT Hub refuses every token it makes: synchronize its clock (NTP) and let it reconnect."
		case mcX509:
			return "The device's X.509 credential is refused: check that its certificate is valid and that the thumbprint or CA registered in IoT Hub matches it."
		case mcDeviceGone:
			return "IoT Hub no longer accepts this identity (the device was deleted or disabled): re-enable or re-register it, or retire the client that keeps trying."
		case mcNotAllowed:
			return "The credential the device presents is not allowed to connect as it: check the shared access policy or identity it uses."
		}
		return "The device cannot renew its SAS token: check how it generates tokens (key, resource URI, expiry), its connection string, that its SDK renews tokens, and its clock."
	case ccDuplicateIdentity:
		return "Two clients are using the same device identity and knock each other off: give each client its own device or module identity."
	case ccHubTransient:
		return "Nothing to fix on the device: this was a transient IoT Hub problem. Devices should retry with backoff; check Azure Resource Health and Azure Status, and consider a manual failover if it persists."
	case ccDeviceOrNetwork:
		r := "Device or network side: test the device's connectivity, check its MQTT keep-alive settings and update it to the latest SDK."
		if !back {
			r += " It did not come straight back: it may have crashed or lost power."
		}
		return r
	}
	return ""
}

func classWords(c msgClass) string {
	switch c {
	case mcNone, mcGeneric:
		return ""
	}
	return " (" + c.String() + ")"
}

// clock renders an event time as the operator reads it: "15:04:05 UTC" on
// ref's date, else with the date as well (ref 0: always dated), through the
// one formatter every message uses (internal/timetext).
func clock(t, ref int64) string { return timetext.Unix(t, ref) }

// relWords says how far a record is from the disconnect: "3s before",
// "0s before", "2s after".
func relWords(delta int64) string {
	if delta > 0 {
		return durWords(delta) + " after"
	}
	return durWords(-delta) + " before"
}

// durWords renders seconds compactly: 17s, 65m02s, 3h, 24h05m.
func durWords(s int64) string {
	if s < 0 {
		s = -s
	}
	switch {
	case s < 60:
		return fmt.Sprintf("%ds", s)
	case s < 7200: // minutes read better than hours up to two hours (65m02s)
		if s%60 == 0 {
			return fmt.Sprintf("%dm", s/60)
		}
		return fmt.Sprintf("%dm%02ds", s/60, s%60)
	default:
		h, m := s/3600, (s%3600)/60
		if m == 0 && s%60 == 0 {
			return fmt.Sprintf("%dh", h)
		}
		if s%60 == 0 {
			return fmt.Sprintf("%dh%02dm", h, m)
		}
		return fmt.Sprintf("%dh%02dm%02ds", h, m, s%60)
	}
}
