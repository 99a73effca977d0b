package teams_test

import (
	"context"
	"fmt"
	"net/http"
	"strings"
	"testing"
	"time"

	"github.com/disconnect-doctor/disconnect-doctor/alert"
	"github.com/disconnect-doctor/disconnect-doctor/classify"
	"github.com/disconnect-doctor/disconnect-doctor/digest"
	"github.com/disconnect-doctor/disconnect-doctor/event"
	"github.com/disconnect-doctor/disconnect-doctor/notify/teams"
)

var digestTo = time.Date(2024, 5, 14, 8, 0, 0, 0, time.UTC)

// hubDay builds a digest of a hub of n devices whose ids are idLen
// characters long: each device disconnected three times (one of them
// device-or-network), learned a period and left it once; plus incidents,
// alerts and silences beyond what a card lists.
func hubDay(n, idLen int) *digest.Digest {
	b := digest.NewBuilder("contoso-hub", digestTo)
	for i := range n {
		id := fmt.Sprintf("%0*d", idLen, i)
		k := event.Key{Hub: "contoso-hub", Device: id}
		at := digestTo.Add(-time.Duration(i%1400+1) * time.Minute)
		for _, c := range []classify.Cause{classify.TokenExpiry, classify.DeviceOrNetwork, classify.DeviceOrNetwork} {
			b.Diagnosis(classify.Diagnosis{Key: k, Time: at, Cause: c})
		}
		sdk := []string{".NET", "Java", "C", "Node.js", "Python", ""}[i%6]
		b.Period(classify.PeriodView{Key: k, SDK: sdk, AMQP: i%7 == 0, Period: time.Duration(60+i%30) * time.Minute,
			Disconnects: 3, Off: 1 + i%3, OffSession: 17 * time.Minute, OffPeriod: time.Hour})
	}
	for i := range 30 {
		b.Incident(classify.Incident{ID: fmt.Sprintf("contoso-hub-2024051%dT%02d00Z", i%3, i%24), Hub: "contoso-hub",
			Start: digestTo.Add(-time.Duration(i+1) * 30 * time.Minute), End: digestTo.Add(-time.Duration(i) * 30 * time.Minute), Devices: 500})
		b.Silence(digest.Silence{Matchers: fmt.Sprintf("hub=contoso-hub device=%s-*", strings.Repeat("x", idLen)),
			EndsAt: digestTo.Add(time.Hour), CreatedBy: "ops@example.com", Comment: strings.Repeat("maintenance ", 20)}, digestTo.Add(-time.Hour))
	}
	for _, k := range []string{"device-offline", "device-flapping", "hub-incident", "token-renewal-failed", "notifications-failing"} {
		for i := range 50 {
			b.Alert(digest.Delivery{Kind: k, NotificationID: fmt.Sprint(k, i), State: "delivered", At: digestTo.Add(-time.Hour)})
		}
	}
	d := b.Digest()
	return &d
}

func TestDigestCard(t *testing.T) {
	w, nt := start(t, http.StatusAccepted)
	n := alert.DigestNotification(hubDay(40, 8), "https://dd.example.com")
	if retry, err := nt.NotifyDigest(context.Background(), &n); err != nil || retry {
		t.Fatalf("NotifyDigest: retry %v, %v", retry, err)
	}
	if len(w.errs) > 0 || len(w.cards) != 1 {
		t.Fatalf("the workflow saw %v, %d cards", w.errs, len(w.cards))
	}
	got := texts(w.cards[0])
	for _, want := range []string{
		"Daily digest for contoso-hub, 2024-05-14",
		"The 24 hours from 2024-05-13 08:00 to 2024-05-14 08:00 UTC.",
		"120 disconnects: 80 device-or-network, 40 token-expiry; 30 incidents; 250 alert notifications sent.",
		"Disconnects by cause (120)", "- device-or-network: 80",
		"Token periods per SDK family", "- .NET: learned for ", "- Python (AMQP): learned for 1 of 1 device", "- unknown: learned for 5 of 5 devices", "- unknown (AMQP): learned for 1 of 1 device",
		"Devices off their usual token period", "…and 30 more",
		"Most flapping devices", "2 device-or-network disconnects (3 in all)",
		"Incidents", "…and 20 more", "Alerts sent", "- device-offline: 50 notifications, 50 deliveries to channels",
		"Silences active", "by ops@example.com",
		"https://dd.example.com/api/v1/ui/hubs/contoso-hub",
	} {
		if !strings.Contains(got, want) {
			t.Errorf("card lacks %q:\n%s", want, got)
		}
	}
}

// TestDigestCardBounded: a 100 000-device hub's day, with device ids of
// the 128 characters IoT Hub allows, still fits the card limit, every
// section ending "…and N more".
func TestDigestCardBounded(t *testing.T) {
	d := hubDay(100_000, 128)
	n := alert.DigestNotification(d, "https://dd.example.com")
	w, nt := start(t, http.StatusAccepted)
	if _, err := nt.NotifyDigest(context.Background(), &n); err != nil {
		t.Fatal(err)
	}
	if len(w.sizes) != 1 || w.sizes[0] > teams.MaxCardBytes {
		t.Fatalf("posted %v bytes, limit %d", w.sizes, teams.MaxCardBytes)
	}
	got := texts(w.cards[0])
	for _, want := range []string{"300000 disconnects", "…and 99990 more", "…and 20 more"} {
		if !strings.Contains(got, want) {
			t.Errorf("card lacks %q", want)
		}
	}
	t.Logf("100 000-device digest card: %d bytes", w.sizes[0])
}

func TestDigestEnvelopeRefusesAnAlert(t *testing.T) {
	if _, err := teams.DigestEnvelope(notification(1, 1)); err == nil {
		t.Error("an alert rendered as a digest")
	}
}
