package classify

import (
	"cmp"
	"fmt"
	"math"
	"slices"
	"strconv"
	"strings"
	"time"

	"github.com/disconnect-doctor/disconnect-doctor/event"
)

// Hub incident tuning (PRODUCT.md §5 seed 3). A burst is judged over a short
// sliding window; the baseline is a slow EWMA of quiet minutes, so a hub that
// always has a few unexplained disconnects or server errors needs more to
// open an incident than a hub that normally has none.
const (
	burstWindow   = 3    // minutes a burst is counted over
	quietMinutes  = 3    // minutes back at baseline before an incident closes
	baselineAlpha = 0.02 // EWMA weight of one quiet minute (~50 min memory)
	openFactorU   = 4.0  // unexplained devices must exceed this × baseline
	openFactorH   = 3.0  // hub-side errors must exceed this × baseline …
	hubErrFloor   = 5    // … and this absolute floor, per window
	quietFactor   = 2.0  // a minute is quiet at ≤ this × baseline (min 2)
	bucketKeep    = 2 * 3600
	metricSlack   = 10 * 60 // a metric alert fires minutes after the dip
	maxCodes      = 4
)

// incidentID is stable: the hub and the minute the incident started.
func incidentID(hub string, start int64) string {
	return hub + "-" + time.Unix(start, 0).UTC().Format("20060102T1504Z")
}

// burstSpan is how close (seconds, either side) other devices' unexplained
// 404104s must be for a 404104 to be part of a burst.
const burstSpan = 30

// burstPeers is how many other devices must have an unexplained 404104
// within ±burstSpan of a 404104 for it to be part of a burst: the
// per-minute share of the smallest burst that can open an incident
// (IncidentMinDevices over burstWindow minutes), less the device itself.
func (e *Engine) burstPeers() int {
	return max(1, (e.cfg.IncidentMinDevices+burstWindow-1)/burstWindow-1)
}

// hubBurstPeers is burstPeers for hub h: at least openFactorU times the
// unexplained disconnects the hub has in a usual minute (its baseline,
// about what ±burstSpan holds), so that on a large hub, where a few
// unexplained disconnects every half minute are everyday traffic, a token
// expiry or a network drop inside an incident's span is not taken for its
// burst merely because the usual traffic surrounds it.
func (e *Engine) hubBurstPeers(h *hub) int {
	return max(e.burstPeers(), int(math.Ceil(openFactorU*h.baseU)))
}

// burstAt reports whether the 404104 at entries[i] is part of a burst of
// devices disconnecting at once (PRODUCT.md §1 cause 3: "many devices
// disconnect at once"): at least burstPeers other devices have an
// unexplained 404104 within ±burstSpan. A hub incident lasts as long as the
// hub-side errors stay above baseline — minutes after the burst, when the
// disconnect rate is back at its usual level; a disconnect then, or just
// before the burst began, is no more likely the hub's doing than any other
// minute's, so it is judged on the device's own evidence. The answer is
// cached on the entry for when its minute buckets are compacted (their
// seconds are gone); the verdict is first made (t + grace) while they are
// fresh, with every record up to t + burstSpan in.
func (e *Engine) burstAt(h *hub, d *device, i int) bool {
	ent := &d.entries[i]
	t := ent.t
	n := 0
	for m := floorDiv(t-burstSpan, 60); m <= floorDiv(t+burstSpan, 60); m++ {
		b := h.buckets[m]
		if b == nil {
			continue
		}
		if b.compact {
			if ent.flags&fBurstKnown != 0 {
				return ent.flags&fBurst != 0
			}
			return true // nothing cached (an older state): the incident's span decides
		}
		lo, hi := max(t-burstSpan, m*60)-m*60, min(t+burstSpan, m*60+59)-m*60
		for s := lo; s <= hi; s++ {
			n += int(b.secs[s])
		}
		if c, ok := d.contribAt(m); ok && int64(c.sec) >= lo && int64(c.sec) <= hi {
			n-- // the device itself
		}
	}
	in := n >= e.hubBurstPeers(h)
	ent.flags = ent.flags&^fBurst | fBurstKnown
	if in {
		ent.flags |= fBurst
	}
	return in
}

// caughtIn returns the hub incident the 404104 at entries[i] was caught in:
// the incident covering its time (or beginning within burstSpan after it),
// when the disconnect was part of its burst (burstAt); nil otherwise.
func (e *Engine) caughtIn(h *hub, d *device, i int) *incident {
	t := d.entries[i].t
	in := h.incidentAt(t)
	if in == nil {
		in = h.incidentAt(t + burstSpan) // a burst member seconds before its first elevated minute
	}
	if in == nil || !e.burstAt(h, d, i) {
		return nil
	}
	return in
}

