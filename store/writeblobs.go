package store

import (
	"context"
	"fmt"
	"net/http"

	"github.com/Azure/azure-sdk-for-go/sdk/data/aztables"
	"golang.org/x/sync/errgroup"
)

// WriteBlobs writes and deletes blobs of one kind in entity-group
// transactions (one per 100 rows of a partition, up to 4 at once); see
// Store. A transaction whose delete finds no row fails as a whole (404):
// it is redone as a transaction of its puts and the deletes one by one,
// ignoring the missing rows.
func (t *Table) WriteBlobs(ctx context.Context, kind BlobKind, puts []Blob, deletes []string) error {
	if err := checkBlobs(kind, puts); err != nil {
		return err
	}
	ops := make([]op, 0, len(puts)+len(deletes))
	seen := make(map[string]bool, len(puts)+len(deletes))
	for i := range puts {
		body, err := blobEntity(&puts[i])
		if err != nil {
			return fmt.Errorf("store: write %s blob %q: %w", kind, puts[i].Key, err)
		}
		rk := EncodeKey(puts[i].Key)
		seen[rk] = true
		ops = append(ops, op{pk: blobPK, rk: rk, typ: aztables.TransactionTypeInsertReplace, body: body})
	}
	for _, k := range deletes {
		if rk := EncodeKey(k); !seen[rk] {
			seen[rk] = true
			ops = append(ops, op{pk: blobPK, rk: rk, typ: aztables.TransactionTypeDelete})
		}
	}
	suffix := blobTable(kind)
	g, gctx := errgroup.WithContext(ctx)
	g.SetLimit(4)
	for _, ch := range chunkOps(ops) {
		g.Go(func() error {
			err := t.do(gctx, suffix, func(c *aztables.Client) error { return submit(gctx, c, ch) })
			if st, _ := statusOf(err); st == http.StatusNotFound {
				err = t.redoWithoutMissing(gctx, suffix, ch)
			}
			return err
		})
	}
	return wrap(ctx, g.Wait(), "write %d %s blobs, delete %d", len(puts), kind, len(ops)-len(puts))
}

// redoWithoutMissing redoes a transaction that failed on a missing row:
// its puts as one transaction, then its deletes one by one (deleteOps).
func (t *Table) redoWithoutMissing(ctx context.Context, suffix string, ch []op) error {
	var puts, dels []op
	for _, o := range ch {
		if o.typ == aztables.TransactionTypeDelete {
			dels = append(dels, o)
		} else {
			puts = append(puts, o)
		}
	}
	if err := t.do(ctx, suffix, func(c *aztables.Client) error { return submit(ctx, c, puts) }); err != nil {
		return err
	}
	return t.deleteOps(ctx, suffix, dels)
}
