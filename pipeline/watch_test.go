package pipeline

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/rs/zerolog"

	"github.com/disconnect-doctor/disconnect-doctor/alert"
	"github.com/disconnect-doctor/disconnect-doctor/classify"
	"github.com/disconnect-doctor/disconnect-doctor/event"
	"github.com/disconnect-doctor/disconnect-doctor/ingest"
	"github.com/disconnect-doctor/disconnect-doctor/store"
	"github.com/disconnect-doctor/disconnect-doctor/watch"
)

// channel records what it was sent; while broken it refuses everything
// permanently (a deleted Teams workflow answers 404).
type channel struct {
	mu     sync.Mutex
	broken bool
	got    []alert.Notification
}

func (c *channel) Notify(_ context.Context, n *alert.Notification) (bool, error) {
	c.mu.Lock()
	defer c.mu.Unlock()
	if c.broken {
		return false, errors.New("404 Not Found")
	}
	c.got = append(c.got, *n)
	return false, nil
}

// count returns how many notifications of kind with status were received.
func (c *channel) count(kind classify.SignalKind, status string) int {
	c.mu.Lock()
	defer c.mu.Unlock()
	n := 0
	for _, x := range c.got {
		if x.Kind == kind && x.Status == status {
			n++
		}
	}
	return n
}

// TestPipelineWatchesItself drives the pipeline's own alerts end to end
// through the real alert side and outbox: a partition delivering only
// records 40 minutes old makes the watermark lag (pipeline-lagging); the
// Teams channel is broken, so that notification is dead-lettered there
// (notifications-failing, which must reach the working webhook, once, and
// not loop on its own dead letters); health shows both; a repaired Teams
// channel receives the next reminder and the alert resolves.
func TestPipelineWatchesItself(t *testing.T) {
	ctx := context.Background()
	st := store.NewMemory()
	c := &clock{t: time.Date(2026, 12, 6, 10, 0, 0, 0, time.UTC)}
	teams, hook := &channel{broken: true}, &channel{}
	p, err := New(Options{Config: testConfig(t), Store: st, Now: c.Now, Instance: "x", Log: zerolog.Nop(), ReadSafety: -1,
		Channels: map[string]alert.Notifier{"teams": teams, "webhook": hook}})
	if err != nil {
		t.Fatal(err)
	}
	seq := 0
	tick := func() {
		t.Helper()
		// One record 40 minutes old per minute on partition 0: the
		// partition is active, and holds the watermark 45 minutes back.
		seq++
		e := event.Event{ID: event.ID{byte(seq), byte(seq >> 8)}, Source: event.ResourceLog, Kind: event.Connect,
			Hub: "h1", Device: "d1", Category: "Connections", Time: c.t.Add(-40 * time.Minute)}
		if err := p.Ingest(ctx, "logs/0", &ingest.Result{Events: []event.Event{e}, Read: 1, Newest: e.Time}); err != nil {
			t.Fatal(err)
		}
		if _, err := p.Tick(ctx); err != nil {
			t.Fatal(err)
		}
	}
	for range 10 {
		c.t = c.t.Add(time.Minute)
		tick()
	}
	if n := hook.count(classify.PipelineLagging, alert.StatusFiring); n != 1 {
		t.Fatalf("webhook got %d pipeline-lagging firings, want 1: %+v", n, hook.got)
	}
	if n := hook.count(classify.NotificationsFailing, alert.StatusFiring); n != 1 {
		t.Fatalf("webhook got %d notifications-failing firings in 10 ticks, want exactly 1 (no loop): %+v", n, hook.got)
	}
	for _, n := range hook.got {
		if n.Kind == classify.NotificationsFailing {
			a := n.Alerts[0]
			if a.Key != "notifications-failing//teams" || a.Subject != "teams" || a.DeviceID != "" || a.Severity != "critical" ||
				!strings.Contains(strings.Join(a.Evidence, " "), "404 Not Found") {
				t.Errorf("notifications-failing alert %+v", a)
			}
		}
	}

	code, body := p.Query(ctx, "health", nil)
	raw, _ := json.Marshal(body)
	if code != 200 || !strings.Contains(string(raw), `"key":"pipeline-lagging/"`) ||
		!strings.Contains(string(raw), `"key":"notifications-failing//teams"`) {
		t.Fatalf("health %d %s: want both of the pipeline's alerts", code, raw)
	}

	// Teams is repaired; the reminders four hours later reach it, which
	// proves it: notifications-failing resolves (told on both channels).
	teams.mu.Lock()
	teams.broken = false
	teams.mu.Unlock()
	c.t = c.t.Add(4 * time.Hour)
	for range 3 {
		c.t = c.t.Add(time.Minute)
		tick()
	}
	if n := hook.count(classify.NotificationsFailing, alert.StatusResolved); n != 1 {
		t.Fatalf("webhook got %d notifications-failing resolved, want 1: %+v", n, hook.got)
	}
	if n := teams.count(classify.NotificationsFailing, alert.StatusResolved); n != 1 {
		t.Fatalf("teams got %d notifications-failing resolved, want 1", n)
	}
	if n := hook.count(classify.NotificationsFailing, alert.StatusFiring); n != 2 {
		t.Fatalf("webhook got %d notifications-failing firings (first + one reminder), want 2", n)
	}

	// The partition goes quiet: after ALLOWED_LATENESS it no longer holds
	// the watermark, and lagging resolves after its 5-minute hold.
	for range 15 {
		c.t = c.t.Add(time.Minute)
		if _, err := p.Tick(ctx); err != nil {
			t.Fatal(err)
		}
	}
	if n := hook.count(classify.PipelineLagging, alert.StatusResolved); n != 1 {
		t.Fatalf("webhook got %d pipeline-lagging resolved, want 1", n)
	}
	_, body = p.Query(ctx, "health", nil)
	raw, _ = json.Marshal(body)
	if !strings.Contains(string(raw), `"alerts":[]`) {
		t.Fatalf("health still shows alerts: %s", raw)
	}
}

