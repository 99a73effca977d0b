package classify

import (
	"fmt"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/disconnect-doctor/disconnect-doctor/event"
)

// Test fixtures are built from the reference facts (reference/iothub-
// telemetry.md §1.4, §2, §3, §6), not from any simulator: a Connections
// record per connect / disconnect, 401003 on the disconnect that the hub
// enforces, second-precision times.

var t0 = time.Date(2024, 5, 14, 10, 0, 0, 0, time.UTC)

const testHub = "contoso-prod-hub"

func at(d time.Duration) time.Time { return t0.Add(d) }

func hms(h, m, s int) time.Duration {
	return time.Duration(h)*time.Hour + time.Duration(m)*time.Minute + time.Duration(s)*time.Second
}

func withID(e event.Event) event.Event {
	e.ID = event.NewID(&e, "")
	return e
}

// connect is a resource-log deviceConnect; code 0 = success.
func connect(dev string, t time.Time, code int, msg string) event.Event {
	return withID(event.Event{Source: event.ResourceLog, Kind: event.Connect, Hub: testHub, Device: dev, Time: t,
		Category: "Connections", Operation: "deviceConnect", Code: code, Message: msg, Protocol: "Mqtt"})
}

// disconnect is a resource-log deviceDisconnect with a result code.
func disconnect(dev string, t time.Time, code int, msg string) event.Event {
	return withID(event.Event{Source: event.ResourceLog, Kind: event.Disconnect, Hub: testHub, Device: dev, Time: t,
		Category: "Connections", Operation: "deviceDisconnect", Code: code, Message: msg, Protocol: "Mqtt"})
}

func d404(dev string, t time.Time) event.Event {
	return disconnect(dev, t, event.CodeConnectionClosedRemotely,
		"Device disconnected, see cause and resolution at https://aka.ms/iothub404104")
}

const msgRenew = "Authentication failed for this device, renew token or certificate and reconnect"

func u401(dev string, t time.Time) event.Event {
	return disconnect(dev, t, event.CodeUnauthorized, msgRenew)
}

// expiry is the hub-enforced token expiry of reference §2.2: 401003 and
// 404104 in the same second, a successful connect `back` later.
func expiry(dev string, t time.Time, back time.Duration) []event.Event {
	return []event.Event{u401(dev, t), d404(dev, t), connect(dev, t.Add(back), 0, "")}
}

// opErr is a hub-side error of another device-facing category.
func opErr(dev string, t time.Time, category string, code int) event.Event {
	return withID(event.Event{Source: event.ResourceLog, Kind: event.Operation, Hub: testHub, Device: dev, Time: t,
		Category: category, Operation: "update", Code: code})
}

func stateEv(dev string, t time.Time, connected bool, seq uint64) event.Event {
	k := event.StateDisconnected
	if connected {
		k = event.StateConnected
	}
	return withID(event.Event{Source: event.EventGrid, Kind: k, Hub: testHub, Device: dev, Time: t,
		Seq: fmt.Sprintf("000000000000000001D8713FF7E0851400000002%024X", seq)})
}

func metricAlert(t time.Time, fired bool) event.Event {
	k := event.MetricResolved
	if fired {
		k = event.MetricFired
	}
	e := event.Event{Source: event.Metric, Kind: k, Hub: testHub, Time: t}
	e.ID = event.NewID(&e, "alert-1")
	return e
}

func testConfig() Config {
	c := DefaultConfig()
	c.Mode = EventTime
	return c
}

// run is the result of feeding a stream through the engine.
type run struct {
	final   map[event.ID]Diagnosis // newest diagnosis per 404104
	all     []Diagnosis
	signals []Signal
	incs    map[string]Incident
	st      *State
	stats   IngestStats
	input   []event.Event // the events fed, in arrival order
}

// verdicts returns the final causes of dev's 404104s in time order.
func (r *run) verdicts(dev string) []Cause {
	var ds []Diagnosis
	for _, d := range r.final {
		if d.Key.Device == dev {
			ds = append(ds, d)
		}
	}
	slices.SortFunc(ds, func(a, b Diagnosis) int { return a.Time.Compare(b.Time) })
	out := make([]Cause, len(ds))
	for i, d := range ds {
		out[i] = d.Cause
	}
	return out
}

func (r *run) diag(dev string, t time.Time) Diagnosis {
	for _, d := range r.final {
		if d.Key.Device == dev && d.Time.Equal(t) {
			return d
		}
	}
	return Diagnosis{}
}

func (r *run) signalsOf(kind SignalKind, dev string) []Signal {
	var out []Signal
	for _, s := range r.signals {
		if s.Kind == kind && s.Key.Device == dev {
			out = append(out, s)
		}
	}
	return out
}

func (r *run) absorb(o Output) {
	for _, d := range o.Diagnoses {
		r.all = append(r.all, d)
		r.final[d.EventID] = d
	}
	r.signals = append(r.signals, o.Signals...)
	for _, in := range o.Incidents {
		r.incs[in.ID] = in
	}
}

// feed ingests events in arrival order, step events at a time, ticking after
// each step at the event-time watermark (newest − lateness), then ticks at
// the newest event time + tail.
func feed(t testing.TB, cfg Config, evs []event.Event, step int, tail time.Duration) *run {
	t.Helper()
	e := New(cfg)
	r := &run{final: map[event.ID]Diagnosis{}, incs: map[string]Incident{}, st: NewState(), input: evs}
	var newest time.Time
	var wm time.Time
	for i := 0; i < len(evs); i += step {
		batch := evs[i:min(i+step, len(evs))]
		s := e.Ingest(r.st, batch)
		r.stats.New += s.New
		r.stats.Duplicate += s.Duplicate
		r.stats.Stale += s.Stale
		r.stats.Ignored += s.Ignored
		for _, ev := range batch {
			if ev.Time.After(newest) {
				newest = ev.Time
			}
		}
		if w := Watermark(EventTime, time.Time{}, cfg.AllowedLateness, []Progress{{Newest: newest}}); w.After(wm) {
			wm = w
		}
		r.absorb(e.Tick(r.st, wm))
	}
	if tail > 0 {
		end := newest.Add(tail)
		for wm.Before(end) {
			wm = wm.Add(time.Minute)
			r.absorb(e.Tick(r.st, wm))
		}
	}
	return r
}

func sortByTime(evs []event.Event) []event.Event {
	out := slices.Clone(evs)
	slices.SortStableFunc(out, func(a, b event.Event) int { return a.Time.Compare(b.Time) })
	return out
}

func containsLine(lines []string, sub string) bool {
	for _, l := range lines {
		if strings.Contains(l, sub) {
			return true
		}
	}
	return false
}
