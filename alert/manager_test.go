package alert_test

import (
	"encoding/json"
	"flag"
	"fmt"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/disconnect-doctor/disconnect-doctor/alert"
	"github.com/disconnect-doctor/disconnect-doctor/classify"
	"github.com/disconnect-doctor/disconnect-doctor/event"
)

var update = flag.Bool("update", false, "rewrite golden files")

var t0 = time.Date(2026, 3, 1, 10, 0, 0, 0, time.UTC)

func at(d time.Duration) time.Time { return t0.Add(d) }

const hub = "contoso-hub"

func fire(kind classify.SignalKind, device string, when time.Duration, incident string) classify.Signal {
	s := classify.Signal{Kind: kind, Key: event.Key{Hub: hub, Device: device}, Firing: true, Since: at(when), At: at(when),
		Incident: incident, Summary: string(kind) + " " + device, Evidence: []string{"evidence of " + device},
		Recommendation: "do something about " + string(kind), Devices: 1}
	if kind == classify.HubIncident {
		s.Devices = 120
	}
	return s
}

func clear(kind classify.SignalKind, device string, since, when time.Duration) classify.Signal {
	s := fire(kind, device, since, "")
	s.Firing, s.At = false, at(when)
	return s
}

// step is one Apply: signals in, notifications expected out. Each expected
// notification is "groupKey status [stale] : key=status#repeat,...".
type step struct {
	sigs []classify.Signal
	now  time.Duration
	want []string
}

func render(ns []alert.Notification) []string {
	var out []string
	for _, n := range ns {
		var as []string
		for _, a := range n.Alerts {
			as = append(as, fmt.Sprintf("%s=%s#%d", strings.TrimPrefix(a.Key, a.Kind+"/"+a.Hub), a.Status, a.Repeat))
		}
		s := n.GroupKey + " " + n.Status
		if n.Stale {
			s += " stale"
		}
		out = append(out, s+" : "+strings.Join(as, ","))
	}
	return out
}

// roundTrip saves the dirty keys and loads a fresh State from them plus the
// untouched ones, as Evaluate does through store.AlertBlobs.
func roundTrip(t *testing.T, st *alert.State, blobs map[string][]byte) *alert.State {
	t.Helper()
	for _, k := range st.Dirty() {
		data, ok, err := st.Marshal(k)
		if err != nil {
			t.Fatal(err)
		}
		if ok {
			blobs[k] = data
		} else {
			delete(blobs, k)
		}
	}
	fresh := alert.NewState()
	for k, data := range blobs {
		if err := fresh.Unmarshal(k, data); err != nil {
			t.Fatal(err)
		}
	}
	return fresh
}