// TestRaisedConditionsAndReload: a condition raised during a tick (the way
// other parts of the pipeline report what they find) fires, survives a
// reload by another instance (no second firing) and resolves after its
// hold there.
func TestRaisedConditionsAndReload(t *testing.T) {
	ctx := context.Background()
	st := store.NewMemory()
	c := &clock{t: time.Date(2026, 12, 6, 10, 0, 0, 0, time.UTC)}
	a := newPipeline(t, st, c, "a")
	a.evalMu.Lock()
	a.raise(watchCondition())
	a.evalMu.Unlock()
	rep, err := a.Tick(ctx)
	if err != nil || rep.Notifications != 1 {
		t.Fatalf("tick: %v, %+v: want the raised condition notified", err, rep)
	}
	// Instance b takes over after a's lease ran out.
	c.t = c.t.Add(6 * time.Minute)
	b := newPipeline(t, st, c, "b")
	rep, err = b.Tick(ctx)
	if err != nil || rep.Notifications != 0 {
		t.Fatalf("b's first tick: %v, %+v: the episode is open, nothing to send", err, rep)
	}
	c.t = c.t.Add(5 * time.Minute)
	rep, err = b.Tick(ctx)
	if err != nil || rep.Notifications != 1 {
		t.Fatalf("after the hold: %v, %+v: want the resolved notification", err, rep)
	}
	recs := 0
	if err := st.ListBlobs(ctx, store.AlertBlobs, func(bs []store.Blob) error { recs += len(bs); return nil }); err != nil {
		t.Fatal(err)
	}
	if recs != 0 {
		t.Fatalf("%d alert records left after the episode ended", recs)
	}
}

func watchCondition() watch.Condition {
	return watch.Condition{Kind: classify.PipelineSilent, Hub: "h1", Hold: 10 * time.Minute, Summary: "found during the tick"}
}

// TestPipelineSilent: a hub whose Event Grid keeps showing devices
// connecting and disconnecting while its resource logs stop (a deleted
// diagnostic setting) raises pipeline-silent PIPELINE_SILENT_AFTER after the
// first connection event the logs do not cover, and resolves it when the
// logs catch up.
func TestPipelineSilent(t *testing.T) {
	ctx := context.Background()
	st := store.NewMemory()
	c := &clock{t: time.Date(2026, 12, 6, 10, 0, 0, 0, time.UTC)}
	hook := &channel{}
	p, err := New(Options{Config: testConfig(t), Store: st, Now: c.Now, Instance: "x", Log: zerolog.Nop(), ReadSafety: -1,
		Channels: map[string]alert.Notifier{"webhook": hook}})
	if err != nil {
		t.Fatal(err)
	}
	seq := 0
	ev := func(src event.Source, kind event.Kind, at time.Time) event.Event {
		seq++
		return event.Event{ID: event.ID{byte(seq), byte(seq >> 8), 7}, Source: src, Kind: kind, Hub: "h1",
			Device: fmt.Sprintf("d%d", seq%50), Category: "Connections", Time: at}
	}
	push := func(writer string, e event.Event) {
		t.Helper()
		if err := p.Ingest(ctx, writer, &ingest.Result{Events: []event.Event{e}, Read: 1, Newest: e.Time}); err != nil {
			t.Fatal(err)
		}
	}
	logsStop := c.t.Add(10 * time.Minute)
	var firedAt time.Time
	for m := 1; m <= 40; m++ {
		c.t = c.t.Add(time.Minute)
		push("eventgrid", ev(event.EventGrid, event.StateDisconnected, c.t.Add(-5*time.Second)))
		if c.t.Before(logsStop) || m > 35 {
			// The logs: 3 minutes late; from minute 36 they are back and
			// catch up past the Event Grid events.
			at := c.t.Add(-3 * time.Minute)
			if m > 35 {
				at = c.t
			}
			push("logs/0", ev(event.ResourceLog, event.Disconnect, at))
		}
		if _, err := p.Tick(ctx); err != nil {
			t.Fatal(err)
		}
		if firedAt.IsZero() && hook.count(classify.PipelineSilent, alert.StatusFiring) > 0 {
			firedAt = c.t
		}
	}
	// The last log before the stop is of 10:06; Event Grid showed a
	// disconnect at 10:07 (the first minute after it) that no log covered:
	// silent 15 minutes after that minute.
	if want := time.Date(2026, 12, 6, 10, 23, 0, 0, time.UTC); !firedAt.Equal(want) {
		t.Errorf("pipeline-silent fired at %s, want %s", firedAt, want)
	}
	if n := hook.count(classify.PipelineSilent, alert.StatusResolved); n != 1 {
		t.Errorf("%d resolved pipeline-silent, want 1 once the logs caught up", n)
	}
	for _, n := range hook.got {
		if n.Kind == classify.PipelineSilent && n.Status == alert.StatusFiring {
			if a := n.Alerts[0]; a.Key != "pipeline-silent/h1" || a.Severity != "critical" || !strings.Contains(a.Summary, "Event Grid") {
				t.Errorf("alert %+v", a)
			}
		}
	}
}
