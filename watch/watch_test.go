package watch

import (
	"strings"
	"testing"
	"time"

	"github.com/disconnect-doctor/disconnect-doctor/classify"
	"github.com/disconnect-doctor/disconnect-doctor/event"
)

var t0 = time.Date(2026, 12, 6, 10, 0, 0, 0, time.UTC)

func min_(n int) time.Time { return t0.Add(time.Duration(n) * time.Minute) }

type step struct {
	at     int // minutes after t0
	raised []Condition
	want   []string // "firing key" / "resolved key"
}

func render(sigs []classify.Signal) []string {
	var out []string
	for _, s := range sigs {
		st := "resolved"
		if s.Firing {
			st = "firing"
		}
		out = append(out, st+" "+s.AlertKey())
	}
	return out
}

func TestReconcile(t *testing.T) {
	lag := Condition{Kind: classify.PipelineLagging, Summary: "behind"}
	held := Condition{Kind: classify.PipelineSilent, Hub: "h1", Hold: 10 * time.Minute, Summary: "rejected"}
	ch := Condition{Kind: classify.NotificationsFailing, Subject: "teams", Summary: "dead"}
	chMore := ch
	chMore.Evidence = []string{"3 dead"}
	cases := []struct {
		name  string
		steps []step
	}{
		{"a level fires once and resolves when no longer raised", []step{
			{0, []Condition{lag}, []string{"firing pipeline-lagging/"}},
			{1, []Condition{lag}, nil},
			{2, []Condition{lag}, nil},
			{3, nil, []string{"resolved pipeline-lagging/"}},
			{4, nil, nil},
		}},
		{"a held condition stays firing for its hold after the last raise", []step{
			{0, []Condition{held}, []string{"firing pipeline-silent/h1"}},
			{5, nil, nil},
			{9, nil, nil},
			{10, nil, []string{"resolved pipeline-silent/h1"}},
		}},
		{"raised again within the hold, the episode goes on", []step{
			{0, []Condition{held}, []string{"firing pipeline-silent/h1"}},
			{8, []Condition{held}, nil},
			{12, nil, nil},
			{18, nil, []string{"resolved pipeline-silent/h1"}},
		}},
		{"changed details refresh the alert (a firing transition of the same key)", []step{
			{0, []Condition{ch}, []string{"firing notifications-failing//teams"}},
			{1, []Condition{ch}, nil},
			{2, []Condition{chMore}, []string{"firing notifications-failing//teams"}},
			{3, nil, []string{"resolved notifications-failing//teams"}},
		}},
		{"a key raised twice in a tick counts once; independent keys are independent", []step{
			{0, []Condition{ch, ch, lag}, []string{"firing notifications-failing//teams", "firing pipeline-lagging/"}},
			{1, []Condition{lag}, []string{"resolved notifications-failing//teams"}},
		}},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			st := NewState()
			for _, s := range tc.steps {
				got := render(Reconcile(st, s.raised, min_(s.at)))
				if strings.Join(got, ",") != strings.Join(s.want, ",") {
					t.Fatalf("minute %d: got %v, want %v", s.at, got, s.want)
				}
			}
		})
	}
}

func TestReconcileSinceAndPersistence(t *testing.T) {
	st := NewState()
	c := Condition{Kind: classify.PipelineSilent, Hub: "h", Since: min_(-20), Summary: "s"}
	sigs := Reconcile(st, []Condition{c}, t0)
	if len(sigs) != 1 || !sigs[0].Since.Equal(min_(-20)) || !sigs[0].At.Equal(t0) {
		t.Fatalf("firing signal %+v: want Since the condition's own, At now", sigs)
	}
	if a, _ := st.Dirty(); !a {
		t.Fatal("a new episode must make the state dirty")
	}
	data, err := st.Marshal()
	if err != nil {
		t.Fatal(err)
	}
	back, err := Unmarshal(data)
	if err != nil {
		t.Fatal(err)
	}
	// Raised again after a reload: the same episode, nothing to say.
	if sigs := Reconcile(back, []Condition{c}, min_(1)); len(sigs) != 0 {
		t.Fatalf("reloaded state re-fired: %v", render(sigs))
	}
	if sigs := render(Reconcile(back, nil, min_(2))); len(sigs) != 1 || sigs[0] != "resolved pipeline-silent/h" {
		t.Fatalf("got %v", sigs)
	}
	if _, err := Unmarshal([]byte("{")); err == nil {
		t.Fatal("a broken blob must be an error")
	}
}

func TestAdopt(t *testing.T) {
	st := NewState()
	Adopt(st, []Condition{{Kind: classify.PipelineLagging, Since: t0}})
	if got := render(Reconcile(st, nil, min_(1))); len(got) != 1 || got[0] != "resolved pipeline-lagging/" {
		t.Fatalf("an adopted alert no longer raised must resolve, got %v", got)
	}
}

func TestLagging(t *testing.T) {
	cfg := DefaultConfig()
	now := t0
	for _, tc := range []struct {
		wm   time.Time
		want bool
	}{
		{time.Time{}, false},
		{now.Add(-5 * time.Minute), false},
		{now.Add(-20 * time.Minute), false},
		{now.Add(-21 * time.Minute), true},
		{now.Add(-3 * time.Hour), true},
	} {
		got := Lagging(cfg, now, tc.wm)
		if (len(got) == 1) != tc.want {
			t.Errorf("watermark %v: got %v, want firing %v", tc.wm, got, tc.want)
		}
		if tc.want && (got[0].Kind != classify.PipelineLagging || got[0].Hold == 0 || !strings.Contains(got[0].Evidence[0], tc.wm.Format(time.RFC3339))) {
			t.Errorf("condition %+v", got[0])
		}
	}
}

