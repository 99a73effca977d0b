package pipeline

import (
	"context"
	"errors"
	"fmt"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/Azure/azure-sdk-for-go/sdk/azcore/policy"

	"github.com/disconnect-doctor/disconnect-doctor/classify"
	"github.com/disconnect-doctor/disconnect-doctor/event"
	"github.com/disconnect-doctor/disconnect-doctor/internal/azurite"
	"github.com/disconnect-doctor/disconnect-doctor/store"
)

// freezing is a store that, once armed, holds its caller in the first state
// write (a blob write or delete, diagnoses, incidents, the outbox) until released: a
// holder paused after its lease check, before its writes land.
type freezing struct {
	store.Store
	armed            atomic.Bool
	entered, release chan struct{}
	once             sync.Once
}

func (s *freezing) hold() {
	if s.armed.Load() {
		s.once.Do(func() {
			s.entered <- struct{}{}
			<-s.release
		})
	}
}

func (s *freezing) PutBlobs(ctx context.Context, k store.BlobKind, b []store.Blob) ([]string, error) {
	s.hold()
	return s.Store.PutBlobs(ctx, k, b)
}

func (s *freezing) DeleteBlobs(ctx context.Context, k store.BlobKind, keys []string) error {
	s.hold()
	return s.Store.DeleteBlobs(ctx, k, keys)
}

func (s *freezing) PutDiagnoses(ctx context.Context, d []classify.Diagnosis) error {
	s.hold()
	return s.Store.PutDiagnoses(ctx, d)
}

func (s *freezing) Enqueue(ctx context.Context, items []store.OutboxItem) error {
	s.hold()
	return s.Store.Enqueue(ctx, items)
}

func (s *freezing) PutIncidents(ctx context.Context, in []classify.Incident) error {
	s.hold()
	return s.Store.PutIncidents(ctx, in)
}

// stateSnapshot renders every stored row of the Evaluate side — blobs of
// every kind with their ETags, diagnoses, incidents, outbox items — by key.
func stateSnapshot(t *testing.T, st store.Store) map[string]string {
	t.Helper()
	ctx := context.Background()
	out := map[string]string{}
	for _, kind := range []store.BlobKind{store.DeviceBlobs, store.HubBlobs, store.AlertBlobs, store.MetaBlobs,
		store.RollupBlobs, store.RollupMemberBlobs} {
		if err := st.ListBlobs(ctx, kind, func(bs []store.Blob) error {
			for _, b := range bs {
				out[string(kind)+"/"+b.Key] = b.ETag + " " + string(b.Data)
			}
			return nil
		}); err != nil {
			t.Fatal(err)
		}
	}
	q := store.DiagnosisQuery{Limit: 1000}
	for {
		ds, next, err := st.ListDiagnoses(ctx, q)
		if err != nil {
			t.Fatal(err)
		}
		for _, d := range ds {
			out["diagnosis/"+d.Key.String()+"/"+d.EventID.String()] = fmt.Sprintf("%+v", d)
		}
		if next == "" {
			break
		}
		q.Cursor = next
	}
	items, err := st.ListItems(ctx, time.Time{}, time.Date(3000, 1, 1, 0, 0, 0, 0, time.UTC))
	if err != nil {
		t.Fatal(err)
	}
	for _, it := range items {
		out["outbox/"+it.ID] = it.ETag + " " + string(it.State)
	}
	is, err := st.ListIncidents(ctx, "", nil)
	if err != nil {
		t.Fatal(err)
	}
	for _, in := range is {
		out["incident/"+in.ID] = fmt.Sprintf("%+v", in)
	}
	return out
}

// TestLateHolderOverwritesNothing (issue 13, fencing): an Evaluate holder
// that passed its lease check and was paused before its writes landed
// wakes up after its successor took the lease over and committed: none of
// its writes — alert state, diagnoses, incidents, device and hub state,
// the cursor — lands over what the successor stored. On the embedded store
// and on Table storage (Azurite).
func TestLateHolderOverwritesNothing(t *testing.T) {
	t.Parallel()
	srv := azurite.Start(t, azurite.Options{})
	for _, c := range []struct {
		name string
		open func(t *testing.T) store.Store
	}{
		{"memory", func(*testing.T) store.Store { return store.NewMemory() }},
		{"table", func(t *testing.T) store.Store {
			tb, err := store.OpenTable(t.Context(), store.TableOptions{ConnectionString: srv.ConnString(), Prefix: srv.Prefix(),
				Retry: policy.RetryOptions{MaxRetries: 1}})
			if err != nil {
				t.Fatal(err)
			}
			return tb
		}},
	} {
		t.Run(c.name, func(t *testing.T) { lateHolder(t, c.open(t)) })
	}
}

