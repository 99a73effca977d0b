package graph_test

import (
	"encoding/json"
	"net/http"
	"testing"
	"time"

	"github.com/disconnect-doctor/disconnect-doctor/alert"
	"github.com/disconnect-doctor/disconnect-doctor/classify"
	"github.com/disconnect-doctor/disconnect-doctor/digest"
	"github.com/disconnect-doctor/disconnect-doctor/event"
	"github.com/disconnect-doctor/disconnect-doctor/notify/email"
)

// TestSendDigest: the digest goes out as one sendMail with e-mail's digest
// subject and HTML body.
func TestSendDigest(t *testing.T) {
	srv, got := fakeGraph(t, http.StatusAccepted, nil, "")
	to := time.Date(2024, 5, 14, 8, 0, 0, 0, time.UTC)
	d := digest.Summarise("contoso-hub", to, digest.Data{Diagnoses: []classify.Diagnosis{
		{Key: event.Key{Hub: "contoso-hub", Device: "pump-1"}, Time: to.Add(-time.Hour), Cause: classify.TokenExpiry}}})
	n := alert.DigestNotification(&d, "")
	if retry, err := newNotifier(t, srv, &fakeCredential{}).NotifyDigest(ctx(t), &n); err != nil {
		t.Fatalf("retry=%v err=%v", retry, err)
	}
	reqs := got()
	if len(reqs) != 1 || reqs[0].path != "/v1.0/users/alerts@contoso.com/sendMail" || reqs[0].auth != "Bearer "+token {
		t.Fatalf("requests %+v", reqs)
	}
	var body struct {
		Message struct {
			Subject string `json:"subject"`
			Body    struct{ ContentType, Content string }
			To      []struct {
				EmailAddress struct{ Address string } `json:"emailAddress"`
			} `json:"toRecipients"`
		} `json:"message"`
	}
	if err := json.Unmarshal(reqs[0].body, &body); err != nil {
		t.Fatal(err)
	}
	m := body.Message
	if m.Subject != "[DIGEST] contoso-hub 2024-05-14: 1 disconnect, 0 incidents" || m.Subject != email.DigestSubject(&n) {
		t.Errorf("subject %q", m.Subject)
	}
	if m.Body.ContentType != "HTML" || m.Body.Content != email.DigestHTML(&n) {
		t.Errorf("body %s %q", m.Body.ContentType, m.Body.Content)
	}
	if len(m.To) != 2 || m.To[0].EmailAddress.Address != "ops@example.com" {
		t.Errorf("recipients %+v", m.To)
	}
}
