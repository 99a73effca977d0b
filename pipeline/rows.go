package pipeline

import (
	"bytes"
	"context"
	"fmt"

	"github.com/disconnect-doctor/disconnect-doctor/store"
)

// The state rows a tick changes — the pipeline's own (watch, the early
// incident and site outage detectors: store.MetaBlobs) and the alert
// records (store.AlertBlobs) — are gathered in a rowBatch per kind and
// written together with one WriteBlobs, an entity-group transaction on
// Table storage, and only those whose bytes differ from what this holder
// last wrote: a detector that re-encodes the same state costs nothing.
// They are written under the lease holder's fence (persistPhase) and are
// never read back while it holds the lease.

// rowBatch is one kind's rows to write and delete.
type rowBatch struct {
	puts []store.Blob
	dels []string
}

func (b *rowBatch) put(key string, data []byte) {
	b.puts = append(b.puts, store.Blob{Key: key, Data: data})
}

func (b *rowBatch) del(keys ...string) { b.dels = append(b.dels, keys...) }

// writeRows writes the batch's changed rows and its deletes in one call.
func (p *Pipeline) writeRows(ctx context.Context, kind store.BlobKind, b *rowBatch) error {
	puts := p.changedRows(kind, b.puts)
	if len(puts) == 0 && len(b.dels) == 0 {
		return nil
	}
	if err := p.st.WriteBlobs(ctx, kind, puts, b.dels); err != nil {
		return fmt.Errorf("pipeline: write %s rows: %w", kind, err)
	}
	p.wroteRows(kind, puts, b.dels)
	return nil
}

// changedRows returns the rows whose bytes differ from what this holder
// last wrote.
func (p *Pipeline) changedRows(kind store.BlobKind, rows []store.Blob) []store.Blob {
	last := p.res.written[kind]
	out := make([]store.Blob, 0, len(rows))
	for _, bl := range rows {
		if old, ok := last[bl.Key]; !ok || !bytes.Equal(old, bl.Data) {
			out = append(out, bl)
		}
	}
	return out
}

// wroteRows records rows written and deleted.
func (p *Pipeline) wroteRows(kind store.BlobKind, puts []store.Blob, dels []string) {
	res := p.res
	if res.written == nil {
		res.written = map[store.BlobKind]map[string][]byte{}
	}
	last := res.written[kind]
	if last == nil {
		last = map[string][]byte{}
		res.written[kind] = last
	}
	for _, k := range dels {
		delete(last, k)
	}
	for _, bl := range puts {
		last[bl.Key] = bl.Data
	}
}

// stateRows gathers the tick's changed detector and watch rows: at a
// commit also those that change with every input (watch's per-hub input
// records, the detectors' learned rates). A tick that commits writes them
// with the meta row, in its transaction (saveMeta); any other in one
// WriteBlobs of their own.
func (p *Pipeline) stateRows(commit bool) (*rowBatch, error) {
	b := &rowBatch{}
	if err := p.stageWatch(b, commit); err != nil {
		return nil, err
	}
	if err := p.stageSuspect(b, commit); err != nil {
		return nil, err
	}
	if err := p.stageSite(b, commit); err != nil {
		return nil, err
	}
	return b, nil
}