func lateHolder(t *testing.T, st store.Store) {
	ctx := context.Background()
	t0 := time.Date(2026, 11, 29, 10, 0, 0, 0, time.UTC)
	clk := &clock{t: t0}
	slow := &freezing{Store: st, entered: make(chan struct{}), release: make(chan struct{})}
	sink := &recorder{}
	a, b := hubPipeline(t, slow, clk, "a", sink), hubPipeline(t, st, clk, "b", sink)

	// a holds the lease and evaluates the first wave of a hub incident.
	ingestAll(t, a, hubBurst("hub", t0.Add(-20*time.Minute), 40))
	if _, err := a.Drain(ctx, 10*time.Minute); err != nil {
		t.Fatal(err)
	}
	// a second wave arrives; a checks its lease and is paused before it
	// writes anything of it.
	clk.t = clk.t.Add(time.Minute)
	ingestAll(t, a, hubBurst("hub", t0.Add(-5*time.Minute), 40))
	slow.armed.Store(true)
	errA := make(chan error, 1)
	go func() { _, err := a.Drain(ctx, 10*time.Minute); errA <- err }()
	<-slow.entered

	// a's lease runs out; b takes it over and commits the same wave.
	clk.t = clk.t.Add(a.leaseTTL() + time.Minute)
	r, err := b.Drain(ctx, 10*time.Minute)
	if err != nil || r.Skipped != "" {
		t.Fatalf("the successor: %+v %v", r, err)
	}
	if r.Diagnoses == 0 {
		t.Fatal("the successor diagnosed nothing: the test would not see a late write of diagnoses")
	}
	before := stateSnapshot(t, st)

	close(slow.release)
	if err := <-errA; !errors.Is(err, store.ErrConflict) {
		t.Fatalf("the late holder's tick: %v, want its writes refused (a conflict)", err)
	}
	after := stateSnapshot(t, st)
	for k, v := range before {
		if after[k] != v {
			t.Errorf("the late holder overwrote %s", k)
		}
	}
	for k := range after {
		if _, ok := before[k]; !ok {
			t.Errorf("the late holder wrote %s, which its successor had not", k)
		}
	}
}

// TestTickOutlivingItsLeaseAlone: a tick that runs past its lease (a loaded
// instance) while no other instance took the lease over renews it under
// the same epoch and completes; it is not "fenced" by its own clock (the
// single-process Azurite test failed an Evaluate this way under load).
func TestTickOutlivingItsLeaseAlone(t *testing.T) {
	ctx := context.Background()
	mem := store.NewMemory()
	c := &clock{t: time.Date(2026, 11, 29, 10, 0, 0, 0, time.UTC)}
	slow := &readStalling{Store: mem, c: c}
	a := newPipeline(t, slow, c, "a")
	if r, err := a.Tick(ctx); err != nil || r.Skipped != "" {
		t.Fatalf("first tick: %+v %v", r, err)
	}
	c.t = c.t.Add(time.Minute)
	ingestLogs(t, a, "logs/0", logRecord(c.t.Add(-time.Minute), "Connections", "deviceConnect", "", "d1"))
	slow.d, slow.armed = 2*a.leaseTTL(), true
	if r, err := a.Tick(ctx); err != nil || r.Skipped != "" {
		t.Fatalf("a tick outliving its lease, nobody else evaluating: %+v %v", r, err)
	}
	if slow.armed {
		t.Fatal("the tick read nothing: the test did not stall it")
	}
	c.t = c.t.Add(time.Minute)
	if r, err := a.Tick(ctx); err != nil || r.Skipped != "" {
		t.Fatalf("the next tick: %+v %v", r, err)
	}
}

// readStalling advances the shared clock by d in the first ReadEvents after
// it is armed: a tick whose read and decide phases run long, before its
// lease check.
type readStalling struct {
	store.Store
	c     *clock
	d     time.Duration
	armed bool
}

func (s *readStalling) ReadEvents(ctx context.Context, from, to time.Time, fn func([]event.Event, []store.Mark) error) error {
	if s.armed {
		s.armed = false
		s.c.t = s.c.t.Add(s.d)
	}
	return s.Store.ReadEvents(ctx, from, to, fn)
}