func TestApply(t *testing.T) {
	const (
		off  = classify.DeviceOffline
		flap = classify.DeviceFlapping
		inc  = classify.HubIncident
		tok  = classify.TokenRenewalFailing
	)
	cases := []struct {
		name  string
		steps []step
		// left are the alert keys still held in state at the end.
		left []string
	}{
		{"no signal, no alert (healthy token renewal)", []step{{nil, time.Minute, nil}, {nil, 5 * time.Hour, nil}}, nil},
		{"fires once", []step{
			{[]classify.Signal{fire(off, "d1", 0, "")}, time.Minute, []string{"device-offline/contoso-hub firing : /d1=firing#0"}},
			{nil, 2 * time.Minute, nil},
			{[]classify.Signal{fire(off, "d1", 0, "")}, 3 * time.Minute, nil}, // duplicate transition
		}, []string{"device-offline/contoso-hub/d1"}},
		{"repeats every interval while firing", []step{
			{[]classify.Signal{fire(tok, "d1", 0, "")}, 0, []string{"token-renewal-failed/contoso-hub firing : /d1=firing#0"}},
			{nil, 4*time.Hour - time.Minute, nil},
			{nil, 4 * time.Hour, []string{"token-renewal-failed/contoso-hub firing : /d1=firing#1"}},
			{nil, 4*time.Hour + time.Minute, nil},
			{nil, 8*time.Hour + 5*time.Minute, []string{"token-renewal-failed/contoso-hub firing : /d1=firing#2"}},
			{nil, 20*time.Hour + 10*time.Minute, []string{"token-renewal-failed/contoso-hub firing : /d1=firing#5"}}, // missed ones skipped
		}, []string{"token-renewal-failed/contoso-hub/d1"}},
		{"hub incident: one firing, one resolved", []step{
			{[]classify.Signal{fire(inc, "", 0, "I1")}, time.Minute, []string{"hub-incident/contoso-hub firing : =firing#0"}},
			{[]classify.Signal{clear(inc, "", 0, 30*time.Minute)}, 31 * time.Minute, []string{"hub-incident/contoso-hub resolved : =resolved#0"}},
			{nil, 10 * time.Hour, nil},
		}, nil},
		{"hub incident longer than the repeat interval gets a reminder", []step{
			{[]classify.Signal{fire(inc, "", 0, "I1")}, 0, []string{"hub-incident/contoso-hub firing : =firing#0"}},
			{nil, 4 * time.Hour, []string{"hub-incident/contoso-hub firing : =firing#1"}},
			{[]classify.Signal{clear(inc, "", 0, 5*time.Hour)}, 5 * time.Hour, []string{"hub-incident/contoso-hub resolved : =resolved#1"}},
		}, nil},
		{"device resolve waits out the hysteresis hold", []step{
			{[]classify.Signal{fire(off, "d1", 0, "")}, 0, []string{"device-offline/contoso-hub firing : /d1=firing#0"}},
			{[]classify.Signal{clear(off, "d1", 0, 20*time.Minute)}, 20 * time.Minute, nil},
			{nil, 29 * time.Minute, nil},
			{nil, 30 * time.Minute, []string{"device-offline/contoso-hub resolved : /d1=resolved#0"}},
			{nil, 40 * time.Minute, nil},
		}, nil},
		{"re-firing within the hold is no noise", []step{
			{[]classify.Signal{fire(flap, "d1", 0, "")}, 0, []string{"device-flapping/contoso-hub firing : /d1=firing#0"}},
			{[]classify.Signal{clear(flap, "d1", 0, 20*time.Minute)}, 21 * time.Minute, nil},
			{[]classify.Signal{fire(flap, "d1", 25*time.Minute, "")}, 26 * time.Minute, nil},
			{nil, 35 * time.Minute, nil},
			{[]classify.Signal{clear(flap, "d1", 25*time.Minute, time.Hour)}, time.Hour, nil},
			{nil, 70 * time.Minute, []string{"device-flapping/contoso-hub resolved : /d1=resolved#0"}},
		}, nil},
		{"re-firing after the hold is a new episode", []step{
			{[]classify.Signal{fire(off, "d1", 0, "")}, 0, []string{"device-offline/contoso-hub firing : /d1=firing#0"}},
			{[]classify.Signal{clear(off, "d1", 0, 20*time.Minute)}, 20 * time.Minute, nil},
			{[]classify.Signal{fire(off, "d1", 45*time.Minute, "")}, 45 * time.Minute,
				[]string{"device-offline/contoso-hub resolved : /d1=resolved#0", "device-offline/contoso-hub firing : /d1=firing#0"}},
		}, []string{"device-offline/contoso-hub/d1"}},
		{"firing and resolved alerts of one group go out separately, resolved first", []step{
			{[]classify.Signal{fire(off, "d1", 0, "")}, 0, []string{"device-offline/contoso-hub firing : /d1=firing#0"}},
			{[]classify.Signal{clear(off, "d1", 0, 5*time.Minute)}, 5 * time.Minute, nil},
			{[]classify.Signal{fire(off, "d2", 15*time.Minute, ""), fire(off, "d3", 15*time.Minute, "")}, 15 * time.Minute,
				[]string{"device-offline/contoso-hub resolved : /d1=resolved#0", "device-offline/contoso-hub firing : /d2=firing#0,/d3=firing#0"}},
		}, []string{"device-offline/contoso-hub/d2", "device-offline/contoso-hub/d3"}},
		{"grouping by kind and hub", []step{
			{[]classify.Signal{fire(off, "d3", 0, ""), fire(off, "d1", 0, ""), fire(flap, "d2", 0, ""), fire(off, "d2", time.Second, "")}, time.Minute,
				[]string{"device-flapping/contoso-hub firing : /d2=firing#0", "device-offline/contoso-hub firing : /d1=firing#0,/d2=firing#0,/d3=firing#0"}},
			{[]classify.Signal{clear(off, "d1", 0, 2*time.Minute), clear(off, "d3", 0, 2*time.Minute)}, 12 * time.Minute,
				[]string{"device-offline/contoso-hub resolved : /d1=resolved#0,/d3=resolved#0"}},
		}, []string{"device-flapping/contoso-hub/d2", "device-offline/contoso-hub/d2"}},
		{"inhibition: held during the incident, judged on its own after", []step{
			{[]classify.Signal{fire(inc, "", 0, "I1")}, 0, []string{"hub-incident/contoso-hub firing : =firing#0"}},
			{[]classify.Signal{fire(off, "d1", 15*time.Minute, "I1"), fire(off, "d2", 15*time.Minute, "I1")}, 16 * time.Minute, nil},
			{[]classify.Signal{clear(off, "d2", 15*time.Minute, 30*time.Minute)}, 31 * time.Minute, nil}, // dropped silently
			{nil, 4*time.Hour + 5*time.Minute, []string{"hub-incident/contoso-hub firing : =firing#1"}},  // held ones get no reminder
			{[]classify.Signal{clear(inc, "", 0, 5*time.Hour+10*time.Minute)}, 5*time.Hour + 10*time.Minute,
				// the incident's end first, then the devices it released
				[]string{"hub-incident/contoso-hub resolved : =resolved#1", "device-offline/contoso-hub firing : /d1=firing#0"}},
		}, []string{"device-offline/contoso-hub/d1"}},
		{"inhibition within one batch whatever the order", []step{
			{[]classify.Signal{fire(off, "d1", 0, "I1"), fire(inc, "", 0, "I1")}, time.Minute, []string{"hub-incident/contoso-hub firing : =firing#0"}},
		}, []string{"device-offline/contoso-hub/d1", "hub-incident/contoso-hub"}},
		{"a signal naming another incident is not inhibited", []step{
			{[]classify.Signal{fire(inc, "", 0, "I2")}, 0, []string{"hub-incident/contoso-hub firing : =firing#0"}},
			{[]classify.Signal{fire(off, "d1", time.Minute, "I1")}, time.Minute,
				[]string{"device-offline/contoso-hub firing : /d1=firing#0"}},
		}, []string{"device-offline/contoso-hub/d1", "hub-incident/contoso-hub"}},
		{"stale backlog is marked, fresh is not", []step{
			{[]classify.Signal{fire(off, "d1", 0, ""), fire(off, "d2", 90*time.Minute, "")}, 100 * time.Minute,
				[]string{"device-offline/contoso-hub firing stale : /d1=firing#0", "device-offline/contoso-hub firing : /d2=firing#0"}},
		}, []string{"device-offline/contoso-hub/d1", "device-offline/contoso-hub/d2"}},
		{"the resolve of a firing never delivered (stale) is not sent either", []step{
			{[]classify.Signal{fire(off, "d1", 0, "")}, 100 * time.Minute, []string{"device-offline/contoso-hub firing stale : /d1=firing#0"}},
			{[]classify.Signal{clear(off, "d1", 0, 110*time.Minute)}, 110 * time.Minute, nil},
			{nil, 125 * time.Minute, nil},
		}, nil},
		{"a stale episode announced by a fresh reminder resolves normally", []step{
			{[]classify.Signal{fire(tok, "d1", 0, "")}, 100 * time.Minute, []string{"token-renewal-failed/contoso-hub firing stale : /d1=firing#0"}},
			{nil, 4*time.Hour + time.Minute, []string{"token-renewal-failed/contoso-hub firing : /d1=firing#1"}},
			{[]classify.Signal{clear(tok, "d1", 0, 5*time.Hour)}, 5 * time.Hour, nil},
			{nil, 5*time.Hour + 10*time.Minute, []string{"token-renewal-failed/contoso-hub resolved : /d1=resolved#1"}},
		}, nil},
		{"resolve of an unknown alert says nothing", []step{
			{[]classify.Signal{clear(off, "d9", 0, time.Minute)}, time.Minute, nil},
		}, nil},
	}
	m := alert.New(alert.Config{})
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			st := alert.NewState()
			blobs := map[string][]byte{}
			for i, s := range tc.steps {
				got := render(m.Apply(st, s.sigs, at(s.now)))
				if !slices.Equal(got, s.want) {
					t.Fatalf("step %d: got\n  %s\nwant\n  %s", i, strings.Join(got, "\n  "), strings.Join(s.want, "\n  "))
				}
				st = roundTrip(t, st, blobs)
			}
			var left []string
			for _, r := range st.Records() {
				left = append(left, r.Key)
			}
			if !slices.Equal(left, tc.left) {
				t.Errorf("state holds %v, want %v", left, tc.left)
			}
		})
	}
}

