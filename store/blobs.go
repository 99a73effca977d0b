package store

import (
	"context"
	"fmt"
	"hash/fnv"

	"github.com/Azure/azure-sdk-for-go/sdk/azcore"
	"github.com/Azure/azure-sdk-for-go/sdk/data/aztables"
)

// Blobs live in table blob<kind>. Most kinds are few and live in one
// partition, "b". Device blobs are one per tracked device, and a whole
// hub's devices change at once when it drops, so they are spread over
// SpreadPartitions partitions by a stable hash of the key: Table storage
// serves about 2 000 entities/s per partition and 20 000/s per account, and
// writeOps runs the partitions' transactions in parallel. A key's partition
// is computed, so reading one blob stays one request.

const (
	blobPK       = "b"
	spreadPrefix = "s"
)

// SpreadPartitions is how many partitions a spread kind uses ("s00" to
// "s07"). Eight is as many as writeOps runs transactions at once and gives
// a whole hub's device state ~16 000 entities/s, under the account's
// 20 000/s with room for ingest (a 100 000-device hub's drop written in ~6 s at those rates). More
// would cost a small fleet more: a commit's few changed devices fall in
// nearly as many partitions, one transaction each (measured requests per
// record with Event Grid at 300 devices: 16 partitions 0.555, 8 0.487,
// 4 0.451). It is part of the stored layout: changing it moves every key.
const SpreadPartitions = 8

// spread reports whether a kind's blobs are spread over partitions.
func spread(kind BlobKind) bool { return kind == DeviceBlobs }

// spreadSuffix names key's shard among SpreadPartitions: two hex digits of
// FNV-1a of the key modulo SpreadPartitions. Device blobs and a big write's
// diagnoses (diagnoses.go) spread by it, so a key always lands in the same
// shard.
func spreadSuffix(key string) string {
	h := fnv.New32a()
	_, _ = h.Write([]byte(key))
	return shardSuffix(h.Sum32() % SpreadPartitions)
}

// shardSuffix is the name of shard i (< SpreadPartitions): two hex digits.
func shardSuffix(i uint32) string { return fmt.Sprintf("%02x", i) }

// blobPartition is the PartitionKey of a blob: for a spread kind, its
// spreadSuffix after spreadPrefix.
func blobPartition(kind BlobKind, key string) string {
	if !spread(kind) {
		return blobPK
	}
	return spreadPrefix + spreadSuffix(key)
}

// blobFilter selects every data row of a kind's partitions.
func blobFilter(kind BlobKind) string {
	if spread(kind) {
		return "PartitionKey gt '" + spreadPrefix + "' and PartitionKey lt 't' and " + dataRows
	}
	return "PartitionKey eq '" + blobPK + "' and " + dataRows
}

func blobEntity(kind BlobKind, b *Blob) ([]byte, error) {
	p := props{}
	if err := putParts(p, b.Data); err != nil {
		return nil, err
	}
	return marshalEntity(blobPartition(kind, b.Key), EncodeKey(b.Key), p)
}

func (e *entity) blob() (Blob, error) {
	k, err := DecodeKey(e.RowKey)
	if err != nil {
		return Blob{}, err
	}
	data, err := e.parts()
	if err != nil {
		return Blob{}, err
	}
	if data == nil {
		data = []byte{}
	}
	return Blob{Key: k, Data: data, ETag: e.ETag}, nil
}

// migrate moves, once per process and kind, the rows a spread kind has in
// the single partition of versions before spreading to their partitions:
// each is inserted where it now belongs unless a row is already there (a
// newer write wins), then deleted. Any process may run it, several at once:
// inserts never overwrite, and deletes of rows already gone are no error.
// It runs before the kind's first read or write, so that nothing is ever
// looked for in the old place.
func (t *Table) migrate(ctx context.Context, kind BlobKind) error {
	if !spread(kind) {
		return nil
	}
	t.mu.Lock()
	done := t.migrated[kind]
	t.mu.Unlock()
	if done {
		return nil
	}
	for {
		var old []entity
		err := t.query(ctx, blobTable(kind), "PartitionKey eq '"+blobPK+"' and "+dataRows, "", 1000, func(ents []entity) (bool, error) {
			old = ents
			return false, nil
		})
		if err != nil {
			return wrap(ctx, err, "migrate %s blobs: list the old partition", kind)
		}
		if len(old) == 0 {
			break
		}
		if err := t.moveBlobs(ctx, kind, old); err != nil {
			return err
		}
	}
	t.mu.Lock()
	t.migrated[kind] = true
	t.mu.Unlock()
	return nil
}

// moveBlobs inserts old-layout rows at their partitions (keeping rows
// already there) and deletes them from the old partition.
func (t *Table) moveBlobs(ctx context.Context, kind BlobKind, old []entity) error {
	adds := make([]op, 0, len(old))
	dels := make([]op, 0, len(old))
	for i := range old {
		b, err := old[i].blob()
		if err != nil {
			return fmt.Errorf("store: migrate %s blob %s: %w", kind, old[i].RowKey, err)
		}
		body, err := blobEntity(kind, &b)
		if err != nil {
			return fmt.Errorf("store: migrate %s blob %q: %w", kind, b.Key, err)
		}
		adds = append(adds, op{pk: blobPartition(kind, b.Key), rk: old[i].RowKey, typ: aztables.TransactionTypeAdd, body: body})
		dels = append(dels, op{pk: blobPK, rk: old[i].RowKey, typ: aztables.TransactionTypeDelete})
	}
	_, refused, err := t.writeOps(ctx, blobTable(kind), adds, nil)
	if err != nil {
		return wrap(ctx, err, "migrate %d %s blobs", len(adds), kind)
	}
	for _, i := range refused { // a transaction with a row already there: one by one
		_, _, err := t.writeOps(ctx, blobTable(kind), adds[i:i+1], nil)
		if err != nil && !refusedStatus(err) {
			return wrap(ctx, err, "migrate %s blob %s", kind, adds[i].rk)
		}
	}
	return wrap(ctx, t.deleteOps(ctx, blobTable(kind), dels), "migrate %d %s blobs: delete the old rows", len(dels), kind)
}

