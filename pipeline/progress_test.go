package pipeline

import (
	"context"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"net/http/httptest"
	"os"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/rs/zerolog"

	"github.com/disconnect-doctor/disconnect-doctor/alert"
	"github.com/disconnect-doctor/disconnect-doctor/classify"
	"github.com/disconnect-doctor/disconnect-doctor/ingest"
	"github.com/disconnect-doctor/disconnect-doctor/notify"
	"github.com/disconnect-doctor/disconnect-doctor/notify/webhook"
	"github.com/disconnect-doctor/disconnect-doctor/store"
)

const testHubID = "/SUBSCRIPTIONS/9F3C2B1A-4D5E-4F60-8A7B-1C2D3E4F5A6B/RESOURCEGROUPS/RG-IOT-PROD/PROVIDERS/MICROSOFT.DEVICES/IOTHUBS/CONTOSO-PROD-HUB"

// logRecord renders a resource-log record (reference/iothub-telemetry.md
// §1.4): category and operation, a result code or "" for a success.
func logRecord(at time.Time, category, op, code, device string) map[string]any {
	props, _ := json.Marshal(map[string]any{"deviceId": device, "protocol": "Mqtt", "authType": nil, "maskedIpAddress": "81.204.17.XXX"})
	r := map[string]any{"time": at.UTC().Format(time.RFC3339), "resourceId": testHubID, "operationName": op,
		"category": category, "level": "Information", "properties": string(props), "location": "westeurope"}
	if code != "" {
		r["level"], r["resultType"], r["resultDescription"] = "Error", code, "DeviceConnectionClosedRemotely"
	}
	return r
}

// ingestLogs parses records as one Event Hubs body and ingests it under writer.
func ingestLogs(t *testing.T, p *Pipeline, writer string, recs ...map[string]any) *ingest.Result {
	t.Helper()
	body, _ := json.Marshal(map[string]any{"records": recs})
	var res ingest.Result
	ingest.ResourceLogs(body, &res)
	if err := p.Ingest(context.Background(), writer, &res); err != nil {
		t.Fatal(err)
	}
	return &res
}

func tick(t *testing.T, p *Pipeline) Report {
	t.Helper()
	r, err := p.Tick(context.Background())
	if err != nil {
		t.Fatal(err)
	}
	return r
}

// hookSink is a local webhook receiver keeping the bodies it got.
type hookSink struct {
	mu     sync.Mutex
	bodies []string
}

func (h *hookSink) start(t *testing.T) *webhook.Notifier {
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		b, _ := io.ReadAll(r.Body)
		h.mu.Lock()
		h.bodies = append(h.bodies, string(b))
		h.mu.Unlock()
	}))
	t.Cleanup(srv.Close)
	return webhook.New(webhook.Config{URL: notify.Secret(srv.URL)})
}

// got reports whether a firing notification of kind about device arrived.
func (h *hookSink) got(kind classify.SignalKind, device string) bool {
	h.mu.Lock()
	defer h.mu.Unlock()
	for _, b := range h.bodies {
		if strings.Contains(b, `"kind":"`+string(kind)+`"`) && strings.Contains(b, device) && strings.Contains(b, `"status":"firing"`) {
			return true
		}
	}
	return false
}

