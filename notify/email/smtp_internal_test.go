package email

import (
	"os"
	"strings"
	"testing"

	"github.com/disconnect-doctor/disconnect-doctor/notify"
	"github.com/disconnect-doctor/disconnect-doctor/notify/email/smtptest"
)

func TestTLSModeByPort(t *testing.T) {
	cases := []struct {
		port     int
		set      string
		wantMode string
	}{
		{465, "", TLSImplicit},
		{587, "", TLSStartTLS},
		{0, "", TLSStartTLS}, // 587
		{25, "", TLSStartTLS},
		{465, TLSStartTLS, TLSStartTLS}, // SMTP_TLS overrides the port's default
		{2465, TLSImplicit, TLSImplicit},
		{1025, TLSNone, TLSNone},
	}
	for _, tc := range cases {
		n, err := New(Config{Host: "h", Port: tc.port, TLS: tc.set, From: "a@b.c", To: []string{"d@e.f"}})
		if err != nil {
			t.Fatal(err)
		}
		if n.cfg.TLS != tc.wantMode {
			t.Errorf("port %d, SMTP_TLS=%q: mode %q, want %q", tc.port, tc.set, n.cfg.TLS, tc.wantMode)
		}
	}
	if _, err := New(Config{Host: "h", TLS: "ssl", From: "a@b.c", To: []string{"d@e.f"}}); err == nil || !strings.Contains(err.Error(), "SMTP_TLS") {
		t.Errorf("unknown SMTP_TLS: err = %v", err)
	}
}

// TestSilentPort465 checks the wording for the common mistake: port 465
// with SMTP_TLS=starttls.
func TestSilentPort465(t *testing.T) {
	n, err := New(Config{Host: "smtp.example.com", Port: 465, TLS: TLSStartTLS, From: "a@b.c", To: []string{"d@e.f"}})
	if err != nil {
		t.Fatal(err)
	}
	retry, err := n.handshakeError(&boundedConn{}, os.ErrDeadlineExceeded)
	if !retry || !notify.IsConfig(err) || !strings.Contains(err.Error(), "port 465 expects implicit TLS: set SMTP_TLS=implicit") ||
		!strings.Contains(err.Error(), "SMTP_PORT=587") {
		t.Errorf("retry=%v err=%v", retry, err)
	}
}

// FuzzXOAuth2 checks that what the client sends is what the test server's
// parser reads back, for any user and token, and that the parser never
// accepts a response whose fields would be ambiguous.
func FuzzXOAuth2(f *testing.F) {
	f.Add("alerts@contoso.com", "eyJ0eXAiOiJKV1Qi.x.y")
	f.Add("a\x01b", "t")
	f.Add("", "")
	f.Fuzz(func(t *testing.T, user, token string) {
		_, ir, _ := (&xoauth2Client{user: user, token: token}).Start()
		u, tok, ok := smtptest.ParseXOAuth2(ir)
		valid := user != "" && token != "" && !strings.ContainsRune(user, 1) && !strings.ContainsRune(token, 1)
		if valid && (!ok || u != user || tok != token) {
			t.Fatalf("round trip of %q/%q gave %q/%q ok=%v", user, token, u, tok, ok)
		}
		if ok && (strings.ContainsRune(tok, 1) || u == "" || tok == "") {
			t.Fatalf("parser accepted %q as %q/%q", ir, u, tok)
		}
	})
}