// incidentAt returns the incident covering event time t, or nil.
func (h *hub) incidentAt(t int64) *incident {
	for _, in := range h.inc {
		if in.covers(t) {
			return in
		}
	}
	return nil
}

// incidentFrom returns the incident that starts at minute m, or nil.
func (h *hub) incidentFrom(m int64) *incident {
	for _, in := range h.inc {
		if in.start/60 == m {
			return in
		}
	}
	return nil
}

func (h *hub) coveredMinute(m int64) bool {
	return h.incidentAt(m*60) != nil
}

// lastEndBefore returns the minute the latest closed incident ending at or
// before minute m ended, or math.MinInt64: windows never reach back into a
// closed incident, so its tail cannot reopen it.
func (h *hub) lastEndBefore(m int64) int64 {
	le := int64(math.MinInt64)
	for _, in := range h.inc {
		if !in.open && in.end/60 <= m && in.end/60 > le {
			le = in.end / 60
		}
	}
	return le
}

// bucketFor returns minute m's bucket, creating it unless the minute is
// already past lateness (then nil: the record is too late to count).
func (h *hub) bucketFor(m int64) *bucket {
	b := h.buckets[m]
	if b != nil {
		if b.compact {
			return nil
		}
		return b
	}
	if h.closed != 0 && m <= h.closed {
		return nil
	}
	b = newBucket()
	h.buckets[m] = b
	if h.sealed == 0 || m <= h.sealed {
		if h.sealed == 0 {
			h.sealed = m - 1
		}
	}
	return b
}

// addError counts one hub-side error record; false when it was a duplicate
// or too late to count.
func (h *hub) addError(e *event.Event) (added, dup bool) {
	b := h.bucketFor(e.Time.Unix() / 60)
	if b == nil {
		return false, false
	}
	if b.seen == nil {
		b.seen = &idSketch{}
	}
	if !b.seen.add(e.ID) {
		return false, true
	}
	b.errs = max(b.errs, b.seen.count())
	c := int32(e.Code)
	if len(b.codes) < maxCodes && !slices.Contains(b.codes, c) {
		b.codes = append(b.codes, c)
	}
	return true, false
}

// addMetric records a connected-devices metric alert transition.
func (h *hub) addMetric(e *event.Event) bool {
	for _, m := range h.metrics {
		if m.id == e.ID {
			return false
		}
	}
	h.metrics = append(h.metrics, metricEv{id: e.ID, t: e.Time.Unix(), fired: e.Kind == event.MetricFired})
	slices.SortFunc(h.metrics, func(a, b metricEv) int { return cmp.Compare(a.t, b.t) })
	if len(h.metrics) > maxMetric {
		h.metrics = h.metrics[len(h.metrics)-maxMetric:]
	}
	return true
}

func (h *hub) sortedMinutes() []int64 {
	ms := make([]int64, 0, len(h.buckets))
	for m := range h.buckets {
		ms = append(ms, m)
	}
	slices.Sort(ms)
	return ms
}

// windowStats counts distinct unexplained devices and hub-side errors over
// minutes [from, to]. Each minute adds its devices that were not in either
// of the two minutes before it within the window (inclusion–exclusion on
// the bucket's overlap counts): exact for windows of up to burstWindow
// minutes; over a longer span a device that comes back after a gap of
// three minutes or more is counted again.
func (h *hub) windowStats(from, to int64) (u, errs int, first int64) {
	first = -1
	for m := from; m <= to; m++ {
		b := h.buckets[m]
		if b == nil {
			continue
		}
		errs += b.errs
		fresh := b.nDev
		switch {
		case m-2 >= from:
			fresh -= b.p1 + b.p2 - b.p3
		case m-1 >= from:
			fresh -= b.p1
		}
		u += fresh
		if b.nDev > 0 && first < 0 {
			first = m
		}
	}
	return u, errs, first
}

