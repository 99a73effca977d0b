package pipeline

import (
	"context"
	"fmt"
	"testing"
	"time"

	"github.com/disconnect-doctor/disconnect-doctor/classify"
	"github.com/disconnect-doctor/disconnect-doctor/event"
	"github.com/disconnect-doctor/disconnect-doctor/store"
)

// counting counts the store calls a pipeline makes, by method (and, for
// writes, by kind and size).
type counting struct {
	store.Store
	n map[string]int
}

func (c *counting) AppendEvents(ctx context.Context, s time.Time, e []event.Event, m *store.Mark) error {
	c.n["AppendEvents"]++
	return c.Store.AppendEvents(ctx, s, e, m)
}
func (c *counting) ReadEvents(ctx context.Context, a, b time.Time, fn func([]event.Event, []store.Mark) error) error {
	c.n["ReadEvents"]++
	return c.Store.ReadEvents(ctx, a, b, fn)
}
func (c *counting) PutProgress(ctx context.Context, p ...store.Progress) error {
	c.n["PutProgress"]++
	return c.Store.PutProgress(ctx, p...)
}
func (c *counting) ListProgress(ctx context.Context) ([]store.Progress, error) {
	c.n["ListProgress"]++
	return c.Store.ListProgress(ctx)
}
func (c *counting) GetBlob(ctx context.Context, k store.BlobKind, key string) (store.Blob, error) {
	c.n["GetBlob:"+string(k)]++
	return c.Store.GetBlob(ctx, k, key)
}
func (c *counting) PutBlobs(ctx context.Context, k store.BlobKind, b []store.Blob) ([]string, error) {
	c.n[fmt.Sprintf("PutBlobs:%s:%d", k, len(b))]++
	return c.Store.PutBlobs(ctx, k, b)
}
func (c *counting) DeleteBlobs(ctx context.Context, k store.BlobKind, keys []string) error {
	c.n[fmt.Sprintf("DeleteBlobs:%s:%d", k, len(keys))]++
	return c.Store.DeleteBlobs(ctx, k, keys)
}
func (c *counting) PutDiagnoses(ctx context.Context, d []classify.Diagnosis) error {
	c.n[fmt.Sprintf("PutDiagnoses:%d", len(d))]++
	return c.Store.PutDiagnoses(ctx, d)
}
func (c *counting) PutIncidents(ctx context.Context, d []classify.Incident) error {
	c.n[fmt.Sprintf("PutIncidents:%d", len(d))]++
	return c.Store.PutIncidents(ctx, d)
}
func (c *counting) Enqueue(ctx context.Context, it []store.OutboxItem) error {
	c.n[fmt.Sprintf("Enqueue:%d", len(it))]++
	return c.Store.Enqueue(ctx, it)
}
func (c *counting) DueItems(ctx context.Context, now time.Time, l int) ([]store.OutboxItem, error) {
	c.n["DueItems"]++
	return c.Store.DueItems(ctx, now, l)
}
func (c *counting) ListSilences(ctx context.Context) ([]store.Silence, error) {
	c.n["ListSilences"]++
	return c.Store.ListSilences(ctx)
}
func (c *counting) ListDeadLetters(ctx context.Context, from, to time.Time, l int) ([]store.DeadLetter, error) {
	c.n["ListDeadLetters"]++
	return c.Store.ListDeadLetters(ctx, from, to, l)
}
func (c *counting) AcquireLease(ctx context.Context, a, b string, x, y time.Time) (int64, error) {
	c.n["AcquireLease"]++
	return c.Store.AcquireLease(ctx, a, b, x, y)
}

// TestIdleTicksAreCheap: Evaluate runs every minute whether or not anything
// arrived, so its fixed cost dominates the Table requests of a quiet fleet.
// A process holding the lease renews it every tick, trusts its resident
// state while the lease is unbroken, commits only ticks that changed
// something, and looks at the outbox only after a gap in its lease (it
// enqueues everything itself).
func TestIdleTicksAreCheap(t *testing.T) {
	cs := &counting{Store: store.NewMemory(), n: map[string]int{}}
	c := &clock{t: time.Date(2026, 11, 29, 10, 0, 0, 0, time.UTC)}
	p := newPipeline(t, cs, c, "x")
	for range 20 {
		c.t = c.t.Add(time.Minute)
		if _, err := p.Tick(context.Background()); err != nil {
			t.Fatal(err)
		}
	}
	want := map[string]int{
		"AcquireLease":    20, // every tick: the lease lasts 1.5 timer periods
		"GetBlob:meta":    2,  // the first load only: the evaluate and watch blobs
		"PutBlobs:meta:1": 2,  // the claim at the first load, the first commit
		"DueItems":        1,  // the first tick: after that the holder knows nothing is due
		"ListProgress":    1,  // progress comes with the events: only at a commit
		"ReadEvents":      20,
		"ListSilences":    0, // no alert live, nothing to silence
		"ListDeadLetters": 2, // every 15 minutes: the first tick and the 16th
	}
	for k, n := range want {
		if cs.n[k] != n {
			t.Errorf("%s: %d calls in 20 idle ticks, want %d (all: %v)", k, cs.n[k], n, cs.n)
		}
	}
}
func (c *counting) WriteBlobs(ctx context.Context, k store.BlobKind, puts []store.Blob, deletes []string) error {
	c.n[fmt.Sprintf("WriteBlobs:%s:%d", k, len(puts)+len(deletes))]++
	return c.Store.WriteBlobs(ctx, k, puts, deletes)
}
func (c *counting) ListBlobs(ctx context.Context, k store.BlobKind, fn func([]store.Blob) error) error {
	c.n["ListBlobs:"+string(k)]++
	return c.Store.ListBlobs(ctx, k, fn)
}
