package pagerduty_test

import (
	"context"
	"encoding/json"
	"io"
	"net/http"
	"net/http/httptest"
	"reflect"
	"strings"
	"sync"
	"testing"
	"time"
	"unicode/utf8"

	"github.com/disconnect-doctor/disconnect-doctor/alert"
	"github.com/disconnect-doctor/disconnect-doctor/classify"
	"github.com/disconnect-doctor/disconnect-doctor/notify"
	"github.com/disconnect-doctor/disconnect-doctor/notify/pagerduty"
)

const routingKey = "R0UT1NGKEY0123456789abcdef012345"

// fakePD is a local Events API v2: it answers each request with the next
// of answers (the last one repeating) and records the decoded bodies.
type fakePD struct {
	mu      sync.Mutex
	bodies  []map[string]any
	answers []answer
}

type answer struct {
	status int
	body   string
}

func start(t *testing.T, answers ...answer) (*fakePD, *pagerduty.Notifier) {
	t.Helper()
	f := &fakePD{answers: answers}
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if r.Method != http.MethodPost || r.URL.Path != "/v2/enqueue" || r.Header.Get("Content-Type") != "application/json" {
			http.Error(w, "unexpected "+r.Method+" "+r.URL.Path, http.StatusTeapot)
			return
		}
		b, _ := io.ReadAll(r.Body)
		var m map[string]any
		if err := json.Unmarshal(b, &m); err != nil {
			http.Error(w, err.Error(), http.StatusBadRequest)
			return
		}
		f.mu.Lock()
		f.bodies = append(f.bodies, m)
		a := answer{http.StatusAccepted, `{"status":"success","message":"Event processed","dedup_key":"x"}`}
		if len(f.answers) > 0 {
			a = f.answers[0]
			if len(f.answers) > 1 {
				f.answers = f.answers[1:]
			}
		}
		f.mu.Unlock()
		w.WriteHeader(a.status)
		io.WriteString(w, a.body)
	}))
	t.Cleanup(srv.Close)
	n, err := pagerduty.New(pagerduty.Config{RoutingKey: routingKey, URL: srv.URL + "/v2/enqueue", Client: srv.Client()})
	if err != nil {
		t.Fatal(err)
	}
	return f, n
}

func (f *fakePD) received() []map[string]any {
	f.mu.Lock()
	defer f.mu.Unlock()
	return append([]map[string]any(nil), f.bodies...)
}

func ctx(t *testing.T) context.Context {
	c, cancel := context.WithTimeout(t.Context(), 10*time.Second)
	t.Cleanup(cancel)
	return c
}

func offline(status string, repeat int, devices ...string) *alert.Notification {
	n := &alert.Notification{Version: "1", NotificationID: "0123456789abcdef0123456789abcdef", GroupKey: "device-offline/contoso-hub",
		Status: status, Kind: classify.DeviceOffline, Hub: "contoso-hub",
		Link: "https://dd.example.com/api/v1/disconnects?hub=contoso-hub"}
	for _, d := range devices {
		a := alert.Alert{Key: "device-offline/contoso-hub/" + d, Kind: "device-offline", Status: status, Severity: "warning",
			Hub: "contoso-hub", DeviceID: d, StartsAt: "2026-03-01T10:00:00Z", Summary: d + " has been offline for 15 minutes",
			Evidence: []string{"404104 at 10:00:00 UTC over MQTT"}, Recommendation: "Check the device's power and network.",
			Devices: 1, Repeat: repeat}
		if status == alert.StatusResolved {
			a.EndsAt = "2026-03-01T11:00:00Z"
		}
		n.Alerts = append(n.Alerts, a)
	}
	if status == alert.StatusFiring {
		n.Repeat = repeat
	}
	return n
}

func decode(t *testing.T, s string) map[string]any {
	t.Helper()
	var m map[string]any
	if err := json.Unmarshal([]byte(s), &m); err != nil {
		t.Fatal(err)
	}
	return m
}

