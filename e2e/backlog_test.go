package e2e

import (
	"context"
	"encoding/json"
	"fmt"
	"net/http"
	"net/url"
	"path/filepath"
	"regexp"
	"sort"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/disconnect-doctor/disconnect-doctor/internal/azurite"
	"github.com/disconnect-doctor/disconnect-doctor/internal/funchost"
	"github.com/disconnect-doctor/disconnect-doctor/internal/funchost/emulator"
	"github.com/disconnect-doctor/disconnect-doctor/store"
)

// backlogStep is EVALUATE_STEP_EVENTS in the backlog test: small, so that
// a week of a small fleet takes many bounded steps.
const backlogStep = 100

var newEvents = regexp.MustCompile(`evaluate: read \d+ events \((\d+) new\)`)

// TestBacklogOnFirstDeployment: the app is deployed onto an Event Hub that
// already holds a week of resource logs. With the real handler on the wall
// clock (WATERMARK=wallclock) and Table storage, Evaluate works through
// the backlog in bounded steps, committing each; killed (kill -9) in the
// middle of it, the restarted worker resumes from the last commit instead
// of starting over. Only what fell due within STALE_AFTER is notified (a
// device that went offline 25 minutes ago); what fell due days ago (a
// device offline for three days) is not, and the API shows it all.
func TestBacklogOnFirstDeployment(t *testing.T) {
	ctx := context.Background()
	srv := azurite.Start(t, azurite.Options{})
	prefix := srv.Prefix()
	hook := startHTTPSink(t, filepath.Join(t.TempDir(), "webhook"))
	h := emulator.Start(t, emulator.Options{
		Env: funchost.WithLocalSettings(map[string]string{
			"STATE_STORAGE": srv.ConnString(), "STATE_TABLE_PREFIX": prefix,
			"ALERT_WEBHOOK_URL": hook.URL, "ALLOWED_LATENESS": "1m",
			"EVALUATE_STEP_EVENTS": strconv.Itoa(backlogStep),
		}),
		FunctionTimeout: 2 * time.Minute, MaxAttempts: 1, Instance: "first-deployment",
	})

	now := time.Now().UTC().Truncate(time.Second)
	week := now.Add(-7 * 24 * time.Hour)
	var recs []map[string]any
	disconnects := 0
	add := func(at time.Time, op, code, dev string) {
		recs = append(recs, connRecord(at, op, code, dev))
		if code == "404104" {
			disconnects++
		}
	}
	for d := range 20 { // steady devices: a 404104 and a reconnect every 6 hours
		dev := fmt.Sprintf("steady-%02d", d)
		add(week.Add(time.Duration(d)*time.Minute), "deviceConnect", "", dev)
		for at := week.Add(6*time.Hour + time.Duration(d)*time.Minute); at.Before(now.Add(-time.Hour)); at = at.Add(6 * time.Hour) {
			add(at, "deviceDisconnect", "404104", dev)
			add(at.Add(20*time.Second), "deviceConnect", "", dev)
		}
	}
	add(week.Add(time.Hour), "deviceConnect", "", "gone-3-days-ago")
	add(now.Add(-72*time.Hour), "deviceDisconnect", "404104", "gone-3-days-ago")
	add(week.Add(time.Hour), "deviceConnect", "", "gone-25-min-ago")
	add(now.Add(-25*time.Minute), "deviceDisconnect", "404104", "gone-25-min-ago")
	add(now.Add(-30*time.Second), "deviceConnect", "", "steady-00") // the partition is current
	sort.SliceStable(recs, func(i, j int) bool { return recs[i]["time"].(string) < recs[j]["time"].(string) })
	total := len(recs)

	// The Event Hub's backlog, delivered as the host reads a partition from
	// the start: batches of 8 bodies of 40 records.
	var batches []emulator.Batch
	var b emulator.Batch
	for len(recs) > 0 {
		k := min(40, len(recs))
		body, _ := json.Marshal(map[string]any{"records": recs[:k]})
		recs = recs[k:]
		b.Bodies = append(b.Bodies, body)
		if len(b.Bodies) == 8 || len(recs) == 0 {
			batches, b = append(batches, b), emulator.Batch{}
		}
	}
	for _, o := range h.DeliverPartition(ctx, "DiagnosticLogs", "0", batches) {
		if !o.Succeeded() {
			t.Fatalf("backlog batch: %v %s", o.Last().Err, o.Last().Body)
		}
	}

	// The first Evaluate: killed once it has committed a step.
	done := make(chan *funchost.Result, 1)
	go func() { done <- h.Invoke(ctx, h.Timer("Evaluate"), 0, nil) }()
	var atKill storedMeta
	for deadline := time.Now().Add(time.Minute); ; time.Sleep(50 * time.Millisecond) {
		if time.Now().After(deadline) {
			t.Fatal("no step committed within a minute")
		}
		if m, ok := tryMeta(ctx, srv, prefix); ok && !m.Cursor.IsZero() {
			atKill = m
			break
		}
	}
	h.Kill()
	if r := <-done; !r.Failed() {
		t.Fatalf("the first Evaluate finished before the kill (%v): the backlog is too small to test a resumed step", r.Logs)
	}

	// The restarted worker resumes from the last commit: fewer events are
	// new to it than the backlog holds. (It re-reads the appends of the last
	// two minutes, which may have been in flight; here that is all of them.)
	var firstNew int
	for i := 0; ; i++ {
		if i > 20 {
			t.Fatal("the backlog was not worked through in 20 invocations")
		}
		r := h.Invoke(ctx, h.Timer("Evaluate"), 0, nil)
		if r.Failed() {
			t.Fatalf("Evaluate after the restart: %v %s", r.Err, r.Body)
		}
		line := strings.Join(r.Logs, " ")
		if i == 0 {
			m := newEvents.FindStringSubmatch(line)
			if m == nil {
				t.Fatalf("no summary in %q", line)
			}
			firstNew, _ = strconv.Atoi(m[1])
			t.Logf("after the kill (cursor %v): %s", atKill.Cursor.Format(time.RFC3339Nano), line)
		}
		if !strings.Contains(line, "backlog still waiting") {
			break
		}
	}
	if firstNew >= total {
		t.Errorf("%d events were new to the restarted worker, the whole backlog (%d): it started over", firstNew, total)
	}
	if h.Restarts() != 1 {
		t.Errorf("%d restarts, want 1", h.Restarts())
	}

	// Notified: what fell due within STALE_AFTER, nothing older.
	var recent, old int
	for _, s := range hook.Received() {
		var n webhookBody
		if err := json.Unmarshal(s.Body, &n); err != nil {
			t.Fatalf("webhook body: %v", err)
		}
		for _, a := range n.Alerts {
			switch {
			case strings.Contains(a.Key, "gone-25-min-ago") && a.Kind == "device-offline" && n.Status == "firing":
				recent++
			case strings.Contains(a.Key, "gone-3-days-ago"), strings.Contains(a.Key, "steady-"):
				old++
			}
		}
	}
	if recent != 1 || old != 0 {
		t.Errorf("notified %d device-offline for the device gone 25 minutes ago (want 1) and %d about days-old events (want 0)", recent, old)
	}

	// The API shows the rest: every disconnect of the week is diagnosed.
	ds := listDisconnects(ctx, t, h, "routes-hub")
	if len(ds) != disconnects {
		t.Errorf("%d diagnoses in the API, want the backlog's %d disconnects", len(ds), disconnects)
	}
	var dev struct {
		Connected bool `json:"connected"`
	}
	if st := apiGet(ctx, t, h, "devices/gone-3-days-ago", url.Values{"hub": {"routes-hub"}}, &dev); st != http.StatusOK || dev.Connected {
		t.Errorf("devices/gone-3-days-ago = %d, connected %v", st, dev.Connected)
	}
}

// tryMeta reads the pipeline's meta row, if there is one yet.
func tryMeta(ctx context.Context, srv *azurite.Server, prefix string) (storedMeta, bool) {
	st, err := store.OpenTable(ctx, store.TableOptions{ConnectionString: srv.ConnString(), Prefix: prefix})
	if err != nil {
		return storedMeta{}, false
	}
	b, err := st.GetBlob(ctx, store.MetaBlobs, "evaluate")
	if err != nil {
		return storedMeta{}, false
	}
	var m storedMeta
	return m, json.Unmarshal(b.Data, &m) == nil
}
