package classify

import (
	"cmp"
	"fmt"
	"math"
	"slices"
)

// recordSample keeps the token-period sample of the 404104 at entries[i]:
// the connect that made its token (tokenEvidence's start) → disconnect,
// for the causes whose timing says something about the token (token
// verdicts and plain device-or-network ones; never a hub incident or a
// duplicate identity, whose timing is someone else's).
func (d *device) recordSample(i int, v *verdict, h *hub) {
	ent := &d.entries[i]
	t := ent.t
	te := d.tokenEvidence(t, h.first, h.repeatTol())
	if k := d.sampleAt(te.repeatAt); te.repeatAt != 0 && k >= 0 && (ent.cause == ccTokenExpiry || ent.cause == ccRenewalFailed) {
		// the cut-off this session repeated lasted its own session's age
		// (repeatsLastCut): that is its token's age, not the reused one
		s := &d.samples[k]
		s.dur, s.fl = int32(te.p.dur), s.fl&^smReused
	}
	idx := d.sampleAt(t)
	keep := ent.cause == ccTokenExpiry || ent.cause == ccRenewalFailed || ent.cause == ccDeviceOrNetwork
	si, anch := te.start, te.anchored
	if !keep || si < 0 {
		if idx >= 0 {
			d.samples = slices.Delete(d.samples, idx, idx+1)
		}
		return
	}
	s := sample{disc: t, dur: int32(t - d.entries[si].t), cause: ent.cause, id: ent.id, rev: ent.rev, back: -1}
	if v.backed {
		s.fl |= smBacked
	}
	if anch {
		s.fl |= smAnch
		if d.entries[si].isRefusedConnect() {
			s.fl |= smRefused
		}
	}
	if v.prior {
		s.fl |= smPrior
	}
	if te.reused {
		s.fl |= smReused
	}
	if v.reconnect {
		s.back = int32(v.reconnectT - t)
	}
	if idx >= 0 {
		if o := d.samples[idx]; ent.flags&(fRetro|fUnprior) != 0 && o.retroIn != 0 {
			// a verdict revised by a later-learned period keeps what
			// revised it
			s.back, s.dur, s.fl = o.back, o.dur, s.fl&smBacked|o.fl&^smBacked
			s.retroIn, s.pdur, s.ptol, s.pn = o.retroIn, o.pdur, o.ptol, o.pn
		}
		d.samples[idx] = s
		return
	}
	pos, _ := slices.BinarySearchFunc(d.samples, t, func(s sample, t int64) int { return cmp.Compare(s.disc, t) })
	if len(d.samples) < maxSamples {
		d.samples = slices.Insert(grown(d.samples, 2), pos, s)
		return
	}
	// full: the oldest sample makes room in place (a full list never grows
	// its array past maxSamples), or the new one is the oldest and goes
	if pos > 0 {
		copy(d.samples[:pos-1], d.samples[1:pos])
		d.samples[pos-1] = s
	}
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
// period does fit stays — within the period's tolerance or, for a default
// token's period on a hub whose enforcement delay varies between cut-offs,
// within that whole span (hub.unpriorTol).
//
// It works from the samples, which outlive the bounded timeline, and runs
// only when the confirming verdict is first made (or changes), in time order,
// so the outcome does not depend on how records were batched.
func (e *Engine) reviseEarlier(d *device, h *hub, i int, out *Output) {
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
	confirmed := !cs.anch()
	if prev, had := learnedPeriod(d.samples, t, sdk); had && abs64(int64(cs.dur)-prev.dur) > prev.tol {
		confirmed = false
	}
	var others []sample // allocated only when there is a candidate
	for j := range d.samples[:si] {
		s := &d.samples[j]
		unprior := s.cause == ccTokenExpiry && s.prior()
		// a reused token's age rests on the default lifetime's renewal
		// age (tokenDue): a period learned since that does not fit it
		// more likely says the reconnect made a new token than that the
		// drop was not the token's
		if unprior && (!confirmed || s.fl&smReused != 0) {
			continue
		}
		if (s.cause != ccDeviceOrNetwork && !unprior) || s.retroIn != 0 || s.dur <= 0 {
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
			if off > h.unpriorTol(p) {
				e.revise(d, s, t, p, ccDeviceOrNetwork, out)
			}
			continue
		}
		if s.reused() {
			// the age ran back across a reconnect at which, by the default
			// hour, the token was not yet due; on this shorter period it
			// was, and the session's own age is the token's
			if own, ok := d.ownAge(s.disc); ok && abs64(own-p.dur) < off {
				off = abs64(own - p.dur)
				if off <= p.tol && (s.back >= 0 || off <= closeMatch) {
					s.dur, s.fl = int32(own), s.fl&^smReused
				}
			}
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
	s.cause = to
	s.setRetroAt(by)
	s.pdur, s.ptol, s.pn = int32(p.dur), int32(p.tol), uint8(min(p.n, 255))
	s.fl &^= smPBy
	if p.by {
		s.fl |= smPBy
	}
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
	since := sinceWords(s.anch(), s.fl&smRefused != 0, s.fl&smReused != 0)
	from := fmt.Sprintf("from %d sessions repeating it (the disconnect at %s)", s.pn, clock(s.retroAt(), s.disc))
	if s.pby() {
		from = "from the 401003 at " + clock(s.retroAt(), s.disc)
	}
	ev := []string{
		fmt.Sprintf("no 401003 within %ds", besideBefore),
		fmt.Sprintf("%s %s before; first judged a token expiry on its SDK's usual cut-off alone", since, durWords(int64(s.dur))),
		fmt.Sprintf("its token period, learned later %s, is %s (±%s); this session ended at %s, off that period",
			from, durWords(int64(s.pdur)), durWords(int64(s.ptol)), durWords(int64(s.dur))),
		"not part of a hub incident's burst",
	}
	conf := 0.65
	if s.pby() {
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
	since := sinceWords(s.anch(), s.fl&smRefused != 0, s.fl&smReused != 0)
	ev := []string{
		fmt.Sprintf("no 401003 within %ds", besideBefore),
		fmt.Sprintf("%s %s before, matching its token period of %s (±%s)", since, durWords(int64(s.dur)), durWords(int64(s.pdur)), durWords(int64(s.ptol))),
	}
	if s.pby() {
		ev = append(ev, fmt.Sprintf("the period was learned later: its expiry at %s (401003) showed a %s token period", clock(s.retroAt(), s.disc), durWords(int64(s.pdur))))
	} else {
		ev = append(ev, fmt.Sprintf("the period was learned later: its disconnect at %s fell on a %s token period repeated by %d sessions", clock(s.retroAt(), s.disc), durWords(int64(s.pdur)), s.pn))
	}
	conf := 0.55
	if s.pby() {
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
