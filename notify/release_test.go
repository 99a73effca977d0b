package notify_test

import (
	"context"
	"crypto/tls"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/rs/zerolog"

	"github.com/disconnect-doctor/disconnect-doctor/alert"
	"github.com/disconnect-doctor/disconnect-doctor/classify"
	"github.com/disconnect-doctor/disconnect-doctor/event"
	"github.com/disconnect-doctor/disconnect-doctor/notify"
	"github.com/disconnect-doctor/disconnect-doctor/notify/email"
	"github.com/disconnect-doctor/disconnect-doctor/notify/email/smtptest"
	"github.com/disconnect-doctor/disconnect-doctor/notify/pagerduty"
	"github.com/disconnect-doctor/disconnect-doctor/notify/teams"
	"github.com/disconnect-doctor/disconnect-doctor/notify/webhook"
	"github.com/disconnect-doctor/disconnect-doctor/store"
)

// Size limits every message of a release is held to.
const (
	// maxEmailBytes: Gmail clips a message body over 102 KB behind "View
	// entire message"; an alert must be read whole.
	maxEmailBytes = 100 << 10
	// maxWebhookBytes: a generic receiver (a Logic App, a chat relay)
	// should never be handed a body that grows with the fleet.
	maxWebhookBytes = 64 << 10
	// maxPagerDutyBytes: the Events API v2 refuses events over 512 KB.
	maxPagerDutyBytes = 512 << 10
	// maxOutboxBytes: a Table string property holds 64 KiB at most.
	maxOutboxBytes = 64 << 10
)

// recorder is a local HTTP endpoint that keeps every body it is posted.
type recorder struct {
	mu     sync.Mutex
	status int
	bodies [][]byte
}

func (r *recorder) start(t *testing.T, status int) *httptest.Server {
	r.status = status
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, req *http.Request) {
		b, _ := io.ReadAll(req.Body)
		if req.Method != http.MethodPost || req.Header.Get("Content-Type") != "application/json" || !json.Valid(b) {
			http.Error(w, "want a JSON POST", http.StatusBadRequest)
			return
		}
		r.mu.Lock()
		r.bodies = append(r.bodies, b)
		r.mu.Unlock()
		w.WriteHeader(r.status)
	}))
	t.Cleanup(srv.Close)
	return srv
}

func (r *recorder) received() [][]byte {
	r.mu.Lock()
	defer r.mu.Unlock()
	return append([][]byte(nil), r.bodies...)
}

var t0 = time.Date(2026, 3, 1, 10, 0, 0, 0, time.UTC)

// incidentSignals: a hub incident catching n devices, each device-offline
// alert held back by it, as the engine reports them.
func incidentSignals(n int) []classify.Signal {
	const hub, inc = "contoso-prod-hub", "contoso-prod-hub-20260301T1000Z"
	sigs := []classify.Signal{{Kind: classify.HubIncident, Key: event.Key{Hub: hub}, Firing: true, Since: t0, At: t0,
		Incident: inc, Devices: n, Summary: fmt.Sprintf("IoT Hub incident on %s: %d devices disconnected at once", hub, n),
		Evidence:       []string{"12 500 server errors (500001 ServerError) in 3 minutes, 40x the hub's usual rate"},
		Recommendation: "Nothing to do on the devices: check Azure Resource Health and Azure Status."}}
	for i := range n {
		dev := fmt.Sprintf("sensor-%06d", i)
		at := t0.Add(time.Duration(i%120) * time.Second)
		sigs = append(sigs, classify.Signal{Kind: classify.DeviceOffline, Key: event.Key{Hub: hub, Device: dev}, Firing: true,
			Since: at, At: at.Add(15 * time.Minute), Incident: inc, Devices: 1,
			Summary: dev + " is offline since " + at.Format("15:04:05") + " UTC after a 404104 disconnect",
			Evidence: []string{"404104 DeviceConnectionClosedRemotely at " + at.Format("15:04:05") + " UTC, during IoT Hub incident " + inc,
				"no connect since (15m)", "last connected from 203.0.113.x over MQTT"},
			Recommendation: "Check the device's power and network; then its keep-alive settings and SDK version."})
	}
	return sigs
}

func back(sigs []classify.Signal, from, to int, at time.Time) []classify.Signal {
	var out []classify.Signal
	for _, s := range sigs[1+from : 1+to] {
		s.Firing, s.At = false, at
		out = append(out, s)
	}
	return out
}

