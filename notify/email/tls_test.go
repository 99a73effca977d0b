package email_test

import (
	"crypto/tls"
	"errors"
	"strings"
	"testing"
	"time"

	"github.com/disconnect-doctor/disconnect-doctor/alert"
	"github.com/disconnect-doctor/disconnect-doctor/notify"
	"github.com/disconnect-doctor/disconnect-doctor/notify/email"
	"github.com/disconnect-doctor/disconnect-doctor/notify/email/smtptest"
)

// TestTLSModes sends through a server in each TLS mode with the client in
// each mode. Matching modes deliver; a mismatch fails within the handshake
// timeout (far inside the attempt's 10 s context) with a ConfigError naming
// the setting, retried slowly rather than dead-lettered at once.
func TestTLSModes(t *testing.T) {
	cases := []struct {
		name    string
		server  smtptest.Options
		client  string
		wantFix string // "" = delivered
	}{
		{"implicit TLS server, SMTP_TLS=implicit", smtptest.Options{ImplicitTLS: true}, email.TLSImplicit, ""},
		{"STARTTLS server, SMTP_TLS=starttls", smtptest.Options{}, email.TLSStartTLS, ""},
		{"implicit TLS server, SMTP_TLS=starttls", smtptest.Options{ImplicitTLS: true}, email.TLSStartTLS, "SMTP_TLS=implicit"},
		{"implicit TLS server, SMTP_TLS=none", smtptest.Options{ImplicitTLS: true}, email.TLSNone, "SMTP_TLS=implicit"},
		{"STARTTLS server, SMTP_TLS=implicit", smtptest.Options{}, email.TLSImplicit, "SMTP_TLS=starttls"},
		{"plain server, SMTP_TLS=implicit", smtptest.Options{NoTLS: true}, email.TLSImplicit, "SMTP_TLS=starttls"},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			tc.server.Mechanisms, tc.server.Username, tc.server.Password = []string{"PLAIN"}, "u", password
			if tc.server.NoTLS {
				tc.server.Mechanisms = nil
			}
			srv := smtptest.Start(t, tc.server)
			n, err := email.New(email.Config{Host: srv.Host, Port: srv.Port, TLS: tc.client, Username: "u", Password: password,
				From: "alerts@example.com", To: []string{"ops@example.com"}, HandshakeTimeout: 300 * time.Millisecond,
				TLSConfig: &tls.Config{RootCAs: srv.RootCAs, ServerName: "localhost"}})
			if err != nil {
				t.Fatal(err)
			}
			c := ctx(t)
			retry, err := n.Notify(c, sample())
			if tc.wantFix == "" {
				if err != nil {
					t.Fatalf("Notify: retry=%v err=%v", retry, err)
				}
				if m := srv.Messages(); len(m) != 1 || !m[0].TLS || m[0].Mech != "PLAIN" {
					t.Fatalf("messages %+v, want one over TLS with PLAIN", m)
				}
				return
			}
			if err == nil {
				t.Fatal("Notify succeeded, want a TLS mode mismatch")
			}
			if c.Err() != nil {
				t.Fatalf("failed only when the attempt's context expired: %v", err)
			}
			if !retry || !notify.IsConfig(err) || !strings.Contains(err.Error(), tc.wantFix) {
				t.Errorf("retry=%v err=%v; want a retryable ConfigError saying %q", retry, err, tc.wantFix)
			}
			var ra alert.RetryAfterer
			if !errors.As(err, &ra) || ra.RetryAfter() != notify.ConfigRetry {
				t.Errorf("err %v does not ask for the config retry interval", err)
			}
			if len(srv.Messages()) != 0 {
				t.Error("a message got through")
			}
		})
	}
}
