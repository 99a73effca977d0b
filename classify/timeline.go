package classify

import (
	"strings"

	"github.com/disconnect-doctor/disconnect-doctor/event"
)

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
		if best < 0 || seqLess(d.entries[best].seqNum(), e.seqNum()) {
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
// was lost in delivery: the session then began after that disconnect, and
// the start is anchored on it (anchored true). A connect the hub refused
// after that disconnect (a 500001 while the hub recovers, a 401003) shows
// the device was still not connected then, so the newest such refusal is
// the anchor: the session began after it. ok is false when no connect or
// earlier disconnect of the device is on record.
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
		if x.src == event.ResourceLog && (x.kind == event.Disconnect || x.isRefusedConnect()) {
			return i, true
		}
	}
	return c, false
}
