package email_test

import (
	"bytes"
	"context"
	"crypto/tls"
	"flag"
	"io"
	"mime"
	"mime/multipart"
	"net/mail"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/disconnect-doctor/disconnect-doctor/alert"
	"github.com/disconnect-doctor/disconnect-doctor/classify"
	"github.com/disconnect-doctor/disconnect-doctor/notify/email"
	"github.com/disconnect-doctor/disconnect-doctor/notify/email/smtptest"
)

var update = flag.Bool("update", false, "rewrite golden files")

const password = "s3cret-Pa55word"

func sample() *alert.Notification {
	return &alert.Notification{
		Version: "1", NotificationID: "0123456789abcdef0123456789abcdef", GroupKey: "device-offline/contoso-hub",
		Status: alert.StatusFiring, Kind: classify.DeviceOffline, Hub: "contoso-hub", Due: time.Date(2026, 3, 1, 10, 15, 0, 0, time.UTC),
		Link: "https://dd.example.com/api/v1/disconnects?hub=contoso-hub",
		Alerts: []alert.Alert{
			{Key: "device-offline/contoso-hub/pump-1", Kind: "device-offline", Status: "firing", Severity: "warning",
				Hub: "contoso-hub", DeviceID: "pump-1", StartsAt: "2026-03-01T10:00:00Z",
				Summary:        "pump-1 has been offline for 15 minutes after a 404104 disconnect",
				Evidence:       []string{"404104 at 10:00:00 over MQTT, no 401003 beside it", "no connect since"},
				Recommendation: "Check the device's power and network; if it runs, check its keep-alive and update its SDK.", Devices: 1},
			{Key: "device-offline/contoso-hub/pump-2", Kind: "device-offline", Status: "firing", Severity: "warning",
				Hub: "contoso-hub", DeviceID: "pump-2", StartsAt: "2026-03-01T10:02:00Z",
				Summary:        "pump-2 has been offline for 15 minutes after a 404104 disconnect",
				Evidence:       []string{"404104 at 10:02:00 over AMQP"},
				Recommendation: "Check the device's power and network; if it runs, check its keep-alive and update its SDK.", Devices: 1},
		},
	}
}

// ctx bounds a send so that a hung session fails the test quickly.
func ctx(t *testing.T) context.Context {
	c, cancel := context.WithTimeout(t.Context(), 10*time.Second)
	t.Cleanup(cancel)
	return c
}

func newNotifier(t *testing.T, srv *smtptest.Server, to ...string) *email.Notifier {
	t.Helper()
	if len(to) == 0 {
		to = []string{"ops@example.com", "oncall@example.com"}
	}
	n, err := email.New(email.Config{Host: srv.Host, Port: srv.Port, Username: "acs-resource|app|tenant",
		Password: password, From: "alerts@example.com", To: to,
		TLSConfig: &tls.Config{RootCAs: srv.RootCAs, ServerName: "localhost"},
		Now:       func() time.Time { return time.Date(2026, 3, 1, 10, 20, 0, 0, time.UTC) }})
	if err != nil {
		t.Fatal(err)
	}
	return n
}

// parse reads a received message into its headers and its text and HTML parts.
func parse(t *testing.T, data []byte) (mail.Header, map[string]string) {
	t.Helper()
	m, err := mail.ReadMessage(bytes.NewReader(data))
	if err != nil {
		t.Fatalf("read message: %v", err)
	}
	mt, params, err := mime.ParseMediaType(m.Header.Get("Content-Type"))
	if err != nil || mt != "multipart/alternative" {
		t.Fatalf("Content-Type = %q (%v), want multipart/alternative", m.Header.Get("Content-Type"), err)
	}
	parts := map[string]string{}
	mr := multipart.NewReader(m.Body, params["boundary"])
	for {
		p, err := mr.NextPart() // decodes quoted-printable
		if err == io.EOF {
			break
		}
		if err != nil {
			t.Fatalf("next part: %v", err)
		}
		b, _ := io.ReadAll(p)
		ct, _, _ := mime.ParseMediaType(p.Header.Get("Content-Type"))
		parts[ct] = string(b)
	}
	return m.Header, parts
}

