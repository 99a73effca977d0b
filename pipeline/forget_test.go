package pipeline

import (
	"context"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/rs/zerolog"

	"github.com/disconnect-doctor/disconnect-doctor/alert"
	"github.com/disconnect-doctor/disconnect-doctor/config"
	"github.com/disconnect-doctor/disconnect-doctor/event"
	"github.com/disconnect-doctor/disconnect-doctor/ingest"
	"github.com/disconnect-doctor/disconnect-doctor/store"
)

// recorder is a notification channel that keeps what it is sent.
type recorder struct {
	mu sync.Mutex
	ns []alert.Notification
}

func (r *recorder) Notify(_ context.Context, n *alert.Notification) (bool, error) {
	r.mu.Lock()
	defer r.mu.Unlock()
	r.ns = append(r.ns, *n)
	return false, nil
}

// about returns the notifications that carry alert key, as "status#repeat:summary".
func (r *recorder) about(key string) []string {
	r.mu.Lock()
	defer r.mu.Unlock()
	var out []string
	for _, n := range r.ns {
		for _, a := range n.Alerts {
			if a.Key == key {
				out = append(out, n.Status+"#"+strconv.Itoa(n.Repeat)+": "+a.Summary)
			}
		}
	}
	return out
}

func eventtimePipeline(t *testing.T, st store.Store, c *clock, rec *recorder) *Pipeline {
	t.Helper()
	cfg, err := config.Load(func(k string) string {
		if k == "WATERMARK" {
			return "eventtime"
		}
		return ""
	})
	if err != nil {
		t.Fatal(err)
	}
	p, err := New(Options{Config: cfg, Store: st, Now: c.Now, Instance: "solo", Log: zerolog.Nop(), ReadSafety: -1,
		Channels: map[string]alert.Notifier{"rec": rec}})
	if err != nil {
		t.Fatal(err)
	}
	return p
}

func connections(dev string, kind event.Kind, code int, at time.Time) event.Event {
	op := "deviceConnect"
	if kind == event.Disconnect {
		op = "deviceDisconnect"
	}
	e := event.Event{Source: event.ResourceLog, Kind: kind, Hub: "forget-hub", Device: dev, Time: at,
		Category: "Connections", Operation: op, Code: code, Protocol: "Mqtt"}
	e.ID = event.NewID(&e, "")
	return e
}

// TestForgottenDeviceResolvesItsAlert (issue 10 item 1): a device that goes
// offline and never sends another record is forgotten after RETENTION; its
// device-offline alert is then resolved with the reason, and no reminder
// follows. Before the fix it kept reminding every REPEAT_INTERVAL for good.
func TestForgottenDeviceResolvesItsAlert(t *testing.T) {
	ctx := context.Background()
	st := store.NewMemory()
	start := time.Date(2026, 3, 1, 10, 0, 0, 0, time.UTC)
	c := &clock{t: start}
	rec := &recorder{}
	p := eventtimePipeline(t, st, c, rec)
	feed := func(evs ...event.Event) {
		res := &ingest.Result{}
		for _, e := range evs {
			res.Keep(e)
		}
		if err := p.Ingest(ctx, "eh/0", res); err != nil {
			t.Fatal(err)
		}
	}
	feed(connections("gone", event.Connect, 0, start), connections("gone", event.Disconnect, event.CodeConnectionClosedRemotely, start.Add(time.Minute)))
	// Another device keeps the hub's clock going, a record every ten
	// minutes, for ten days.
	for h := 1; h <= 6*240; h++ {
		now := start.Add(time.Duration(h) * 10 * time.Minute)
		c.t = now
		feed(connections("alive", event.Connect, 0, now))
		if _, err := p.Tick(ctx); err != nil {
			t.Fatal(err)
		}
	}
	got := rec.about("device-offline/forget-hub/gone")
	if len(got) < 2 || !strings.HasPrefix(got[0], "firing#0") {
		t.Fatalf("notifications about the gone device: %q", got)
	}
	last := got[len(got)-1]
	if !strings.HasPrefix(last, "resolved#") || !strings.Contains(last, "no longer tracked: no record for 7 days") {
		t.Fatalf("the last notification about the gone device is %q, want resolved: no longer tracked (all: %d)", last, len(got))
	}
	reminders := 0
	for _, s := range got {
		if strings.HasPrefix(s, "firing#") && !strings.HasPrefix(s, "firing#0") {
			reminders++
		}
	}
	// Reminders run only while it is tracked: 7 days at one per 4h at most.
	if reminders > 7*6 {
		t.Errorf("%d reminders for a device forgotten after 7 days", reminders)
	}
	if _, ok, _ := p.res.alerts.Marshal("device-offline/forget-hub/gone"); ok {
		t.Errorf("the alert record of the forgotten device is still held")
	}
}

// TestStuckAlertOfUntrackedDeviceResolves: alert state written by an older
// version for a device the engine no longer tracks (forgotten without a
// resolve) is resolved on upgrade, not reminded forever.
func TestStuckAlertOfUntrackedDeviceResolves(t *testing.T) {
	ctx := context.Background()
	st := store.NewMemory()
	start := time.Date(2026, 3, 1, 10, 0, 0, 0, time.UTC)
	stuck := `{"key":"device-offline/forget-hub/old","kind":"device-offline","hub":"forget-hub","device":"old","firing":true,` +
		`"since":"2026-02-20T08:00:00Z","summary":"forget-hub/old has been offline since 08:00:00","devices":1,"notified":true,` +
		`"announced":true,"repeat":40,"lastDue":"2026-03-01T08:00:00Z"}`
	if _, err := st.PutBlobs(ctx, store.AlertBlobs, []store.Blob{{Key: "device-offline/forget-hub/old", Data: []byte(stuck)}}); err != nil {
		t.Fatal(err)
	}
	c := &clock{t: start}
	rec := &recorder{}
	p := eventtimePipeline(t, st, c, rec)
	for m := 0; m <= 30; m++ {
		now := start.Add(time.Duration(m) * time.Minute)
		c.t = now
		res := &ingest.Result{}
		res.Keep(connections("alive", event.Connect, 0, now))
		if err := p.Ingest(ctx, "eh/0", res); err != nil {
			t.Fatal(err)
		}
		if _, err := p.Tick(ctx); err != nil {
			t.Fatal(err)
		}
	}
	got := rec.about("device-offline/forget-hub/old")
	if len(got) != 1 || !strings.HasPrefix(got[0], "resolved#") || !strings.Contains(got[0], "no longer tracked") {
		t.Fatalf("notifications about the stuck alert: %q, want one resolved: no longer tracked", got)
	}
	if _, err := st.GetBlob(ctx, store.AlertBlobs, "device-offline/forget-hub/old"); err == nil {
		t.Errorf("the stuck alert's blob is still stored")
	}
}
