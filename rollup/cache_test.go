package rollup

import (
	"context"
	"fmt"
	"testing"
	"time"

	"github.com/disconnect-doctor/disconnect-doctor/classify"
	"github.com/disconnect-doctor/disconnect-doctor/event"
	"github.com/disconnect-doctor/disconnect-doctor/store"
)

// countingStore counts blob reads and writes by kind.
type countingStore struct {
	store.Store
	gets, writes map[store.BlobKind]int
}

func (c *countingStore) GetBlob(ctx context.Context, k store.BlobKind, key string) (store.Blob, error) {
	c.gets[k]++
	return c.Store.GetBlob(ctx, k, key)
}

func (c *countingStore) WriteBlobs(ctx context.Context, k store.BlobKind, puts []store.Blob, dels []string) error {
	c.writes[k]++
	return c.Store.WriteBlobs(ctx, k, puts, dels)
}

// TestRollupReadsAndWritesOnlyWhatChanged: a Rollup holding its rows reads
// no member row of a minute its day row counts nothing in (the read could
// only find nothing), writes nothing when staging the same output again,
// writes each kind in one call per Flush, and a new Rollup (another
// instance) reads the member rows it needs and counts on correctly.
func TestRollupReadsAndWritesOnlyWhatChanged(t *testing.T) {
	ctx := context.Background()
	cs := &countingStore{Store: store.NewMemory(), gets: map[store.BlobKind]int{}, writes: map[store.BlobKind]int{}}
	t0 := time.Date(2026, 12, 6, 10, 0, 0, 0, time.UTC)
	diag := func(i int, at time.Time, c classify.Cause) classify.Diagnosis {
		var id event.ID
		id[0], id[1] = byte(i), byte(i>>8)
		return classify.Diagnosis{Key: event.Key{Hub: "h", Device: fmt.Sprintf("d%d", i)}, Time: at, EventID: id, Cause: c}
	}
	r := New(cs, 7*24*time.Hour)
	for m := range 10 { // ten ticks, each with new minutes
		at := t0.Add(time.Duration(m) * time.Minute)
		if err := r.Stage(ctx, []classify.Diagnosis{diag(m, at, classify.Pending), diag(100+m, at, classify.TokenExpiry)}, at.Add(time.Minute), nil); err != nil {
			t.Fatal(err)
		}
	}
	if n := cs.gets[store.RollupMemberBlobs]; n != 0 {
		t.Errorf("%d member rows read for minutes never counted, want 0", n)
	}
	if err := r.Flush(ctx); err != nil {
		t.Fatal(err)
	}
	if cs.writes[store.RollupMemberBlobs] != 1 || cs.writes[store.RollupBlobs] != 1 {
		t.Errorf("flush of ten minutes: %v writes, want one per kind", cs.writes)
	}
	// The same output again (a replayed tick): nothing to write.
	before := cs.writes[store.RollupMemberBlobs] + cs.writes[store.RollupBlobs]
	if err := r.Save(ctx, []classify.Diagnosis{diag(3, t0.Add(3*time.Minute), classify.Pending)}, t0.Add(11*time.Minute), nil); err != nil {
		t.Fatal(err)
	}
	if after := cs.writes[store.RollupMemberBlobs] + cs.writes[store.RollupBlobs]; after != before {
		t.Errorf("an unchanged replay wrote %d times", after-before)
	}
	// Another instance revises minute 3: it reads that minute's members.
	r2 := New(cs, 7*24*time.Hour)
	if err := r2.Save(ctx, []classify.Diagnosis{diag(3, t0.Add(3*time.Minute), classify.DeviceOrNetwork)}, t0.Add(12*time.Minute), nil); err != nil {
		t.Fatal(err)
	}
	if n := cs.gets[store.RollupMemberBlobs]; n != 1 {
		t.Errorf("the new instance read %d member rows, want 1", n)
	}
	sr, err := Read(ctx, cs, "h", t0.Add(3*time.Minute), t0.Add(4*time.Minute))
	if err != nil {
		t.Fatal(err)
	}
	var want Counts
	want[column(classify.DeviceOrNetwork)], want[column(classify.TokenExpiry)] = 1, 1
	if sr.Minutes[0] != want {
		t.Errorf("minute 3 after the revision: %v, want %v", sr.Minutes[0], want)
	}
}