// updateIncidents opens, extends and closes the hub's incidents (PRODUCT.md
// §5 seed 3). Opening looks at everything ingested (up to the hub's
// frontier) so that an incident notifies as soon as its burst and hub-side
// evidence are in; closing waits for the watermark so that late records
// cannot reopen it. It returns the hashes of devices whose verdicts the
// change may affect, as spans of minutes whose devices with a 404104 are to
// be judged again.
func (e *Engine) updateIncidents(h *hub, w int64) (affected []span) {
	ms := h.sortedMinutes()
	fm := h.frontier / 60
	lo := int64(math.MaxInt64)
	for _, m := range ms {
		if !h.buckets[m].compact {
			lo = m
			break
		}
	}
	minDev := e.cfg.IncidentMinDevices
	thrU := max(minDev, int(math.Ceil(openFactorU*h.baseU*burstWindow)))
	thrH := max(hubErrFloor, int(math.Ceil(openFactorH*h.baseH*burstWindow)))
	for m := lo; m <= fm && lo != math.MaxInt64; m++ {
		from := max(m-burstWindow+1, h.lastEndBefore(m))
		u, errs, first := h.windowStats(from, m)
		if u < thrU || errs < thrH || first < 0 {
			continue
		}
		// the incident starts with its burst: the first minute holding the
		// per-minute share of a burst, not a quiet minute's stray
		// disconnect that happens to share the window (those are judged on
		// their own; caughtIn still takes burst members just before it)
		for q := first; q <= m; q++ {
			if b := h.buckets[q]; b != nil && b.unexplained() > e.burstPeers() {
				first = q
				break
			}
		}
		// Records that arrived late (within lateness) can complete an earlier
		// window than the one that opened an incident: that window belongs to
		// the same incident, whose start moves earlier (its ID does not).
		cur := h.incidentAt(m * 60)
		if cur == nil {
			cur = h.incidentFrom(m + 1)
		}
		if cur != nil {
			if cur.start/60 > first {
				cur.start = first * 60
				affected = append(affected, span{first, fm})
			}
			continue
		}
		in := &incident{start: first * 60, idStart: first * 60, open: true}
		h.inc = append(h.inc, in)
		slices.SortFunc(h.inc, func(a, b *incident) int { return cmp.Compare(a.start, b.start) })
		affected = append(affected, span{first, fm})
	}
	quietU := max(2, int(math.Ceil(quietFactor*h.baseU)))
	quietH := max(2, int(math.Ceil(quietFactor*h.baseH)))
	for _, in := range h.inc {
		if !in.open {
			continue
		}
		run := 0
		for q := in.start/60 + 1; (q+1)*60 <= w; q++ {
			u, errs, _ := h.windowStats(q, q)
			if u <= quietU && errs <= quietH {
				run++
			} else {
				run = 0
			}
			if run == quietMinutes {
				in.open = false
				in.end = (q - quietMinutes + 1) * 60
				affected = append(affected, span{in.end / 60, fm})
				break
			}
		}
	}
	for _, in := range h.inc {
		h.refreshIncident(in)
	}
	if len(h.inc) > maxIncKept {
		// drop the oldest resolved ones
		kept := h.inc[:0]
		drop := len(h.inc) - maxIncKept
		for _, in := range h.inc {
			if drop > 0 && !in.open && in.sigClosed {
				drop--
				continue
			}
			kept = append(kept, in)
		}
		h.inc = kept
	}
	return affected
}

// span is a range of minutes [from, to].
type span struct{ from, to int64 }

// has404In reports whether the device has a 404104 in one of the spans,
// in a minute past closed (a minute still open: the ones an incident
// change can re-judge).
func (d *device) has404In(spans []span, closed int64) bool {
	for _, sp := range spans {
		from := max(sp.from, closed+1)
		lo, hi := d.window(from*60, sp.to*60+59)
		for i := lo; i < hi; i++ {
			if d.entries[i].is404104() {
				return true
			}
		}
	}
	return false
}

// contribAt returns the device's contribution to minute m, if any.
func (d *device) contribAt(m int64) (contrib, bool) {
	for _, c := range d.contrib {
		if c.m == m {
			return c, true
		}
	}
	return contrib{}, false
}

// refreshIncident recomputes an incident's counts from the minute buckets.
func (h *hub) refreshIncident(in *incident) {
	endM := h.frontier / 60
	if !in.open {
		endM = in.end/60 - 1
	}
	u, errs, _ := h.windowStats(in.start/60, endM)
	if in.open || u > in.devices {
		in.devices = u // closed incidents never shrink as their minutes compact
	}
	in.hubErrors = max(errs, in.hubErrors)
	in.firstDisc, in.lastDisc = -1, -1
	for m := in.start / 60; m <= endM; m++ {
		b := h.buckets[m]
		if b == nil {
			continue
		}
		if b.unexplained() > 0 {
			if in.firstDisc < 0 {
				in.firstDisc = m
			}
			in.lastDisc = m
		}
		for _, c := range b.codes {
			if len(in.codes) < maxCodes && !slices.Contains(in.codes, c) {
				in.codes = append(in.codes, c)
			}
		}
	}
	slices.Sort(in.codes)
	hi := h.frontier
	if !in.open {
		hi = in.end
	}
	for _, m := range h.metrics {
		if m.fired && m.t >= in.start-metricSlack && m.t <= hi+metricSlack {
			in.metric = true
		}
	}
}

