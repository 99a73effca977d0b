package classify

import (
	"fmt"

	"github.com/disconnect-doctor/disconnect-doctor/event"
)

// cutStats is what a hub's own disconnects say about its token cut-offs,
// for the hub-cut SDK prior (sdkPrior) to be weighed against where it is
// weakest: a .NET or Java client whose connect is not on record, dropping
// with no 401003 in the first HubCutMax of the hub's records (unknownAge).
// The prior says such a drop is the client's cut-off, because each such
// client is cut once in that span and a cut-off comes with a 401003 only
// "sometimes" (reference §2.2). How often is the hub's own matter, and it
// decides the odds: on a hub that logs a 401003 beside nearly every
// cut-off, a drop without one is likelier the network's.
//
// The hub shows both numbers the odds need, on 404104s of hub-cut clients
// followed by a reconnect within the grace (as the prior asks), outside
// hub incidents (where the hub, not the device, set the timing):
//
//   - window, windowLogged: those at a known session age inside the SDK's
//     cut-off window (HubCutMin–HubCutMax), and those with a 401003 beside;
//   - control: those with no 401003 at an age in the equally long span just
//     before the window, where no default cut-off falls: about as many
//     network drops fall in the window. The share of cut-offs the hub logs
//     no 401003 for is then u ≈ (window−windowLogged−control) /
//     (window−control);
//   - early, earlyLogged: those of clients with no connect on record in the
//     first HubCutMax of the records, and those with a 401003 beside. The
//     logged ones are cut-offs, so about earlyLogged·u/(1−u) cut-offs came
//     without a 401003, among the early−earlyLogged drops without one.
//
// A drop without a 401003 in that span is then a cut-off with probability
// earlyLogged·u/(1−u) / (early−earlyLogged): below one half, a network drop
// is the likelier cause and the prior gives way (cutLikelier). Both
// figures come from the same clients over the same span, so no exposure
// or drop rate needs estimating. They count records, never verdicts, so
// what the prior decides cannot feed back into them. On a hub without
// enough of either (a new hub, few .NET/Java clients), or where cut-offs
// often come without a 401003, the prior stands as documented.
//
// The same reasoning answers a question the documented prior leaves open:
// a client whose token predates the records by more than HubCutMax (no
// connect on record, or none that made its token, past the records' first
// HubCutMax), or whose token's connect is on record more than HubCutMax
// before its disconnect, outlived the default hour, so its token is a
// longer one, cut once per lifetime the device chose. Whether its drop
// without a 401003 is that cut-off or the network's depends on how long
// those tokens live and how often the hub's devices drop — the hub's, not
// the documentation's:
//
//   - late, lateLogged: 404104s of such clients (with the reconnect the
//     prior asks for, outside incidents), and those with a 401003 beside.
//     About lateLogged·u/(1−u) of them were cut-offs without one, among the
//     late−lateLogged without one.
//
// Only when that share is at least one half (lateCutLikelier) does the
// prior judge such a drop a token expiry; with too few figures it does not,
// as there is no documented prior to stand on.
//
// Seven numbers and a flag per hub, whatever the fleet's size; a device
// keeps one bit per 404104 (fUnlogged) for a 401003 that arrives late.
type cutStats struct {
	window, windowLogged float64
	control              float64
	early, earlyLogged   float64
	late, lateLogged     float64
	// rejudged: the early verdicts were re-judged once the figures first
	// overruled the prior (rejudgeEarly).
	rejudged bool
}

// minCutCount is how many cut-offs with a 401003 each figure needs before
// it may overrule the documented prior: fewer are too noisy to act on.
const minCutCount = 100

// cutsCap bounds the counts: past it they are halved, so that the window
// share follows a fleet that changes (new firmware, new SDKs) and the
// floats stay exact.
const cutsCap = 1 << 20

// cutKind is which of the hub's figures a 404104 counts in.
type cutKind uint8

const (
	cutNone    cutKind = iota
	cutWindow          // known age inside the SDK's cut-off window
	cutControl         // known age in the span as long just before it
	cutEarly           // no connect on record, in the records' first HubCutMax
	cutLate            // a token that outlived HubCutMax (older than the records, or on record)
)

// cutKindOf classifies a verdict's 404104 for the figures.
func cutKindOf(v *verdict) cutKind {
	switch {
	case !v.hubCut || v.inSpan || !v.reconnect:
		return cutNone
	case v.age >= HubCutMin && v.age <= HubCutMax:
		return cutWindow
	case v.age >= 2*HubCutMin-HubCutMax && v.age < HubCutMin:
		if v.backed || v.onPeriod {
			return cutNone // its own token evidence: not a network drop
		}
		return cutControl
	case v.early:
		return cutEarly
	case v.late:
		return cutLate
	}
	return cutNone
}

// learn counts a 404104 at its first final verdict; it reports whether it
// was counted without a 401003 (the entry then carries fUnlogged, so that
// a 401003 arriving later moves it: relog).
func (c *cutStats) learn(v *verdict) (unlogged bool) {
	k := cutKindOf(v)
	if k == cutNone {
		return false
	}
	c.add(k, v.backed)
	if c.window > cutsCap || c.early > cutsCap || c.late > cutsCap {
		for _, x := range append(c.fields(), c.lateFields()...) {
			*x /= 2
		}
	}
	return !v.backed && k != cutControl
}

// relog moves a 404104 counted without a 401003 to the logged ones: its
// 401003 arrived after the verdict was first made.
func (c *cutStats) relog(v *verdict) {
	switch cutKindOf(v) {
	case cutWindow:
		c.windowLogged = min(c.windowLogged+1, c.window)
	case cutEarly:
		c.earlyLogged = min(c.earlyLogged+1, c.early)
	case cutLate:
		c.lateLogged = min(c.lateLogged+1, c.late)
	}
}