// TestTwinOnlyPartitionMovesTheWatermark: partition 1 carries nothing but
// successful twin reads (ignored, not evidence); the 404104 on partition 0
// of a device that never comes back is still decided and its device-offline
// alert sent. Before, such a partition held the watermark at its last
// kept record (it had none) and the alert never came.
func TestTwinOnlyPartitionMovesTheWatermark(t *testing.T) {
	st := store.NewMemory()
	c := &clock{t: time.Date(2026, 11, 29, 10, 0, 0, 0, time.UTC)}
	var hook hookSink
	p, err := New(Options{Config: testConfig(t), Store: st, Now: c.Now, Instance: "x", Log: zerolog.Nop(), ReadSafety: -1,
		Channels: map[string]alert.Notifier{"webhook": hook.start(t)}})
	if err != nil {
		t.Fatal(err)
	}
	start := c.t
	ingestLogs(t, p, "logs/0", logRecord(start.Add(-40*time.Minute), "Connections", "deviceConnect", "", "pump-1"),
		logRecord(start.Add(-3*time.Minute), "Connections", "deviceDisconnect", "404104", "pump-1"))
	ingestLogs(t, p, "logs/1", logRecord(start.Add(-2*time.Minute), "D2CTwinOperations", "read", "", "pump-2"))
	tick(t, p)
	var decided bool
	for m := 1; m <= 40; m++ {
		c.t = start.Add(time.Duration(m) * time.Minute)
		// Partition 1 keeps delivering twin reads, two minutes late; partition
		// 0 delivers nothing more (idle: it stops holding the watermark).
		res := ingestLogs(t, p, "logs/1", logRecord(c.t.Add(-2*time.Minute), "D2CTwinOperations", "read", "", "pump-2"))
		if len(res.Events) != 0 || res.Ignored != 1 {
			t.Fatalf("a successful twin read was kept: %s", res.Summary())
		}
		r := tick(t, p)
		decided = decided || r.Diagnoses > 0
	}
	if !decided {
		t.Fatal("the 404104 on partition 0 was never decided")
	}
	if !hook.got(classify.DeviceOffline, "pump-1") {
		t.Fatalf("no device-offline notification for pump-1 reached the webhook (%d bodies)", len(hook.bodies))
	}
	wm, _ := p.watermarkAt(c.t)
	if lag := c.t.Sub(wm); lag > 10*time.Minute {
		t.Errorf("watermark %v is %v behind the wall clock", wm, lag)
	}
}

// TestMetricBacklogDoesNotHoldTheWatermark: a metric alert's Resolved read
// from a backlog, hours old, is a pushed input: it never holds the
// watermark, which keeps following the Event Hubs partitions.
func TestMetricBacklogDoesNotHoldTheWatermark(t *testing.T) {
	st := store.NewMemory()
	c := &clock{t: time.Date(2026, 11, 29, 10, 0, 0, 0, time.UTC)}
	p := newPipeline(t, st, c, "x")
	body, err := os.ReadFile("../ingest/testdata/golden/metric_resolved.json")
	if err != nil {
		t.Fatal(err)
	}
	old := c.t.Add(-3 * time.Hour).Format(time.RFC3339)
	b := strings.NewReplacer("2024-05-14T13:24:03.5120833Z", old, "2024-05-14T13:41:07.0210417Z", old).Replace(string(body))
	var res ingest.Result
	ingest.MetricAlert([]byte(b), &res)
	if len(res.Events) != 1 {
		t.Fatalf("metric alert: %s", res.Summary())
	}
	if err := p.Ingest(context.Background(), "metric", &res); err != nil {
		t.Fatal(err)
	}
	ingestLogs(t, p, "logs/0", logRecord(c.t.Add(-time.Minute), "Connections", "deviceConnect", "", "pump-1"))
	r := tick(t, p)
	want := c.t.Add(-time.Minute - p.cfg.Engine.AllowedLateness)
	if !r.Watermark.Equal(want) {
		t.Errorf("watermark %v, want %v (the Event Hubs partition's, not the metric alert's %s)", r.Watermark, want, old)
	}
	if q := p.res.progress["metric"]; q.Read != 1 || q.Kept != 1 {
		t.Errorf("metric progress %+v not counted", q)
	}
}

// TestPushedWritersDoNotHoldTheWatermark: only Event Hubs partitions of
// resource logs or routed messages hold the wallclock watermark; Event Grid
// — delivered to ConnectionEvents or through an Event Hub to
// ConnectionStateRoute ("eventgrid/<event hub>/<partition>") — and metric
// alerts are pushed inputs and never do.
func TestPushedWritersDoNotHoldTheWatermark(t *testing.T) {
	for _, tt := range []struct {
		writer string
		holds  bool
	}{
		{"insights-logs-connections/0", true},
		{"connection-state/3", true},
		{"connectionstateroute", true},
		{"eventgrid", false},
		{"eventgrid/connection-state/3", false},
		{"metric", false},
	} {
		if got := holdsWatermark(tt.writer); got != tt.holds {
			t.Errorf("holdsWatermark(%q) = %v, want %v", tt.writer, got, tt.holds)
		}
	}
}

