package email_test

import (
	"strings"
	"testing"

	"github.com/emersion/go-smtp"

	"github.com/disconnect-doctor/disconnect-doctor/notify/email"
	"github.com/disconnect-doctor/disconnect-doctor/notify/email/smtptest"
)

func TestFailures(t *testing.T) {
	reject := map[string]*smtp.SMTPError{
		"gone@example.com": {Code: 550, EnhancedCode: smtp.EnhancedCode{5, 1, 1}, Message: "no such user"},
		"full@example.com": {Code: 452, EnhancedCode: smtp.EnhancedCode{4, 2, 2}, Message: "mailbox full"},
	}
	cases := []struct {
		name      string
		opts      smtptest.Options
		to        []string
		wantRetry bool
		wantMsgs  int
		wantErr   string
	}{
		{"550 recipient is permanent", smtptest.Options{Mechanisms: []string{"LOGIN"}, Refuse: reject}, []string{"gone@example.com"}, false, 0, "550"},
		{"452 recipient retries", smtptest.Options{Mechanisms: []string{"LOGIN"}, Refuse: reject}, []string{"full@example.com"}, true, 0, "452"},
		{"one refused, rest delivered, no retry", smtptest.Options{Mechanisms: []string{"LOGIN"}, Refuse: reject}, []string{"ops@example.com", "gone@example.com"}, false, 1, "sent to 1 of 2"},
		{"wrong password is permanent", smtptest.Options{Mechanisms: []string{"PLAIN"}, Password: "other"}, nil, false, 0, "535"},
		{"no STARTTLS offered is permanent", smtptest.Options{Mechanisms: []string{"PLAIN"}, NoTLS: true}, nil, false, 0, "STARTTLS"},
		{"no common mechanism", smtptest.Options{Mechanisms: []string{"CRAM-MD5"}}, nil, false, 0, "supported: PLAIN, LOGIN"},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			tc.opts.Username = "acs-resource|app|tenant"
			if tc.opts.Password == "" {
				tc.opts.Password = password
			}
			srv := smtptest.Start(t, tc.opts)
			n := newNotifier(t, srv, tc.to...)
			retry, err := n.Notify(ctx(t), sample())
			if err == nil {
				t.Fatal("Notify succeeded, want an error")
			}
			if retry != tc.wantRetry || !strings.Contains(err.Error(), tc.wantErr) {
				t.Errorf("retry=%v err=%v; want retry=%v and %q", retry, err, tc.wantRetry, tc.wantErr)
			}
			if strings.Contains(err.Error(), password) {
				t.Errorf("error leaks the password: %v", err)
			}
			if got := len(srv.Messages()); got != tc.wantMsgs {
				t.Errorf("server accepted %d messages, want %d", got, tc.wantMsgs)
			}
		})
	}
}

func TestUntrustedCertificateIsPermanent(t *testing.T) {
	srv := smtptest.Start(t, smtptest.Options{Mechanisms: []string{"LOGIN"}, Username: "u", Password: password})
	n, err := email.New(email.Config{Host: srv.Host, Port: srv.Port, Username: "u", Password: password,
		From: "alerts@example.com", To: []string{"ops@example.com"}}) // system roots: self-signed is untrusted
	if err != nil {
		t.Fatal(err)
	}
	retry, err := n.Notify(ctx(t), sample())
	if err == nil || retry {
		t.Fatalf("retry=%v err=%v; want a permanent certificate error", retry, err)
	}
}

func TestNetworkFailureRetries(t *testing.T) {
	srv := smtptest.Start(t, smtptest.Options{NoTLS: true})
	n, err := email.New(email.Config{Host: srv.Host, Port: 1, TLS: email.TLSNone, From: "a@example.com", To: []string{"b@example.com"}})
	if err != nil {
		t.Fatal(err)
	}
	retry, err := n.Notify(ctx(t), sample())
	if err == nil || !retry {
		t.Fatalf("retry=%v err=%v; want a retryable dial error", retry, err)
	}
}

func TestLocalSinkWithoutTLS(t *testing.T) {
	srv := smtptest.Start(t, smtptest.Options{NoTLS: true})
	n, err := email.New(email.Config{Host: srv.Host, Port: srv.Port, TLS: email.TLSNone, From: "a@example.com", To: []string{"b@example.com"}})
	if err != nil {
		t.Fatal(err)
	}
	if _, err := n.Notify(ctx(t), sample()); err != nil {
		t.Fatal(err)
	}
	if msgs := srv.Messages(); len(msgs) != 1 || msgs[0].TLS {
		t.Fatalf("messages %+v, want one without TLS", msgs)
	}
}

func TestNewRejectsBadConfig(t *testing.T) {
	cases := []struct {
		name string
		cfg  email.Config
		want string
	}{
		{"no host", email.Config{From: "a@b.c", To: []string{"d@e.f"}}, "SMTP_HOST"},
		{"bad from", email.Config{Host: "h", From: "not an address", To: []string{"d@e.f"}}, "SMTP_FROM"},
		{"no recipients", email.Config{Host: "h", From: "a@b.c"}, "ALERT_EMAIL_TO"},
		{"bad recipient", email.Config{Host: "h", From: "a@b.c", To: []string{"x"}}, "ALERT_EMAIL_TO"},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			_, err := email.New(tc.cfg)
			if err == nil || !strings.Contains(err.Error(), tc.want) {
				t.Fatalf("err = %v, want one naming %s", err, tc.want)
			}
		})
	}
}
