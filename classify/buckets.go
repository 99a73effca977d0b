package classify

import (
	"slices"
)

// syncBuckets records in the hub's minute buckets which of the device's
// 404104s are not explained by its own token evidence: per open minute, the
// second of its first unexplained one. The device remembers what it added
// (contrib), takes it back and adds the new judgement, so that the hub
// keeps counts instead of member sets.
func (e *Engine) syncBuckets(st *State, h *hub, d *device) {
	h.adopt(d)
	var now []contrib // open minutes only
	for i := range d.entries {
		ent := &d.entries[i]
		if !ent.is404104() {
			continue
		}
		m := floorDiv(ent.t, 60)
		if h.closed != 0 && m <= h.closed {
			continue
		}
		if h.bucketFor(m) == nil {
			continue
		}
		if n := len(now); n > 0 && now[n-1].m == m {
			continue // the minute's first unexplained one counts
		}
		// explained: a 401003 beside it, or closely on its own period
		// (the reconnect is not known here; decide asks no less)
		if te := d.tokenEvidence(ent.t, h.first, h.repeatTol()); te.beside < 0 && !te.close {
			now = append(now, contrib{m: m, sec: uint8(ent.t - m*60)})
		}
	}
	// the frozen part: minutes past lateness, the two before the first
	// open one still needed for its overlap counts
	kept := d.contrib[:0:0]
	for _, c := range d.contrib {
		if c.m <= h.closed && c.m >= h.closed-1 {
			kept = append(kept, c)
		}
	}
	next := append(kept, now...)
	if slices.Equal(openPart(next, h.closed), openPart(d.contrib, h.closed)) {
		d.contrib = next // at most pruned: the counts are unchanged
		return
	}
	h.count(d.contrib, -1)
	h.count(next, +1)
	d.contrib = next
	st.markHub(h)
	st.markDev(d)
}

// adopt gives a device decoded from a blob older than its contrib list the
// contributions the hub's old layout named for it.
func (h *hub) adopt(d *device) {
	if !d.contribKnown {
		hash := keyHash(d.key)
		d.contrib, d.contribKnown = h.legacy[hash], true
		delete(h.legacy, hash)
	}
}

// openPart returns the contributions to minutes past closed (cs is sorted).
func openPart(cs []contrib, closed int64) []contrib {
	i := 0
	for i < len(cs) && closed != 0 && cs[i].m <= closed {
		i++
	}
	return cs[i:]
}

// count adds (sign +1) or takes back (-1) a device's contributions cs to
// the open minutes' counts.
func (h *hub) count(cs []contrib, sign int32) {
	in := func(m int64) bool {
		for _, c := range cs {
			if c.m == m {
				return true
			}
		}
		return false
	}
	for _, c := range cs {
		if h.closed != 0 && c.m <= h.closed {
			continue
		}
		b := h.buckets[c.m]
		if b == nil || b.compact {
			continue
		}
		in1, in2 := in(c.m-1), in(c.m-2)
		s := int(sign)
		b.nDev += s
		b.secs[c.sec] += sign
		if in1 {
			b.p1 += s
		}
		if in2 {
			b.p2 += s
		}
		if in1 && in2 {
			b.p3 += s
		}
	}
}