// TestReleaseOf100000Devices runs a 100 000-device incident's whole life
// through the Manager, the outbox and every integration against real local
// servers (Teams Workflows, SMTP with STARTTLS and AUTH LOGIN, a webhook,
// the PagerDuty Events API): one incident firing and resolved, the 100 000
// device alerts it held back released as one notification, half of them
// back in one tick, the rest in another. Each channel receives 5
// notifications (PagerDuty 4 events: a half-resolved group pages nothing),
// and every body stays under its channel's limit.
func TestReleaseOf100000Devices(t *testing.T) {
	const devices = 100000
	var tm, wh, pd recorder
	tsrv, wsrv, psrv := tm.start(t, http.StatusAccepted), wh.start(t, http.StatusOK), pd.start(t, http.StatusAccepted)
	smtp := smtptest.Start(t, smtptest.Options{Mechanisms: []string{"LOGIN"}, Username: "acs|app|tenant", Password: "pw"})
	mail, err := email.New(email.Config{Host: smtp.Host, Port: smtp.Port, Username: "acs|app|tenant", Password: "pw",
		From: "alerts@example.com", To: []string{"oncall@example.com"},
		TLSConfig: &tls.Config{RootCAs: smtp.RootCAs, ServerName: "localhost"}})
	if err != nil {
		t.Fatal(err)
	}
	page, err := pagerduty.New(pagerduty.Config{RoutingKey: "R0UT1NGKEY0123456789abcdef012345", URL: psrv.URL})
	if err != nil {
		t.Fatal(err)
	}
	st := store.NewMemory()
	d := &alert.Dispatcher{Store: st, Log: zerolog.Nop(), Limit: 1000, Channels: map[string]alert.Notifier{
		"teams":     teams.New(teams.Config{URL: notify.Secret(tsrv.URL)}),
		"webhook":   webhook.New(webhook.Config{URL: notify.Secret(wsrv.URL)}),
		"email":     mail,
		"pagerduty": page,
	}}
	m := alert.New(alert.Config{PublicBaseURL: "https://dd.example.net", ResolveHold: -1})
	state := alert.NewState()
	sigs := incidentSignals(devices)
	end := classify.Signal{Kind: classify.HubIncident, Key: sigs[0].Key, Incident: sigs[0].Incident, Since: t0, At: t0.Add(time.Hour)}
	steps := [][]classify.Signal{sigs, {end}, back(sigs, 0, devices/2, t0.Add(2*time.Hour)), back(sigs, devices/2, devices, t0.Add(3*time.Hour))}
	for i, step := range steps {
		now := t0.Add(time.Duration(i) * time.Hour).Add(time.Minute)
		if err := d.Enqueue(t.Context(), m.Apply(state, step, now), now); err != nil {
			t.Fatal(err)
		}
		deliverAll(t, d, now)
	}

	items, err := st.ListItems(t.Context(), t0.Add(-time.Hour), t0.Add(5*time.Hour))
	if err != nil {
		t.Fatal(err)
	}
	if len(items) != 5*4 {
		t.Errorf("outbox holds %d items, want 5 notifications × 4 channels", len(items))
	}
	for _, it := range items {
		if len(it.Payload) > maxOutboxBytes || it.State != store.OutboxDelivered {
			t.Errorf("outbox item %s: %d bytes, %s", it.ID, len(it.Payload), it.State)
		}
	}
	checkSizes(t, "teams", tm.received(), 5, teams.MaxCardBytes)
	checkSizes(t, "webhook", wh.received(), 5, maxWebhookBytes)
	checkSizes(t, "pagerduty", pd.received(), 4, maxPagerDutyBytes)
	msgs := smtp.Messages()
	if len(msgs) != 5 {
		t.Errorf("SMTP server got %d messages, want 5", len(msgs))
	}
	for i, msg := range msgs {
		t.Logf("e-mail %d: %d bytes (limit %d)", i, len(msg.Data), maxEmailBytes)
		if len(msg.Data) > maxEmailBytes {
			t.Errorf("e-mail %d: %d bytes, over %d", i, len(msg.Data), maxEmailBytes)
		}
	}
	checkRelease(t, tm.received(), wh.received(), pd.received(), msgs)
}

