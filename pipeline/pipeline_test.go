package pipeline

import (
	"context"
	"errors"
	"fmt"
	"sort"
	"testing"
	"time"

	"github.com/rs/zerolog"

	"github.com/disconnect-doctor/disconnect-doctor/config"
	"github.com/disconnect-doctor/disconnect-doctor/event"
	"github.com/disconnect-doctor/disconnect-doctor/ingest"
	"github.com/disconnect-doctor/disconnect-doctor/sim"
	"github.com/disconnect-doctor/disconnect-doctor/store"
)

// clock is a settable wall clock shared by the instances of a test.
type clock struct{ t time.Time }

func (c *clock) Now() time.Time { return c.t }

func testConfig(t *testing.T) config.Config {
	t.Helper()
	cfg, err := config.Load(func(string) string { return "" })
	if err != nil {
		t.Fatal(err)
	}
	return cfg
}

func newPipeline(t *testing.T, st store.Store, c *clock, holder string) *Pipeline {
	t.Helper()
	p, err := New(Options{Config: testConfig(t), Store: st, Now: c.Now, Instance: holder, Log: zerolog.Nop(), ReadSafety: -1})
	if err != nil {
		t.Fatal(err)
	}
	return p
}

// fleetBatches parses a small simulated fleet's bodies in arrival order.
func fleetBatches(t *testing.T) (start time.Time, msgs []sim.Message) {
	t.Helper()
	c := sim.DefaultConfig(5)
	c.Devices, c.Duration = 120, 3*time.Hour
	f := sim.Generate(c)
	return c.Start, f.Diagnostics
}

// verdicts renders the final diagnoses of a store, sorted, for comparison.
func verdicts(t *testing.T, st store.Store) []string {
	t.Helper()
	var out []string
	q := store.DiagnosisQuery{Limit: 1000}
	for {
		ds, next, err := st.ListDiagnoses(context.Background(), q)
		if err != nil {
			t.Fatal(err)
		}
		for _, d := range ds {
			out = append(out, fmt.Sprintf("%s %s %s final=%v", d.Key, d.Time.Format(time.RFC3339), d.Cause, d.Final))
		}
		if next == "" {
			break
		}
		q.Cursor = next
	}
	sort.Strings(out)
	return out
}

// drive feeds msgs minute by minute; ingest(i) picks the instance that
// ingests message i and eval(minute) the one that evaluates.
func drive(t *testing.T, c *clock, start time.Time, msgs []sim.Message, ingestBy func(i int) *Pipeline, evalBy func(m int) *Pipeline) {
	t.Helper()
	ctx := context.Background()
	end := start.Add(4 * time.Hour)
	next := 0
	for m := 0; ; m++ {
		now := start.Add(time.Duration(m) * time.Minute)
		if now.After(end) {
			return
		}
		c.t = now
		for ; next < len(msgs) && !msgs[next].Enqueued.After(now); next++ {
			res := &ingest.Result{}
			ingest.ResourceLogs(msgs[next].Body, res)
			if err := ingestBy(next).Ingest(ctx, "eh/"+msgs[next].Partition, res); err != nil {
				t.Fatal(err)
			}
		}
		if _, err := evalBy(m).Tick(ctx); err != nil {
			t.Fatal(err)
		}
	}
}

// TestInstancesShareOneStore: three instances ingest disjoint shares of
// the same traffic into one store while Evaluate moves between them (each
// takes over when the previous one's lease has expired, reloading the state
// the others left); the verdicts equal those of a single instance.
func TestInstancesShareOneStore(t *testing.T) {
	start, msgs := fleetBatches(t)

	one := store.NewMemory()
	c1 := &clock{}
	p := newPipeline(t, one, c1, "solo")
	drive(t, c1, start, msgs, func(int) *Pipeline { return p }, func(int) *Pipeline { return p })
	want := verdicts(t, one)
	if len(want) == 0 {
		t.Fatal("the single instance diagnosed nothing")
	}

	shared := store.NewMemory()
	c3 := &clock{}
	ps := []*Pipeline{newPipeline(t, shared, c3, "a"), newPipeline(t, shared, c3, "b"), newPipeline(t, shared, c3, "c")}
	// Evaluate stays on one instance for three minutes, then moves on (the
	// next one skips one tick, while the lease of 1.5 minutes runs out).
	span := 3
	drive(t, c3, start, msgs, func(i int) *Pipeline { return ps[i%3] }, func(m int) *Pipeline { return ps[(m/span)%3] })
	got := verdicts(t, shared)
	if len(got) != len(want) {
		t.Fatalf("%d verdicts with three instances, %d with one", len(got), len(want))
	}
	for i := range want {
		if got[i] != want[i] {
			t.Fatalf("verdict %d differs:\n three: %s\n   one: %s", i, got[i], want[i])
		}
	}
}

