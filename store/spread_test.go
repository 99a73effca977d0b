package store

import (
	"context"
	"errors"
	"fmt"
	"testing"
	"time"

	"github.com/Azure/azure-sdk-for-go/sdk/data/aztables"

	"github.com/disconnect-doctor/disconnect-doctor/classify"
	"github.com/disconnect-doctor/disconnect-doctor/event"
	"github.com/disconnect-doctor/disconnect-doctor/internal/azurite"
)

// azuriteTable is a Table on an Azurite of the test's own.
func azuriteTable(t *testing.T) *Table {
	t.Helper()
	srv := azurite.Start(t, azurite.Options{})
	tb, err := OpenTable(t.Context(), TableOptions{ConnectionString: srv.ConnString(), Prefix: srv.Prefix()})
	if err != nil {
		t.Fatal(err)
	}
	return tb
}

// rowsByPartition counts a table's rows by PartitionKey (fence rows left out).
func rowsByPartition(t *testing.T, tb *Table, suffix string) map[string]int {
	t.Helper()
	out := map[string]int{}
	if err := tb.query(t.Context(), suffix, dataRows, "PartitionKey,RowKey", 0, func(ents []entity) (bool, error) {
		for _, e := range ents {
			out[e.PartitionKey]++
		}
		return true, nil
	}); err != nil {
		t.Fatal(err)
	}
	return out
}

// TestTableDeviceBlobsSpread: device blobs land in all SpreadPartitions partitions, and
// the other kinds stay in one.
func TestTableDeviceBlobsSpread(t *testing.T) {
	t.Parallel()
	tb := azuriteTable(t)
	bs := make([]Blob, 500)
	for i := range bs {
		bs[i] = Blob{Key: fmt.Sprintf("hub/dev%04d", i), Data: []byte("x")}
	}
	if _, err := tb.PutBlobs(t.Context(), DeviceBlobs, bs); err != nil {
		t.Fatal(err)
	}
	if _, err := tb.PutBlobs(t.Context(), AlertBlobs, bs[:50]); err != nil {
		t.Fatal(err)
	}
	parts := rowsByPartition(t, tb, blobTable(DeviceBlobs))
	if len(parts) != SpreadPartitions {
		t.Errorf("device blobs in %d partitions %v, want %d", len(parts), parts, SpreadPartitions)
	}
	for pk, n := range parts {
		if n < 500/SpreadPartitions/2 {
			t.Errorf("partition %s holds %d of 500 device blobs: the hash does not spread", pk, n)
		}
	}
	if parts := rowsByPartition(t, tb, blobTable(AlertBlobs)); len(parts) != 1 || parts[blobPK] != 50 {
		t.Errorf("alert blobs in partitions %v, want all 50 in %q", parts, blobPK)
	}
}

