package site

import (
	"fmt"
	"strings"
	"testing"
	"time"

	"github.com/disconnect-doctor/disconnect-doctor/classify"
	"github.com/disconnect-doctor/disconnect-doctor/event"
)

const hub = "contoso-hub"

var t0 = time.Date(2024, 5, 14, 5, 27, 0, 0, time.UTC)

// drop is one device's 404104 in a fixture: its device id (with "/module"
// for a module), the offset from t0, its masked IP, its final verdict and
// the hub incident it fell in; back is the offset of its return (0 never).
type drop struct {
	id       string
	at       time.Duration
	ip       string
	cause    classify.Cause
	incident string
	back     time.Duration
}

func key(id string) event.Key {
	dev, mod, _ := strings.Cut(id, "/")
	return event.Key{Hub: hub, Device: dev, Module: mod}
}

func disconnect(d drop) event.Event {
	k := key(d.id)
	return event.Event{Source: event.ResourceLog, Kind: event.Disconnect, Code: event.CodeConnectionClosedRemotely,
		Hub: hub, Device: k.Device, Module: k.Module, Time: t0.Add(d.at), MaskedIP: d.ip}
}

func connect(d drop) event.Event {
	k := key(d.id)
	return event.Event{Source: event.ResourceLog, Kind: event.Connect, Hub: hub, Device: k.Device, Module: k.Module,
		Time: t0.Add(d.back), MaskedIP: d.ip}
}

func diagnosis(d drop) classify.Diagnosis {
	return classify.Diagnosis{Key: key(d.id), Time: t0.Add(d.at), Cause: d.cause, Final: true, Incident: d.incident,
		Evidence: []string{"no successful connect within 1m"}}
}

// stored is the rows the last run saved and did not delete, as the
// pipeline's MetaBlobs would hold them; writes counts the row writes.
var (
	stored map[[2]string]bool
	writes int
)

// run plays a fixture the way the pipeline does, one tick a minute: events
// read up to the tick, the engine's final diagnoses ReconnectGrace (1m)
// after each 404104, the watermark at the tick, the changes saved. It
// returns every signal and every diagnosis Tick emitted or annotated.
func run(t *testing.T, cfg Config, st *State, drops []drop, until time.Duration) ([]classify.Signal, []classify.Diagnosis) {
	t.Helper()
	stored, writes = map[[2]string]bool{}, 0
	var sigs []classify.Signal
	var diags []classify.Diagnosis
	for now := time.Duration(0); now <= until; now += time.Minute {
		var evs []event.Event
		var ds []classify.Diagnosis
		for _, d := range drops {
			if d.at <= now && d.at > now-time.Minute {
				evs = append(evs, disconnect(d))
			}
			if d.back > 0 && d.back <= now && d.back > now-time.Minute {
				evs = append(evs, connect(d))
			}
			if f := d.at + time.Minute; f <= now && f > now-time.Minute {
				ds = append(ds, diagnosis(d))
			}
		}
		Observe(st, evs)
		out := Tick(cfg, st, Input{Watermark: t0.Add(now), Diagnoses: ds})
		sigs = append(sigs, out.Signals...)
		diags = append(diags, ds...)
		diags = append(diags, out.Diagnoses...)
		_, rows, gone := st.Changes()
		for _, g := range gone {
			if !stored[g] {
				t.Fatalf("deleting row %v never saved", g)
			}
			delete(stored, g)
		}
		for _, r := range rows {
			stored[r] = true
			writes++
		}
	}
	return sigs, diags
}

// site returns n devices behind ip dropping step apart from at, back at back.
func site(prefix, ip string, n int, at, step, back time.Duration) []drop {
	ds := make([]drop, n)
	for i := range ds {
		ds[i] = drop{id: fmt.Sprintf("%s-%02d", prefix, i), at: at + time.Duration(i)*step, ip: ip,
			cause: classify.DeviceOrNetwork, back: back}
	}
	return ds
}