// TestNotificationIDStable: a recompute from the same saved state and
// signals (a crash before the state was saved) gives the same IDs whatever
// the signal order; a later episode of the same key gets a new ID.
func TestNotificationIDStable(t *testing.T) {
	m := alert.New(alert.Config{})
	sigs := []classify.Signal{fire(classify.DeviceOffline, "d1", 0, ""), fire(classify.DeviceOffline, "d2", 0, ""), fire(classify.HubIncident, "", 0, "I1")}
	reversed := slices.Clone(sigs)
	slices.Reverse(reversed)
	a := m.Apply(alert.NewState(), sigs, at(time.Minute))
	b := m.Apply(alert.NewState(), reversed, at(time.Minute))
	if len(a) != 2 || len(b) != 2 {
		t.Fatalf("got %d and %d notifications", len(a), len(b))
	}
	for i := range a {
		if a[i].NotificationID != b[i].NotificationID || len(a[i].NotificationID) != 32 {
			t.Errorf("IDs differ on recompute: %s vs %s", a[i].NotificationID, b[i].NotificationID)
		}
	}
	st := alert.NewState()
	first := m.Apply(st, sigs[:1], at(0))
	m.Apply(st, []classify.Signal{clear(classify.DeviceOffline, "d1", 0, time.Minute)}, at(time.Hour))
	again := m.Apply(st, []classify.Signal{fire(classify.DeviceOffline, "d1", 2*time.Hour, "")}, at(2*time.Hour))
	if len(again) != 1 || again[0].NotificationID == first[0].NotificationID {
		t.Errorf("a new episode reuses the first episode's notificationId %s", first[0].NotificationID)
	}
}

