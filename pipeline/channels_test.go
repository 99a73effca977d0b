package pipeline_test

import (
	"context"
	"crypto/tls"
	"errors"
	"io"
	"net/http"
	"net/http/httptest"
	"sort"
	"strings"
	"testing"
	"time"

	"github.com/Azure/azure-sdk-for-go/sdk/azcore"
	"github.com/Azure/azure-sdk-for-go/sdk/azcore/policy"
	"github.com/rs/zerolog"

	"github.com/disconnect-doctor/disconnect-doctor/alert"
	"github.com/disconnect-doctor/disconnect-doctor/classify"
	"github.com/disconnect-doctor/disconnect-doctor/config"
	"github.com/disconnect-doctor/disconnect-doctor/notify"
	"github.com/disconnect-doctor/disconnect-doctor/notify/email"
	"github.com/disconnect-doctor/disconnect-doctor/notify/email/smtptest"
	"github.com/disconnect-doctor/disconnect-doctor/notify/graph"
	"github.com/disconnect-doctor/disconnect-doctor/notify/pagerduty"
	"github.com/disconnect-doctor/disconnect-doctor/pipeline"
	"github.com/disconnect-doctor/disconnect-doctor/store"
)

const secretToken = "eyJ0eXAiOiJKV1QifQ.c2VjcmV0LXRva2Vu.c2ln"

type staticCredential struct{}

func (staticCredential) GetToken(context.Context, policy.TokenRequestOptions) (azcore.AccessToken, error) {
	return azcore.AccessToken{Token: secretToken, ExpiresOn: time.Now().Add(time.Hour)}, nil
}

func TestChannelsFromSettings(t *testing.T) {
	cfg, err := config.Load(func(k string) string {
		return map[string]string{
			"SMTP_HOST": "smtp.office365.com", "SMTP_AUTH": "xoauth2", "SMTP_CLIENT_ID": "smtp-id", "SMTP_FROM": "alerts@contoso.com",
			"ALERT_EMAIL_TO": "oncall@contoso.com", "GRAPH_SENDER": "alerts@contoso.com", "GRAPH_CLIENT_ID": "graph-id",
			"PAGERDUTY_ROUTING_KEY": "R0UT1NGKEY0123456789abcdef012345",
		}[k]
	})
	if err != nil {
		t.Fatal(err)
	}
	var asked []string
	ch, err := pipeline.ChannelsWith(cfg, func(id string) (azcore.TokenCredential, string, error) {
		asked = append(asked, id)
		return staticCredential{}, "managed identity " + id, nil
	})
	if err != nil {
		t.Fatal(err)
	}
	var names []string
	for n := range ch {
		names = append(names, n)
	}
	sort.Strings(names)
	if strings.Join(names, ",") != "email,graph,pagerduty" {
		t.Errorf("channels %v", names)
	}
	if strings.Join(asked, ",") != "smtp-id,graph-id" {
		t.Errorf("credentials asked for %v, want the SMTP then the Graph client id", asked)
	}
	_, err = pipeline.ChannelsWith(cfg, func(string) (azcore.TokenCredential, string, error) {
		return nil, "", errors.New("no identity")
	})
	if err == nil || !strings.Contains(err.Error(), "SMTP_AUTH=xoauth2") {
		t.Errorf("a credential that cannot be built: %v", err)
	}
}

