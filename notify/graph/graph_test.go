package graph_test

import (
	"context"
	"encoding/json"
	"errors"
	"io"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/Azure/azure-sdk-for-go/sdk/azcore"
	"github.com/Azure/azure-sdk-for-go/sdk/azcore/policy"

	"github.com/disconnect-doctor/disconnect-doctor/alert"
	"github.com/disconnect-doctor/disconnect-doctor/classify"
	"github.com/disconnect-doctor/disconnect-doctor/notify"
	"github.com/disconnect-doctor/disconnect-doctor/notify/email"
	"github.com/disconnect-doctor/disconnect-doctor/notify/graph"
)

const (
	token    = "eyJ0eXAiOiJKV1QifQ.eyJyb2xlcyI6WyJNYWlsLlNlbmQiXX0.c2lnbmF0dXJl"
	sender   = "alerts@contoso.com"
	identity = "user-assigned managed identity 11111111-2222-3333-4444-555555555555"
)

// fakeCredential stands in for azidentity at the TokenCredential boundary.
type fakeCredential struct {
	err    error
	mu     sync.Mutex
	scopes []string
}

func (f *fakeCredential) GetToken(_ context.Context, o policy.TokenRequestOptions) (azcore.AccessToken, error) {
	f.mu.Lock()
	defer f.mu.Unlock()
	f.scopes = append(f.scopes, o.Scopes...)
	if f.err != nil {
		return azcore.AccessToken{}, f.err
	}
	return azcore.AccessToken{Token: token, ExpiresOn: time.Now().Add(time.Hour)}, nil
}

func sample() *alert.Notification {
	return &alert.Notification{
		Version: "1", NotificationID: "0123456789abcdef0123456789abcdef", GroupKey: "device-offline/contoso-hub",
		Status: alert.StatusFiring, Kind: classify.DeviceOffline, Hub: "contoso-hub",
		Alerts: []alert.Alert{{Key: "device-offline/contoso-hub/pump-1", Kind: "device-offline", Status: "firing",
			Severity: "warning", Hub: "contoso-hub", DeviceID: "pump-1", StartsAt: "2026-03-01T10:00:00Z",
			Summary: "pump-1 has been offline for 15 minutes", Evidence: []string{"404104 at 10:00:00 over MQTT"}, Devices: 1}},
	}
}

// received is one request the fake Graph saw.
type received struct {
	method, path, auth, ctype string
	body                      []byte
}

// fakeGraph answers every request with status and body, recording it.
func fakeGraph(t *testing.T, status int, header http.Header, body string) (*httptest.Server, func() []received) {
	var mu sync.Mutex
	var got []received
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		b, _ := io.ReadAll(r.Body)
		mu.Lock()
		got = append(got, received{r.Method, r.URL.EscapedPath(), r.Header.Get("Authorization"), r.Header.Get("Content-Type"), b})
		mu.Unlock()
		for k, v := range header {
			w.Header()[k] = v
		}
		w.WriteHeader(status)
		io.WriteString(w, body)
	}))
	t.Cleanup(srv.Close)
	return srv, func() []received { mu.Lock(); defer mu.Unlock(); return append([]received(nil), got...) }
}

func newNotifier(t *testing.T, srv *httptest.Server, cred azcore.TokenCredential) *graph.Notifier {
	t.Helper()
	g, err := graph.New(graph.Config{Sender: sender, To: []string{"ops@example.com", "oncall@example.com"},
		Credential: cred, Identity: identity, BaseURL: srv.URL, Client: srv.Client()})
	if err != nil {
		t.Fatal(err)
	}
	return g
}

func ctx(t *testing.T) context.Context {
	c, cancel := context.WithTimeout(t.Context(), 10*time.Second)
	t.Cleanup(cancel)
	return c
}

func TestSendMail(t *testing.T) {
	srv, got := fakeGraph(t, http.StatusAccepted, nil, "")
	cred := &fakeCredential{}
	n := sample()
	if retry, err := newNotifier(t, srv, cred).Notify(ctx(t), n); err != nil {
		t.Fatalf("retry=%v err=%v", retry, err)
	}
	reqs := got()
	if len(reqs) != 1 {
		t.Fatalf("%d requests, want 1", len(reqs))
	}
	r := reqs[0]
	if r.method != http.MethodPost || r.path != "/v1.0/users/alerts@contoso.com/sendMail" {
		t.Errorf("%s %s", r.method, r.path)
	}
	if r.auth != "Bearer "+token || r.ctype != "application/json" {
		t.Errorf("Authorization %q, Content-Type %q", r.auth, r.ctype)
	}
	if len(cred.scopes) != 1 || cred.scopes[0] != "https://graph.microsoft.com/.default" {
		t.Errorf("scopes %v", cred.scopes)
	}
	// The body's shape, read generically so a renamed Go field cannot hide
	// a wrong JSON name.
	var body map[string]any
	if err := json.Unmarshal(r.body, &body); err != nil {
		t.Fatal(err)
	}
	if save, ok := body["saveToSentItems"].(bool); !ok || save {
		t.Errorf("saveToSentItems = %v", body["saveToSentItems"])
	}
	msg, _ := body["message"].(map[string]any)
	if msg["subject"] != email.Subject(n) {
		t.Errorf("subject %q, want %q", msg["subject"], email.Subject(n))
	}
	b, _ := msg["body"].(map[string]any)
	if b["contentType"] != "HTML" || b["content"] != email.HTML(n) {
		t.Errorf("body %v", b)
	}
	to, _ := msg["toRecipients"].([]any)
	var addrs []string
	for _, x := range to {
		addrs = append(addrs, x.(map[string]any)["emailAddress"].(map[string]any)["address"].(string))
	}
	if strings.Join(addrs, ",") != "ops@example.com,oncall@example.com" {
		t.Errorf("toRecipients %v", to)
	}
}

