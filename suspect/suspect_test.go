package suspect

import (
	"fmt"
	"strings"
	"testing"
	"time"

	"github.com/disconnect-doctor/disconnect-doctor/classify"
	"github.com/disconnect-doctor/disconnect-doctor/event"
)

var t0 = time.Date(2026, 12, 6, 10, 0, 0, 0, time.UTC)

const hub = "h1"

// fleet builds events of a hub of n devices spread over nets /24 networks:
// each device connected (resource log with its masked IP, and Event Grid)
// at a random-looking time in the 90 minutes before t0, and one device in
// seven disconnected and reconnected once in the 40 minutes before t0 (the
// background the usual rate is learned from).
type fleet struct {
	n, nets int
}

func (f fleet) dev(i int) string { return fmt.Sprintf("dev-%05d", i) }
func (f fleet) ip(i int) string  { return fmt.Sprintf("10.%d.%d.XXX", (i%f.nets)/200, (i%f.nets)%200) }

func grid(kind event.Kind, dev string, t time.Time) event.Event {
	return event.Event{Source: event.EventGrid, Kind: kind, Hub: hub, Device: dev, Time: t}
}

func connectLog(dev, ip string, t time.Time) event.Event {
	return event.Event{Source: event.ResourceLog, Kind: event.Connect, Hub: hub, Device: dev, Time: t, MaskedIP: ip, Category: "Connections"}
}

func (f fleet) history() []event.Event {
	var evs []event.Event
	for i := range f.n {
		c := t0.Add(-90*time.Minute + time.Duration(i*7919%5400)*time.Second)
		evs = append(evs, grid(event.StateConnected, f.dev(i), c), connectLog(f.dev(i), f.ip(i), c))
		if i%7 == 0 {
			d := t0.Add(-40*time.Minute + time.Duration(i*104729%2400)*time.Second)
			evs = append(evs, grid(event.StateDisconnected, f.dev(i), d), grid(event.StateConnected, f.dev(i), d.Add(20*time.Second)))
		}
	}
	return evs
}

// burst disconnects the devices picked within 10 seconds from at.
func (f fleet) burst(at time.Time, pick func(i int) bool) []event.Event {
	var evs []event.Event
	for i := range f.n {
		if pick(i) {
			evs = append(evs, grid(event.StateDisconnected, f.dev(i), at.Add(time.Duration(i%10)*time.Second)))
		}
	}
	return evs
}

func never(string) bool { return false }

// fifth picks a fifth of the fleet at random (as a hub outage does).
func fifth(i int) bool { return (i*2654435761)>>7%5 == 1 }

func tick(st *State, now, wm time.Time, open func(string) bool, ds ...classify.Diagnosis) []classify.Signal {
	return Tick(Config{}, st, Input{Now: now, Watermark: wm, IncidentOpen: open, Diagnoses: ds})
}

func TestSuspects(t *testing.T) {
	f := fleet{n: 300, nets: 40}
	cases := []struct {
		name string
		f    fleet
		// history is fed first; burst at t0+30s, judged at t0+1m
		burst func(i int) bool
		extra []event.Event
		want  string // the rejection, or "" for a suspicion
	}{
		{"a fifth of the fleet across its networks within seconds", f, fifth, nil, rejectNone},
		{"a site: one network holding 10% of the fleet", fleet{n: 600, nets: 10}, func(i int) bool { return i%10 == 3 }, nil, rejectSpread},
		{"a site: every device of 2 networks of 40", fleet{n: 300, nets: 40}, func(i int) bool { return i%40 == 3 || i%40 == 4 }, nil, rejectSpread},
		{"a site that holds 60% of the burst", f, func(i int) bool { return i%40 == 3 || i%60 == 1 }, nil, rejectSpread},
		{"below INCIDENT_MIN_DEVICES", f, func(i int) bool { return i%40 == 1 }, nil, rejectSmall},
		{"a fleet on two networks cannot tell a site from the hub", fleet{n: 300, nets: 2}, fifth, nil, rejectSpread},
		// Waves of token expiries: TestTokenWaveAfterOutage (wave_test.go).
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			st := NewState()
			Observe(Config{}, st, tc.f.history())
			Observe(Config{}, st, tc.extra)
			Observe(Config{}, st, tc.f.burst(t0.Add(30*time.Second), tc.burst))
			_, reject := suspicious(Defaults(), st.Hub(hub), burstOf(st.Hub(hub), Defaults()))
			if reject != tc.want {
				t.Fatalf("rejected for %q, want %q", reject, tc.want)
			}
			sigs := tick(st, t0.Add(time.Minute), t0.Add(-10*time.Minute), never)
			if got := len(sigs) == 1; got != (tc.want == rejectNone) {
				t.Fatalf("suspected %v (%+v), want the rejection %q", got, sigs, tc.want)
			}
			if tc.want != rejectNone {
				return
			}
			s := sigs[0]
			if !s.Suspected || !s.Firing || s.Kind != classify.HubIncident || s.AlertKey() != "hub-incident/h1" ||
				!s.Since.Equal(t0.Add(30*time.Second)) || s.Devices < 50 || s.Devices > 70 || !strings.Contains(s.Summary, "cause pending") {
				t.Fatalf("signal %+v", s)
			}
			if again := tick(st, t0.Add(90*time.Second), t0.Add(-9*time.Minute), never); len(again) != 0 {
				t.Fatalf("raised twice: %+v", again)
			}
		})
	}
}

