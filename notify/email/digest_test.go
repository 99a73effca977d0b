package email_test

import (
	"bytes"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/disconnect-doctor/disconnect-doctor/alert"
	"github.com/disconnect-doctor/disconnect-doctor/classify"
	"github.com/disconnect-doctor/disconnect-doctor/digest"
	"github.com/disconnect-doctor/disconnect-doctor/event"
	"github.com/disconnect-doctor/disconnect-doctor/notify/email/smtptest"
)

// sampleDigest is a small day of contoso-hub with something in every section.
func sampleDigest() *alert.Notification {
	to := time.Date(2024, 5, 14, 8, 0, 0, 0, time.UTC)
	k := func(dev string) event.Key { return event.Key{Hub: "contoso-hub", Device: dev} }
	at := to.Add(-3 * time.Hour)
	d := digest.Summarise("contoso-hub", to, digest.Data{
		Diagnoses: []classify.Diagnosis{
			{Key: k("pump-1"), Time: at, Cause: classify.TokenExpiry},
			{Key: k("pump-2"), Time: at, Cause: classify.DeviceOrNetwork},
			{Key: k("pump-2"), Time: at.Add(time.Minute), Cause: classify.DeviceOrNetwork},
			{Key: k("gw-7"), Time: at, Cause: classify.HubTransient},
		},
		Periods: []classify.PeriodView{
			{Key: k("pump-1"), SDK: ".NET", Period: time.Hour},
			{Key: k("pump-2"), SDK: ".NET", Period: time.Hour, Disconnects: 2, Off: 2, OffSession: 12 * time.Minute, OffPeriod: time.Hour},
			{Key: k("gw-7"), SDK: "C"},
		},
		Incidents:  []classify.Incident{{ID: "contoso-hub-20240514T0500Z", Hub: "contoso-hub", Start: at, End: at.Add(12 * time.Minute), Devices: 40}},
		Deliveries: []digest.Delivery{{Kind: "hub-incident", NotificationID: "n1", State: "delivered", At: at}},
		Silences: []digest.ActiveSilence{{Silence: digest.Silence{Matchers: "hub=contoso-hub device=pump-*", EndsAt: to.Add(2 * time.Hour),
			CreatedBy: "ops@example.com", Comment: "pump firmware update <v2>"}, StartsAt: at}},
	})
	n := alert.DigestNotification(&d, "https://dd.example.com")
	return &n
}

// TestDigestMessage sends the digest through the SMTP server and compares
// what it received with the golden message.
func TestDigestMessage(t *testing.T) {
	srv := smtptest.Start(t, smtptest.Options{Mechanisms: []string{"LOGIN"}, Username: "acs-resource|app|tenant", Password: password})
	n := sampleDigest()
	if retry, err := newNotifier(t, srv, "ops@example.com").NotifyDigest(ctx(t), n); err != nil || retry {
		t.Fatalf("NotifyDigest: retry %v, %v", retry, err)
	}
	msgs := srv.Messages()
	if len(msgs) != 1 {
		t.Fatalf("%d messages", len(msgs))
	}
	got := bytes.ReplaceAll(msgs[0].Data, []byte("\r\n"), []byte("\n"))
	path := filepath.Join("testdata", "digest.golden.eml")
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
	hdr, parts := parse(t, msgs[0].Data)
	if s := hdr.Get("Subject"); s != "[DIGEST] contoso-hub 2024-05-14: 4 disconnects, 1 incident" {
		t.Errorf("Subject %q", s)
	}
	if id := hdr.Get("Message-ID"); id != "<"+n.NotificationID+"@disconnect-doctor>" {
		t.Errorf("Message-ID %q", id)
	}
	for _, want := range []string{"Disconnects by cause (4)", "device-or-network: 2", ".NET: learned for 2 of 2 devices — 1h × 2",
		"pump-2: 2 of 2 sessions off its 1h token period (the last lasted 12m)", "pump-2: 2 device-or-network disconnects (2 in all)",
		"contoso-hub-20240514T0500Z: from 05-14 05:00, until 05-14 05:12, 40 devices", "hub-incident: 1 notification",
		"hub=contoso-hub device=pump-* until 05-14 10:00 by ops@example.com: pump firmware update <v2>"} {
		if !strings.Contains(parts["text/plain"], want) {
			t.Errorf("text lacks %q", want)
		}
	}
	if !strings.Contains(parts["text/html"], "pump firmware update &lt;v2&gt;") {
		t.Error("HTML does not escape the silence comment")
	}
}