func TestDirtyAndDelete(t *testing.T) {
	m := alert.New(alert.Config{})
	st := alert.NewState()
	m.Apply(st, []classify.Signal{fire(classify.HubIncident, "", 0, "I1")}, at(0))
	if got := st.Dirty(); !slices.Equal(got, []string{"hub-incident/contoso-hub"}) {
		t.Fatalf("Dirty = %v", got)
	}
	st.ClearDirty()
	m.Apply(st, []classify.Signal{clear(classify.HubIncident, "", 0, time.Minute)}, at(time.Minute))
	if got := st.Dirty(); !slices.Equal(got, []string{"hub-incident/contoso-hub"}) {
		t.Fatalf("Dirty = %v", got)
	}
	if _, ok, err := st.Marshal("hub-incident/contoso-hub"); ok || err != nil {
		t.Fatalf("Marshal of a resolved alert: ok=%v err=%v, want !ok (delete the blob)", ok, err)
	}
}

func TestWebhookBodyGolden(t *testing.T) {
	m := alert.New(alert.Config{PublicBaseURL: "https://dd.example.com/"})
	st := alert.NewState()
	ns := m.Apply(st, []classify.Signal{fire(classify.HubIncident, "", 0, "I1")}, at(time.Minute))
	ns = append(ns, m.Apply(st, nil, at(4*time.Hour+time.Minute))...) // a reminder: "repeat": 1
	ns = append(ns, m.Apply(st, []classify.Signal{clear(classify.HubIncident, "", 0, 4*time.Hour+40*time.Minute)}, at(4*time.Hour+41*time.Minute))...)
	if len(ns) != 3 || ns[1].Repeat != 1 || ns[0].Repeat != 0 || ns[2].Repeat != 0 {
		t.Fatalf("want first firing, reminder 1, resolved; got %v", render(ns))
	}
	got, err := json.MarshalIndent(ns, "", "  ")
	if err != nil {
		t.Fatal(err)
	}
	path := filepath.Join("testdata", "webhook_bodies.golden.json")
	if *update {
		if err := os.WriteFile(path, got, 0o644); err != nil {
			t.Fatal(err)
		}
	}
	want, err := os.ReadFile(path)
	if err != nil {
		t.Fatalf("%v (run with -update)", err)
	}
	if string(got) != string(want) {
		t.Errorf("webhook bodies differ from %s:\n%s", path, got)
	}
	if !strings.HasPrefix(ns[0].Link, "https://dd.example.com/api/v1/ui/incidents?at=") {
		t.Errorf("Link = %q", ns[0].Link)
	}
	// Exactly the keys of PRODUCT.md §7, plus devicesCounted on a
	// hub-incident (issue 9: what its count counts; README).
	var generic []map[string]any
	json.Unmarshal(got, &generic)
	keys := func(m map[string]any) []string {
		var ks []string
		for k := range m {
			ks = append(ks, k)
		}
		slices.Sort(ks)
		return ks
	}
	if k := keys(generic[0]); !slices.Equal(k, []string{"alerts", "groupKey", "notificationId", "repeat", "status", "version"}) {
		t.Errorf("body keys %v", k)
	}
	a0 := generic[0]["alerts"].([]any)[0].(map[string]any)
	if k := keys(a0); !slices.Equal(k, []string{"deviceId", "devices", "devicesCounted", "endsAt", "evidence", "hub", "key", "kind", "moduleId", "recommendation", "severity", "startsAt", "status", "summary"}) {
		t.Errorf("alert keys %v", k)
	}
}