func boolInt(b bool) uint64 {
	if b {
		return 1
	}
	return 0
}

func (in *incident) summary(ref int64) string {
	first, last := in.firstDisc*60, in.lastDisc*60
	if in.firstDisc < 0 {
		first, last = in.start, in.start
	}
	codes := make([]string, len(in.codes))
	for i, c := range in.codes {
		codes[i] = strconv.Itoa(int(c))
	}
	cs := ""
	if len(codes) > 0 {
		cs = " (" + strings.Join(codes, "/") + ")"
	}
	return fmt.Sprintf("%d devices disconnected in this hub between %s and %s with %d server errors%s",
		in.devices, clock(first, ref), clock(last, ref), in.hubErrors, cs)
}

func (in *incident) fingerprint() uint64 {
	return uint64(in.devices)<<40 ^ uint64(in.hubErrors)<<8 ^ uint64(in.end) ^ boolInt(in.open)<<62 ^ boolInt(in.metric)<<63
}

// toIncident renders the API form, its evidence's times dated against ref
// (the incident's start for the API, 0 for alert text).
func (in *incident) toIncident(hub string, ref int64) Incident {
	out := Incident{
		ID:                 incidentID(hub, in.idStart),
		Hub:                hub,
		Open:               in.open,
		Start:              time.Unix(in.start, 0).UTC(),
		Devices:            in.devices,
		HubErrors:          in.hubErrors,
		MetricCorroborated: in.metric,
	}
	if !in.open {
		out.End = time.Unix(in.end, 0).UTC()
	}
	out.Evidence = append(out.Evidence, in.summary(ref)+", above this hub's usual rate")
	if in.metric {
		out.Evidence = append(out.Evidence, "a connected-devices metric alert fired during the burst")
	}
	if !in.open {
		out.Evidence = append(out.Evidence, fmt.Sprintf("back to baseline from %s for %d minutes", clock(in.end, ref), quietMinutes))
	}
	return out
}

// seal folds the minutes the watermark has passed into the hub's baseline,
// compacts buckets past lateness and drops old ones.
func (e *Engine) seal(h *hub, w int64) {
	lateness := int64(e.cfg.AllowedLateness / time.Second)
	last := floorDiv(w, 60) - 1
	ms := h.sortedMinutes()
	if h.sealed == 0 && len(ms) > 0 {
		h.sealed = ms[0] - 1
	}
	if h.sealed != 0 && last > h.sealed {
		m := h.sealed + 1
		idx, _ := slices.BinarySearch(ms, m)
		for m <= last {
			if idx < len(ms) && ms[idx] == m {
				if !h.coveredMinute(m) {
					b := h.buckets[m]
					h.baseU += baselineAlpha * (float64(b.unexplained()) - h.baseU)
					h.baseH += baselineAlpha * (float64(b.errs) - h.baseH)
				}
				m++
				idx++
				continue
			}
			next := last + 1
			if idx < len(ms) && ms[idx] <= last {
				next = ms[idx]
			}
			k := float64(next - m)
			f := math.Pow(1-baselineAlpha, k)
			h.baseU *= f
			h.baseH *= f
			m = next
		}
		h.sealed = last
	}
	closed := floorDiv(w-lateness, 60) - 1
	if closed > h.closed {
		h.closed = closed
	}
	for _, m := range ms {
		b := h.buckets[m]
		if m > h.closed {
			break
		}
		if !b.compact {
			b.secs, b.seen, b.compact = nil, nil, true
		}
		if m*60 < w-bucketKeep && !h.coveredMinute(m) {
			open := false
			for _, in := range h.inc {
				if in.open && in.start/60 <= m {
					open = true
				}
			}
			if !open {
				delete(h.buckets, m)
			}
		}
	}
}

func floorDiv(a, b int64) int64 {
	q := a / b
	if (a%b != 0) && ((a < 0) != (b < 0)) {
		q--
	}
	return q
}