// TestEventGridThroughEventHubDoesNotHoldTheWatermark: Event Grid events
// read from an Event Hub by ConnectionStateRoute, hours old (Event Grid
// retries a failed delivery for up to a day), are stored under
// eventgrid/<event hub>/<partition> and never hold the watermark, which
// keeps following the resource-log partitions; they are counted.
func TestEventGridThroughEventHubDoesNotHoldTheWatermark(t *testing.T) {
	st := store.NewMemory()
	c := &clock{t: time.Date(2026, 11, 29, 10, 0, 0, 0, time.UTC)}
	p := newPipeline(t, st, c, "x")
	old := c.t.Add(-3 * time.Hour).Format(time.RFC3339Nano)
	ev := `[{"id":"e1","topic":"/SUBSCRIPTIONS/S/RESOURCEGROUPS/RG/PROVIDERS/MICROSOFT.DEVICES/IOTHUBS/HUB-A","subject":"devices/pump-1",` +
		`"eventType":"Microsoft.Devices.DeviceDisconnected","eventTime":"` + old + `","data":{"hubName":"hub-a","deviceId":"pump-1"},` +
		`"dataVersion":"1","metadataVersion":"1"}]`
	var res ingest.Result
	if !ingest.StateMessage([]byte(ev), map[string]any{"aeg-event-type": "Notification"}, c.t, &res) || len(res.Events) != 1 {
		t.Fatalf("not taken as an Event Grid event: %s", res.Summary())
	}
	const writer = "eventgrid/connection-state/0" // as ConnectionStateRoute names a batch of Event Grid events
	if err := p.Ingest(context.Background(), writer, &res); err != nil {
		t.Fatal(err)
	}
	ingestLogs(t, p, "logs/0", logRecord(c.t.Add(-time.Minute), "Connections", "deviceConnect", "", "pump-2"))
	r := tick(t, p)
	if want := c.t.Add(-time.Minute - p.cfg.Engine.AllowedLateness); !r.Watermark.Equal(want) {
		t.Errorf("watermark %v, want %v (the resource-log partition's, not the Event Grid events' %s)", r.Watermark, want, old)
	}
	if q := p.res.progress[writer]; q.Read != 1 || q.Kept != 1 {
		t.Errorf("%s progress %+v not counted", writer, q)
	}
}

// TestProgressOnlyForward: a batch of older records (a late partition
// redelivering) never moves a writer's progress back.
func TestProgressOnlyForward(t *testing.T) {
	st := store.NewMemory()
	c := &clock{t: time.Date(2026, 11, 29, 10, 0, 0, 0, time.UTC)}
	p := newPipeline(t, st, c, "x")
	ingestLogs(t, p, "logs/0", logRecord(c.t.Add(-time.Minute), "D2CTwinOperations", "read", "", "d"))
	c.t = c.t.Add(time.Second)
	ingestLogs(t, p, "logs/0", logRecord(c.t.Add(-time.Hour), "D2CTwinOperations", "read", "", "d"))
	c.t = c.t.Add(time.Minute)
	tick(t, p)
	q := p.res.progress["logs/0"]
	if want := c.t.Add(-time.Minute - time.Minute - time.Second); !q.Newest.Equal(want) || q.Read != 2 {
		t.Errorf("progress %+v, want newest %v and 2 records", q, want)
	}
}

// TestConcurrentInvocationsOfOneWriter: invocations of one writer running
// at once (Event Grid deliveries on several instances) lose no update, and
// a retried batch counts once.
func TestConcurrentInvocationsOfOneWriter(t *testing.T) {
	st := store.NewMemory()
	c := &clock{t: time.Date(2026, 11, 29, 10, 0, 0, 0, time.UTC)}
	ps := []*Pipeline{newPipeline(t, st, c, "a"), newPipeline(t, st, c, "b")}
	var wg sync.WaitGroup
	for i := range 40 {
		wg.Go(func() {
			ingestLogs(t, ps[i%2], "logs/7", logRecord(c.t.Add(-time.Duration(i)*time.Second), "D2CTwinOperations", "read", "", fmt.Sprint("d", i)))
		})
	}
	wg.Wait()
	// The host retries a batch (same sequence numbers), on another
	// instance: it counts once.
	body, _ := json.Marshal(map[string]any{"records": []any{logRecord(c.t.Add(-time.Hour), "Connections", "deviceConnect", "", "d-retry")}})
	for _, p := range ps {
		var res ingest.Result
		ingest.ResourceLogs(body, &res)
		res.Batch = "1017-1017/1"
		if err := p.Ingest(context.Background(), "logs/7", &res); err != nil {
			t.Fatal(err)
		}
	}
	c.t = c.t.Add(time.Minute)
	tick(t, ps[0])
	if q := ps[0].res.progress["logs/7"]; q.Read != 41 || q.Ignored != 40 || q.Kept != 1 {
		t.Errorf("progress %+v, want 41 read (40 ignored, 1 kept)", q)
	}
}