func (c *cutStats) add(k cutKind, logged bool) {
	switch k {
	case cutWindow:
		c.window++
		if logged {
			c.windowLogged++
		}
	case cutControl:
		c.control++
	case cutLate:
		c.late++
		if logged {
			c.lateLogged++
		}
	case cutEarly:
		c.early++
		if logged {
			c.earlyLogged++
		}
	}
}

// active reports whether the hub has shown enough to weigh the prior.
func (c *cutStats) active() bool {
	return c.windowLogged >= minCutCount && c.earlyLogged >= minCutCount
}

// unlogged is u, the share of the hub's cut-offs with no 401003 beside
// them: the window's drops without one less the network drops expected
// there (control), with one pseudo-count each way so that it is never 0
// or 1.
func (c *cutStats) unlogged() float64 {
	cuts := max(c.window-c.control, c.windowLogged)
	return (max(cuts-c.windowLogged, 0) + 1) / (cuts + 2)
}

// cutShare is the probability that a drop without a 401003, among n drops
// of which logged came with one, is a cut-off: the cut-offs the hub is
// expected not to have logged (logged·u/(1−u)) among the n−logged it
// logged none for.
func (c *cutStats) cutShare(n, logged float64) float64 {
	u := c.unlogged()
	return min(1, logged*u/(1-u)/max(n-logged, 1))
}

// earlyCutShare is cutShare of the early drops.
func (c *cutStats) earlyCutShare() float64 { return c.cutShare(c.early, c.earlyLogged) }

// lateCutShare is cutShare of the late drops (a token older than the
// records, past their first HubCutMax).
func (c *cutStats) lateCutShare() float64 { return c.cutShare(c.late, c.lateLogged) }

// lateCutLikelier reports whether a late drop without a 401003 is likelier
// a cut-off than a network drop on the hub's figures; false while they are
// too few (no documented prior covers a token longer than the default).
func (c *cutStats) lateCutLikelier() bool {
	return c.windowLogged >= minCutCount && c.lateLogged >= minCutCount && c.lateCutShare() >= 0.5
}

// lateWords says why the hub's figures judge a late drop a cut-off.
func (c *cutStats) lateWords() string {
	return fmt.Sprintf("on this hub a token cut-off comes with a 401003 %.1f%% of the time, and %.0f of the %.0f disconnects of clients whose token outlived %s did, so about %.0f%% of those without one are cut-offs too",
		100*(1-c.unlogged()), c.lateLogged, c.late, durWords(HubCutMax), 100*c.lateCutShare())
}

// cutLikelier reports whether an early drop without a 401003 (the prior's
// unknownAge case, back within the grace) is still likelier a cut-off than
// a network drop on the hub's figures; true while they are too few.
func (c *cutStats) cutLikelier() bool {
	return !c.active() || c.earlyCutShare() >= 0.5
}

// vetoWords says why the hub's own figures overruled the SDK prior.
func (c *cutStats) vetoWords() string {
	return fmt.Sprintf("but on this hub a token cut-off comes with a 401003 %.1f%% of the time (%.0f of %.0f .NET/Java sessions ending %s–%s in, %.0f of which network drops by the %.0f ending in the %s before), so of its %.0f drops without one in the records' first %s only about %.0f%% are cut-offs: a network drop is likelier",
		100*(1-c.unlogged()), c.windowLogged, c.window, durWords(HubCutMin), durWords(HubCutMax), c.control, c.control, durWords(HubCutMax-HubCutMin),
		c.early-c.earlyLogged, durWords(HubCutMax), 100*c.earlyCutShare())
}

// fields lists the figures in their blob order (encodeHub, decodeHub:
// hub blob v4).
func (c *cutStats) fields() []*float64 {
	return []*float64{&c.window, &c.windowLogged, &c.control, &c.early, &c.earlyLogged}
}

// lateFields lists the late figures in their blob order (hub blob v6).
func (c *cutStats) lateFields() []*float64 {
	return []*float64{&c.late, &c.lateLogged}
}

// rejudgeEarly re-judges, once, the early verdicts of hub h when its
// figures first overrule the prior: they were made before the hub had
// shown how its cut-offs look (its first cut-offs at a known age come
// HubCutMin after the records began), and no new evidence of their own
// would bring them back. Verdicts past the revision horizon stay as they
// are. It costs one pass over the hub's devices, once in the hub's life.
func (e *Engine) rejudgeEarly(st *State, h *hub, w int64, out *Output) {
	if h.cuts.rejudged || h.cuts.cutLikelier() {
		return
	}
	h.cuts.rejudged = true
	st.markHub(h)
	var keys []event.Key
	for k, d := range st.devices {
		if k.Hub == h.name && d.hasEarlyToken(h) {
			keys = append(keys, k)
		}
	}
	sortKeys(keys)
	for _, k := range keys {
		d := st.devices[k]
		e.evalDevice(st, h, d, w, out)
		e.syncBuckets(st, h, d)
	}
}

// hasEarlyToken reports whether the device has a final token-expiry
// verdict in the hub's first HubCutMax (a candidate of rejudgeEarly).
func (d *device) hasEarlyToken(h *hub) bool {
	for i := range d.entries {
		x := &d.entries[i]
		if x.is404104() && x.flags&fFinal != 0 && x.cause == ccTokenExpiry && x.t-h.first <= HubCutMax {
			return true
		}
	}
	return false
}