// TestMisconfiguredChannelsAreDeadLettered runs three misconfigured channels
// through the real Dispatcher and store: Graph without Mail.Send (403),
// PagerDuty with a wrong routing key (400), SMTP with STARTTLS against an
// implicit-TLS server. Each attempt fails with the fix in the outbox item's
// error, is retried at the slow config pace, and ends dead-lettered after
// DeadAfter — recorded, never lost, and no token or key in any error.
func TestMisconfiguredChannelsAreDeadLettered(t *testing.T) {
	const key = "R0UT1NGKEY0123456789abcdef012345"
	forbidden := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		io.Copy(io.Discard, r.Body)
		w.WriteHeader(http.StatusForbidden)
		io.WriteString(w, `{"error":{"code":"ErrorAccessDenied","message":"Access is denied. Check credentials and try again."}}`)
	}))
	t.Cleanup(forbidden.Close)
	badKey := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		io.Copy(io.Discard, r.Body)
		w.WriteHeader(http.StatusBadRequest)
		io.WriteString(w, `{"status":"invalid event","message":"Event object is invalid","errors":["Invalid routing key"]}`)
	}))
	t.Cleanup(badKey.Close)
	smtps := smtptest.Start(t, smtptest.Options{ImplicitTLS: true})

	g, err := graph.New(graph.Config{Sender: "alerts@contoso.com", To: []string{"oncall@contoso.com"}, Credential: staticCredential{},
		Identity: "system-assigned managed identity", BaseURL: forbidden.URL, Client: forbidden.Client()})
	if err != nil {
		t.Fatal(err)
	}
	pd, err := pagerduty.New(pagerduty.Config{RoutingKey: key, URL: badKey.URL, Client: badKey.Client()})
	if err != nil {
		t.Fatal(err)
	}
	mail, err := email.New(email.Config{Host: smtps.Host, Port: smtps.Port, TLS: email.TLSStartTLS, From: "alerts@contoso.com",
		To: []string{"oncall@contoso.com"}, HandshakeTimeout: 200 * time.Millisecond,
		TLSConfig: &tls.Config{RootCAs: smtps.RootCAs, ServerName: "localhost"}})
	if err != nil {
		t.Fatal(err)
	}

	st := store.NewMemory()
	d := &alert.Dispatcher{Store: st, Channels: map[string]alert.Notifier{"graph": g, "pagerduty": pd, "email": mail},
		Log: zerolog.Nop(), DeadAfter: 2 * time.Hour}
	start := time.Date(2026, 3, 1, 10, 0, 0, 0, time.UTC)
	n := alert.Notification{Version: "1", NotificationID: "0123456789abcdef0123456789abcdef", GroupKey: "device-offline/contoso-hub",
		Status: alert.StatusFiring, Kind: classify.DeviceOffline, Hub: "contoso-hub",
		Alerts: []alert.Alert{{Key: "device-offline/contoso-hub/pump-1", Kind: "device-offline", Status: "firing", Severity: "warning",
			Hub: "contoso-hub", DeviceID: "pump-1", StartsAt: "2026-03-01T09:45:00Z", Summary: "pump-1 offline", Devices: 1}}}
	ctx := t.Context()
	if err := d.Enqueue(ctx, []alert.Notification{n}, start); err != nil {
		t.Fatal(err)
	}

	rep, err := d.Deliver(ctx, start)
	if err != nil {
		t.Fatal(err)
	}
	if rep.Retrying != 3 || rep.Dead != 0 {
		t.Fatalf("first attempt: %+v; want all three retrying", rep)
	}
	items, err := st.ListItems(ctx, start.Add(-time.Hour), start.Add(time.Hour))
	if err != nil {
		t.Fatal(err)
	}
	for _, it := range items {
		if it.State != store.OutboxPending || it.Due.Sub(start) < notify.ConfigRetry {
			t.Errorf("%s: state %s due %s; want pending, retried after the config interval", it.Channel, it.State, it.Due)
		}
	}

	dead := 0
	for now := start; dead < 3 && now.Before(start.Add(6*time.Hour)); now = now.Add(notify.ConfigRetry) {
		rep, err := d.Deliver(ctx, now)
		if err != nil {
			t.Fatal(err)
		}
		if rep.Delivered != 0 {
			t.Fatalf("a misconfigured channel delivered: %+v", rep)
		}
		dead += rep.Dead
	}
	items, err = st.ListItems(ctx, start.Add(-time.Hour), start.Add(time.Hour))
	if err != nil {
		t.Fatal(err)
	}
	want := map[string]string{"graph": "Mail.Send", "pagerduty": "PAGERDUTY_ROUTING_KEY", "email": "SMTP_TLS=implicit"}
	if len(items) != 3 {
		t.Fatalf("%d outbox items, want 3", len(items))
	}
	for _, it := range items {
		if it.State != store.OutboxDead {
			t.Errorf("%s: state %s after DeadAfter, want dead", it.Channel, it.State)
		}
		if it.Attempts < 2 {
			t.Errorf("%s: %d attempts, want retries before dead-lettering", it.Channel, it.Attempts)
		}
		if !strings.Contains(it.LastError, want[it.Channel]) {
			t.Errorf("%s: last error %q does not name %s", it.Channel, it.LastError, want[it.Channel])
		}
		if strings.Contains(it.LastError, secretToken) || strings.Contains(it.LastError, key) {
			t.Errorf("%s: last error leaks a secret: %q", it.Channel, it.LastError)
		}
	}
}

func TestAzureCredentialNamesTheIdentity(t *testing.T) {
	t.Setenv("AZURE_CLIENT_ID", "")
	for id, want := range map[string]string{
		"":                                     "the app's managed identity (DefaultAzureCredential)",
		"11111111-2222-3333-4444-555555555555": "user-assigned managed identity 11111111-2222-3333-4444-555555555555",
	} {
		if _, how, err := pipeline.AzureCredential(id); err != nil || how != want {
			t.Errorf("client id %q: %q %v; want %q", id, how, err, want)
		}
	}
	t.Setenv("AZURE_CLIENT_ID", "99999999-0000-0000-0000-000000000000")
	if _, how, _ := pipeline.AzureCredential(""); how != "managed identity AZURE_CLIENT_ID=99999999-0000-0000-0000-000000000000 (DefaultAzureCredential)" {
		t.Errorf("with AZURE_CLIENT_ID: %q", how)
	}
}
