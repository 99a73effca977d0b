package teams_test

import (
	"context"
	"encoding/json"
	"flag"
	"fmt"
	"io"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/disconnect-doctor/disconnect-doctor/alert"
	"github.com/disconnect-doctor/disconnect-doctor/classify"
	"github.com/disconnect-doctor/disconnect-doctor/notify"
	"github.com/disconnect-doctor/disconnect-doctor/notify/teams"
)

var update = flag.Bool("update", false, "rewrite golden files")

func notification(devices int, evidence int) *alert.Notification {
	n := &alert.Notification{Version: "1", NotificationID: "0123456789abcdef0123456789abcdef", GroupKey: "device-offline/contoso-hub",
		Status: alert.StatusFiring, Kind: classify.DeviceOffline, Hub: "contoso-hub", Link: "https://dd.example.com/api/v1/disconnects?hub=contoso-hub",
		Due: time.Date(2026, 3, 1, 10, 15, 0, 0, time.UTC)}
	for i := range devices {
		a := alert.Alert{Key: fmt.Sprintf("device-offline/contoso-hub/sensor-%04d", i), Kind: "device-offline", Status: "firing",
			Severity: "warning", Hub: "contoso-hub", DeviceID: fmt.Sprintf("sensor-%04d", i), StartsAt: "2026-03-01T10:00:00Z",
			Summary:        fmt.Sprintf("sensor-%04d has been offline for 15 minutes after a 404104 disconnect", i),
			Recommendation: "Check the device's power and network; then its keep-alive settings and SDK version.", Devices: 1}
		for j := range evidence {
			a.Evidence = append(a.Evidence, fmt.Sprintf("404104 at 10:00:%02d over MQTT; no 401003 beside it; no connect in the %d minutes since", j%60, 15+j))
		}
		n.Alerts = append(n.Alerts, a)
	}
	return n
}

// workflow plays the Teams Workflows trigger: it checks the envelope and the
// card's schema fields like the flow's "Post card" action would, and answers
// with the status the test asks for.
type workflow struct {
	mu     sync.Mutex
	status int
	cards  []map[string]any
	sizes  []int
	errs   []string
}

func (w *workflow) ServeHTTP(rw http.ResponseWriter, r *http.Request) {
	w.mu.Lock()
	defer w.mu.Unlock()
	body, _ := io.ReadAll(r.Body)
	w.sizes = append(w.sizes, len(body))
	fail := func(f string, a ...any) { w.errs = append(w.errs, fmt.Sprintf(f, a...)) }
	if ct := r.Header.Get("Content-Type"); ct != "application/json" {
		fail("Content-Type %q", ct)
	}
	var env struct {
		Type        string `json:"type"`
		Attachments []struct {
			ContentType string          `json:"contentType"`
			ContentURL  *string         `json:"contentUrl"`
			Content     json.RawMessage `json:"content"`
		} `json:"attachments"`
	}
	if err := json.Unmarshal(body, &env); err != nil {
		fail("body is not JSON: %v", err)
	}
	if env.Type != "message" || len(env.Attachments) != 1 {
		fail("envelope type %q with %d attachments", env.Type, len(env.Attachments))
	} else {
		a := env.Attachments[0]
		if a.ContentType != "application/vnd.microsoft.card.adaptive" || a.ContentURL != nil {
			fail("attachment %q contentUrl %v", a.ContentType, a.ContentURL)
		}
		var card map[string]any
		json.Unmarshal(a.Content, &card)
		if card["type"] != "AdaptiveCard" || card["version"] != "1.4" || card["$schema"] != "http://adaptivecards.io/schemas/adaptive-card.json" {
			fail("card header %v %v %v", card["type"], card["version"], card["$schema"])
		}
		w.cards = append(w.cards, card)
	}
	rw.WriteHeader(w.status)
}

func start(t *testing.T, status int) (*workflow, *teams.Notifier) {
	w := &workflow{status: status}
	srv := httptest.NewServer(w)
	t.Cleanup(srv.Close)
	return w, teams.New(teams.Config{URL: notify.Secret(srv.URL + "/workflows/x/triggers/manual/paths/invoke?sig=TEAMSSECRET")})
}

// texts collects every text a person sees on the card.
func texts(card map[string]any) string {
	var b strings.Builder
	var walk func(v any)
	walk = func(v any) {
		switch x := v.(type) {
		case map[string]any:
			for _, k := range []string{"text", "title", "value", "url"} {
				if s, ok := x[k].(string); ok {
					b.WriteString(s + "\n")
				}
			}
			for _, v := range x {
				walk(v)
			}
		case []any:
			for _, v := range x {
				walk(v)
			}
		}
	}
	walk(card)
	return b.String()
}

