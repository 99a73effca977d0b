package store

import (
	"bytes"
	"context"
	"fmt"
	"net/http"
	"regexp"
	"sync"

	"github.com/Azure/azure-sdk-for-go/sdk/azcore"
	"github.com/Azure/azure-sdk-for-go/sdk/azcore/policy"
	"github.com/Azure/azure-sdk-for-go/sdk/azcore/runtime"
	"github.com/Azure/azure-sdk-for-go/sdk/data/aztables"
	"golang.org/x/sync/errgroup"
)

// This file holds Table's write path for state: transactions whose new
// ETags are read from the batch response (no read-back query), submitted in
// parallel across partitions with a bounded concurrency, and fenced (see
// fence.go) when the context carries a Fence.

const (
	// writeParallel bounds the transactions one write runs at once: 8 of
	// 100 entities each keep well inside the account's 20 000 entities/s
	// while using several partitions' 2 000/s each.
	writeParallel = 8
	// fenceRoom is the most fence operations a transaction carries (a
	// claim: the claim row, the new marker, the old marker's delete).
	fenceRoom = 3
	// fenceRowPrefix starts the RowKeys of fence rows. EncodeKey escapes
	// '!', so no data row's key starts with it, and every data row's key
	// is >= rowMin.
	fenceRowPrefix = "!fence."
	rowMin         = `"`
)

func claimRK(name string) string { return fenceRowPrefix + name }

func markerRK(name string, epoch int64) string {
	return fmt.Sprintf("%s%s.%019d", fenceRowPrefix, name, epoch)
}

// dataRows is the filter clause that leaves fence rows out of a query.
const dataRows = "RowKey ge '" + rowMin + "'"

var etagRE = regexp.MustCompile(`(?im)^ETag:[ \t]*(\S[^\r\n]*?)[ \t]*\r?$`)

// batchETags reads the new ETag of each operation (in order; "" for a
// delete) from a successful batch response.
func batchETags(resp *http.Response, n int) ([]string, error) {
	if resp == nil {
		return nil, fmt.Errorf("store: transaction response not captured")
	}
	body, err := runtime.Payload(resp)
	if err != nil {
		return nil, fmt.Errorf("store: read transaction response: %w", err)
	}
	parts := bytes.Split(body, []byte("HTTP/1.1 "))
	if len(parts) != n+1 {
		return nil, fmt.Errorf("store: transaction response has %d parts for %d operations", len(parts)-1, n)
	}
	tags := make([]string, n)
	for i, p := range parts[1:] {
		if m := etagRE.FindSubmatch(p); m != nil {
			tags[i] = string(m[1])
		}
	}
	return tags, nil
}

// submitTagged runs one transaction and returns the operations' new ETags.
func (t *Table) submitTagged(ctx context.Context, suffix string, ops []op) ([]string, error) {
	var tags []string
	err := t.do(ctx, suffix, func(c *aztables.Client) error {
		var raw *http.Response
		if err := submit(policy.WithCaptureResponse(ctx, &raw), c, ops); err != nil {
			return err
		}
		var err error
		tags, err = batchETags(raw, len(ops))
		return err
	})
	return tags, err
}

// refusedStatus: the service refused an operation of the transaction for a
// reason of that row (missing, exists, stale ETag); nothing was written.
func refusedStatus(err error) bool {
	st, _ := statusOf(err)
	return st == http.StatusNotFound || st == http.StatusConflict || st == http.StatusPreconditionFailed
}

// writeOps runs ops as transactions of one partition each, at most
// writeParallel at once, fenced by f when it is not nil (a partition not
// yet claimed under f's epoch has its first transaction submitted alone,
// claiming it). It returns the new ETags in input order, and the indexes
// of the operations of transactions the service refused for a row's reason
// (refusedStatus; their tags stay ""): the caller redoes them one by one to
// find out which. A fenced write that lost its fence fails with ErrFenced.
func (t *Table) writeOps(ctx context.Context, suffix string, ops []op, f *Fence) (tags []string, refused []int, err error) {
	ops = append([]op(nil), ops...)
	for i := range ops {
		ops[i].pos = i
	}
	room := maxBatch
	if f != nil {
		room -= fenceRoom
	}
	var first, rest [][]op
	claiming := map[string]bool{}
	for _, ch := range chunkOpsN(ops, room) {
		if f != nil && !claiming[ch[0].pk] && !t.claimed(suffix, ch[0].pk, *f) {
			claiming[ch[0].pk] = true
			first = append(first, ch)
			continue
		}
		rest = append(rest, ch)
	}
	tags = make([]string, len(ops))
	var mu sync.Mutex
	run := func(chunks [][]op) error {
		g, gctx := errgroup.WithContext(ctx)
		g.SetLimit(writeParallel)
		for _, ch := range chunks {
			g.Go(func() error {
				tg, err := t.submitChunk(gctx, suffix, ch, f)
				mu.Lock()
				defer mu.Unlock()
				switch {
				case err == nil:
					for j, o := range ch {
						tags[o.pos] = tg[j]
					}
				case refusedStatus(err):
					for _, o := range ch {
						refused = append(refused, o.pos)
					}
				default:
					return err
				}
				return nil
			})
		}
		return g.Wait()
	}
	if err := run(first); err != nil {
		return nil, nil, err
	}
	if err := run(rest); err != nil {
		return nil, nil, err
	}
	return tags, refused, nil
}

