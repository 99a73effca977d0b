package classify

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
