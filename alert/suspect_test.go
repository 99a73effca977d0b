package alert_test

import (
	"context"
	"strings"
	"testing"
	"time"

	"github.com/disconnect-doctor/disconnect-doctor/alert"
	"github.com/disconnect-doctor/disconnect-doctor/classify"
	"github.com/disconnect-doctor/disconnect-doctor/store"
)

func suspected(when time.Duration) classify.Signal {
	s := fire(classify.HubIncident, "", when, "suspect-1")
	s.Suspected, s.Summary = true, "suspected hub incident"
	return s
}

// TestSuspectedIncident: a hub incident raised early from Event Grid is one
// episode with the engine's incident that confirms it (same key, same
// StartsAt, no second first-firing), withdrawn by a suspected resolved, and
// never able to end (or be raised over) a confirmed incident.
func TestSuspectedIncident(t *testing.T) {
	m := alert.New(alert.Config{})
	type out struct {
		status, words string
	}
	cases := []struct {
		name  string
		steps [][]classify.Signal
		want  [][]out
	}{
		{"suspected, then confirmed by the engine, then resolved",
			[][]classify.Signal{{suspected(0)}, {fire(classify.HubIncident, "", 3*time.Minute, "inc-1")}, {clear(classify.HubIncident, "", 3*time.Minute, 40*time.Minute)}},
			[][]out{{{"firing", "FIRING (SUSPECTED, CAUSE PENDING)"}}, {{"firing", "FIRING (CONFIRMED)"}}, {{"resolved", "RESOLVED"}}}},
		{"suspected, then withdrawn",
			[][]classify.Signal{{suspected(0)}, {func() classify.Signal {
				s := clear(classify.HubIncident, "", 0, 12*time.Minute)
				s.Suspected, s.Summary = true, "not the hub"
				return s
			}()}},
			[][]out{{{"firing", "FIRING (SUSPECTED, CAUSE PENDING)"}}, {{"resolved", "RESOLVED (WITHDRAWN: NOT AN IOT HUB INCIDENT)"}}}},
		{"a suspicion while the engine's incident is open changes nothing; its withdrawal does not end it",
			[][]classify.Signal{{fire(classify.HubIncident, "", 0, "inc-1")}, {suspected(time.Minute)}, {func() classify.Signal {
				s := clear(classify.HubIncident, "", time.Minute, 12*time.Minute)
				s.Suspected = true
				return s
			}()}, {clear(classify.HubIncident, "", 0, 30*time.Minute)}},
			[][]out{{{"firing", "FIRING"}}, nil, nil, {{"resolved", "RESOLVED"}}}},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			st := alert.NewState()
			ids := map[string]bool{}
			var starts []string
			for i, sigs := range tc.steps {
				ns := m.Apply(st, sigs, sigs[0].At)
				if len(ns) != len(tc.want[i]) {
					t.Fatalf("step %d: %d notifications %v, want %v", i, len(ns), render(ns), tc.want[i])
				}
				for j, n := range ns {
					if n.Status != tc.want[i][j].status || n.StatusWords() != tc.want[i][j].words {
						t.Errorf("step %d: %s %q, want %v", i, n.Status, n.StatusWords(), tc.want[i][j])
					}
					if ids[n.NotificationID] {
						t.Errorf("step %d: notification ID %s reused", i, n.NotificationID)
					}
					ids[n.NotificationID] = true
					starts = append(starts, n.Alerts[0].StartsAt)
					if n.Alerts[0].Key != "hub-incident/"+hub {
						t.Errorf("alert key %s", n.Alerts[0].Key)
					}
				}
			}
			for _, s := range starts {
				if s != starts[0] {
					t.Errorf("one episode must keep its StartsAt: %v", starts)
				}
			}
			if recs := st.Records(); len(recs) != 0 {
				t.Errorf("records left: %+v", recs)
			}
		})
	}
}

// TestConfirmationCarriesTheEngineDetails: the confirmation names the cause
// (the engine's summary and evidence) and inhibits device alerts of the
// engine's incident.
func TestConfirmationCarriesTheEngineDetails(t *testing.T) {
	m := alert.New(alert.Config{})
	st := alert.NewState()
	m.Apply(st, []classify.Signal{suspected(0)}, at(0))
	engine := fire(classify.HubIncident, "", 2*time.Minute, "inc-1")
	engine.Summary, engine.Evidence = "hub incident: 120 devices, 500001 ServerError x40", []string{"40 server errors"}
	ns := m.Apply(st, []classify.Signal{engine, fire(classify.DeviceOffline, "d1", 3*time.Minute, "inc-1")}, at(3*time.Minute))
	if len(ns) != 1 || !ns[0].Confirmed() || ns[0].Suspected() || !strings.Contains(ns[0].Alerts[0].Summary, "500001") ||
		ns[0].StatusTag() != "[FIRING][CONFIRMED]" {
		t.Fatalf("got %v (%+v): want only the confirmation, with the engine's summary", render(ns), ns)
	}
	if r, ok := st.Get("device-offline/" + hub + "/d1"); !ok || !r.Held {
		t.Fatalf("device alert of the confirmed incident not held back: %+v", r)
	}
}

// orderNotifier records the notification IDs it is sent.
type orderNotifier struct{ ids []string }