func TestPayloadRoundTrip(t *testing.T) {
	m := alert.New(alert.Config{PublicBaseURL: "https://dd.example.com"})
	ns := m.Apply(alert.NewState(), []classify.Signal{fire(classify.DeviceOffline, "d1", 0, "")}, at(2*time.Hour))
	b, err := alert.EncodePayload(&ns[0])
	if err != nil {
		t.Fatal(err)
	}
	got, err := alert.DecodePayload(b)
	if err != nil {
		t.Fatal(err)
	}
	w, _ := json.Marshal(ns[0])
	g, _ := json.Marshal(got)
	if string(w) != string(g) || got.Link != ns[0].Link || !got.Stale || got.Kind != classify.DeviceOffline || got.Hub != hub || !got.Due.Equal(ns[0].Due) {
		t.Errorf("round trip lost data:\n%+v\n%+v", ns[0], *got)
	}
}

func FuzzUnmarshalState(f *testing.F) {
	m := alert.New(alert.Config{})
	st := alert.NewState()
	m.Apply(st, []classify.Signal{fire(classify.HubIncident, "", 0, "I1"), fire(classify.DeviceOffline, "d1", 0, "I1")}, at(0))
	for _, k := range st.Dirty() {
		data, _, _ := st.Marshal(k)
		f.Add(k, data)
	}
	f.Add("x", []byte(`{"key":"x","since":"not a time"}`))
	f.Add("x", []byte(`{`))
	f.Fuzz(func(t *testing.T, key string, data []byte) {
		st := alert.NewState()
		if err := st.Unmarshal(key, data); err != nil {
			return
		}
		// Whatever loaded must survive the state machine and re-encode.
		m.Apply(st, []classify.Signal{clear(classify.HubIncident, "", 0, time.Hour)}, at(10*time.Hour))
		for _, k := range st.Dirty() {
			if _, _, err := st.Marshal(k); err != nil {
				t.Fatal(err)
			}
		}
	})
}

func FuzzDecodePayload(f *testing.F) {
	m := alert.New(alert.Config{PublicBaseURL: "https://x"})
	ns := m.Apply(alert.NewState(), []classify.Signal{fire(classify.DeviceOffline, "d1", 0, "")}, at(0))
	b, _ := alert.EncodePayload(&ns[0])
	f.Add(b)
	f.Add([]byte(`{"notificationId":""}`))
	f.Add([]byte(`null`))
	f.Fuzz(func(t *testing.T, data []byte) {
		n, err := alert.DecodePayload(data)
		if err != nil {
			return
		}
		again, err := alert.EncodePayload(n)
		if err != nil {
			t.Fatal(err)
		}
		n2, err := alert.DecodePayload(again)
		if err != nil || n2.NotificationID != n.NotificationID {
			t.Fatalf("re-decode: %v", err)
		}
	})
}