// TestTableDeviceBlobsMigrate: device blobs written by a version that kept
// them all in partition "b" are found by key and listed after an upgrade,
// moved to their partitions by the first use; where the new version has
// already written a blob, its write wins over the old row.
func TestTableDeviceBlobsMigrate(t *testing.T) {
	t.Parallel()
	srv := azurite.Start(t, azurite.Options{})
	ctx := t.Context()
	prefix := srv.Prefix() // every process of the test shares the tables
	old, err := OpenTable(ctx, TableOptions{ConnectionString: srv.ConnString(), Prefix: prefix})
	if err != nil {
		t.Fatal(err)
	}
	// the old layout, written as the previous version did: one partition
	const n = 250
	var ops []op
	for i := range n {
		p := props{}
		if err := putParts(p, []byte(fmt.Sprintf("old %d", i))); err != nil {
			t.Fatal(err)
		}
		rk := EncodeKey(fmt.Sprintf("hub/dev %03d", i))
		body, err := marshalEntity(blobPK, rk, p)
		if err != nil {
			t.Fatal(err)
		}
		ops = append(ops, op{pk: blobPK, rk: rk, typ: aztables.TransactionTypeInsertReplace, body: body})
	}
	if _, _, err := old.writeOps(ctx, blobTable(DeviceBlobs), ops, nil); err != nil {
		t.Fatal(err)
	}
	if got := rowsByPartition(t, old, blobTable(DeviceBlobs)); got[blobPK] != n {
		t.Fatalf("old layout: %v", got)
	}

	// the new version: one process writes a blob first (it migrates, then
	// writes); another one, started after, finds everything where it now
	// belongs. (Not at the same time: Azurite shares one rollback list
	// between concurrent transactions, so a refused insert of one process
	// can remove rows another process's transaction inserted — Azure's
	// transactions are atomic per partition, and an insert there never
	// overwrites.)
	a, err := OpenTable(ctx, TableOptions{ConnectionString: srv.ConnString(), Prefix: prefix})
	if err != nil {
		t.Fatal(err)
	}
	if _, err := a.PutBlobs(ctx, DeviceBlobs, []Blob{{Key: "hub/dev 007", Data: []byte("new 7")}}); err != nil {
		t.Fatal(err)
	}
	b, err := OpenTable(ctx, TableOptions{ConnectionString: srv.ConnString(), Prefix: prefix})
	if err != nil {
		t.Fatal(err)
	}
	for _, tb := range []*Table{a, b} {
		for _, i := range []int{0, 7, 249} {
			got, err := tb.GetBlob(ctx, DeviceBlobs, fmt.Sprintf("hub/dev %03d", i))
			want := fmt.Sprintf("old %d", i)
			if i == 7 {
				want = "new 7"
			}
			if err != nil || string(got.Data) != want {
				t.Errorf("GetBlob(dev %03d) = %q, %v; want %q", i, got.Data, err, want)
			}
		}
		seen := 0
		if err := tb.ListBlobs(ctx, DeviceBlobs, func(bs []Blob) error {
			seen += len(bs)
			return nil
		}); err != nil {
			t.Fatal(err)
		}
		if seen != n {
			t.Errorf("ListBlobs after the upgrade: %d blobs, want %d", seen, n)
		}
	}
	parts := rowsByPartition(t, a, blobTable(DeviceBlobs))
	if parts[blobPK] != 0 || len(parts) != SpreadPartitions {
		t.Errorf("after migration the rows are in %v: want none left in %q, all %d partitions used", parts, blobPK, SpreadPartitions)
	}
}

// TestTableDiagnosesOldAllPartition: diagnoses written by versions that
// also wrote them to partition "all" are listed once after the upgrade,
// across hubs and by hub, and purged with the rest.
func TestTableDiagnosesOldAllPartition(t *testing.T) {
	t.Parallel()
	ctx := t.Context()
	tb := azuriteTable(t)
	t0 := time.Date(2026, 3, 1, 10, 0, 0, 0, time.UTC)
	var ds []classify.Diagnosis
	for i := range 30 {
		k := event.Key{Hub: []string{"hub-a", "hub-b"}[i%2], Device: fmt.Sprintf("d%02d", i)}
		d := classify.Diagnosis{Key: k, Time: t0.Add(time.Duration(i) * time.Minute), Cause: classify.TokenExpiry, Final: true}
		d.EventID = event.NewID(&event.Event{Hub: k.Hub, Device: k.Device, Time: d.Time}, "")
		ds = append(ds, d)
	}
	if err := writeDiagnosesTwice(ctx, tb, ds[:20]); err != nil { // the old version
		t.Fatal(err)
	}
	if err := tb.PutDiagnoses(ctx, ds[10:]); err != nil { // the new one, rewriting 10 of them
		t.Fatal(err)
	}
	for _, q := range []DiagnosisQuery{{}, {Limit: 7}, {Hub: "hub-a"}, {Hub: "hub-b", Limit: 3}} {
		seen := map[event.ID]int{}
		for {
			got, next, err := tb.ListDiagnoses(ctx, q)
			if err != nil {
				t.Fatal(err)
			}
			for _, d := range got {
				seen[d.EventID]++
			}
			if next == "" {
				break
			}
			q.Cursor = next
		}
		want := 30
		if q.Hub != "" {
			want = 15
		}
		if len(seen) != want {
			t.Errorf("%+v: %d diagnoses, want %d", q, len(seen), want)
		}
		for id, n := range seen {
			if n != 1 {
				t.Errorf("%+v: diagnosis %v listed %d times", q, id, n)
			}
		}
	}
	if err := tb.Purge(ctx, t0, t0.Add(time.Hour)); err != nil {
		t.Fatal(err)
	}
	if left := rowsByPartition(t, tb, tDiag); len(left) != 0 {
		t.Errorf("after purging everything, diagnosis rows remain: %v", left)
	}
}