func TestRuleFixtures(t *testing.T) {
	outage := site("plc", "203.0.113.XXX", 12, 0, 8*time.Second, 40*time.Minute)
	hubWins := site("plc", "203.0.113.XXX", 12, 0, 8*time.Second, 40*time.Minute)
	for i := range hubWins {
		hubWins[i].cause, hubWins[i].incident = classify.HubTransient, "contoso-hub-20240514T0527Z"
	}
	twoNets := append(site("a", "203.0.113.XXX", 2, 0, 10*time.Second, 0), site("b", "198.51.100.XXX", 2, 5*time.Second, 10*time.Second, 0)...)
	edge := []drop{
		{id: "edge-01", ip: "203.0.113.XXX", cause: classify.DeviceOrNetwork},
		{id: "edge-01/$edgeAgent", at: time.Second, ip: "203.0.113.XXX", cause: classify.DeviceOrNetwork},
		{id: "edge-01/$edgeHub", at: 2 * time.Second, ip: "203.0.113.XXX", cause: classify.DeviceOrNetwork},
		{id: "edge-01/filter", at: 3 * time.Second, ip: "203.0.113.XXX", cause: classify.DeviceOrNetwork},
	}
	for _, tc := range []struct {
		name    string
		drops   []drop
		outages int
	}{
		{"12 devices behind one /24 within 90s: one outage", outage, 1},
		{"same prefix spread over 30 minutes: none", site("plc", "203.0.113.XXX", 12, 0, 150*time.Second, 0), 0},
		{"two prefixes of two devices each: none", twoNets, 0},
		{"a hub incident wins: its devices are hub-transient", hubWins, 0},
		{"one IoT Edge device with its modules: one device, none", edge, 0},
		{"records without a masked IP: none", site("plc", "", 12, 0, time.Second, 0), 0},
	} {
		t.Run(tc.name, func(t *testing.T) {
			st := NewState()
			sigs, _ := run(t, Config{}, st, tc.drops, 60*time.Minute)
			fired := 0
			for _, s := range sigs {
				if s.Kind != classify.SiteOutage {
					t.Fatalf("signal of kind %s", s.Kind)
				}
				if s.Firing {
					fired++
				}
			}
			if fired != tc.outages {
				t.Fatalf("%d outages fired, want %d: %+v", fired, tc.outages, sigs)
			}
			if h := st.Hub(hub); tc.outages == 0 && h != nil && len(h.Outages) > 0 {
				t.Fatalf("outages recorded: %+v", h.Outages)
			}
		})
	}
}

func TestOutageLifecycle(t *testing.T) {
	drops := site("plc", "203.0.113.XXX", 12, 0, 8*time.Second, 40*time.Minute)
	// Three never come back: the outage resolves with nine of twelve back
	// (three quarters), and those three are judged on their own.
	for i := 9; i < 12; i++ {
		drops[i].back = 0
	}
	// A device of another network dropping at the same time is not a member.
	drops = append(drops, drop{id: "other", ip: "198.51.100.XXX", cause: classify.DeviceOrNetwork})
	// A device behind the site whose token expired as it went down is not
	// counted, but cannot come back either: its alerts are held too.
	drops = append(drops, drop{id: "expired", at: 30 * time.Second, ip: "203.0.113.XXX", cause: classify.TokenExpiry})
	st := NewState()
	sigs, diags := run(t, Config{}, st, drops, 30*time.Minute)
	if len(sigs) != 1 || !sigs[0].Firing {
		t.Fatalf("signals by 30m = %+v, want one firing", sigs)
	}
	s := sigs[0]
	want := "12 devices behind 203.0.113.x lost their connection at 05:27 UTC; 12 still away"
	if s.Summary != want || s.Devices != 12 || s.Key.Device != "203.0.113" || !s.Since.Equal(t0) {
		t.Fatalf("firing = %q devices %d key %v since %v; want %q", s.Summary, s.Devices, s.Key, s.Since, want)
	}
	named := map[string]bool{}
	for _, d := range diags {
		for _, e := range d.Evidence {
			if strings.Contains(e, "part of site outage "+s.Incident) {
				named[d.Key.Device] = true
			}
		}
	}
	if len(named) != 12 || named["other"] {
		t.Fatalf("diagnoses naming the outage: %v, want the 12 members", named)
	}

	// Device alerts of members are held back; the other device's are not.
	dev := []classify.Signal{
		{Kind: classify.DeviceOffline, Key: key("plc-03"), Firing: true, Since: t0.Add(24 * time.Second)},
		{Kind: classify.DeviceOffline, Key: key("other"), Firing: true, Since: t0},
		{Kind: classify.DeviceOffline, Key: key("expired"), Firing: true, Since: t0.Add(30 * time.Second)},
		{Kind: classify.DeviceOffline, Key: key("plc-04"), Firing: true, Since: t0.Add(32 * time.Second), Incident: "hub-incident-1"},
	}
	Hold(st, dev)
	if dev[0].Incident != s.Incident || dev[0].Site != "203.0.113" || dev[1].Incident != "" || dev[1].Site != "" ||
		dev[2].Incident != s.Incident || dev[3].Incident != "hub-incident-1" || dev[3].Site != "" {
		t.Fatalf("held = %+v", dev)
	}

	st2 := NewState() // a restart: the state goes through its blobs
	reload(t, st, st2)
	var rest []classify.Signal
	for now := 31 * time.Minute; now <= 45*time.Minute; now += time.Minute {
		var evs []event.Event
		for _, d := range drops {
			if d.back > 0 && d.back <= now && d.back > now-time.Minute {
				evs = append(evs, connect(d))
			}
		}
		Observe(st2, evs)
		rest = append(rest, Tick(Config{}, st2, Input{Watermark: t0.Add(now)}).Signals...)
	}
	if len(rest) != 1 || rest[0].Firing || rest[0].Incident != s.Incident || !rest[0].At.Equal(t0.Add(40*time.Minute)) {
		t.Fatalf("after the return: %+v, want one resolved at 06:07", rest)
	}
	if want := "12 devices behind 203.0.113.x lost their connection at 05:27 UTC; 9 back at 06:07 UTC, 3 still away (judged on their own)"; rest[0].Summary != want {
		t.Fatalf("resolved summary %q, want %q", rest[0].Summary, want)
	}
	o := st2.Hub(hub).Outages[0]
	if o.Open || o.Status() != "resolved" || o.Devices != 12 || o.Away != 3 {
		t.Fatalf("outage = %+v", o)
	}
	// Its rows are gone: a device still away is judged on its own.
	dev = []classify.Signal{{Kind: classify.DeviceOffline, Key: key("plc-10"), Firing: true, Since: t0.Add(80 * time.Second)}}
	Hold(st2, dev)
	if dev[0].Incident != "" {
		t.Fatalf("held after the outage resolved: %+v", dev[0])
	}
}

