package pipeline

import (
	"context"
	"encoding/json"
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
)

// hubBurst is a hub incident's records: n devices connected half an hour
// earlier drop with 404104 within a minute of at, their reconnects refused
// with 500001 (hub-side evidence), back three minutes later.
func hubBurst(hub string, at time.Time, n int) []event.Event {
	var evs []event.Event
	rec := func(dev string, kind event.Kind, t time.Time, code int) {
		e := event.Event{Source: event.ResourceLog, Kind: kind, Hub: hub, Device: dev, Time: t, Category: "Connections", Code: code}
		e.ID = event.NewID(&e, "")
		evs = append(evs, e)
	}
	for i := range n {
		dev := fmt.Sprintf("dev-%03d", i)
		t := at.Add(time.Duration(i*40/n) * time.Second)
		rec(dev, event.Connect, at.Add(-30*time.Minute-time.Duration(i)*time.Second), 0)
		rec(dev, event.Disconnect, t, event.CodeConnectionClosedRemotely)
		rec(dev, event.Connect, t.Add(20*time.Second), 500001)
		rec(dev, event.Connect, t.Add(3*time.Minute), 0)
	}
	return evs
}

// ingestAll appends evs as one batch of partition 0.
func ingestAll(t *testing.T, p *Pipeline, evs []event.Event) {
	t.Helper()
	var newest time.Time
	for _, e := range evs {
		if e.Time.After(newest) {
			newest = e.Time
		}
	}
	if err := p.Ingest(context.Background(), "logs/0", &ingest.Result{Events: evs, Read: len(evs), Newest: newest}); err != nil {
		t.Fatal(err)
	}
}

func hubPipeline(t *testing.T, st store.Store, c *clock, name string, ch alert.Notifier) *Pipeline {
	t.Helper()
	p, err := New(Options{Config: testConfig(t), Store: st, Now: c.Now, Instance: name, Log: zerolog.Nop(), ReadSafety: -1,
		Channels: map[string]alert.Notifier{"webhook": ch}})
	if err != nil {
		t.Fatal(err)
	}
	return p
}

// ticks runs n one-minute ticks; every one must succeed.
func ticks(t *testing.T, p *Pipeline, c *clock, n int) {
	t.Helper()
	for range n {
		c.t = c.t.Add(time.Minute)
		if _, err := p.Tick(context.Background()); err != nil {
			t.Fatalf("tick at %s: %v", c.t, err)
		}
	}
}

func healthJSON(t *testing.T, p *Pipeline) string {
	t.Helper()
	code, body := p.Query(context.Background(), "health", nil)
	raw, _ := json.Marshal(body)
	if code != 200 {
		t.Fatalf("health %d %s", code, raw)
	}
	return string(raw)
}

func hubTransient(t *testing.T, st store.Store, hub string) int {
	t.Helper()
	ds, _, err := st.ListDiagnoses(context.Background(), store.DiagnosisQuery{Hub: hub, Cause: classify.HubTransient, Limit: 1000})
	if err != nil {
		t.Fatal(err)
	}
	return len(ds)
}

// TestCorruptHubStateOthersCarryOn: the stored state of hub "bad" is
// overwritten with bytes no version wrote. A new instance loads the state:
// "bad" is named in the log, in health and by a hub-state-broken alert,
// its state starts over, and hub "good" goes on to its diagnoses and its
// hub-incident alert (fired and resolved) as if nothing happened.
func TestCorruptHubStateOthersCarryOn(t *testing.T) {
	ctx := context.Background()
	st := store.NewMemory()
	c := &clock{t: time.Date(2026, 12, 6, 10, 0, 0, 0, time.UTC)}
	hook := &channel{}
	a := hubPipeline(t, st, c, "a", hook)
	ingestAll(t, a, append(hubBurst("good", c.t.Add(-40*time.Minute), 2), hubBurst("bad", c.t.Add(-40*time.Minute), 2)...))
	ticks(t, a, c, 6)
	if _, err := st.GetBlob(ctx, store.HubBlobs, "bad"); err != nil {
		t.Fatalf("bad's hub state was not saved: %v", err)
	}
	if _, err := st.PutBlobs(ctx, store.HubBlobs, []store.Blob{{Key: "bad", Data: []byte{0x7f, 1, 2, 3}}}); err != nil {
		t.Fatal(err)
	}

	c.t = c.t.Add(6 * time.Minute) // a's lease runs out; b loads from the store
	b := hubPipeline(t, st, c, "b", hook)
	ingestAll(t, b, append(hubBurst("good", c.t, 30), hubBurst("bad", c.t, 30)...))
	ticks(t, b, c, 30)

	if n := hook.count(classify.HubStateBroken, alert.StatusFiring); n != 1 {
		t.Fatalf("hub-state-broken firings %d, want 1: %+v", n, hook.got)
	}
	for _, n := range hook.got {
		if n.Kind == classify.HubStateBroken && (n.Alerts[0].Hub != "bad" || !strings.Contains(strings.Join(n.Alerts[0].Evidence, " "), "unknown blob version")) {
			t.Errorf("hub-state-broken alert %+v, want hub bad with the decode error", n.Alerts[0])
		}
	}
	if h := healthJSON(t, b); !strings.Contains(h, `"key":"hub-state-broken/bad/hub"`) {
		t.Errorf("health does not name the broken hub: %s", h)
	}
	if n := hook.count(classify.HubIncident, alert.StatusFiring); n != 2 {
		t.Errorf("hub-incident firings %d, want one per hub: %+v", n, hook.got)
	}
	if n := hook.count(classify.HubIncident, alert.StatusResolved); n != 2 {
		t.Errorf("hub-incident resolved %d, want one per hub", n)
	}
	if n := hubTransient(t, st, "good"); n != 30 {
		t.Errorf("good: %d hub-transient diagnoses, want 30", n)
	}
	// bad's state started over and was written again: it reads now
	blob, err := st.GetBlob(ctx, store.HubBlobs, "bad")
	if err != nil {
		t.Fatal(err)
	}
	if err := classify.NewState().UnmarshalHub("bad", blob.Data); err != nil {
		t.Errorf("bad's hub state still unreadable: %v", err)
	}
	// after its hold the alert resolves
	ticks(t, b, c, 61)
	if n := hook.count(classify.HubStateBroken, alert.StatusResolved); n != 1 {
		t.Errorf("hub-state-broken resolved %d, want 1", n)
	}
}