// TestGoneWritersArePurged: a writer that appended nothing for longer than
// progressKeep is dropped from the progress and its row deleted; live
// writers stay.
func TestGoneWritersArePurged(t *testing.T) {
	ctx := context.Background()
	st := store.NewMemory()
	c := &clock{t: time.Date(2026, 11, 29, 10, 0, 0, 0, time.UTC)}
	p := newPipeline(t, st, c, "x")
	// A row left by an older version (one per writer@instance).
	if err := st.PutProgress(ctx, store.Progress{Writer: "logs/0@5e1f", Newest: c.t, Updated: c.t}); err != nil {
		t.Fatal(err)
	}
	ingestLogs(t, p, "logs/gone", logRecord(c.t, "D2CTwinOperations", "read", "", "d"))
	for m := range 4 * 60 / 10 {
		c.t = c.t.Add(10 * time.Minute)
		ingestLogs(t, p, "logs/live", logRecord(c.t, "D2CTwinOperations", "read", "", fmt.Sprint("d", m)))
		tick(t, p)
	}
	rows, err := st.ListProgress(ctx)
	if err != nil {
		t.Fatal(err)
	}
	if len(rows) != 1 || rows[0].Writer != "logs/live" {
		t.Errorf("progress rows %+v, want logs/live only", rows)
	}
}

// stateBlobBound is issue 9's bound on any state blob.
const stateBlobBound = 64 << 10

// TestMetaRowWorstCase fills the meta row to its worst case — as many marks
// as it keeps, of the longest writers (an event hub name of 256 characters,
// Azure's maximum, and a 4-digit partition), 64 of them (twice Event Hubs
// Standard's 32 partitions), with counters at their widest — and checks
// that it stays under the 64 KiB bound.
func TestMetaRowWorstCase(t *testing.T) {
	t0 := time.Date(2026, 11, 29, 10, 0, 0, 123456789, time.UTC)
	r := &resident{progress: map[string]store.Progress{}}
	r.loadProgress()
	hub := strings.Repeat("h", 256)
	const n = 30_000 // more than any row holds
	for i := range n {
		at := t0.Add(time.Duration(i) * 20 * time.Millisecond) // all within seenKeep
		w := fmt.Sprintf("%s/%04d", hub, 1000+i%64)
		r.merge(store.Mark{Writer: w, ID: fmt.Sprintf("%024x", i), Stamp: at, Newest: at,
			Read: 1 << 40, Kept: 1 << 40, Ignored: 1 << 40, Skipped: 1 << 40})
	}
	r.keepProgress(t0.Add(10 * time.Minute))
	r.meta.Cursor, r.meta.Watermark, r.meta.LastPurge, r.meta.Committed, r.meta.Epoch = t0, t0, t0, t0, 1<<62
	b, err := json.Marshal(r.meta)
	if err != nil {
		t.Fatal(err)
	}
	if len(r.meta.Progress) != 64 {
		t.Fatalf("%d writers, want 64", len(r.meta.Progress))
	}
	t.Logf("meta row %d bytes", len(b))
	if len(b) >= stateBlobBound {
		t.Errorf("meta row %d bytes at its worst case, want under %d", len(b), stateBlobBound)
	}
}

