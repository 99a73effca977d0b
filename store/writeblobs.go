package store

import (
	"context"
	"fmt"

	"github.com/Azure/azure-sdk-for-go/sdk/data/aztables"
)

// WriteBlobs writes and deletes blobs of one kind in entity-group
// transactions of one partition each (writeOps: parallel, fenced by the
// context's Fence); see Store. A transaction refused for a row's reason —
// a delete that finds no row — is redone as its puts together and its
// deletes one by one, the missing rows ignored.
func (t *Table) WriteBlobs(ctx context.Context, kind BlobKind, puts []Blob, deletes []string) error {
	if err := checkBlobs(kind, puts); err != nil {
		return err
	}
	if len(puts) == 0 && len(deletes) == 0 {
		return nil
	}
	if err := t.migrate(ctx, kind); err != nil {
		return err
	}
	ops := make([]op, 0, len(puts)+len(deletes))
	seen := make(map[string]bool, len(puts)+len(deletes))
	for i := range puts {
		body, err := blobEntity(kind, &puts[i])
		if err != nil {
			return fmt.Errorf("store: write %s blob %q: %w", kind, puts[i].Key, err)
		}
		rk := EncodeKey(puts[i].Key)
		seen[rk] = true
		ops = append(ops, op{pk: blobPartition(kind, puts[i].Key), rk: rk, typ: aztables.TransactionTypeInsertReplace, body: body})
	}
	for _, k := range deletes {
		if rk := EncodeKey(k); !seen[rk] {
			seen[rk] = true
			ops = append(ops, op{pk: blobPartition(kind, k), rk: rk, typ: aztables.TransactionTypeDelete})
		}
	}
	f := fenceFor(ctx)
	suffix := blobTable(kind)
	_, refused, err := t.writeOps(ctx, suffix, ops, f)
	if err == nil && len(refused) > 0 {
		err = t.redoRefused(ctx, suffix, ops, refused, f)
	}
	return wrap(ctx, err, "write %d %s blobs, delete %d", len(puts), kind, len(ops)-len(puts))
}

// redoRefused redoes the operations of refused transactions: the upserts
// together, then each delete alone (one refused again found no row).
func (t *Table) redoRefused(ctx context.Context, suffix string, ops []op, refused []int, f *Fence) error {
	var ups []op
	var dels []int
	for _, i := range refused {
		if ops[i].typ == aztables.TransactionTypeDelete {
			dels = append(dels, i)
		} else {
			ups = append(ups, ops[i])
		}
	}
	if len(ups) > 0 {
		if err := t.upsertOps(ctx, suffix, ups, f); err != nil {
			return err
		}
	}
	for _, i := range dels {
		if _, _, err := t.writeOps(ctx, suffix, ops[i:i+1], f); err != nil {
			return err
		}
	}
	return nil
}
