package classify

import (
	"slices"

	"github.com/disconnect-doctor/disconnect-doctor/event"
)

// IngestStats counts what Ingest did with a batch.
type IngestStats struct {
	// New events changed the state; Duplicate ones were already there.
	New, Duplicate int
	// Stale events were older than anything the engine still keeps for
	// their device or hub minute (beyond the revision horizon), or older
	// than the device's deletion; they are counted, not applied.
	Stale int
	// Ignored events are not evidence the engine uses (errors of other
	// categories that are not hub-side, events without a hub).
	Ignored int
}

// Ingest adds events to the state. It is idempotent by event ID (the same
// record twice changes nothing) and independent of order and batch split:
// verdicts are made by Tick from all evidence ingested.
func (e *Engine) Ingest(st *State, evs []event.Event) IngestStats {
	var s IngestStats
	for i := range evs {
		ev := &evs[i]
		if ev.Hub == "" || ev.Time.IsZero() {
			s.Ignored++
			continue
		}
		if ev.Kind == event.MetricFired || ev.Kind == event.MetricResolved {
			h := st.hub(ev.Hub)
			if h.addMetric(ev) {
				s.New++
				st.markHub(h)
			} else {
				s.Duplicate++
			}
			continue
		}
		hubSide := maybeHubSide(ev.Code) && ev.IsHubSide()
		devRec := ev.Device != "" && isDeviceRecord(ev)
		if !hubSide && !devRec {
			s.Ignored++
			continue
		}
		h := st.hub(ev.Hub)
		added, dup := false, false
		if hubSide {
			a, d := h.addError(ev)
			added, dup = a, d
			if a {
				st.markHub(h)
			}
		}
		if devRec {
			switch e.addDeviceEvent(st, h, ev) {
			case addNew:
				added = true
			case addDup:
				dup = true
			}
		}
		switch {
		case added:
			s.New++
			t := ev.Time.Unix()
			if t > h.frontier {
				h.frontier = t
				st.markHub(h)
			}
			if h.first == 0 || t < h.first {
				h.first = t
				st.markHub(h)
			}
		case dup:
			s.Duplicate++
		default:
			s.Stale++
		}
	}
	return s
}

// maybeHubSide is a cheap pre-check of event.HubSideCode's code ranges, so
// that the common record (a successful connect, a 404104) skips the
// category comparison.
func maybeHubSide(code int) bool {
	return code >= 400000 && code < 600000 && (code >= 500000 || code == event.CodeClosedOnFaultInjection ||
		code == event.CodeRejectedOnFaultInjection || code == event.CodeFailingOver)
}

// isDeviceRecord reports whether an event belongs on a device's timeline:
// Connections records, state events and lifecycle events.
func isDeviceRecord(ev *event.Event) bool {
	switch ev.Kind {
	case event.Connect, event.Disconnect:
		return ev.Source == event.ResourceLog
	case event.StateConnected, event.StateDisconnected, event.Created, event.Deleted:
		return true
	}
	return ev.IsUnauthorized()
}

type addResult int

const (
	addStale addResult = iota
	addNew
	addDup
)

func (e *Engine) addDeviceEvent(st *State, h *hub, ev *event.Event) addResult {
	k := ev.Key()
	t := ev.Time.Unix()
	d := st.devices[k]
	if d == nil {
		if tt, ok := h.tombs[keyHash(k)]; ok && t <= tt {
			return addStale
		}
		d = st.device(k)
	}
	if t < d.floor {
		return addStale
	}
	i := lowerBound(d.entries, t)
	for ; i < len(d.entries) && d.entries[i].t == t; i++ {
		c := idCompare(d.entries[i].id, ev.ID)
		if c == 0 {
			return addDup
		}
		if c > 0 {
			break
		}
	}
	ent := entry{id: ev.ID, t: t, code: int32(ev.Code), kind: ev.Kind, src: ev.Source}
	switch {
	case ev.IsUnauthorized():
		ent.class = classify401003(ev.Message, ev.AuthType)
	case ent.isSuccessConnect():
		// a successful connect keeps what its sdkVersion and protocol say
		// about the client (sdk.go): its token behaviour
		ent.class = msgClass(parseSDK(ev.SDK, ev.Protocol))
	}
	if ev.Kind == event.StateConnected || ev.Kind == event.StateDisconnected {
		ent.setSeq(normSeq(ev.Seq))
	}
	d.entries = slices.Insert(grown(d.entries, 3), i, ent)
	switch ev.Kind {
	case event.Deleted:
		if t > d.deleted {
			d.deleted = t
		}
	case event.Created:
		if t > d.deleted {
			d.deleted = 0
		}
	}
	st.touch(d)
	st.markDev(d)
	if k.Module == "" && (ev.Kind == event.Deleted || ev.Kind == event.Created) {
		lifecycleModules(st, k, ev.Kind, t)
	}
	return addNew
}

// lifecycleModules applies a device identity's deletion (or re-creation)
// at t to its tracked modules: IoT Hub deletes a device's modules with it,
// and sends no event of their own.
func lifecycleModules(st *State, k event.Key, kind event.Kind, t int64) {
	for _, md := range st.modulesOf(k) {
		switch {
		case kind == event.Deleted && t > md.deleted:
			md.deleted = t
		case kind == event.Created && t > md.deleted:
			md.deleted = 0
		default:
			continue
		}
		st.touch(md)
		st.markDev(md)
	}
}

func idCompare(a, b event.ID) int {
	for i := range a {
		if a[i] != b[i] {
			if a[i] < b[i] {
				return -1
			}
			return 1
		}
	}
	return 0
}