// BenchmarkApplyIncident10000: a hub incident holding back 10 000 device
// alerts, then releasing them as one grouped notification whose outbox
// payload lists MaxListed of them.
func BenchmarkApplyIncident10000(b *testing.B) {
	m := alert.New(alert.Config{})
	sigs, end := heldBack(10000)
	for b.Loop() {
		st := alert.NewState()
		m.Apply(st, sigs, at(2*time.Minute))
		ns := m.Apply(st, end, at(time.Hour))
		if len(ns) != 2 {
			b.Fatalf("got %d notifications", len(ns))
		}
		for _, n := range ns {
			if p, _ := alert.EncodePayload(&n); len(p) > 64<<10 {
				b.Fatalf("payload of %d bytes", len(p))
			}
		}
	}
}

// heldBack returns a hub incident firing with n device-offline alerts it
// holds back, and its end.
func heldBack(n int) (sigs, end []classify.Signal) {
	sigs = []classify.Signal{fire(classify.HubIncident, "", 0, "I1")}
	for i := range n {
		s := fire(classify.DeviceOffline, fmt.Sprintf("sensor-%06d", i), time.Minute, "I1")
		s.Evidence = []string{"404104 DeviceConnectionClosedRemotely at 10:01:00 UTC during IoT Hub incident I1",
			"no connect since: away 59m", "last connected from 203.0.113.x over MQTT"}
		s.Summary = "sensor-" + fmt.Sprint(i) + " is offline since 10:01:00 UTC (caught in IoT Hub incident I1)"
		sigs = append(sigs, s)
	}
	return sigs, []classify.Signal{clear(classify.HubIncident, "", 0, time.Hour)}
}

// TestReleaseIsOneNotification: 100 000 device alerts held back by a hub
// incident are released, when it ends, as one notification after the
// incident's resolved — not hundreds — and every outbox payload stays far
// under a table property's 64 KiB whatever the group's size.
func TestReleaseIsOneNotification(t *testing.T) {
	m := alert.New(alert.Config{})
	sigs, end := heldBack(100000)
	st := alert.NewState()
	if ns := m.Apply(st, sigs, at(2*time.Minute)); len(ns) != 1 || ns[0].Kind != classify.HubIncident {
		t.Fatalf("incident start: %d notifications, want the incident's firing alone", len(ns))
	}
	ns := m.Apply(st, end, at(time.Hour))
	var groups []string
	for _, n := range ns {
		groups = append(groups, n.GroupKey+" "+n.Status)
		p, err := alert.EncodePayload(&n)
		if err != nil {
			t.Fatal(err)
		}
		if len(p) > 32<<10 {
			t.Errorf("%s %s: outbox payload of %d bytes", n.GroupKey, n.Status, len(p))
		}
	}
	want := []string{"hub-incident/contoso-hub resolved", "device-offline/contoso-hub firing"}
	if !slices.Equal(groups, want) {
		t.Fatalf("release: %d notifications %q…, want %q", len(groups), groups[:min(len(groups), 3)], want)
	}
}