// TestMarksBounded: an Evaluate that counted more invocation marks than the
// meta row can hold (one Event Grid event per invocation across a large
// fleet) keeps only the newest maxMarks, so the commit fits its row, while
// the writer's progress keeps every newest time; a mark counted again
// after its record was dropped moves no time backwards.
func TestMarksBounded(t *testing.T) {
	t0 := time.Date(2026, 11, 29, 10, 0, 0, 0, time.UTC)
	r := &resident{progress: map[string]store.Progress{}, seen: map[uint64]time.Time{}}
	const n = 30_000
	for i := range n {
		at := t0.Add(time.Duration(i) * 20 * time.Millisecond) // all within seenKeep
		r.merge(store.Mark{Writer: "eventgrid", ID: fmt.Sprintf("%024x", i), Stamp: at, Newest: at, Read: 1})
	}
	r.keepProgress(t0.Add(10 * time.Minute))
	kept := decodeMarks(r.meta.Marks)
	if len(kept) != maxMarks {
		t.Fatalf("%d marks kept, want %d", len(kept), maxMarks)
	}
	if _, ok := kept[marksKey(fmt.Sprintf("%024x", n-1))]; !ok {
		t.Error("the newest mark was dropped")
	}
	if _, ok := kept[marksKey(fmt.Sprintf("%024x", 0))]; ok {
		t.Error("the oldest mark was kept")
	}
	if q := r.progress["eventgrid"]; q.Read != n || !q.Newest.Equal(t0.Add((n-1)*20*time.Millisecond)) {
		t.Errorf("progress %+v: want %d records and the newest time", q, n)
	}
	// A successor loads the row: the kept marks count once more, none twice.
	r2 := &resident{meta: r.meta}
	r2.loadProgress()
	r2.merge(store.Mark{Writer: "eventgrid", ID: fmt.Sprintf("%024x", n-1), Stamp: t0, Newest: t0, Read: 1})
	if q := r2.progress["eventgrid"]; q.Read != n {
		t.Errorf("a kept mark re-read counted again: read %d, want %d", q.Read, n)
	}
}

// TestOldMarksRead: a meta row of the older version (marks by ID) is read,
// so an upgrade counts no re-read mark twice.
func TestOldMarksRead(t *testing.T) {
	t0 := time.Date(2026, 11, 29, 10, 0, 0, 0, time.UTC)
	var m meta
	if err := json.Unmarshal([]byte(`{"marks":{"00000000000000000000002a":`+fmt.Sprint(t0.UnixNano())+`}}`), &m); err != nil {
		t.Fatal(err)
	}
	r := &resident{meta: m}
	r.loadProgress()
	r.merge(store.Mark{Writer: "logs/0", ID: "00000000000000000000002a", Stamp: t0, Newest: t0, Read: 5})
	if q := r.progress["logs/0"]; q.Read != 0 || !q.Newest.Equal(t0) {
		t.Errorf("progress %+v: the old row's mark counted again", q)
	}
	r.keepProgress(t0)
	if b, _ := json.Marshal(r.meta); strings.Contains(string(b), `"marks"`) {
		t.Errorf("old field written back: %s", b)
	}
}

// TestStepBoundedInTime: on a store slow enough that a step's read outlasts
// stepRead, the step stops taking on events at the last mark read and
// commits, however few events it has, and the next step reads on from
// there: the invocation takes several steps where one would have read it
// all, and nothing is lost or counted twice.
func TestStepBoundedInTime(t *testing.T) {
	const batches, per = 3, 600 // more than one page of the store's read
	for _, tc := range []struct {
		name  string
		since func(time.Time) time.Duration
		steps int
	}{
		{"fast store: one step", func(time.Time) time.Duration { return 0 }, 1},
		{"slow store: every page read over stepRead", func(time.Time) time.Duration { return stepRead }, 4},
	} {
		t.Run(tc.name, func(t *testing.T) {
			st := store.NewMemory()
			c := &clock{t: time.Date(2026, 11, 29, 10, 0, 0, 0, time.UTC)}
			p := newPipeline(t, st, c, "x")
			for b := range batches {
				recs := make([]map[string]any, per)
				for i := range recs {
					recs[i] = logRecord(c.t.Add(-time.Duration(i)*time.Second), "Connections", "deviceConnect", "", fmt.Sprintf("pump-%d-%d", b, i))
				}
				ingestLogs(t, p, "logs/0", recs...)
				c.t = c.t.Add(time.Second)
			}
			p.since = tc.since
			r := tick(t, p)
			if r.Backlog || r.Steps != tc.steps || r.New != batches*per {
				t.Errorf("backlog %v, %d steps, %d new; want %d steps reading all %d", r.Backlog, r.Steps, r.New, tc.steps, batches*per)
			}
			if q := p.res.progress["logs/0"]; q.Read != batches*per || q.Kept != batches*per {
				t.Errorf("progress %+v: want %d read and kept, once", q, batches*per)
			}
		})
	}
}