func TestFailing(t *testing.T) {
	st := NewState()
	out := func(ch string, kind classify.SignalKind, dead bool, at int) Outcome {
		return Outcome{Channel: ch, Kind: kind, Dead: dead, Error: "404 Not Found", At: min_(at)}
	}
	Deliveries(st, []Outcome{out("teams", classify.DeviceOffline, false, 0), out("email", classify.DeviceOffline, false, 0)})
	if got := Failing(st); len(got) != 0 {
		t.Fatalf("delivered channels reported failing: %+v", got)
	}
	Deliveries(st, []Outcome{out("teams", classify.DeviceOffline, true, 1), out("teams", classify.HubIncident, true, 2)})
	got := Failing(st)
	if len(got) != 1 || got[0].Subject != "teams" || !got[0].Since.Equal(min_(1)) ||
		!strings.Contains(strings.Join(got[0].Evidence, "|"), "2 notification(s)") ||
		!strings.Contains(strings.Join(got[0].Evidence, "|"), "404 Not Found") {
		t.Fatalf("got %+v", got)
	}
	sigs := Reconcile(st, got, min_(3))
	if len(sigs) != 1 || sigs[0].Key.Device != "teams" {
		t.Fatalf("signals %v", render(sigs))
	}
	// Its own notification dead-lettered on teams: not counted, no loop.
	Deliveries(st, []Outcome{out("teams", classify.NotificationsFailing, true, 4), out("email", classify.NotificationsFailing, false, 4)})
	if ch := st.Channels["teams"]; ch.Dead != 2 {
		t.Fatalf("the alert's own dead letter was counted: %+v", ch)
	}
	// A later delivery on teams (a reminder, the channel repaired) clears it.
	Deliveries(st, []Outcome{out("teams", classify.NotificationsFailing, false, 240)})
	if got := Failing(st); len(got) != 0 {
		t.Fatalf("repaired channel still failing: %+v", got)
	}
	if got := render(Reconcile(st, Failing(st), min_(241))); len(got) != 1 || got[0] != "resolved notifications-failing//teams" {
		t.Fatalf("got %v", got)
	}
}

// ev builds an event of a hub at minute m (seconds s) from a source.
func ev(hub string, src event.Source, kind event.Kind, m, s int) event.Event {
	return event.Event{Hub: hub, Source: src, Kind: kind, Device: "d", Time: min_(m).Add(time.Duration(s) * time.Second)}
}

func TestSilent(t *testing.T) {
	cfg := DefaultConfig()
	log := func(m int) event.Event { return ev("h", event.ResourceLog, event.Connect, m, 0) }
	grid := func(m int) event.Event { return ev("h", event.EventGrid, event.StateDisconnected, m, 5) }
	cases := []struct {
		name string
		// feed: at wall minute w, the events read
		feed map[int][]event.Event
		now  int
		want string // "" or a substring of the summary
	}{
		{"logs follow Event Grid a few minutes late: healthy", map[int][]event.Event{
			0: {grid(0)}, 1: {grid(1)}, 8: {log(0), log(1)}, 20: {grid(20)}, 30: {log(20)},
		}, 34, ""},
		{"Event Grid shows activity and no log for longer than SilentAfter", map[int][]event.Event{
			0: {grid(0)}, 3: {log(0)}, 10: {grid(10)}, 12: {grid(12)},
		}, 26, "while Event Grid shows"},
		{"just under SilentAfter after the first unmatched event: not yet", map[int][]event.Event{
			0: {grid(0)}, 3: {log(0)}, 10: {grid(10)},
		}, 25, ""},
		{"Event Grid only, never a resource log (no diagnostic setting)", map[int][]event.Event{
			0: {grid(0)},
		}, 16, "while Event Grid shows"},
		{"a quiet hub (an event every 20 minutes) that sends nothing for 16 minutes: healthy", map[int][]event.Event{
			0: {log(0)}, 20: {log(20)}, 40: {log(40)}, 60: {log(60)},
		}, 77, ""},
		{"metric alerts are not input of the hub", map[int][]event.Event{
			0: {ev("h", event.Metric, event.MetricFired, 0, 0)},
		}, 30, ""},
	}
	// A busy hub: logs every minute for 70 minutes, then nothing.
	busy := map[int][]event.Event{}
	for m := range 70 {
		busy[m+3] = []event.Event{log(m)}
	}
	cases = append(cases,
		struct {
			name string
			feed map[int][]event.Event
			now  int
			want string
		}{"a busy hub stops sending anything", busy, 72 + 16, "after steady traffic"},
		struct {
			name string
			feed map[int][]event.Event
			now  int
			want string
		}{"a busy hub, 14 minutes into a gap", busy, 72 + 14, ""},
	)
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			st := NewState()
			var got []Condition
			for w := 0; w <= tc.now; w++ {
				Observe(st, tc.feed[w], min_(w))
				Observe(st, tc.feed[w-2], min_(w)) // re-reads change nothing
				got = Silent(cfg, st, min_(w))
				if tc.want == "" && len(got) > 0 {
					t.Fatalf("minute %d: unexpected %+v", w, got)
				}
			}
			if tc.want == "" {
				return
			}
			if len(got) != 1 || !strings.Contains(got[0].Summary, tc.want) || got[0].Hub != "h" || got[0].Since.IsZero() {
				t.Fatalf("got %+v, want one condition saying %q", got, tc.want)
			}
		})
	}
}

func TestSilentForgetsGoneHubs(t *testing.T) {
	st := NewState()
	Observe(st, []event.Event{ev("h", event.ResourceLog, event.Connect, 0, 0)}, t0)
	Silent(DefaultConfig(), st, t0.Add(8*24*time.Hour))
	if len(st.Hubs) != 0 {
		t.Fatal("a hub silent for a week must be forgotten")
	}
}