// deliverAll delivers until nothing is due.
func deliverAll(t *testing.T, d *alert.Dispatcher, now time.Time) {
	t.Helper()
	for range 100 {
		rep, err := d.Deliver(context.Background(), now)
		if err != nil {
			t.Fatal(err)
		}
		if rep.Retrying+rep.Dead > 0 {
			t.Fatalf("delivery failed: %+v", rep)
		}
		if rep.Delivered == 0 {
			return
		}
	}
	t.Fatal("the outbox never drained")
}

func checkSizes(t *testing.T, channel string, bodies [][]byte, want, limit int) {
	t.Helper()
	if len(bodies) != want {
		t.Errorf("%s received %d requests, want %d", channel, len(bodies), want)
	}
	largest := 0
	for i, b := range bodies {
		largest = max(largest, len(b))
		if len(b) > limit {
			t.Errorf("%s request %d: %d bytes, over %d", channel, i, len(b), limit)
		}
	}
	t.Logf("%s: %d requests, the largest %d bytes (limit %d)", channel, len(bodies), largest, limit)
}

// checkRelease reads the release (the third notification) as each receiver
// gets it: the count, the first devices, the link to them all.
func checkRelease(t *testing.T, cards, hooks, events [][]byte, mails []smtptest.Message) {
	t.Helper()
	const list = "https://dd.example.net/api/v1/disconnects?hub=contoso-prod-hub&incident=contoso-prod-hub-20260301T1000Z"
	if len(hooks) < 3 || len(cards) < 3 || len(events) < 3 || len(mails) < 3 {
		t.Fatal("the release did not reach every channel")
	}
	var body struct {
		Status          string        `json:"status"`
		Alerts          []alert.Alert `json:"alerts"`
		TruncatedAlerts int           `json:"truncatedAlerts"`
		Grouped         bool          `json:"grouped"`
		Incident        string        `json:"incident"`
		List            string        `json:"list"`
	}
	if err := json.Unmarshal(hooks[2], &body); err != nil {
		t.Fatal(err)
	}
	if body.Status != "firing" || len(body.Alerts) != alert.MaxListed || body.TruncatedAlerts != 100000-alert.MaxListed ||
		!body.Grouped || body.List != list || body.Alerts[0].DeviceID != "sensor-000000" {
		t.Errorf("webhook release: status %s, %d alerts (first %q), truncated %d, grouped %v, list %q",
			body.Status, len(body.Alerts), body.Alerts[0].DeviceID, body.TruncatedAlerts, body.Grouped, body.List)
	}
	var card any
	if err := json.Unmarshal(cards[2], &card); err != nil {
		t.Fatal(err)
	}
	for _, w := range []string{"100000 devices caught in IoT Hub incident contoso-prod-hub-20260301T1000Z are still offline", "sensor-000000", "99980 more", list} {
		if !strings.Contains(fmt.Sprint(card), w) {
			t.Errorf("Teams release card lacks %q", w)
		}
	}
	var ev struct {
		Action  string `json:"event_action"`
		Dedup   string `json:"dedup_key"`
		Payload struct {
			Summary string         `json:"summary"`
			Details map[string]any `json:"custom_details"`
		} `json:"payload"`
	}
	if err := json.Unmarshal(events[2], &ev); err != nil {
		t.Fatal(err)
	}
	if ev.Action != "trigger" || ev.Dedup != "device-offline/contoso-prod-hub" || !strings.HasPrefix(ev.Payload.Summary, "100000 devices") ||
		ev.Payload.Details["alerts"] != float64(100000) || ev.Payload.Details["list"] != list {
		t.Errorf("PagerDuty release event: %s %s %q %v", ev.Action, ev.Dedup, ev.Payload.Summary, ev.Payload.Details)
	}
	if err := json.Unmarshal(events[3], &ev); err != nil || ev.Action != "resolve" || ev.Dedup != "device-offline/contoso-prod-hub" {
		t.Errorf("PagerDuty's last event: %s %s (%v), want the group's resolve", ev.Action, ev.Dedup, err)
	}
	mail := string(mails[2].Data)
	for _, w := range []string{"[FIRING] device-offline contoso-prod-hub: 100000 devices", "=E2=80=A6and 99980 more"} {
		if !strings.Contains(mail, w) {
			t.Errorf("release e-mail lacks %q", w)
		}
	}
}