func TestTriggerOnePerAlert(t *testing.T) {
	f, pd := start(t)
	if _, err := pd.Notify(ctx(t), offline(alert.StatusFiring, 0, "pump-1", "pump-2")); err != nil {
		t.Fatal(err)
	}
	got := f.received()
	if len(got) != 2 {
		t.Fatalf("%d events, want one per alert (2)", len(got))
	}
	want := decode(t, `{
		"routing_key": "`+routingKey+`",
		"event_action": "trigger",
		"dedup_key": "device-offline/contoso-hub/pump-1",
		"client": "disconnect-doctor",
		"client_url": "https://dd.example.com/api/v1/disconnects?hub=contoso-hub",
		"links": [{"href": "https://dd.example.com/api/v1/disconnects?hub=contoso-hub", "text": "disconnect-doctor: `+alert.KindTitle(classify.DeviceOffline)+` on contoso-hub"}],
		"payload": {
			"summary": "pump-1 has been offline for 15 minutes",
			"source": "contoso-hub",
			"severity": "warning",
			"timestamp": "2026-03-01T10:00:00Z",
			"component": "pump-1",
			"group": "contoso-hub",
			"class": "device-offline",
			"custom_details": {
				"alertKey": "device-offline/contoso-hub/pump-1",
				"notificationId": "0123456789abcdef0123456789abcdef",
				"startsAt": "2026-03-01T10:00:00Z",
				"devices": 1,
				"deviceId": "pump-1",
				"evidence": ["404104 at 10:00:00 UTC over MQTT"],
				"recommendation": "Check the device's power and network."
			}
		}
	}`)
	if !reflect.DeepEqual(got[0], want) {
		b, _ := json.MarshalIndent(got[0], "", "  ")
		t.Errorf("event:\n%s", b)
	}
	if got[1]["dedup_key"] != "device-offline/contoso-hub/pump-2" {
		t.Errorf("second event's dedup_key %v", got[1]["dedup_key"])
	}
}

func TestResolve(t *testing.T) {
	f, pd := start(t)
	if _, err := pd.Notify(ctx(t), offline(alert.StatusResolved, 0, "pump-1")); err != nil {
		t.Fatal(err)
	}
	want := decode(t, `{"routing_key":"`+routingKey+`","event_action":"resolve","dedup_key":"device-offline/contoso-hub/pump-1"}`)
	if got := f.received(); len(got) != 1 || !reflect.DeepEqual(got[0], want) {
		t.Errorf("events %v", got)
	}
}

// TestReminderSendsNothing: a reminder must not open a new incident, which
// a trigger would do once a responder has resolved the first one.
func TestReminderSendsNothing(t *testing.T) {
	f, pd := start(t)
	if retry, err := pd.Notify(ctx(t), offline(alert.StatusFiring, 2, "pump-1", "pump-2")); err != nil {
		t.Fatalf("retry=%v err=%v", retry, err)
	}
	if got := f.received(); len(got) != 0 {
		t.Errorf("a reminder sent %d events: %v", len(got), got)
	}
	// Through the outbox's JSON, as the Dispatcher delivers it.
	b, err := alert.EncodePayload(offline(alert.StatusFiring, 1, "pump-1"))
	if err != nil {
		t.Fatal(err)
	}
	n, err := alert.DecodePayload(b)
	if err != nil {
		t.Fatal(err)
	}
	if evs := pagerduty.Events(n); len(evs) != 0 {
		t.Errorf("a decoded reminder renders %d events", len(evs))
	}
}

func TestSeverityAndHubIncident(t *testing.T) {
	n := &alert.Notification{NotificationID: "n1", Status: alert.StatusFiring, Kind: classify.HubIncident, Hub: "contoso-hub",
		Alerts: []alert.Alert{{Key: "hub-incident/contoso-hub", Kind: "hub-incident", Status: "firing", Severity: "critical",
			Hub: "contoso-hub", Devices: 120}}}
	evs := pagerduty.Events(n)
	if len(evs) != 1 {
		t.Fatalf("events %v", evs)
	}
	p := evs[0].Payload
	if p.Severity != "critical" || p.Component != "hub" || p.Source != "contoso-hub" || p.Summary == "" || evs[0].Links != nil {
		t.Errorf("payload %+v links %v", p, evs[0].Links)
	}
	n.Alerts[0].Severity = "page-me"
	if s := pagerduty.Events(n)[0].Payload.Severity; s != "error" {
		t.Errorf("unknown severity maps to %q", s)
	}
}