// TestLeaseKeepsEvaluateSingle: while one instance holds the lease another
// instance's tick does nothing.
func TestLeaseKeepsEvaluateSingle(t *testing.T) {
	st := store.NewMemory()
	c := &clock{t: time.Date(2026, 11, 29, 10, 0, 0, 0, time.UTC)}
	a, b := newPipeline(t, st, c, "a"), newPipeline(t, st, c, "b")
	if r, err := a.Tick(context.Background()); err != nil || r.Skipped != "" {
		t.Fatalf("first tick: %+v %v", r, err)
	}
	r, err := b.Tick(context.Background())
	if err != nil || r.Skipped == "" {
		t.Fatalf("second instance ran while the lease was held: %+v %v", r, err)
	}
	c.t = c.t.Add(a.leaseTTL() + time.Second)
	if r, err := b.Tick(context.Background()); err != nil || r.Skipped != "" {
		t.Fatalf("after the lease expired: %+v %v", r, err)
	}
}

// failing is a store whose every call fails as an unreachable service does.
type failing struct{ store.Store }

var errDown = fmt.Errorf("connection refused: %w", store.ErrUnavailable)

func (failing) AppendEvents(context.Context, time.Time, []event.Event, *store.Mark) error {
	return errDown
}
func (failing) AcquireLease(context.Context, string, string, time.Time, time.Time) (int64, error) {
	return 0, errDown
}

// TestStoreDownIsAnError: ingest and evaluate report the outage, so the
// function answers non-2xx and the host retries the batch.
func TestStoreDownIsAnError(t *testing.T) {
	c := &clock{t: time.Now()}
	p := newPipeline(t, failing{store.NewMemory()}, c, "x")
	res := &ingest.Result{}
	e := event.Event{Source: event.ResourceLog, Kind: event.Disconnect, Hub: "h", Device: "d", Time: c.t,
		Category: "Connections", Code: event.CodeConnectionClosedRemotely}
	e.ID = event.NewID(&e, "")
	res.Keep(e)
	if err := p.Ingest(context.Background(), "eh/0", res); !errors.Is(err, store.ErrUnavailable) {
		t.Errorf("ingest: %v", err)
	}
	if _, err := p.Evaluate(context.Background()); !errors.Is(err, store.ErrUnavailable) {
		t.Errorf("evaluate: %v", err)
	}
}

// TestDeletedDeviceStateIsRemoved: a DeviceDeleted event ends tracking and
// the device's stored state goes with it (no unbounded growth from
// identities that no longer exist).
func TestDeletedDeviceStateIsRemoved(t *testing.T) {
	ctx := context.Background()
	st := store.NewMemory()
	c := &clock{t: time.Date(2026, 11, 29, 10, 0, 0, 0, time.UTC)}
	p := newPipeline(t, st, c, "x")
	mk := func(src event.Source, kind event.Kind, at time.Time, code int) event.Event {
		e := event.Event{Source: src, Kind: kind, Hub: "hub-a", Device: "gone-1", Time: at, Code: code}
		if src == event.ResourceLog {
			e.Category = "Connections"
		}
		e.ID = event.NewID(&e, "")
		return e
	}
	feed := func(evs ...event.Event) {
		res := &ingest.Result{}
		for _, e := range evs {
			res.Keep(e)
		}
		if err := p.Ingest(ctx, "eh/0", res); err != nil {
			t.Fatal(err)
		}
		c.t = c.t.Add(10 * time.Minute)
		if _, err := p.Tick(ctx); err != nil {
			t.Fatal(err)
		}
	}
	t1 := c.t.Add(-30 * time.Minute)
	feed(mk(event.ResourceLog, event.Connect, t1, 0), mk(event.ResourceLog, event.Disconnect, t1.Add(5*time.Minute), event.CodeConnectionClosedRemotely))
	key := event.Key{Hub: "hub-a", Device: "gone-1"}.Path()
	if _, err := st.GetBlob(ctx, store.DeviceBlobs, key); err != nil {
		t.Fatalf("device state not stored: %v", err)
	}
	feed(mk(event.EventGrid, event.Deleted, t1.Add(8*time.Minute), 0))
	for range 3 {
		feed()
	}
	if _, err := st.GetBlob(ctx, store.DeviceBlobs, key); !errors.Is(err, store.ErrNotFound) {
		t.Fatalf("deleted device's state still stored: %v", err)
	}
}