func TestSenderIsPathEscaped(t *testing.T) {
	srv, got := fakeGraph(t, http.StatusAccepted, nil, "")
	g, err := graph.New(graph.Config{Sender: "o'brien@contoso.com", To: []string{"a@b.c"}, Credential: &fakeCredential{},
		BaseURL: srv.URL + "/", Client: srv.Client()})
	if err != nil {
		t.Fatal(err)
	}
	if _, err := g.Notify(ctx(t), sample()); err != nil {
		t.Fatal(err)
	}
	if p := got()[0].path; p != "/v1.0/users/o%27brien@contoso.com/sendMail" {
		t.Errorf("path %q", p)
	}
}

func TestFailures(t *testing.T) {
	cases := []struct {
		name       string
		status     int
		header     http.Header
		body       string
		wantRetry  bool
		wantConfig bool
		want       []string
	}{
		{"no Mail.Send", 403, nil, `{"error":{"code":"ErrorAccessDenied","message":"Access is denied. Check credentials and try again."}}`,
			true, true, []string{"Mail.Send", identity, "az rest", "appRoleAssignments", "application access policy"}},
		{"sender is not a mailbox", 404, nil, `{"error":{"code":"ErrorInvalidUser","message":"The requested user 'alerts@contoso.com' is invalid."}}`,
			true, true, []string{"GRAPH_SENDER", sender, "is not a mailbox"}},
		{"throttled", 429, http.Header{"Retry-After": {"120"}}, `{"error":{"code":"ApplicationThrottled"}}`, true, false, []string{"429"}},
		{"service unavailable", 503, nil, "", true, false, []string{"503"}},
		{"bad request", 400, nil, `{"error":{"code":"ErrorInvalidRecipients"}}`, false, false, []string{"400", "ErrorInvalidRecipients"}},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			srv, _ := fakeGraph(t, tc.status, tc.header, tc.body)
			retry, err := newNotifier(t, srv, &fakeCredential{}).Notify(ctx(t), sample())
			if err == nil {
				t.Fatal("Notify succeeded")
			}
			if retry != tc.wantRetry || notify.IsConfig(err) != tc.wantConfig {
				t.Errorf("retry=%v config=%v; want %v %v: %v", retry, notify.IsConfig(err), tc.wantRetry, tc.wantConfig, err)
			}
			for _, w := range tc.want {
				if !strings.Contains(err.Error(), w) {
					t.Errorf("error lacks %q: %v", w, err)
				}
			}
			if strings.Contains(err.Error(), token) {
				t.Errorf("error leaks the token: %v", err)
			}
			var ra alert.RetryAfterer
			if tc.status == 429 && (!errors.As(err, &ra) || ra.RetryAfter() != 2*time.Minute) {
				t.Errorf("Retry-After not honoured: %v", err)
			}
		})
	}
}

func TestTokenFailureRetries(t *testing.T) {
	srv, got := fakeGraph(t, http.StatusAccepted, nil, "")
	retry, err := newNotifier(t, srv, &fakeCredential{err: errors.New("ManagedIdentityCredential: no response from IMDS")}).Notify(ctx(t), sample())
	if err == nil || !retry || !strings.Contains(err.Error(), identity) {
		t.Fatalf("retry=%v err=%v", retry, err)
	}
	if len(got()) != 0 {
		t.Error("posted without a token")
	}
}

func TestNewRejectsBadConfig(t *testing.T) {
	cred := &fakeCredential{}
	for _, tc := range []struct {
		cfg  graph.Config
		want string
	}{
		{graph.Config{To: []string{"a@b.c"}, Credential: cred}, "GRAPH_SENDER"},
		{graph.Config{Sender: sender, Credential: cred}, "ALERT_EMAIL_TO"},
		{graph.Config{Sender: sender, To: []string{"nope"}, Credential: cred}, "ALERT_EMAIL_TO"},
		{graph.Config{Sender: sender, To: []string{"a@b.c"}}, "credential"},
	} {
		if _, err := graph.New(tc.cfg); err == nil || !strings.Contains(err.Error(), tc.want) {
			t.Errorf("%+v: err = %v, want one naming %s", tc.cfg, err, tc.want)
		}
	}
}
