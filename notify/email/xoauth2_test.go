package email_test

import (
	"context"
	"crypto/tls"
	"encoding/base64"
	"errors"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/Azure/azure-sdk-for-go/sdk/azcore"
	"github.com/Azure/azure-sdk-for-go/sdk/azcore/policy"

	"github.com/disconnect-doctor/disconnect-doctor/notify"
	"github.com/disconnect-doctor/disconnect-doctor/notify/email"
	"github.com/disconnect-doctor/disconnect-doctor/notify/email/smtptest"
)

// fakeCredential stands in for azidentity at the azcore.TokenCredential
// boundary: it hands out a fixed token (or error) and records the scopes
// it was asked for.
type fakeCredential struct {
	token string
	err   error

	mu     sync.Mutex
	scopes [][]string
}

func (f *fakeCredential) GetToken(_ context.Context, o policy.TokenRequestOptions) (azcore.AccessToken, error) {
	f.mu.Lock()
	defer f.mu.Unlock()
	f.scopes = append(f.scopes, o.Scopes)
	if f.err != nil {
		return azcore.AccessToken{}, f.err
	}
	return azcore.AccessToken{Token: f.token, ExpiresOn: time.Now().Add(time.Hour)}, nil
}

const mailbox = "alerts@contoso.com"

func xoauthNotifier(t *testing.T, srv *smtptest.Server, cred azcore.TokenCredential, username string) *email.Notifier {
	t.Helper()
	n, err := email.New(email.Config{Host: srv.Host, Port: srv.Port, Auth: email.AuthXOAuth2, Credential: cred,
		Identity: "the managed identity 11111111-2222-3333-4444-555555555555", Username: username,
		From: mailbox, To: []string{"ops@example.com"},
		TLSConfig: &tls.Config{RootCAs: srv.RootCAs, ServerName: "localhost"}})
	if err != nil {
		t.Fatal(err)
	}
	return n
}

// TestXOAuth2Exchange checks the exact AUTH line on the wire: the SASL
// XOAUTH2 initial response, base64 with padding, in one command, with the
// user SMTP_USERNAME or else SMTP_FROM, and the token asked for with
// Exchange Online's scope.
func TestXOAuth2Exchange(t *testing.T) {
	for _, tc := range []struct{ name, username, wantUser string }{
		{"user from SMTP_FROM", "", mailbox},
		{"user from SMTP_USERNAME", "shared-alerts@contoso.com", "shared-alerts@contoso.com"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			const token = "eyJ0eXAiOiJKV1QiLCJhbGciOiJSUzI1NiJ9.eyJyb2xlcyI6WyJTTVRQLlNlbmRBc0FwcCJdfQ.c2ln"
			srv := smtptest.Start(t, smtptest.Options{Mechanisms: []string{"LOGIN", "XOAUTH2"}, Username: tc.wantUser, Token: token})
			cred := &fakeCredential{token: token}
			if _, err := xoauthNotifier(t, srv, cred, tc.username).Notify(ctx(t), sample()); err != nil {
				t.Fatal(err)
			}
			msgs := srv.Messages()
			if len(msgs) != 1 || msgs[0].Mech != "XOAUTH2" || msgs[0].User != tc.wantUser || !msgs[0].TLS {
				t.Fatalf("messages %+v, want one over TLS authenticated by XOAUTH2 as %s", msgs, tc.wantUser)
			}
			want := "AUTH XOAUTH2 " + base64.StdEncoding.EncodeToString([]byte("user="+tc.wantUser+"\x01auth=Bearer "+token+"\x01\x01")) + "\r\n"
			if !strings.Contains(srv.Transcript(), want) {
				t.Errorf("transcript lacks %q:\n%s", want, srv.Transcript())
			}
			if len(cred.scopes) != 1 || len(cred.scopes[0]) != 1 || cred.scopes[0][0] != "https://outlook.office365.com/.default" {
				t.Errorf("token scopes %v", cred.scopes)
			}
		})
	}
}

// TestXOAuth2Refused: a 535 (with or without Gmail's 334 JSON challenge
// first) names the permission and the Exchange Online registration to fix,
// is retried slowly, and never shows the token.
func TestXOAuth2Refused(t *testing.T) {
	const token = "token-the-server-does-not-accept"
	for _, challenge := range []bool{false, true} {
		srv := smtptest.Start(t, smtptest.Options{Mechanisms: []string{"XOAUTH2"}, Username: mailbox, Token: "another", XOAuth2Challenge: challenge})
		retry, err := xoauthNotifier(t, srv, &fakeCredential{token: token}, "").Notify(ctx(t), sample())
		if err == nil {
			t.Fatal("Notify succeeded with a refused token")
		}
		t.Logf("challenge=%v: %v", challenge, err)
		for _, want := range []string{"535", "SMTP.SendAsApp", "New-ServicePrincipal", "Add-MailboxPermission", mailbox,
			"the managed identity 11111111-2222-3333-4444-555555555555"} {
			if !strings.Contains(err.Error(), want) {
				t.Errorf("challenge=%v: error lacks %q: %v", challenge, want, err)
			}
		}
		if challenge && !strings.Contains(err.Error(), `"status":"401"`) {
			t.Errorf("the server's challenge is not reported: %v", err)
		}
		if strings.Contains(err.Error(), token) {
			t.Errorf("error leaks the token: %v", err)
		}
		if !retry || !notify.IsConfig(err) {
			t.Errorf("retry=%v config=%v; want a slowly retried ConfigError", retry, notify.IsConfig(err))
		}
		if srv.AuthFailures() != 1 || len(srv.Messages()) != 0 {
			t.Errorf("auth failures %d, messages %d", srv.AuthFailures(), len(srv.Messages()))
		}
	}
}

func TestXOAuth2Failures(t *testing.T) {
	const token = "tok"
	cases := []struct {
		name       string
		mechs      []string
		cred       *fakeCredential
		wantRetry  bool
		wantConfig bool
		want       string
	}{
		{"server without XOAUTH2", []string{"PLAIN", "LOGIN"}, &fakeCredential{token: token}, true, true, "not XOAUTH2"},
		{"no token from the identity", []string{"XOAUTH2"}, &fakeCredential{err: errors.New("ManagedIdentityCredential: no managed identity endpoint")}, true, false, "from the managed identity 11111111"},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			srv := smtptest.Start(t, smtptest.Options{Mechanisms: tc.mechs, Username: mailbox, Token: token, Password: "x"})
			retry, err := xoauthNotifier(t, srv, tc.cred, "").Notify(ctx(t), sample())
			if err == nil || retry != tc.wantRetry || notify.IsConfig(err) != tc.wantConfig || !strings.Contains(err.Error(), tc.want) {
				t.Fatalf("retry=%v config=%v err=%v; want retry=%v config=%v and %q", retry, notify.IsConfig(err), err, tc.wantRetry, tc.wantConfig, tc.want)
			}
			if len(srv.Messages()) != 0 {
				t.Error("a message got through")
			}
		})
	}
	if _, err := email.New(email.Config{Host: "h", Auth: email.AuthXOAuth2, From: "a@b.c", To: []string{"d@e.f"}}); err == nil {
		t.Error("New accepted xoauth2 without a credential")
	}
	if _, err := email.New(email.Config{Host: "h", Auth: email.AuthXOAuth2, Credential: &fakeCredential{}, TLS: email.TLSNone,
		From: "a@b.c", To: []string{"d@e.f"}}); err == nil || !strings.Contains(err.Error(), "SMTP_TLS=none") {
		t.Errorf("New accepted xoauth2 in clear text: %v", err)
	}
}