func TestNeedsHistoryAndRecency(t *testing.T) {
	f := fleet{n: 300, nets: 40}
	// No history: the hub's usual rate is unknown.
	st := NewState()
	var conns []event.Event
	for i := range f.n {
		conns = append(conns, connectLog(f.dev(i), f.ip(i), t0.Add(-time.Hour)))
	}
	Observe(Config{}, st, conns)
	Observe(Config{}, st, f.burst(t0, fifth))
	if _, r := suspicious(Defaults(), st.Hub(hub), burstOf(st.Hub(hub), Defaults())); r != rejectHistory {
		t.Fatalf("rejected for %q, want %q", r, rejectHistory)
	}
	if sigs := tick(st, t0.Add(time.Minute), t0, never); len(sigs) != 0 {
		t.Fatalf("suspected without history: %+v", sigs)
	}
	// A burst read 10 minutes after it happened (a backlog).
	st = NewState()
	Observe(Config{}, st, f.history())
	Observe(Config{}, st, f.burst(t0, fifth))
	if sigs := tick(st, t0.Add(10*time.Minute), t0, never); len(sigs) != 0 {
		t.Fatalf("suspected an old burst: %+v", sigs)
	}
	// Far above a busy hub's usual rate only: 60 in a window is not 5x a
	// hub where ~20 devices disconnect every minute.
	st = NewState()
	Observe(Config{}, st, f.history())
	var busy []event.Event
	for m := range 40 {
		for k := range 20 {
			busy = append(busy, grid(event.StateDisconnected, fmt.Sprintf("busy-%d-%d", m, k), t0.Add(time.Duration(m-40)*time.Minute)))
		}
	}
	Observe(Config{}, st, busy)
	Observe(Config{}, st, f.burst(t0.Add(30*time.Second), fifth))
	if _, r := suspicious(Defaults(), st.Hub(hub), burstOf(st.Hub(hub), Defaults())); r != rejectRate {
		t.Fatalf("rejected for %q, want %q", r, rejectRate)
	}
	if sigs := tick(st, t0.Add(time.Minute), t0, never); len(sigs) != 0 {
		t.Fatalf("suspected within a busy hub's usual rate: %+v", sigs)
	}
}

func suspectedState(t *testing.T) (*State, fleet) {
	t.Helper()
	f := fleet{n: 300, nets: 40}
	st := NewState()
	Observe(Config{}, st, f.history())
	Observe(Config{}, st, f.burst(t0.Add(30*time.Second), fifth))
	if sigs := tick(st, t0.Add(time.Minute), t0.Add(-10*time.Minute), never); len(sigs) != 1 {
		t.Fatalf("no suspicion: %+v", sigs)
	}
	return st, f
}

func TestConfirmed(t *testing.T) {
	st, _ := suspectedState(t)
	open := func(h string) bool { return h == hub }
	if sigs := tick(st, t0.Add(6*time.Minute), t0.Add(-5*time.Minute), open); len(sigs) != 0 {
		t.Fatalf("a confirmation is the engine's signal, not ours: %+v", sigs)
	}
	if st.Hub(hub).Sus != nil {
		t.Fatal("the suspicion is still open after the engine's incident")
	}
	// Later ticks (the incident over) do not suspect the same burst again.
	if sigs := tick(st, t0.Add(7*time.Minute), t0, never); len(sigs) != 0 {
		t.Fatalf("re-suspected a handled burst: %+v", sigs)
	}
}

