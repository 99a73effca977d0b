package store

import (
	"context"
	"errors"
	"fmt"
)

// Fencing (issue 13): a lease holder that was paused after checking its
// lease and wakes up late must never overwrite state committed by its
// successor. The holder's writes carry its lease epoch (WithFence); a store
// refuses, with ErrFenced, a write under an epoch older than one that has
// already written there.
//
// Memory checks one epoch per fence name for the whole store. Table checks
// it per partition, atomically with the write: every partition a fenced
// holder writes holds a claim row (the highest epoch that wrote there) and
// a marker row of that epoch; a new epoch's first transaction in a
// partition replaces the claim (conditional on its ETag) and deletes the
// old epoch's marker, and every later transaction of a holder includes a
// merge of its own marker, which fails — and with it the whole transaction
// — once a successor has deleted it. A late predecessor can still write to
// a partition its successor has not written yet: nothing of the
// successor's is overwritten there, and the successor's first write there
// fences it out.

// Fence is a writer's fencing token: the name of its lease and the epoch it
// holds it under (AcquireLease).
type Fence struct {
	Name  string
	Epoch int64
}

// ErrFenced is returned (wrapped, together with ErrConflict) when a write
// carries an epoch older than one that has already written there: the
// writer lost its lease and must stop writing.
var ErrFenced = errors.New("store: fenced: a later holder of the lease has written here")

type fenceKey struct{}

// WithFence returns a context whose store writes (PutBlobs, DeleteBlobs,
// WriteBlobs, PutDiagnoses, PutIncidents, Enqueue) are fenced by f: a late
// holder neither overwrites state nor queues notifications its successor
// did not decide. Ingest appends, outbox updates (conditional on their
// ETag already) and purges are not.
func WithFence(ctx context.Context, f Fence) context.Context {
	return context.WithValue(ctx, fenceKey{}, f)
}

// fenceOf returns the context's fence, if it has one with an epoch.
func fenceOf(ctx context.Context) (Fence, bool) {
	f, ok := ctx.Value(fenceKey{}).(Fence)
	return f, ok && f.Epoch > 0 && f.Name != ""
}

// fencedErr reports a write refused by the fence.
func fencedErr(f Fence, newer int64, what string) error {
	return fmt.Errorf("store: %s: epoch %d of lease %q, epoch %d has written since: %w: %w", what, f.Epoch, f.Name, newer, ErrFenced, ErrConflict)
}