// GetBlob reads one blob; ErrNotFound if absent.
func (t *Table) GetBlob(ctx context.Context, kind BlobKind, key string) (Blob, error) {
	if err := checkKind(kind); err != nil {
		return Blob{}, err
	}
	if err := t.migrate(ctx, kind); err != nil {
		return Blob{}, err
	}
	var b Blob
	err := t.do(ctx, blobTable(kind), func(c *aztables.Client) error {
		resp, err := c.GetEntity(ctx, blobPartition(kind, key), EncodeKey(key), nil)
		if err != nil {
			return err
		}
		e, err := parseEntity(resp.Value)
		if err != nil {
			return err
		}
		b, err = e.blob()
		b.ETag = string(resp.ETag)
		return err
	})
	if err != nil {
		return Blob{}, wrap(ctx, err, "get %s blob %q", kind, key)
	}
	return b, nil
}

// ListBlobs calls fn for every page of blobs of kind: one query over all of
// the kind's partitions (in partition, then encoded-key order).
func (t *Table) ListBlobs(ctx context.Context, kind BlobKind, fn func([]Blob) error) error {
	if err := checkKind(kind); err != nil {
		return err
	}
	if err := t.migrate(ctx, kind); err != nil {
		return err
	}
	var fnErr error
	err := t.query(ctx, blobTable(kind), blobFilter(kind), "", 0, func(ents []entity) (bool, error) {
		bs := make([]Blob, 0, len(ents))
		for i := range ents {
			b, err := ents[i].blob()
			if err != nil {
				return false, err
			}
			bs = append(bs, b)
		}
		if err := fn(bs); err != nil {
			fnErr = err
			return false, err
		}
		return true, nil
	})
	if fnErr != nil {
		return fnErr
	}
	return wrap(ctx, err, "list %s blobs", kind)
}

// PutBlobs writes blobs; see Store. Blobs with a stale ETag are not written
// and reported with ErrConflict after the others are written.
//
// The blobs go in transactions of one partition each (writeOps: parallel,
// fenced by the context's Fence), whose responses carry the new ETags. A
// transaction refused for one stale ETag is redone blob by blob to find it.
func (t *Table) PutBlobs(ctx context.Context, kind BlobKind, blobs []Blob) ([]string, error) {
	if err := checkBlobs(kind, blobs); err != nil {
		return nil, err
	}
	if err := t.migrate(ctx, kind); err != nil {
		return nil, err
	}
	ops := make([]op, len(blobs))
	for i := range blobs {
		b := &blobs[i]
		body, err := blobEntity(kind, b)
		if err != nil {
			return nil, fmt.Errorf("store: put %s blob %q: %w", kind, b.Key, err)
		}
		ops[i] = op{pk: blobPartition(kind, b.Key), rk: EncodeKey(b.Key), typ: aztables.TransactionTypeInsertReplace, body: body}
		if b.ETag != "" {
			m := azcore.ETag(b.ETag)
			ops[i].typ, ops[i].ifMatch = aztables.TransactionTypeUpdateReplace, &m
		}
	}
	f := fenceFor(ctx)
	tags, refused, err := t.writeOps(ctx, blobTable(kind), ops, f)
	if err != nil {
		return nil, wrap(ctx, err, "put %d %s blobs", len(blobs), kind)
	}
	var conflicts []string
	for _, i := range refused {
		tg, again, err := t.writeOps(ctx, blobTable(kind), ops[i:i+1], f)
		if err != nil {
			return nil, wrap(ctx, err, "put %s blob %q", kind, blobs[i].Key)
		}
		if len(again) > 0 {
			conflicts = append(conflicts, blobs[i].Key)
			continue
		}
		tags[i] = tg[0]
	}
	if conflicts != nil {
		return tags, conflictErr(kind, conflicts)
	}
	return tags, nil
}

// DeleteBlobs removes blobs by key in transactions (fenced by the
// context's Fence); missing keys are not an error (a transaction that hits
// one is redone one row at a time).
func (t *Table) DeleteBlobs(ctx context.Context, kind BlobKind, keys []string) error {
	if err := checkKind(kind); err != nil {
		return err
	}
	if len(keys) == 0 {
		return nil
	}
	if err := t.migrate(ctx, kind); err != nil {
		return err
	}
	seen := map[string]bool{}
	var ops []op
	for _, k := range keys {
		rk := EncodeKey(k)
		if !seen[rk] {
			seen[rk] = true
			ops = append(ops, op{pk: blobPartition(kind, k), rk: rk, typ: aztables.TransactionTypeDelete})
		}
	}
	f := fenceFor(ctx)
	_, refused, err := t.writeOps(ctx, blobTable(kind), ops, f)
	for _, i := range refused {
		if err != nil {
			break
		}
		_, _, err = t.writeOps(ctx, blobTable(kind), ops[i:i+1], f) // a row already gone is refused: fine
	}
	return wrap(ctx, err, "delete %d %s blobs", len(ops), kind)
}