func TestWithdrawn(t *testing.T) {
	st, f := suspectedState(t)
	// Logs up to 3 minutes after the burst arrive, the watermark passes:
	// the disconnects were diagnosed device-or-network; no incident.
	var logs []event.Event
	for i := range f.n {
		if fifth(i) {
			logs = append(logs, event.Event{Source: event.ResourceLog, Kind: event.Disconnect, Hub: hub, Device: f.dev(i),
				Time: t0.Add(30 * time.Second), Code: event.CodeConnectionClosedRemotely, MaskedIP: f.ip(i)})
		}
	}
	logs = append(logs, connectLog(f.dev(0), f.ip(0), t0.Add(4*time.Minute)))
	Observe(Config{}, st, logs)
	// Not yet: the watermark is behind the burst.
	if sigs := tick(st, t0.Add(8*time.Minute), t0.Add(time.Minute), never); len(sigs) != 0 {
		t.Fatalf("withdrawn before the watermark passed: %+v", sigs)
	}
	ds := []classify.Diagnosis{
		{Key: event.Key{Hub: hub, Device: "dev-00001"}, Time: t0.Add(35 * time.Second), Cause: classify.DeviceOrNetwork, Final: true},
		{Key: event.Key{Hub: hub, Device: "dev-00006"}, Time: t0.Add(36 * time.Second), Cause: classify.DeviceOrNetwork, Final: true},
		{Key: event.Key{Hub: "other", Device: "x"}, Time: t0.Add(36 * time.Second), Cause: classify.TokenExpiry, Final: true},
	}
	sigs := tick(st, t0.Add(12*time.Minute), t0.Add(3*time.Minute), never, ds...)
	if len(sigs) != 1 || sigs[0].Firing || !sigs[0].Suspected || !strings.Contains(sigs[0].Summary, "not an IoT Hub incident") ||
		!strings.Contains(strings.Join(sigs[0].Evidence, " "), "device-or-network 2") {
		t.Fatalf("want the withdrawal naming the causes, got %+v", sigs)
	}
	if st.Hub(hub).Sus != nil {
		t.Fatal("suspicion left open")
	}
}

func TestGivesUpWithoutLogs(t *testing.T) {
	st, _ := suspectedState(t)
	if sigs := tick(st, t0.Add(59*time.Minute), t0.Add(50*time.Minute), never); len(sigs) != 0 {
		t.Fatalf("gave up early: %+v", sigs)
	}
	sigs := tick(st, t0.Add(62*time.Minute), t0.Add(55*time.Minute), never)
	if len(sigs) != 1 || sigs[0].Firing || !strings.Contains(sigs[0].Summary, "could not be confirmed") {
		t.Fatalf("got %+v", sigs)
	}
}

func TestRereadIsHarmless(t *testing.T) {
	f := fleet{n: 300, nets: 40}
	a, b := NewState(), NewState()
	h := f.history()
	Observe(Config{}, a, h)
	Observe(Config{}, b, h)
	Observe(Config{}, b, h[len(h)/2:])
	da, _, _ := a.Marshal(hub)
	db, _, _ := b.Marshal(hub)
	if string(da) != string(db) {
		t.Fatal("re-reading events changed the state")
	}
}

// TestSampleIsBounded: a 20 000-device hub is tracked through a sample of
// at most MaxTracked devices, and a fleet-wide burst is still suspected
// with its size estimated from the sample.
func TestSampleIsBounded(t *testing.T) {
	f := fleet{n: 20000, nets: 500}
	st := NewState()
	Observe(Config{}, st, f.history())
	h := st.Hub(hub)
	if len(h.Devs) > Defaults().MaxTracked || h.Shift == 0 {
		t.Fatalf("%d devices tracked at shift %d", len(h.Devs), h.Shift)
	}
	Observe(Config{}, st, f.burst(t0.Add(30*time.Second), func(i int) bool { return i%4 == 1 }))
	sigs := tick(st, t0.Add(time.Minute), t0, never)
	if len(sigs) != 1 || sigs[0].Devices < 3500 || sigs[0].Devices > 6500 {
		t.Fatalf("want one suspicion of ~5000 devices, got %+v", sigs)
	}
	data, _, err := st.Marshal(hub)
	if err != nil || len(data) >= 64<<10 {
		t.Fatalf("blob of %d bytes (%v)", len(data), err)
	}
}

func TestNetwork(t *testing.T) {
	for in, want := range map[string]string{"81.204.17.XXX": "81.204.17", "2001:db8:1:XXXX": "2001:db8:1", "x": "x"} {
		if got := network(in); got != want {
			t.Errorf("network(%q) = %q, want %q", in, got, want)
		}
	}
}

func TestStateRoundTrip(t *testing.T) {
	st, _ := suspectedState(t)
	data, ok, err := st.Marshal(hub)
	if err != nil || !ok {
		t.Fatal(ok, err)
	}
	back := NewState()
	if err := back.Unmarshal(hub, data); err != nil {
		t.Fatal(err)
	}
	if back.Hub(hub).Sus == nil || len(back.Hub(hub).Devs) != 300 {
		t.Fatal("state lost in the round trip")
	}
	if err := back.Unmarshal(hub, []byte("{")); err == nil {
		t.Fatal("a broken blob must be an error")
	}
}
