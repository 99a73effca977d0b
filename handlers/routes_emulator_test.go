package handlers

import (
	"context"
	"net/http"
	"net/url"
	"strings"
	"testing"
	"time"

	"github.com/disconnect-doctor/disconnect-doctor/internal/funchost"
	"github.com/disconnect-doctor/disconnect-doctor/internal/funchost/emulator"
	"github.com/disconnect-doctor/disconnect-doctor/notify/email/smtptest"
)

// onHub renders a record of another hub than hubResourceID's.
func onHub(hub string, r map[string]any) map[string]any {
	r["resourceId"] = strings.Replace(hubResourceID, "CONTOSO-PROD-HUB", strings.ToUpper(hub), 1)
	return r
}

// TestEmulatorAlertRoutes runs the real binary with ALERT_ROUTES and three
// local receivers (a Teams stand-in and a webhook on httptest, an SMTP
// server): a production hub's device-offline reaches Teams and e-mail, a
// test hub's reaches the webhook only, and a token renewal failing on the
// test hub reaches the webhook and e-mail as well.
func TestEmulatorAlertRoutes(t *testing.T) {
	teams, teamsURL := startWebhook(t)
	hook, hookURL := startWebhook(t)
	smtpSrv := smtptest.Start(t, smtptest.Options{NoTLS: true, Mechanisms: []string{"PLAIN"}, Username: "u", Password: "routes-smtp-secret"})
	routes := `{"routes":[
	  {"name":"token renewal to e-mail too","kinds":["token-renewal-failed"],"channels":["email"],"continue":true},
	  {"name":"production","hubs":["*-prod-*"],"channels":["teams","email"]},
	  {"name":"test","hubs":["*-test-*"],"channels":["webhook"]}]}`
	h := emulator.Start(t, emulator.Options{Env: funchost.WithLocalSettings(map[string]string{
		"STATE_STORAGE": "memory", "WATERMARK": "eventtime", "ALLOWED_LATENESS": "1m", "RECONNECT_GRACE": "30s",
		"OFFLINE_AFTER": "5m", "ALERT_ROUTES": routes,
		"TEAMS_WEBHOOK_URL": teamsURL + "/workflows/x?sig=routes-teams-secret",
		"ALERT_WEBHOOK_URL": hookURL + "/hook?sig=routes-hook-secret",
		"SMTP_HOST":         smtpSrv.Host, "SMTP_PORT": strings.TrimPrefix(smtpSrv.Addr, smtpSrv.Host+":"), "SMTP_TLS": "none",
		"SMTP_USERNAME": "u", "SMTP_PASSWORD": "routes-smtp-secret", "SMTP_FROM": "doctor@contoso.example",
		"ALERT_EMAIL_TO": "oncall@contoso.example",
	}), FunctionTimeout: time.Minute, MaxAttempts: 1})
	ctx := context.Background()

	base := time.Date(2026, 12, 6, 4, 0, 0, 0, time.UTC)
	at := func(m int) time.Time { return base.Add(time.Duration(m) * time.Minute) }
	var recs []map[string]any
	for _, hub := range []string{"contoso-prod-hub", "contoso-test-hub"} {
		recs = append(recs,
			onHub(hub, record(at(1), "Connections", "deviceConnect", "", "", "pump-1")),
			onHub(hub, record(at(5), "Connections", "deviceDisconnect", "404104", "DeviceConnectionClosedRemotely", "pump-1")))
	}
	// On the test hub a device's token expires and it cannot get back in.
	test := "contoso-test-hub"
	recs = append(recs,
		onHub(test, record(at(1), "Connections", "deviceConnect", "", "", "meter-7")),
		onHub(test, record(at(5), "Connections", "deviceDisconnect", "401003", "IoTHubUnauthorized", "meter-7")),
		onHub(test, record(at(5), "Connections", "deviceDisconnect", "404104", "DeviceConnectionClosedRemotely", "meter-7")),
		onHub(test, record(at(5).Add(10*time.Second), "Connections", "deviceConnect", "401003", "IoTHubUnauthorized", "meter-7")),
		onHub(test, record(at(5).Add(20*time.Second), "Connections", "deviceConnect", "401003", "IoTHubUnauthorized", "meter-7")))
	for m := 6; m <= 30; m++ {
		recs = append(recs, onHub(test, record(at(m), "Connections", "deviceConnect", "401003", "IoTHubUnauthorized", "meter-7")),
			record(at(m), "Connections", "deviceConnect", "", "", "gateway-1"))
	}
	out := h.DeliverPartition(ctx, FnDiagnosticLogs, "0", []emulator.Batch{{Bodies: [][]byte{connBody(recs...)}}})
	if !out[0].Succeeded() {
		t.Fatalf("deliver: %v", out[0].Last().Err)
	}
	for range 2 {
		if r := h.Invoke(ctx, h.Timer(FnEvaluate), 0, nil); r.Failed() {
			t.Fatalf("Evaluate: %v %s", r.Err, r.Body)
		}
	}
	code, body := apiCall(ctx, t, h, "GET", "devices/meter-7", url.Values{"code": {"k"}, "hub": {test}}, http.Header{}, "")
	if code != 200 || !strings.Contains(body, `"kind":"token-renewal-failed"`) {
		t.Fatalf("the fixture should make meter-7's renewal fail: %d %s", code, body)
	}

	has := func(bodies []string, s string) bool {
		for _, b := range bodies {
			if strings.Contains(b, s) {
				return true
			}
		}
		return false
	}
	var mails []string
	for _, m := range smtpSrv.Messages() {
		mails = append(mails, string(m.Data))
	}
	checks := []struct {
		channel string
		got     []string
		what    string
		want    bool
	}{
		{"teams", teams.got(), "contoso-prod-hub", true},
		{"teams", teams.got(), "contoso-test-hub", false},
		{"email", mails, "device-offline contoso-prod-hub", true},
		{"email", mails, "token-renewal-failed contoso-test-hub", true},
		{"email", mails, "device-offline contoso-test-hub", false},
		{"webhook", hook.got(), `"groupKey":"device-offline/contoso-test-hub"`, true},
		{"webhook", hook.got(), `"groupKey":"token-renewal-failed/contoso-test-hub"`, true},
		{"webhook", hook.got(), "contoso-prod-hub", false},
	}
	for _, c := range checks {
		if has(c.got, c.what) != c.want {
			t.Errorf("%s received %q: %v, want %v (%d messages)", c.channel, c.what, !c.want, c.want, len(c.got))
		}
	}
	if len(teams.got()) == 0 || len(mails) == 0 || len(hook.got()) == 0 {
		t.Fatalf("a channel received nothing: teams %d, email %d, webhook %d", len(teams.got()), len(mails), len(hook.got()))
	}
	logs := strings.Join(h.Stdout(), "\n") + strings.Join(h.Stderr(), "\n")
	for _, s := range []string{"routes-teams-secret", "routes-hook-secret", "routes-smtp-secret"} {
		if strings.Contains(logs, s) {
			t.Errorf("%s reached a log line", s)
		}
	}
}