// TestGroupedEpisodes: a first firing of more than MaxListed alerts marks
// its episodes grouped; their resolved go out grouped, apart from alerts
// announced one by one (listed in full, up to 100 a notification), and say how
// many of the group are still firing.
func TestGroupedEpisodes(t *testing.T) {
	// One notification per tick is what this test counts: no group interval.
	m := alert.New(alert.Config{ResolveHold: -1, GroupInterval: -1})
	st := alert.NewState()
	var sigs []classify.Signal
	for i := range 30 {
		sigs = append(sigs, fire(classify.DeviceOffline, fmt.Sprintf("g%02d", i), 0, ""))
	}
	ns := m.Apply(st, sigs, at(time.Minute))
	if len(ns) != 1 || !ns[0].Grouped || len(ns[0].Alerts) != 30 {
		t.Fatalf("group firing: %d notifications, want one grouped with its 30 alerts", len(ns))
	}
	// 25 devices announced one by one, in ticks of 5.
	for tick := range 5 {
		var one []classify.Signal
		for i := range 5 {
			one = append(one, fire(classify.DeviceOffline, fmt.Sprintf("i%d%d", tick, i), 2*time.Minute, ""))
		}
		if ns := m.Apply(st, one, at(2*time.Minute)); len(ns) != 1 || ns[0].Grouped {
			t.Fatalf("tick %d: %d notifications (grouped %v), want one ungrouped", tick, len(ns), len(ns) == 1 && ns[0].Grouped)
		}
	}
	st = roundTrip(t, st, map[string][]byte{}) // Grouped survives the store
	// 10 of the group and all 25 individual ones come back together.
	var back []classify.Signal
	for i := range 10 {
		back = append(back, clear(classify.DeviceOffline, fmt.Sprintf("g%02d", i), 0, 3*time.Minute))
	}
	for tick := range 5 {
		for i := range 5 {
			back = append(back, clear(classify.DeviceOffline, fmt.Sprintf("i%d%d", tick, i), 2*time.Minute, 3*time.Minute))
		}
	}
	ns = m.Apply(st, back, at(3*time.Minute))
	var got []string
	for _, n := range ns {
		got = append(got, fmt.Sprintf("%s grouped=%v alerts=%d still=%d", n.Status, n.Grouped, len(n.Alerts), n.StillFiring))
	}
	want := []string{"resolved grouped=false alerts=25 still=0", "resolved grouped=true alerts=10 still=20"}
	if !slices.Equal(got, want) {
		t.Errorf("resolved:\n%q\nwant\n%q", got, want)
	}
	var rest []classify.Signal
	for i := 10; i < 30; i++ {
		rest = append(rest, clear(classify.DeviceOffline, fmt.Sprintf("g%02d", i), 0, 4*time.Minute))
	}
	ns = m.Apply(st, rest, at(4*time.Minute))
	if len(ns) != 1 || !ns[0].Grouped || ns[0].StillFiring != 0 || len(ns[0].Alerts) != 20 {
		t.Errorf("the group's last resolved: %+v", render(ns))
	}
}

// TestPayloadListsMaxListed: the outbox keeps the first MaxListed alerts of
// a large group and counts the rest; decoded, the notification still says
// how many devices it is about, and links to the whole list.
func TestPayloadListsMaxListed(t *testing.T) {
	m := alert.New(alert.Config{PublicBaseURL: "https://dd.example.net/"})
	sigs, end := heldBack(1234)
	st := alert.NewState()
	m.Apply(st, sigs, at(2*time.Minute))
	ns := m.Apply(st, end, at(time.Hour))
	n := ns[len(ns)-1]
	p, err := alert.EncodePayload(&n)
	if err != nil {
		t.Fatal(err)
	}
	got, err := alert.DecodePayload(p)
	if err != nil {
		t.Fatal(err)
	}
	if len(got.Alerts) != alert.MaxListed || got.TruncatedAlerts != 1234-alert.MaxListed || got.AlertCount() != 1234 {
		t.Errorf("decoded: %d alerts listed, %d truncated", len(got.Alerts), got.TruncatedAlerts)
	}
	if got.DeviceCount() != "1234 devices" || got.NotificationID != n.NotificationID || got.Incident != "I1" {
		t.Errorf("decoded: %q, id %s (want %s), incident %q", got.DeviceCount(), got.NotificationID, n.NotificationID, got.Incident)
	}
	if want := "https://dd.example.net/api/v1/disconnects?hub=contoso-hub&incident=I1"; got.List != want {
		t.Errorf("list link %q, want %q", got.List, want)
	}
	line := got.Listing()
	for _, w := range []string{"1234 devices caught in IoT Hub incident I1 are still offline", "the first 20 of 1234", got.List} {
		if !strings.Contains(line, w) {
			t.Errorf("listing line %q lacks %q", line, w)
		}
	}
	if len(n.Alerts) != 1234 {
		t.Errorf("EncodePayload changed the notification it was given: %d alerts", len(n.Alerts))
	}
}