func TestNotifyCard(t *testing.T) {
	cases := []struct {
		name      string
		devices   int
		evidence  int
		want      []string
		wantNoURL bool
	}{
		{"two devices", 2, 2, []string{"FIRING: device-offline on contoso-hub", "404104", "2 devices: sensor-0000 (firing), sensor-0001 (firing)",
			"10:00:00 UTC", "What to do:", "Cause", "Since", "Evidence", "https://dd.example.com/api/v1/disconnects?hub=contoso-hub"}, false},
		{"five thousand devices are cut", 5000, 3, []string{"5000 devices", "…and 4960 more", "…and 4997 more alerts"}, false},
		{"huge evidence is cut", 3, 400, []string{"…and"}, false},
		{"no link without a public URL", 1, 1, []string{"1 device"}, true},
		{"long ids and texts", -300, 50, []string{"…and 260 more"}, false},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			w, n := start(t, http.StatusAccepted)
			notif := notification(max(tc.devices, -tc.devices), tc.evidence)
			if tc.devices < 0 { // 128-character device ids, 3000-character texts
				for i := range notif.Alerts {
					a := &notif.Alerts[i]
					a.DeviceID = fmt.Sprintf("%04d-%s", i, strings.Repeat("x", 123))
					a.Summary, a.Recommendation = strings.Repeat("s", 3000), strings.Repeat(fmt.Sprint(i), 3000)
					for j := range a.Evidence {
						a.Evidence[j] = strings.Repeat("e", 3000)
					}
				}
			}
			if tc.wantNoURL {
				notif.Link = ""
			}
			retry, err := n.Notify(context.Background(), notif)
			if err != nil {
				t.Fatalf("retry=%v err=%v", retry, err)
			}
			if len(w.errs) > 0 || len(w.cards) != 1 {
				t.Fatalf("workflow rejected the post: %v", w.errs)
			}
			if w.sizes[0] > teams.MaxCardBytes {
				t.Errorf("card is %d bytes, limit %d", w.sizes[0], teams.MaxCardBytes)
			}
			all := texts(w.cards[0])
			for _, s := range tc.want {
				if !strings.Contains(all, s) {
					t.Errorf("card lacks %q:\n%s", s, all)
				}
			}
			_, hasActions := w.cards[0]["actions"]
			if hasActions == tc.wantNoURL {
				t.Errorf("actions present=%v, want %v", hasActions, !tc.wantNoURL)
			}
			t.Logf("%d devices, %d evidence lines each: %d bytes", len(notif.Alerts), tc.evidence, w.sizes[0])
		})
	}
}

func TestNotifyStatus(t *testing.T) {
	cases := []struct {
		status    int
		wantRetry bool
		wantErr   bool
	}{
		{200, false, false}, {202, false, false}, {400, false, true}, {404, false, true},
		{429, true, true}, {500, true, true}, {503, true, true},
	}
	for _, tc := range cases {
		t.Run(http.StatusText(tc.status), func(t *testing.T) {
			_, n := start(t, tc.status)
			retry, err := n.Notify(context.Background(), notification(1, 1))
			if retry != tc.wantRetry || (err != nil) != tc.wantErr {
				t.Fatalf("retry=%v err=%v", retry, err)
			}
			if err != nil && (strings.Contains(err.Error(), "TEAMSSECRET") || strings.Contains(err.Error(), "workflows")) {
				t.Errorf("error leaks the URL: %v", err)
			}
		})
	}
}

func TestGoldenEnvelope(t *testing.T) {
	n := notification(2, 2)
	n.Status = alert.StatusResolved
	for i := range n.Alerts {
		n.Alerts[i].Status, n.Alerts[i].EndsAt = "resolved", "2026-03-01T11:00:00Z"
	}
	b, err := teams.Envelope(n)
	if err != nil {
		t.Fatal(err)
	}
	var pretty any
	json.Unmarshal(b, &pretty)
	got, _ := json.MarshalIndent(pretty, "", "  ")
	path := filepath.Join("testdata", "resolved.golden.json")
	if *update {
		os.WriteFile(path, got, 0o644)
	}
	want, err := os.ReadFile(path)
	if err != nil {
		t.Fatalf("%v (run with -update)", err)
	}
	if string(got) != string(want) {
		t.Errorf("envelope differs from %s:\n%s", path, got)
	}
}

func BenchmarkEnvelope5000Devices(b *testing.B) {
	n := notification(5000, 3)
	for b.Loop() {
		if _, err := teams.Envelope(n); err != nil {
			b.Fatal(err)
		}
	}
}

// TestReminderAndModuleCard: a reminder says so in its title and first
// line, with a dated UTC "since" when the episode began on another day; a
// module alert names the device and its module.
func TestReminderAndModuleCard(t *testing.T) {
	n := notification(2, 1)
	n.Repeat = 3
	n.Due = time.Date(2026, 3, 2, 9, 0, 0, 0, time.UTC)
	n.Alerts[1].Module = "$edgeHub"
	b, err := teams.Envelope(n)
	if err != nil {
		t.Fatal(err)
	}
	var env struct {
		Attachments []struct {
			Content map[string]any `json:"content"`
		} `json:"attachments"`
	}
	if err := json.Unmarshal(b, &env); err != nil {
		t.Fatal(err)
	}
	body := env.Attachments[0].Content["body"].([]any)
	first := func(i int) string { return body[i].(map[string]any)["text"].(string) }
	if got := first(0); got != "FIRING (REMINDER 3): device-offline on contoso-hub" {
		t.Errorf("title = %q", got)
	}
	if got := first(1); got != "Reminder 3 — still offline since 2026-03-01 10:00:00 UTC" {
		t.Errorf("first line = %q", got)
	}
	all := texts(env.Attachments[0].Content)
	for _, s := range []string{"sensor-0001/$edgeHub (firing)", "Since", "2026-03-01 10:00:00 UTC"} {
		if !strings.Contains(all, s) {
			t.Errorf("card lacks %q:\n%s", s, all)
		}
	}
}
