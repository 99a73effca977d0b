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

// tokenRenewPercent is how much of its lifetime a .NET or Java client's
// token may have used and still be presented again on a reconnect: both
// SDKs make a new token only once the one they hold has 15% of its life
// left (.NET AuthenticationWithTokenRefresh.GetTokenAsync returns the
// cached token while !IsExpiring, DefaultSasRenewalBufferPercentage 15;
// Java IotHubSasTokenAuthenticationProvider.shouldRefreshToken, 85%).
const tokenRenewPercent = 85

// maxTokenHops bounds how many reconnects tokenStartIdx follows back: a
// default token outlives at most a handful of network drops that are each
// followed by a reconnect.
const maxTokenHops = 6

// tokenStartIdx returns the entry index of the connect that made the token
// the session ending at t presented, and whether it is anchored as in
// sessionStartIdx (-1: not on record). The hub cuts a .NET or Java client
// over MQTT when its token expires, and those SDKs reconnect after a
// network drop, a hub incident or a keep-alive timeout with the token they
// already hold while it is not yet due for renewal (tokenRenewPercent): the
// cut-off then comes on that token's schedule, not the reconnect's. So the
// age that says "token" runs from the connect after the session's last
// token-ending disconnect (a cut-off, a clean disconnect, a second client),
// or from the reconnect at which the old token was due; a disconnect whose
// record was lost is stepped over, and so is a refused connect. Where the
// walk back reaches a session whose start is not on record, the old token
// was made before first (when the hub's records began): the reconnect made
// a new one if that is longer ago than the token's renewal age, and
// otherwise the token's age is unknown (-1). Other SDKs' sessions, which
// the hub never cuts, keep sessionStartIdx's answer.
//
// visit, when not nil, is called with every entry index the answer rests
// on, newest first: the session starts and the disconnects before them
// (prune keeps them; fittingStart looks among them).
func (d *device) tokenStartIdx(t, first int64, visit func(int)) (int, bool) {
	return d.tokenStartHops(t, first, maxTokenHops, visit)
}

// tokenStartHops is tokenStartIdx following at most hops reconnects back.
func (d *device) tokenStartHops(t, first int64, hops int, visit func(int)) (int, bool) {
	si, anch := d.sessionStartIdx(t)
	if si < 0 {
		return si, anch
	}
	if visit != nil {
		visit(si)
	}
	// A session anchored on a disconnect whose reconnect record was lost
	// began at an unknown time, perhaps with a new token: it keeps its
	// anchor. One anchored on a refused connect began within the SDK's
	// retry backoff of it, and is followed back like a connect.
	if hops == 0 || !d.sdkAt(t).hubCut() || (anch && !d.entries[si].isRefusedConnect()) {
		return si, anch
	}
	// the disconnect that ended the session before, or — its record lost
	// between two connects — the session before's own connect: a
	// cut-off, the one loss that makes a new token, comes only once the
	// token is due, which the check below asks anyway
	j := d.sessionEndBefore(si)
	var prev int64 // a time in the session before
	switch {
	case j >= 0 && !d.entries[j].keepsToken():
		return si, anch
	case j >= 0:
		prev = d.entries[j].t
	default:
		if j = d.lastConnectBefore(d.entries[si].t); j < 0 {
			return si, anch
		}
		prev = d.entries[j].t + 1
	}
	if visit != nil {
		visit(j)
	}
	pi, panch := d.tokenStartHops(prev, first, hops-1, visit)
	made := first // not on record: the token predates the records
	if pi >= 0 {
		made = d.entries[pi].t
	}
	switch {
	case (pi >= 0 || first != 0) && d.entries[si].t-made >= d.tokenDue(t):
		return si, anch // the old token was due: the reconnect made a new one
	case pi < 0:
		return -1, false
	}
	return pi, panch
}

// sessionEndBefore returns the index of the resource-log disconnect that
// ended the session before the connect at entries[ci] (successful, or
// refused while the device was still trying): the newest disconnect
// between the previous successful connect and it, or -1 when none is on
// record.
func (d *device) sessionEndBefore(ci int) int {
	for i := ci - 1; i >= 0; i-- {
		x := &d.entries[i]
		switch {
		case x.isSuccessConnect():
			return -1
		case x.src == event.ResourceLog && x.kind == event.Disconnect:
			return i
		}
	}
	return -1
}

// keepsToken reports whether a client reconnecting after this disconnect
// still holds the token it had: a 404104 judged a device or network
// fault, or a hub incident (the disconnects that are not the token's own
// and not a second client's). One not yet judged counts as keeping it, so
// that prune keeps what the walk back may need once it is; 404104s are
// judged in time order, so a judged one never looks past a pending one.
func (x *entry) keepsToken() bool {
	return x.is404104() && (x.cause == ccDeviceOrNetwork || x.cause == ccHubTransient || x.cause == ccPending)
}

// tokenDue is the token age, in seconds, past which a reconnecting .NET or
// Java client of the device makes a new token: tokenRenewPercent of its
// token's lifetime. That lifetime is its learned period less the hub's
// enforcement delay, or else the SDKs' default hour — but never shorter
// than the device has shown: a token that kept a session open for a time
// lives at least that long less the enforcement delay (the hub would have
// cut it sooner), which tells a custom 3-hour token before its period is
// learned.
func (d *device) tokenDue(t int64) int64 {
	life := int64(hubCutLifespan)
	if p, ok := learnedPeriod(d.samples, t, d.sdkAt(t)); ok {
		life = max(p.dur-(hubCutDelayMin+hubCutDelayMax)/2, p.dur/2)
	}
	for i := range d.samples {
		if s := &d.samples[i]; s.disc < t && !s.anch() {
			life = max(life, int64(s.dur)-hubCutDelayMax)
		}
	}
	return life * tokenRenewPercent / 100
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