// partitionDown fails every write that touches hub down's rows, as a
// partition that keeps answering 503 does, while the rest of the store
// works.
type partitionDown struct {
	store.Store
	mu   sync.Mutex
	down string
}

func (s *partitionDown) isDown(hub string) bool {
	s.mu.Lock()
	defer s.mu.Unlock()
	return hub == s.down
}

func (s *partitionDown) PutBlobs(ctx context.Context, kind store.BlobKind, bs []store.Blob) ([]string, error) {
	for _, b := range bs {
		if (kind == store.HubBlobs || kind == store.DeviceBlobs) && s.isDown(hubOfBlob(kind, b.Key)) {
			return nil, fmt.Errorf("put %s blob %q: 503 Server Busy: %w", kind, b.Key, store.ErrUnavailable)
		}
	}
	return s.Store.PutBlobs(ctx, kind, bs)
}

func (s *partitionDown) WriteBlobs(ctx context.Context, kind store.BlobKind, bs []store.Blob, dels []string) error {
	for _, b := range bs {
		if (kind == store.HubBlobs || kind == store.DeviceBlobs) && s.isDown(hubOfBlob(kind, b.Key)) {
			return fmt.Errorf("write %s blob %q: 503 Server Busy: %w", kind, b.Key, store.ErrUnavailable)
		}
	}
	return s.Store.WriteBlobs(ctx, kind, bs, dels)
}

func (s *partitionDown) PutDiagnoses(ctx context.Context, ds []classify.Diagnosis) error {
	for _, d := range ds {
		if s.isDown(d.Key.Hub) {
			return fmt.Errorf("put diagnoses: 503 Server Busy: %w", store.ErrUnavailable)
		}
	}
	return s.Store.PutDiagnoses(ctx, ds)
}

// TestHubPartitionDownOthersCarryOn: every write of hub "bad" fails as
// unavailable while the store serves hub "good": no tick fails, good's
// diagnoses and incident alerts carry on, bad is named in health and
// alerted; when its partition is back, its held diagnoses and state are
// written and the alert resolves after its hold.
func TestHubPartitionDownOthersCarryOn(t *testing.T) {
	ctx := context.Background()
	st := &partitionDown{Store: store.NewMemory(), down: "bad"}
	c := &clock{t: time.Date(2026, 12, 6, 10, 0, 0, 0, time.UTC)}
	hook := &channel{}
	p := hubPipeline(t, st, c, "a", hook)
	ingestAll(t, p, append(hubBurst("good", c.t, 30), hubBurst("bad", c.t, 30)...))
	ticks(t, p, c, 30)

	if n := hubTransient(t, st, "good"); n != 30 {
		t.Errorf("good: %d hub-transient diagnoses, want 30", n)
	}
	if n := hubTransient(t, st, "bad"); n != 0 {
		t.Fatalf("bad: %d diagnoses written through a failing partition", n)
	}
	if n := hook.count(classify.HubIncident, alert.StatusFiring); n != 2 {
		t.Errorf("hub-incident firings %d, want one per hub", n)
	}
	if n := hook.count(classify.HubStateBroken, alert.StatusFiring); n != 1 {
		t.Fatalf("hub-state-broken firings %d, want 1: %+v", n, hook.got)
	}
	if h := healthJSON(t, p); !strings.Contains(h, `"key":"hub-state-broken/bad/write"`) || strings.Contains(h, "hub-state-broken/good") {
		t.Errorf("health: %s", h)
	}

	st.mu.Lock()
	st.down = ""
	st.mu.Unlock()
	ticks(t, p, c, 6)
	if n := hubTransient(t, st, "bad"); n != 30 {
		t.Errorf("bad after its partition is back: %d hub-transient diagnoses, want 30", n)
	}
	if _, err := st.GetBlob(ctx, store.HubBlobs, "bad"); err != nil {
		t.Errorf("bad's hub state not written after its partition is back: %v", err)
	}
	ticks(t, p, c, 61)
	if n := hook.count(classify.HubStateBroken, alert.StatusResolved); n != 1 {
		t.Errorf("hub-state-broken resolved %d, want 1", n)
	}
}