// reload copies st's persisted form into into, as the pipeline's save and
// load do.
func reload(t *testing.T, st, into *State) {
	t.Helper()
	for h := range st.hubs {
		b, err := st.MarshalHub(h)
		if err != nil {
			t.Fatal(err)
		}
		if err := into.LoadHub(h, b); err != nil {
			t.Fatal(err)
		}
	}
	for h, rows := range st.members {
		for k := range rows {
			b, err := st.MarshalMember(h, k)
			if err != nil {
				t.Fatal(err)
			}
			if err := into.LoadMember(h, k, b); err != nil {
				t.Fatal(err)
			}
		}
	}
}

// TestHubBlobBounded: a hub's blob holds counts, not members, so a
// 5 000-device outage costs it what a 3-device one does; the rows of
// devices with no outage are dropped after Keep.
func TestHubBlobBounded(t *testing.T) {
	size := func(n int) int {
		st := NewState()
		run(t, Config{}, st, site("plc", "203.0.113.XXX", n, 0, 10*time.Millisecond, 0), 5*time.Minute)
		b, err := st.MarshalHub(hub)
		if err != nil {
			t.Fatal(err)
		}
		return len(b)
	}
	if small, big := size(3), size(5000); big > small+8 {
		t.Fatalf("hub blob %d bytes for 5000 devices, %d for 3", big, small)
	}
	// Candidates in no outage are stored, then dropped after Keep.
	st := NewState()
	run(t, Config{}, st, site("plc", "203.0.113.XXX", 2, 0, time.Second, 0), 40*time.Minute)
	if n := len(st.members[hub]); n != 0 || len(stored) != 0 || writes == 0 {
		t.Fatalf("%d rows kept, %d stored after Keep (%d writes)", n, len(stored), writes)
	}
	// A token expiry (the usual 404104) is never written.
	st = NewState()
	expiries := site("dev", "203.0.113.XXX", 50, 0, time.Second, 0)
	for i := range expiries {
		expiries[i].cause = classify.TokenExpiry
	}
	run(t, Config{}, st, expiries, 10*time.Minute)
	if writes != 0 || len(st.members[hub]) != 50 {
		t.Fatalf("%d row writes for 50 token expiries (%d rows in memory)", writes, len(st.members[hub]))
	}
}

func TestHistoryBounded(t *testing.T) {
	st := NewState()
	var drops []drop
	for k := 0; k < 30; k++ {
		for _, d := range site(fmt.Sprintf("s%02d", k), fmt.Sprintf("10.0.%d.XXX", k), 3, time.Duration(k)*time.Hour, time.Second, time.Duration(k)*time.Hour+5*time.Minute) {
			drops = append(drops, d)
		}
	}
	sigs, _ := run(t, Config{History: 20}, st, drops, 30*time.Hour)
	if len(sigs) != 60 {
		t.Fatalf("%d signals, want 30 firing + 30 resolved", len(sigs))
	}
	if n := len(st.Hub(hub).Outages); n != 20 {
		t.Fatalf("%d outages kept, want the last 20", n)
	}
}

func TestRule(t *testing.T) {
	for _, tc := range []struct {
		times []int64
		min   int
		start int64
		ok    bool
	}{
		{[]int64{100, 0, 50}, 3, 0, true},
		{[]int64{0, 121, 60}, 3, 0, false},
		{[]int64{0, 500, 560, 620}, 3, 500, true},
		{[]int64{0, 10}, 3, 0, false},
		{[]int64{0, 10}, 2, 0, true},
	} {
		start, ok := Rule(tc.times, tc.min, 2*time.Minute)
		if start != tc.start || ok != tc.ok {
			t.Errorf("Rule(%v, %d) = %d %v, want %d %v", tc.times, tc.min, start, ok, tc.start, tc.ok)
		}
	}
}
