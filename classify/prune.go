package classify

import (
	"github.com/disconnect-doctor/disconnect-doctor/event"
)

// prune bounds the timeline: entries older than the revision horizon go,
// except the newest successful connect, 404104, disconnect and state event
// (the rules still need them), never a pending 404104; then at most
// maxEntries remain. The floor moves up so that re-delivered old records
// are recognized as stale instead of re-added.
func (e *Engine) prune(d *device, w, first int64) bool {
	cut := w - e.revHorizon
	n := len(d.entries)
	if n == 0 || (d.entries[0].t >= cut && n <= maxEntries) {
		return false
	}
	keep := make([]bool, n)
	lastConn, last404, lastDisc, lastState := -1, -1, -1, -1
	for i := range d.entries {
		x := &d.entries[i]
		switch {
		case x.isSuccessConnect() && x.t < cut:
			lastConn = i // the connect current at the cut: any 404104 still accepted may end its token
		case x.is404104():
			last404 = i
		}
		if x.kind == event.Disconnect {
			lastDisc = i
		}
		if x.kind == event.StateConnected || x.kind == event.StateDisconnected {
			lastState = i
		}
		keep[i] = x.t >= cut || (x.is404104() && x.flags&fFinal == 0)
	}
	must := make([]bool, n)
	for _, i := range []int{lastConn, last404, lastDisc, lastState} {
		if i >= 0 {
			must[i] = true
		}
	}
	mark := func(j int) { must[j] = true }
	// the token each connect from the one current at the cut on
	// presented, which a 404104 still to arrive (records come late and
	// out of order) may end
	for i := max(lastConn, 0); i < n; i++ {
		if x := &d.entries[i]; x.isSuccessConnect() {
			d.tokenStartIdx(x.t+1, first, mark)
		}
	}
	// the connect that presented the token each kept 404104 ends
	lc := -1
	for i := range d.entries {
		x := &d.entries[i]
		if x.isSuccessConnect() {
			lc = i
		}
		if x.is404104() && keep[i] && lc >= 0 {
			must[lc] = true
		}
		if x.is404104() && keep[i] {
			// and its session start (a connect, or the disconnect or
			// refused connect it is anchored on) and the reconnects and
			// drops its token's age runs through: the walk visits them
			d.tokenStartIdx(x.t, first, mark)
		}
		if x.is404104() && x.flags&fFinal == 0 {
			must[i] = true
		}
	}
	for i := range must {
		keep[i] = keep[i] || must[i]
	}
	kept := 0
	for _, k := range keep {
		if k {
			kept++
		}
	}
	for i := 0; i < n && kept > maxEntries; i++ {
		x := &d.entries[i]
		if !keep[i] || must[i] {
			continue
		}
		keep[i] = false
		kept--
		if x.t+1 > cut {
			cut = x.t + 1
		}
	}
	if kept == n {
		if cut > d.floor && d.entries[0].t >= cut {
			d.floor = cut
		}
		return false
	}
	out := d.entries[:0]
	for i := range d.entries {
		if keep[i] {
			out = append(out, d.entries[i])
		}
	}
	clear(d.entries[len(out):])
	d.entries = clipped(out, 1)
	if cut > d.floor {
		d.floor = cut
	}
	return true
}