func TestSendAuthMechanisms(t *testing.T) {
	cases := []struct {
		name  string
		mechs []string
		want  string
	}{
		{"ACS offers only LOGIN", []string{"LOGIN"}, "LOGIN"},
		{"only PLAIN", []string{"PLAIN"}, "PLAIN"},
		{"both, PLAIN preferred", []string{"LOGIN", "PLAIN"}, "PLAIN"},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			srv := smtptest.Start(t, smtptest.Options{Mechanisms: tc.mechs, Username: "acs-resource|app|tenant", Password: password})
			n := newNotifier(t, srv)
			retry, err := n.Notify(ctx(t), sample())
			if err != nil {
				t.Fatalf("Notify: retry=%v err=%v", retry, err)
			}
			msgs := srv.Messages()
			if len(msgs) != 1 {
				t.Fatalf("server got %d messages, want 1", len(msgs))
			}
			m := msgs[0]
			if !m.TLS || m.Mech != tc.want {
				t.Errorf("session TLS=%v mech=%q, want TLS and %q", m.TLS, m.Mech, tc.want)
			}
			if strings.Join(m.To, ",") != "ops@example.com,oncall@example.com" {
				t.Errorf("recipients %v", m.To)
			}
			h, parts := parse(t, m.Data)
			if got := h.Get("Message-Id"); got != "<0123456789abcdef0123456789abcdef@disconnect-doctor>" {
				t.Errorf("Message-ID = %q", got)
			}
			subj, err := new(mime.WordDecoder).DecodeHeader(h.Get("Subject"))
			if err != nil || !strings.HasPrefix(subj, "[FIRING] device-offline contoso-hub") {
				t.Errorf("Subject = %q (%v)", subj, err)
			}
			text, html := parts["text/plain"], parts["text/html"]
			for _, want := range []string{"404104", "2 devices", "pump-1", "pump-2", "Since: 10:00:00 UTC",
				"What to do:", "https://dd.example.com/api/v1/disconnects?hub=contoso-hub"} {
				if !strings.Contains(text, want) {
					t.Errorf("text part lacks %q:\n%s", want, text)
				}
			}
			if !strings.Contains(html, "<b>pump-1</b>") || !strings.Contains(html, "What to do:") {
				t.Errorf("html part incomplete:\n%s", html)
			}
		})
	}
}

func TestGoldenMessage(t *testing.T) {
	got := email.Message(sample(), "alerts@example.com", []string{"ops@example.com"}, time.Date(2026, 3, 1, 10, 20, 0, 0, time.UTC))
	path := filepath.Join("testdata", "message.golden.eml")
	if *update {
		if err := os.WriteFile(path, got, 0o644); err != nil {
			t.Fatal(err)
		}
	}
	want, err := os.ReadFile(path)
	if err != nil {
		t.Fatalf("%v (run with -update to create)", err)
	}
	if !bytes.Equal(got, want) {
		t.Errorf("message differs from %s:\n%s", path, got)
	}
}

// TestReminderAndModuleMessage: a reminder's subject carries the filterable
// [REMINDER n] tag and its text leads with the reminder line; times are UTC
// with the date when it is not the notification's; a module alert names its
// module.
func TestReminderAndModuleMessage(t *testing.T) {
	n := sample()
	n.Repeat = 2
	n.Due = time.Date(2026, 3, 2, 6, 0, 0, 0, time.UTC)
	n.Alerts[1].Module = "$edgeAgent"
	if got, want := email.Subject(n), "[FIRING][REMINDER 2] device-offline contoso-hub: 2 devices, devices offline after a disconnect"; got != want {
		t.Errorf("Subject = %q, want %q", got, want)
	}
	text := email.Text(n)
	lines := strings.Split(text, "\n")
	if lines[0] != "FIRING (REMINDER 2): devices offline after a disconnect on contoso-hub (2 devices)" {
		t.Errorf("first line %q", lines[0])
	}
	if lines[2] != "Reminder 2 — still offline since 2026-03-01 10:00:00 UTC" {
		t.Errorf("reminder line %q", lines[2])
	}
	for _, s := range []string{"Since: 2026-03-01 10:00:00 UTC", "* pump-2/$edgeAgent (firing)"} {
		if !strings.Contains(text, s) {
			t.Errorf("text lacks %q:\n%s", s, text)
		}
	}
	html := email.HTML(n)
	for _, s := range []string{"Reminder 2 — still offline since 2026-03-01 10:00:00 UTC", "<b>pump-2/$edgeAgent</b>", "FIRING (REMINDER 2)"} {
		if !strings.Contains(html, s) {
			t.Errorf("html lacks %q:\n%s", s, html)
		}
	}
	first := sample()
	first.Due = time.Date(2026, 3, 1, 10, 15, 0, 0, time.UTC)
	if got := email.Subject(first); !strings.HasPrefix(got, "[FIRING] device-offline") {
		t.Errorf("first firing subject %q", got)
	}
	if text := email.Text(first); !strings.Contains(text, "Since: 10:00:00 UTC\n") || strings.Contains(text, "Reminder") {
		t.Errorf("first firing text:\n%s", text)
	}
}
