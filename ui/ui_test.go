package ui

import (
	"context"
	"encoding/json"
	"net/url"
	"strings"
	"testing"
	"time"

	"github.com/disconnect-doctor/disconnect-doctor/alert"
	"github.com/disconnect-doctor/disconnect-doctor/classify"
	"github.com/disconnect-doctor/disconnect-doctor/event"
	"github.com/disconnect-doctor/disconnect-doctor/internal/funchost"
	"github.com/disconnect-doctor/disconnect-doctor/rollup"
	"github.com/disconnect-doctor/disconnect-doctor/store"
)

func TestNiceMax(t *testing.T) {
	for _, tt := range []struct{ in, want uint32 }{{0, 4}, {3, 4}, {5, 8}, {9, 20}, {21, 40}, {41, 80}, {81, 100}, {101, 200}, {201, 400}, {1790, 2000}} {
		if got := niceMax(tt.in); got != tt.want || got%4 != 0 {
			t.Errorf("niceMax(%d) = %d, want %d", tt.in, got, tt.want)
		}
	}
}

func TestTimeTicks(t *testing.T) {
	start := time.Date(2026, 12, 6, 10, 7, 0, 0, time.UTC)
	tests := []struct {
		span  time.Duration
		first string
	}{{24 * time.Hour, "12:00"}, {time.Hour, "10:10"}, {7 * 24 * time.Hour, "Dec 7"}}
	for _, tt := range tests {
		ts := timeTicks(start, start.Add(tt.span), 0, 100)
		if len(ts) < 3 || len(ts) > 8 {
			t.Errorf("span %s: %d ticks", tt.span, len(ts))
			continue
		}
		if ts[0].Label != tt.first {
			t.Errorf("span %s: first tick %q, want %q", tt.span, ts[0].Label, tt.first)
		}
		for i := 1; i < len(ts); i++ {
			if ts[i].Pos <= ts[i-1].Pos || ts[i].Pos > 100 {
				t.Errorf("span %s: ticks out of order or outside the axis: %v", tt.span, ts)
			}
		}
	}
}

// TestPages renders each page from a small store: the counts the rollup
// holds are what the overview shows, links carry the key, bad input gets
// its status.
func TestPages(t *testing.T) {
	ctx := funchost.WithKey(context.Background(), "k&y")
	st := store.NewMemory()
	now := time.Date(2026, 12, 6, 10, 0, 0, 0, time.UTC)
	k := event.Key{Hub: "hub-1", Device: "dev'1"}
	var ds []classify.Diagnosis
	for i := range 7 {
		ds = append(ds, classify.Diagnosis{Key: k, Time: now.Add(-time.Duration(i+1) * time.Hour), EventID: event.ID{byte(i + 1)},
			Cause: classify.TokenExpiry, Final: true, Confidence: 0.99, Evidence: []string{"401003 beside it"}, Recommendation: "nothing"})
	}
	if err := rollup.New(st, 7*24*time.Hour).Save(ctx, ds, now, nil); err != nil {
		t.Fatal(err)
	}
	if err := st.PutDiagnoses(ctx, ds); err != nil {
		t.Fatal(err)
	}
	if _, err := st.PutBlobs(ctx, store.HubBlobs, []store.Blob{{Key: "hub-1", Data: []byte("x")}}); err != nil {
		t.Fatal(err)
	}
	lag, _ := json.Marshal(alert.Record{Key: "pipeline-lagging", Kind: classify.PipelineLagging, Firing: true, Since: now.Add(-time.Hour), Summary: "the watermark is 40m behind"})
	siteRec, _ := json.Marshal(alert.Record{Key: "site-outage/hub-1/203.0.113", Kind: classify.SiteOutage, Hub: "hub-1", Device: "203.0.113",
		Site: "203.0.113", Firing: true, Since: now.Add(-time.Hour), Summary: "12 devices behind 203.0.113.x lost their connection at 09:00 UTC; 9 still away"})
	heldRec, _ := json.Marshal(alert.Record{Key: "device-offline/hub-1/plc-1", Kind: classify.DeviceOffline, Hub: "hub-1", Device: "plc-1",
		Site: "203.0.113", Held: true, Firing: true, Since: now.Add(-time.Hour), Summary: "plc-1 has been offline"})
	if _, err := st.PutBlobs(ctx, store.AlertBlobs, []store.Blob{{Key: "pipeline-lagging", Data: lag},
		{Key: "site-outage/hub-1/203.0.113", Data: siteRec}, {Key: "device-offline/hub-1/plc-1", Data: heldRec}}); err != nil {
		t.Fatal(err)
	}
	p := New(st, func() time.Time { return now }, nil)
	tests := []struct {
		name   string
		path   string
		q      url.Values
		status int
		want   []string
	}{
		{"overview", "ui", nil, 200, []string{`data-cause="token-expiry" d="M`, "token expiry <span class=\"muted\">7</span>", "code=k%26y", "pipeline-lagging", "the watermark is 40m behind"}},
		{"hub", "ui/hubs/HUB-1", nil, 200, []string{`<h1>Hub hub-1</h1>`, "Site outages", "203.0.113.x", "9 still away",
			"held back by the open site outage behind 203.0.113.x"}},
		{"unknown hub", "ui/hubs/nope", nil, 404, []string{"Unknown hub"}},
		{"device without blob", "ui/devices", url.Values{"hub": {"hub-1"}, "id": {"dev'1"}}, 404, []string{"dev&#39;1"}},
		{"device without hub", "ui/devices", url.Values{"id": {"x"}}, 400, []string{"needs the hub"}},
		{"incident by time, none", "ui/incidents", url.Values{"hub": {"hub-1"}, "at": {"2026-12-06T09:00:00Z"}}, 404, []string{"no incident"}},
		{"incident by bad time", "ui/incidents", url.Values{"hub": {"hub-1"}, "at": {"yesterday"}}, 400, nil},
		{"search without id", "ui/search", nil, 400, nil},
		{"unknown page", "ui/nope", nil, 404, []string{"No such page"}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			status, page := p.Serve(ctx, tt.path, tt.q)
			if status != tt.status {
				t.Fatalf("status %d, want %d: %s", status, tt.status, page.Body)
			}
			hdr, body := page.RawBody()
			if hdr["Content-Type"] != "text/html; charset=utf-8" {
				t.Errorf("Content-Type %q", hdr["Content-Type"])
			}
			for _, w := range tt.want {
				if !strings.Contains(string(body), w) {
					t.Errorf("page lacks %q", w)
				}
			}
		})
	}
}
