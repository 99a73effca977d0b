package classify

// delayStats is what a hub's own 401003-backed cut-offs say about its
// enforcement delay: the hub cuts an expired token 5–10 minutes late
// (reference §6.2), and whether one device's cut-offs keep the same delay or
// each draws its own is not documented (§9). It decides how far off a
// default token's learned period a session the SDK prior judged a token
// expiry must be before the period revises it (reviseEarlier): on a hub
// whose delays hold per device, the period's ±3 minutes; on one where they
// vary, the whole enforcement span.
//
// pairs counts consecutive 401003-backed cut-offs of one .NET or Java
// client whose ages both run from a connect on record; varied, those whose
// ages differ by more than periodTolerance. With delays drawn afresh from
// 5–10 minutes, about 16% of such pairs differ by more than 3 minutes; with
// a delay per device, none but for clock trouble.
type delayStats struct {
	pairs, varied float64
}

const (
	// minDelayPairs is how many pairs the figure needs before it counts.
	minDelayPairs = 50
	// variedShare is the share of varied pairs above which the hub's
	// delays vary: half the 16% a per-cut-off delay gives.
	variedShare = 0.08
	// samePeriod is how far apart two ages may be and still be cut-offs of
	// one token lifetime (the enforcement span, twice, and a minute): a
	// device whose token lifetime changed is not a sign of varying delays.
	samePeriod = 2*(hubCutDelayMax-hubCutDelayMin) + closeMatch
	// varyingTol is how far apart two cut-off ages of one token lifetime
	// may fall on a hub whose delay varies: the enforcement span and a
	// minute.
	varyingTol = hubCutDelayMax - hubCutDelayMin + closeMatch
)

// pair counts two consecutive cut-off ages of one device.
func (c *delayStats) pair(a, b int64) {
	if abs64(a-b) > samePeriod {
		return
	}
	c.pairs++
	if abs64(a-b) > periodTolerance(max(a, b)) {
		c.varied++
	}
	if c.pairs > cutsCap {
		c.pairs, c.varied = c.pairs/2, c.varied/2
	}
}

// varies reports whether the hub's enforcement delay differs between one
// device's cut-offs, on enough of them.
func (c *delayStats) varies() bool {
	return c.pairs >= minDelayPairs && c.varied >= variedShare*c.pairs
}

// fields lists the figures in their blob order (hub blob v5).
func (c *delayStats) fields() []*float64 {
	return []*float64{&c.pairs, &c.varied}
}

// backedPair returns the ages of the device's 401003-backed cut-off at t
// and of the one before it, when both ages run from a connect on record
// (not anchored on a disconnect, not through a reused token) of a client
// the hub cuts off: the pair delayStats counts.
func (d *device) backedPair(t int64) (a, b int64, ok bool) {
	i := d.sampleAt(t)
	if i < 1 || !d.sdkAt(t).hubCut() {
		return 0, 0, false
	}
	exact := func(s *sample) bool { return s.backed() && !s.anch() && !s.reused() && s.dur > 0 }
	if s := &d.samples[i]; exact(s) {
		for j := i - 1; j >= 0; j-- {
			if p := &d.samples[j]; p.backed() {
				return int64(s.dur), int64(p.dur), exact(p)
			}
		}
	}
	return 0, 0, false
}

// unpriorTol is how far off its learned period p a session the SDK prior
// judged a token expiry must be for the period to revise it: the period's
// tolerance, or — a default token's period on a hub whose enforcement
// delay varies between cut-offs — that whole span and a minute.
func (h *hub) unpriorTol(p period) int64 {
	if p.defaultToken() && h.delays.varies() {
		return max(p.tol, varyingTol)
	}
	return p.tol
}

// repeatTol is how closely a session must repeat the length of the one
// before it to show the device's token period (repeatsLastCut): a minute,
// or — on a hub whose enforcement delay varies between cut-offs — that
// whole span and a minute.
func (h *hub) repeatTol() int64 {
	if h.delays.varies() {
		return varyingTol
	}
	return closeMatch
}
