package classify

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

// defaultToken reports whether the period is a default .NET or Java token's
// (the hub's cut-off window, HubCutMin–HubCutMax): the hub cuts such a
// token 5–10 minutes after it expires, and when within that span may
// differ from one cut-off to the next (reference §6.2, §9), so the window
// stays the token's evidence beside a period learned inside it.
func (p period) defaultToken() bool {
	return p.dur >= HubCutMin && p.dur <= HubCutMax
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
		if s.disc >= t || s.dur <= 0 || !s.backed() {
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
		if n >= 2 && !sdk.hubCut() {
			// the device's own regularity sets the tolerance: the spread
			// of its agreeing durations plus a minute (second-precision
			// records, reconnect jitter), never more than periodTolerance.
			// Not for a client the hub cuts off: when within its 5–10
			// minutes after expiry the hub does may differ from one
			// cut-off to the next (reference §6.2, §9), however regular
			// the device's cut-offs have been so far.
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
