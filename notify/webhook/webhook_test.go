package webhook_test

import (
	"context"
	"encoding/json"
	"io"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"
	"time"

	"github.com/disconnect-doctor/disconnect-doctor/alert"
	"github.com/disconnect-doctor/disconnect-doctor/classify"
	"github.com/disconnect-doctor/disconnect-doctor/event"
	"github.com/disconnect-doctor/disconnect-doctor/notify"
	"github.com/disconnect-doctor/disconnect-doctor/notify/webhook"
)

func TestNotify(t *testing.T) {
	t0 := time.Date(2026, 3, 1, 10, 0, 0, 0, time.UTC)
	m := alert.New(alert.Config{PublicBaseURL: "https://dd.example.com"})
	ns := m.Apply(alert.NewState(), []classify.Signal{{Kind: classify.HubIncident, Key: event.Key{Hub: "contoso-hub"}, Firing: true,
		Since: t0, At: t0, Incident: "I1", Summary: "120 devices disconnected", Evidence: []string{"37 500001 errors"},
		Recommendation: "Nothing to do on the devices; check Azure Resource Health.", Devices: 120}}, t0)
	cases := []struct {
		name      string
		status    int
		wantRetry bool
		wantErr   bool
	}{
		{"ok", http.StatusOK, false, false},
		{"no content", http.StatusNoContent, false, false},
		{"bad request is permanent", http.StatusBadRequest, false, true},
		{"throttled retries", http.StatusTooManyRequests, true, true},
		{"server error retries", http.StatusBadGateway, true, true},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			var body []byte
			var hdr http.Header
			srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
				body, _ = io.ReadAll(r.Body)
				hdr = r.Header.Clone()
				w.WriteHeader(tc.status)
			}))
			t.Cleanup(srv.Close)
			n := webhook.New(webhook.Config{URL: notify.Secret(srv.URL + "/hook?token=WEBHOOKSECRET")})
			retry, err := n.Notify(context.Background(), &ns[0])
			if retry != tc.wantRetry || (err != nil) != tc.wantErr {
				t.Fatalf("retry=%v err=%v", retry, err)
			}
			if err != nil && strings.Contains(err.Error(), "WEBHOOKSECRET") {
				t.Errorf("error leaks the URL: %v", err)
			}
			if hdr.Get("Idempotency-Key") != ns[0].NotificationID || hdr.Get("Content-Type") != "application/json" {
				t.Errorf("headers %v", hdr)
			}
			want, _ := json.Marshal(ns[0])
			if string(body) != string(want) {
				t.Errorf("body\n%s\nwant\n%s", body, want)
			}
			if strings.Contains(string(body), "dd.example.com") {
				t.Errorf("non-wire field in the body: %s", body)
			}
		})
	}
}
