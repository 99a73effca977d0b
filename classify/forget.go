package classify

import (
	"fmt"
	"time"
)

// Forget implements retention: it drops devices with no record since before
// (and nothing pending), and hub history older than before. A dropped
// device's open alert conditions (offline, flapping, failing renewal) are
// resolved in Output.Signals with the reason — otherwise their alerts would
// keep firing, and reminding, for good; Output.Removed lists the dropped
// devices so that the caller deletes their blobs.
func (e *Engine) Forget(st *State, before time.Time) Output {
	b := before.Unix()
	var out Output
	for k, d := range st.devices {
		if d.hasPending() {
			continue
		}
		if n := len(d.entries); n > 0 && d.entries[n-1].t >= b {
			continue
		}
		out.Removed = append(out.Removed, k)
	}
	sortKeys(out.Removed)
	for _, k := range out.Removed {
		out.Signals = append(out.Signals, e.forgetSignals(st, st.devices[k], b)...)
		st.dropDevice(k)
	}
	for _, h := range st.hubs {
		changed := false
		kept := h.inc[:0]
		for _, in := range h.inc {
			if !in.open && in.end < b && in.sigClosed {
				changed = true
				continue
			}
			kept = append(kept, in)
		}
		h.inc = kept
		for k, t := range h.tombs {
			if t < b {
				delete(h.tombs, k)
				changed = true
			}
		}
		ms := h.metrics[:0]
		for _, m := range h.metrics {
			if m.t >= b {
				ms = append(ms, m)
			}
		}
		if len(ms) != len(h.metrics) {
			changed = true
		}
		h.metrics = ms
		if changed {
			st.markHub(h)
		}
	}
	return out
}

// forgetSignals resolves the open alert conditions of a device retention
// drops at b: "no longer tracked: no record for 7 days".
func (e *Engine) forgetSignals(st *State, d *device, b int64) []Signal {
	if d.alerts == nil {
		return nil // no condition held, none open
	}
	at := b + int64(e.cfg.Retention/time.Second)
	summary := fmt.Sprintf("%s is no longer tracked: no record for %s", d.key, longDurWords(e.cfg.Retention))
	var ev []string
	if n := len(d.entries); n > 0 {
		ev = append(ev, "last record at "+clock(d.entries[n-1].t, 0))
	}
	ev = append(ev, "state older than RETENTION ("+longDurWords(e.cfg.Retention)+") is removed; a record from the device starts tracking it again")
	var out []Signal
	h := st.hub(d.key.Hub)
	for _, c := range []struct {
		kind SignalKind
		s    *sigState
	}{{TokenRenewalFailing, &d.renewal}, {DeviceOffline, &d.offline}, {DeviceFlapping, &d.flapping}} {
		if !c.s.firing {
			continue
		}
		c.s.firing = false
		inc := ""
		if c.s.inc != 0 {
			inc = incidentID(h.name, c.s.inc)
		}
		since := c.s.since
		if c.kind == DeviceOffline {
			since = c.s.ref // as its firing signal said: the disconnect
		}
		out = append(out, Signal{Kind: c.kind, Key: d.key, Since: unix(since), At: unix(max(at, c.s.since)),
			Incident: inc, Summary: summary, Evidence: ev, Devices: 1})
	}
	return out
}

// longDurWords says a retention-sized duration in days when it is whole
// days ("7 days"), else as durWords does.
func longDurWords(d time.Duration) string {
	const day = 24 * time.Hour
	switch {
	case d == day:
		return "1 day"
	case d > day && d%day == 0:
		return fmt.Sprintf("%d days", d/day)
	}
	return durWords(int64(d / time.Second))
}