func (o *orderNotifier) Notify(_ context.Context, n *alert.Notification) (bool, error) {
	o.ids = append(o.ids, n.NotificationID)
	return false, nil
}

// TestDeliveryKeepsApplyOrder: a channel receives the notifications of one
// Apply in the order Apply produced them (an incident's resolved before the
// device alerts it releases), whatever their IDs.
func TestDeliveryKeepsApplyOrder(t *testing.T) {
	st := store.NewMemory()
	rec := &orderNotifier{}
	d := &alert.Dispatcher{Store: st, Channels: map[string]alert.Notifier{"webhook": rec}}
	ns := []alert.Notification{{NotificationID: "ffff", Status: "resolved"}, {NotificationID: "0000", Status: "firing"}, {NotificationID: "8888", Status: "firing"}}
	if err := d.Enqueue(context.Background(), ns, t0); err != nil {
		t.Fatal(err)
	}
	if _, err := d.Deliver(context.Background(), t0); err != nil {
		t.Fatal(err)
	}
	if got := strings.Join(rec.ids, ","); got != "ffff,0000,8888" {
		t.Fatalf("delivered %s, want ffff,0000,8888", got)
	}
}

// TestIncidentCountsSayWhatTheyCount: the three notifications of one
// suspected-then-confirmed incident count three different things (at 100 000
// devices: 17 984, 8 746, 64 257) — devices Event Grid saw disconnect in the
// burst it was suspected from, devices the resource logs ingested so far
// show in it, every device it caught. Each says which, in words and in the
// webhook body (devicesCounted), and the confirmed incident's notifications
// keep Event Grid's count beside their own.
func TestIncidentCountsSayWhatTheyCount(t *testing.T) {
	m := alert.New(alert.Config{})
	st := alert.NewState()
	sus := suspected(0)
	sus.Devices = 17984
	engine := fire(classify.HubIncident, "", time.Minute, "inc-1")
	engine.Devices = 8746
	end := clear(classify.HubIncident, "", time.Minute, 40*time.Minute)
	end.Devices = 64257
	cases := []struct {
		sig              classify.Signal
		count, counted   string
		eventGrid        int
		evidenceContains string
	}{
		{sus, "17984 devices disconnected so far, per Event Grid", alert.CountedEventGrid, 0, ""},
		{engine, "8746 devices disconnected so far, per the resource logs", alert.CountedSoFar, 17984,
			"Event Grid saw 17984 devices disconnect when this incident was suspected; the resource logs, 3–10 minutes behind it, show 8746 so far"},
		{end, "64257 devices affected in total", alert.CountedTotal, 17984,
			"Event Grid saw 17984 devices disconnect when this incident was suspected; 64257 were affected in total"},
	}
	for i, c := range cases {
		ns := m.Apply(st, []classify.Signal{c.sig}, c.sig.At)
		if len(ns) != 1 {
			t.Fatalf("step %d: %d notifications, want 1", i, len(ns))
		}
		n, a := ns[0], ns[0].Alerts[0]
		if got := n.DeviceCount(); got != c.count {
			t.Errorf("step %d (%s): device count %q, want %q", i, n.StatusWords(), got, c.count)
		}
		if !strings.Contains(n.Title(), c.count) {
			t.Errorf("step %d: title %q does not carry %q", i, n.Title(), c.count)
		}
		if a.DevicesCounted != c.counted || a.EventGridDevices != c.eventGrid || a.Devices != c.sig.Devices {
			t.Errorf("step %d: devices %d devicesCounted %q eventGridDevices %d, want %d %q %d",
				i, a.Devices, a.DevicesCounted, a.EventGridDevices, c.sig.Devices, c.counted, c.eventGrid)
		}
		if c.evidenceContains != "" && !strings.Contains(strings.Join(a.Evidence, "\n"), c.evidenceContains) {
			t.Errorf("step %d: evidence %q lacks %q", i, a.Evidence, c.evidenceContains)
		}
	}
}

// TestIncidentCountWithoutSuspicion: an incident the engine opens without
// a suspicion counts the resource logs so far while firing and the total
// once resolved, with no Event Grid count.
func TestIncidentCountWithoutSuspicion(t *testing.T) {
	m := alert.New(alert.Config{})
	st := alert.NewState()
	for i, c := range []struct {
		sig            classify.Signal
		count, counted string
	}{
		{fire(classify.HubIncident, "", 0, "inc-1"), "120 devices disconnected so far, per the resource logs", alert.CountedSoFar},
		{clear(classify.HubIncident, "", 0, 30*time.Minute), "120 devices affected in total", alert.CountedTotal},
	} {
		ns := m.Apply(st, []classify.Signal{c.sig}, c.sig.At)
		if len(ns) != 1 || ns[0].DeviceCount() != c.count || ns[0].Alerts[0].DevicesCounted != c.counted || ns[0].Alerts[0].EventGridDevices != 0 {
			t.Fatalf("step %d: %+v, want %q (%s)", i, ns, c.count, c.counted)
		}
	}
	d := m.Apply(st, []classify.Signal{fire(classify.DeviceOffline, "d1", time.Hour, "")}, at(time.Hour))
	if len(d) != 1 || d[0].Alerts[0].DevicesCounted != "" || d[0].DeviceCount() != "1 device" {
		t.Fatalf("a device alert: %+v", d)
	}
}