// writeDiagnosesTwice writes diagnoses as versions before this one did: to
// the hub's partition and to "all".
func writeDiagnosesTwice(ctx context.Context, tb *Table, ds []classify.Diagnosis) error {
	if err := tb.PutDiagnoses(ctx, ds); err != nil {
		return err
	}
	var ops []op
	if err := tb.query(ctx, tDiag, dataRows, "", 0, func(ents []entity) (bool, error) {
		for _, e := range ents {
			p := props{}
			for k, v := range e.Properties {
				switch v := v.(type) {
				case aztables.EDMBinary:
					p[k] = []byte(v)
				case aztables.EDMInt64:
					p[k] = int64(v)
				default:
					p[k] = v
				}
			}
			body, err := marshalEntity(diagAllPK, e.RowKey, p)
			if err != nil {
				return false, err
			}
			ops = append(ops, op{pk: diagAllPK, rk: e.RowKey, typ: aztables.TransactionTypeInsertReplace, body: body})
		}
		return true, nil
	}); err != nil {
		return err
	}
	_, _, err := tb.writeOps(ctx, tDiag, ops, nil)
	return err
}

// TestTableDiagnosesShards: a hub's big write lands in its SpreadPartitions
// shards, a small one (and every other hub's) in the hub's partition; a
// fenced big write claims each shard, so an older epoch is fenced out of
// them; Purge removes the shards' rows too.
func TestTableDiagnosesShards(t *testing.T) {
	t.Parallel()
	ctx := t.Context()
	tb := azuriteTable(t)
	big := hubDiagnoses("hub-big", diagSpreadAbove+1)
	small := hubDiagnoses("hub-small", diagSpreadAbove)
	fenced := WithFence(ctx, Fence{Name: "evaluate", Epoch: 2})
	if err := tb.PutDiagnoses(fenced, append(append([]classify.Diagnosis(nil), big...), small...)); err != nil {
		t.Fatal(err)
	}
	parts := rowsByPartition(t, tb, tDiag)
	if len(parts) != SpreadPartitions+1 || parts[diagHubPK("hub-small")] != diagSpreadAbove {
		t.Fatalf("partitions after a write of %d rows of hub-big and %d of hub-small: %v; want hub-big's in %d shards, hub-small's in one",
			len(big), len(small), parts, SpreadPartitions)
	}
	for i := range SpreadPartitions {
		pk := fmt.Sprintf("%s!%02x", diagHubPK("hub-big"), i)
		if parts[pk] < len(big)/SpreadPartitions/2 {
			t.Errorf("shard %s holds %d of %d rows: the hash does not spread", pk, parts[pk], len(big))
		}
	}
	// a small write of the big hub goes to its partition
	if err := tb.PutDiagnoses(fenced, big[:3]); err != nil {
		t.Fatal(err)
	}
	if parts := rowsByPartition(t, tb, tDiag); parts[diagHubPK("hub-big")] != 3 {
		t.Errorf("a 3-row write of hub-big: partitions %v, want 3 rows in %s", parts, diagHubPK("hub-big"))
	}
	stale := WithFence(ctx, Fence{Name: "evaluate", Epoch: 1})
	if err := tb.PutDiagnoses(stale, big); !errors.Is(err, ErrFenced) {
		t.Errorf("a big write under an older epoch: %v, want ErrFenced", err)
	}
	if err := tb.Purge(ctx, shardT0, shardT0.Add(time.Hour)); err != nil {
		t.Fatal(err)
	}
	if left := rowsByPartition(t, tb, tDiag); len(left) != 0 {
		t.Errorf("after purging everything, diagnosis rows remain: %v", left)
	}
}

var shardT0 = time.Date(2026, 3, 1, 10, 0, 0, 0, time.UTC)

// hubDiagnoses returns n diagnoses of hub's devices, a second apart.
func hubDiagnoses(hub string, n int) []classify.Diagnosis {
	ds := make([]classify.Diagnosis, n)
	for i := range ds {
		k := event.Key{Hub: hub, Device: fmt.Sprintf("d%05d", i)}
		ds[i] = classify.Diagnosis{Key: k, Time: shardT0.Add(time.Duration(i) * time.Second), Cause: classify.TokenExpiry, Final: true}
		ds[i].EventID = event.NewID(&event.Event{Hub: k.Hub, Device: k.Device, Time: ds[i].Time}, "")
	}
	return ds
}
