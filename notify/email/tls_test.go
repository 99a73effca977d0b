package email_test

import (
	"context"
	"crypto/tls"
	"errors"
	"net"
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

// redirect dials addr whatever address it is asked for, so a test can use
// a real host name and port (smtp.example.com:465) against a local server.
type redirect string

func (r redirect) DialContext(ctx context.Context, network, _ string) (net.Conn, error) {
	var d net.Dialer
	return d.DialContext(ctx, network, string(r))
}

// TestPort465 is issue 10 item 7 as a user meets it: SMTP_PORT=465 and no
// SMTP_TLS. The mode follows the port (implicit TLS), so the mail goes out;
// before, the client waited for a plain-text greeting an SMTPS server never
// sends, until the attempt timed out, and retried for 24 h.
func TestPort465(t *testing.T) {
	srv := smtptest.Start(t, smtptest.Options{ImplicitTLS: true, Mechanisms: []string{"LOGIN"}, Username: "u", Password: password})
	n, err := email.New(email.Config{Host: "smtp.example.com", Port: 465, Username: "u", Password: password,
		From: "alerts@example.com", To: []string{"ops@example.com"}, Dialer: redirect(srv.Addr),
		TLSConfig: &tls.Config{RootCAs: srv.RootCAs, ServerName: "localhost"}})
	if err != nil {
		t.Fatal(err)
	}
	if retry, err := n.Notify(ctx(t), sample()); err != nil {
		t.Fatalf("retry=%v err=%v", retry, err)
	}
	if m := srv.Messages(); len(m) != 1 || !m[0].TLS || m[0].Mech != "LOGIN" {
		t.Fatalf("messages %+v", m)
	}
	// Forcing STARTTLS on 465 names both ways out.
	n, err = email.New(email.Config{Host: "smtp.example.com", Port: 465, TLS: email.TLSStartTLS, From: "alerts@example.com",
		To: []string{"ops@example.com"}, Dialer: redirect(srv.Addr), HandshakeTimeout: 300 * time.Millisecond})
	if err != nil {
		t.Fatal(err)
	}
	c := ctx(t)
	retry, err := n.Notify(c, sample())
	if err == nil || !retry || !notify.IsConfig(err) || c.Err() != nil ||
		!strings.Contains(err.Error(), "port 465 expects implicit TLS: set SMTP_TLS=implicit") || !strings.Contains(err.Error(), "SMTP_PORT=587") {
		t.Fatalf("retry=%v err=%v", retry, err)
	}
	t.Log(err)
}