// TestPipelineAlertsHaveASource: the pipeline's own app-wide alerts have no
// hub, and PagerDuty requires payload.source.
func TestPipelineAlertsHaveASource(t *testing.T) {
	n := &alert.Notification{NotificationID: "n2", Status: alert.StatusFiring, Kind: classify.NotificationsFailing,
		Alerts: []alert.Alert{{Key: "notifications-failing//teams", Kind: "notifications-failing", Status: "firing",
			Severity: "critical", Subject: "teams", Devices: 1}}}
	p := pagerduty.Events(n)[0].Payload
	if p.Source != "disconnect-doctor" || p.Group != "disconnect-doctor" || p.Component != "teams" {
		t.Errorf("payload %+v", p)
	}
}

func TestLimits(t *testing.T) {
	n := offline(alert.StatusFiring, 0, strings.Repeat("é", 700))
	n.Alerts[0].Summary = strings.Repeat("ü", 2000)
	ev := pagerduty.Events(n)[0]
	if s := ev.Payload.Summary; len(s) > 1024 || !utf8.ValidString(s) || !strings.HasSuffix(s, "…") {
		t.Errorf("summary of %d bytes, valid=%v", len(s), utf8.ValidString(s))
	}
	long := n.Alerts[0].Key
	k := ev.DedupKey
	if len(k) > 255 || !utf8.ValidString(k) || k != pagerduty.DedupKey(long) {
		t.Errorf("dedup_key of %d bytes", len(k))
	}
	other := pagerduty.DedupKey(long + "x")
	if other == k {
		t.Error("two long keys with the same start share a dedup_key")
	}
	if pagerduty.DedupKey("device-offline/h/d") != "device-offline/h/d" {
		t.Error("a short key is changed")
	}
}

func TestFailures(t *testing.T) {
	cases := []struct {
		name       string
		answers    []answer
		wantRetry  bool
		wantConfig bool
		want       string
		wantEvents int
	}{
		{"invalid routing key", []answer{{400, `{"status":"invalid event","message":"Event object is invalid","errors":["Invalid routing key: ` + routingKey + `"]}`}},
			true, true, "PAGERDUTY_ROUTING_KEY", 1},
		{"invalid event", []answer{{400, `{"status":"invalid event","message":"Event object is invalid","errors":["'payload.summary' is missing"]}`}},
			false, false, "payload.summary", 1},
		{"throttled", []answer{{429, `{"status":"throttle event"}`}}, true, false, "429", 1},
		{"second event fails", []answer{{202, `{"status":"success"}`}, {500, ``}}, true, false, "pump-2", 2},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			f, pd := start(t, tc.answers...)
			retry, err := pd.Notify(ctx(t), offline(alert.StatusFiring, 0, "pump-1", "pump-2"))
			if err == nil {
				t.Fatal("Notify succeeded")
			}
			if retry != tc.wantRetry || notify.IsConfig(err) != tc.wantConfig || !strings.Contains(err.Error(), tc.want) {
				t.Errorf("retry=%v config=%v err=%v; want %v %v %q", retry, notify.IsConfig(err), err, tc.wantRetry, tc.wantConfig, tc.want)
			}
			if strings.Contains(err.Error(), routingKey) {
				t.Errorf("error leaks the routing key: %v", err)
			}
			if n := len(f.received()); n != tc.wantEvents {
				t.Errorf("%d events sent, want %d (stop at the first failure)", n, tc.wantEvents)
			}
		})
	}
	if _, err := pagerduty.New(pagerduty.Config{}); err == nil || !strings.Contains(err.Error(), "PAGERDUTY_ROUTING_KEY") {
		t.Errorf("New without a key: %v", err)
	}
}
