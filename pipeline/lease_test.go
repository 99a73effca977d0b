package pipeline

import (
	"context"
	"encoding/json"
	"errors"
	"sync"
	"testing"
	"time"

	"github.com/disconnect-doctor/disconnect-doctor/store"
)

// pausing is a store that holds its caller in its first DeleteBlobs (the
// start of a commit, after the tick's lease check) until released: a holder
// paused between checking its lease and committing.
type pausing struct {
	store.Store
	entered, release chan struct{}
	once             sync.Once
}

func (s *pausing) DeleteBlobs(ctx context.Context, kind store.BlobKind, keys []string) error {
	s.once.Do(func() {
		s.entered <- struct{}{}
		<-s.release
	})
	return s.Store.DeleteBlobs(ctx, kind, keys)
}

// TestStaleCommitRejected: a holder that passed its lease check and then
// stalled past its lease has its commit rejected by the ETag/epoch check
// once a successor has claimed the state; the successor's meta survives.
func TestStaleCommitRejected(t *testing.T) {
	ctx := context.Background()
	mem := store.NewMemory()
	c := &clock{t: time.Date(2026, 11, 29, 10, 0, 0, 0, time.UTC)}
	slow := &pausing{Store: mem, entered: make(chan struct{}), release: make(chan struct{})}
	a, b := newPipeline(t, slow, c, "a"), newPipeline(t, mem, c, "b")
	errA := make(chan error, 1)
	go func() { _, err := a.Tick(ctx); errA <- err }()
	<-slow.entered // a holds epoch 1, checked its lease, and stalls
	c.t = c.t.Add(a.leaseTTL() + time.Minute)
	if r, err := b.Tick(ctx); err != nil || r.Skipped != "" {
		t.Fatalf("successor: %+v %v", r, err)
	}
	before, err := mem.GetBlob(ctx, store.MetaBlobs, metaKey)
	if err != nil {
		t.Fatal(err)
	}
	close(slow.release)
	if err := <-errA; !errors.Is(err, store.ErrConflict) {
		t.Fatalf("the stale holder's tick: %v, want a conflict on its commit", err)
	}
	after, err := mem.GetBlob(ctx, store.MetaBlobs, metaKey)
	if err != nil {
		t.Fatal(err)
	}
	var m meta
	if err := json.Unmarshal(after.Data, &m); err != nil {
		t.Fatal(err)
	}
	if after.ETag != before.ETag || m.Epoch != 2 {
		t.Errorf("the successor's commit was overwritten: epoch %d, ETag %s (was %s)", m.Epoch, after.ETag, before.ETag)
	}
}

// TestLeaseFollowsThePeriod: the lease lasts 1.5 measured timer periods and
// a live holder keeps it from tick to tick; a holder that stops ticking is
// replaced at the second timer occurrence after its last tick.
func TestLeaseFollowsThePeriod(t *testing.T) {
	ctx := context.Background()
	st := store.NewMemory()
	c := &clock{t: time.Date(2026, 11, 29, 10, 0, 0, 0, time.UTC)}
	a, b := newPipeline(t, st, c, "a"), newPipeline(t, st, c, "b")
	const period = 20 * time.Second
	for range 4 {
		if r, _ := a.Tick(ctx); r.Skipped != "" {
			t.Fatal("the holder lost its lease while ticking")
		}
		if r, _ := b.Tick(ctx); r.Skipped == "" {
			t.Fatal("two instances evaluated at one occurrence")
		}
		c.t = c.t.Add(period)
	}
	if got := a.leaseTTL(); got != 30*time.Second {
		t.Errorf("lease TTL %v, want 1.5 periods (30s)", got)
	}
	// a vanished after its tick one period ago; b ticks on.
	if r, _ := b.Tick(ctx); r.Skipped == "" {
		t.Fatal("b took over one period after a's last tick (its lease has half a period left)")
	}
	c.t = c.t.Add(period)
	if r, err := b.Tick(ctx); err != nil || r.Skipped != "" {
		t.Fatalf("b did not take over two periods after a's last tick: %+v %v", r, err)
	}
}

// stalling advances the shared clock by d at the first blob write after it is
// armed: a tick that runs long on a loaded instance, past its lease check.
type stalling struct {
	store.Store
	c     *clock
	d     time.Duration
	armed bool
}

func (s *stalling) stall() {
	if s.armed {
		s.armed = false
		s.c.t = s.c.t.Add(s.d)
	}
}

func (s *stalling) PutBlobs(ctx context.Context, kind store.BlobKind, blobs []store.Blob) ([]string, error) {
	s.stall()
	return s.Store.PutBlobs(ctx, kind, blobs)
}

func (s *stalling) WriteBlobs(ctx context.Context, kind store.BlobKind, puts []store.Blob, deletes []string) error {
	s.stall()
	return s.Store.WriteBlobs(ctx, kind, puts, deletes)
}

// TestLongTickKeepsItsLease: a holder whose tick runs most of its lease
// renews it as the tick ends, so another instance's timer firing shortly
// after does not take evaluation over from a holder that is alive.
func TestLongTickKeepsItsLease(t *testing.T) {
	ctx := context.Background()
	mem := store.NewMemory()
	c := &clock{t: time.Date(2026, 11, 29, 10, 0, 0, 0, time.UTC)}
	slow := &stalling{Store: mem, c: c}
	a, b := newPipeline(t, slow, c, "a"), newPipeline(t, mem, c, "b")
	const period = 20 * time.Second
	// a measures the period (its lease lasts 30 s); the first tick and
	// the long one, commitTicks later, commit: it writes blobs after its
	// lease check.
	for range commitTicks {
		if r, err := a.Tick(ctx); err != nil || r.Skipped != "" {
			t.Fatalf("holder: %+v %v", r, err)
		}
		c.t = c.t.Add(period)
	}
	ingestLogs(t, a, "logs/0", logRecord(c.t.Add(-time.Minute), "Connections", "deviceConnect", "", "d1"))
	slow.d, slow.armed = 25*time.Second, true
	if r, err := a.Tick(ctx); err != nil || r.Skipped != "" {
		t.Fatalf("long tick: %+v %v", r, err)
	}
	if slow.armed {
		t.Fatal("the tick wrote nothing: the test did not stall it")
	}
	c.t = c.t.Add(6 * time.Second) // 31 s after the long tick began
	if r, err := b.Tick(ctx); err != nil || r.Skipped == "" {
		t.Fatalf("another instance took over from a live holder whose tick ran long: %+v %v", r, err)
	}
}