// upsertOps writes unconditional upserts with writeOps; a transaction
// refused all the same (a claim raced by another write of this process) is
// redone once.
func (t *Table) upsertOps(ctx context.Context, suffix string, ops []op, f *Fence) error {
	_, refused, err := t.writeOps(ctx, suffix, ops, f)
	if err != nil || len(refused) == 0 {
		return err
	}
	again := make([]op, len(refused))
	for j, i := range refused {
		again[j] = ops[i]
	}
	if _, refused, err = t.writeOps(ctx, suffix, again, f); err == nil && len(refused) > 0 {
		err = fmt.Errorf("store: %d rows refused: %w", len(refused), ErrConflict)
	}
	return err
}

// submitChunk runs one transaction, with the fence operations of its
// partition first when f is set.
func (t *Table) submitChunk(ctx context.Context, suffix string, ch []op, f *Fence) ([]string, error) {
	if f == nil {
		return t.submitTagged(ctx, suffix, ch)
	}
	pk := ch[0].pk
	var pre []op
	if t.claimed(suffix, pk, *f) {
		pre = []op{markerOp(pk, *f)}
	} else {
		var err error
		if pre, err = t.claimOps(ctx, suffix, pk, *f); err != nil {
			return nil, err
		}
	}
	tags, err := t.submitTagged(ctx, suffix, append(pre, ch...))
	if err == nil {
		t.setClaimed(suffix, pk, f.Epoch)
		return tags[len(pre):], nil
	}
	t.setClaimed(suffix, pk, 0)
	if refusedStatus(err) {
		if ferr := t.checkFence(ctx, suffix, pk, *f); ferr != nil {
			return nil, ferr
		}
	}
	return nil, err
}

// markerOp is the operation every fenced transaction after the claim
// carries: a merge of nothing into the holder's marker row, which fails
// (404) once a successor has deleted the marker.
func markerOp(pk string, f Fence) op {
	exists := azcore.ETagAny
	body, _ := marshalEntity(pk, markerRK(f.Name, f.Epoch), nil)
	return op{pk: pk, rk: markerRK(f.Name, f.Epoch), typ: aztables.TransactionTypeUpdateMerge, body: body, ifMatch: &exists}
}

// readClaim reads a partition's claim row: its epoch and ETag, found=false
// when there is none.
func (t *Table) readClaim(ctx context.Context, suffix, pk string, f Fence) (epoch int64, etag azcore.ETag, found bool, err error) {
	err = t.do(ctx, suffix, func(c *aztables.Client) error {
		resp, err := c.GetEntity(ctx, pk, claimRK(f.Name), nil)
		if err != nil {
			return err
		}
		e, err := parseEntity(resp.Value)
		epoch, etag, found = e.i64("Epoch"), resp.ETag, true
		return err
	})
	if st, _ := statusOf(err); st == http.StatusNotFound {
		return 0, "", false, nil
	}
	return epoch, etag, found, err
}

// claimOps reads the partition's claim row and returns the operations that
// claim the partition for f's epoch in the same transaction as the write:
// the claim row (inserted, or replaced conditionally on its ETag), this
// epoch's marker, and the delete of the previous epoch's marker.
func (t *Table) claimOps(ctx context.Context, suffix, pk string, f Fence) ([]op, error) {
	cur, etag, found, err := t.readClaim(ctx, suffix, pk, f)
	if err != nil {
		return nil, err
	}
	if cur > f.Epoch {
		return nil, fencedErr(f, cur, "write "+suffix)
	}
	claim, err := marshalEntity(pk, claimRK(f.Name), props{"Epoch": f.Epoch})
	if err != nil {
		return nil, err
	}
	marker, err := marshalEntity(pk, markerRK(f.Name, f.Epoch), nil)
	if err != nil {
		return nil, err
	}
	ops := []op{{pk: pk, rk: claimRK(f.Name), typ: aztables.TransactionTypeAdd, body: claim},
		{pk: pk, rk: markerRK(f.Name, f.Epoch), typ: aztables.TransactionTypeInsertReplace, body: marker}}
	if found {
		ops[0].typ, ops[0].ifMatch = aztables.TransactionTypeUpdateReplace, &etag
		if cur < f.Epoch && cur > 0 {
			ops = append(ops, op{pk: pk, rk: markerRK(f.Name, cur), typ: aztables.TransactionTypeDelete})
		}
	}
	return ops, nil
}

// checkFence reports ErrFenced if a later epoch has claimed the partition.
func (t *Table) checkFence(ctx context.Context, suffix, pk string, f Fence) error {
	cur, _, _, err := t.readClaim(ctx, suffix, pk, f)
	if err != nil {
		return err
	}
	if cur > f.Epoch {
		return fencedErr(f, cur, "write "+suffix)
	}
	return nil
}

func claimKey(suffix, pk string) string { return suffix + "\x00" + pk }

// claimed reports whether this process has claimed the partition under f's
// epoch (then a transaction only carries the marker).
func (t *Table) claimed(suffix, pk string, f Fence) bool {
	t.mu.Lock()
	defer t.mu.Unlock()
	return t.claims[claimKey(suffix, pk)] == f.Epoch
}

func (t *Table) setClaimed(suffix, pk string, epoch int64) {
	t.mu.Lock()
	defer t.mu.Unlock()
	if epoch == 0 {
		delete(t.claims, claimKey(suffix, pk))
		return
	}
	t.claims[claimKey(suffix, pk)] = epoch
}

// fenceFor is the context's fence, nil without one.
func fenceFor(ctx context.Context) *Fence {
	if f, ok := fenceOf(ctx); ok {
		return &f
	}
	return nil
}
