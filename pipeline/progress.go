package pipeline

import (
	"context"
	"crypto/rand"
	"crypto/sha256"
	"encoding/binary"
	"encoding/hex"
	"errors"
	"fmt"
	"hash/fnv"
	"maps"
	"slices"
	"strings"
	"time"

	"github.com/disconnect-doctor/disconnect-doctor/classify"
	"github.com/disconnect-doctor/disconnect-doctor/ingest"
	"github.com/disconnect-doctor/disconnect-doctor/store"
)

const (
	// progressKeep is how long a writer that appends nothing more is kept
	// in the progress: a partition that moved away, a process that is gone.
	progressKeep = 3 * time.Hour
	// seenKeep is how long a counted mark ID is remembered: longer than the
	// read safety margin and than a batch's retries (the Event Hubs retry
	// policy waits at most 5 minutes between attempts).
	seenKeep = 15 * time.Minute
	// markSize is one counted mark in the meta row: 8 bytes of its ID's
	// hash (marksKey) and its stamp in Unix seconds (uint32: until 2106).
	// A fixed size, whatever the writer or the ID, so the row's size is
	// known from the number of marks alone.
	markSize = 8 + 4
	// marksBytes is the share of the meta row's 64 KiB bound (issue 9)
	// the marks may take: 24 KiB, 32 KiB once base64 in the row's JSON,
	// leaving the rest to the writers' progress (TestMetaRowWorstCase).
	marksBytes = 24 << 10
	// maxMarks bounds the marks kept, derived from marksBytes: a fleet
	// whose pushed inputs arrive one event per invocation (Event Grid at
	// 30 000 devices during an incident) counts more in seenKeep than any
	// row could hold. Past the bound the oldest go first; a batch retried
	// after its mark was dropped is counted twice in the read/kept
	// counters of health — only those: the newest times, which the
	// watermark uses, are maxima, merged from every mark (merge).
	maxMarks = marksBytes / markSize
)

// Ingest appends a parsed batch with its mark: what the invocation read, so
// that the writer's progress travels with its events in one Table request
// (a transaction, when the kept events fit one). writer names the input
// stream ("<event hub>/<partition>", "eventgrid", "metric"). An error means
// the store is down: the function answers non-2xx and the host retries the
// same batch, which is harmless (events are deduplicated by ID, marks by
// their ID, which a retry of the same batch repeats).
//
// Ingest never reads: Evaluate merges the marks into each writer's
// progress, so concurrent invocations of one writer cannot lose updates.
func (p *Pipeline) Ingest(ctx context.Context, writer string, res *ingest.Result) error {
	m := &store.Mark{Writer: writer, ID: markID(writer, res), Newest: res.Newest, Read: int64(res.Read),
		Kept: int64(len(res.Events)), Ignored: int64(res.Ignored), Skipped: int64(res.SkippedTotal())}
	now := p.now()
	if err := p.st.AppendEvents(ctx, now, res.Events, m); err != nil {
		if errors.Is(err, store.ErrRejected) {
			return p.setAside(ctx, now, writer, res, err) // deadletter.go
		}
		return fmt.Errorf("pipeline: ingest %s: %w", writer, err)
	}
	return nil
}

// markID identifies an invocation's mark. A batch its trigger names
// (res.Batch: an Event Hubs partition's sequence numbers) gets an ID of its
// own, the same for every retry, so a retried batch counts once; any other
// invocation gets a random ID (a mark is stored only with its events, in
// one transaction when they fit, so a failed push stores none).
func markID(writer string, res *ingest.Result) string {
	if res.Batch == "" {
		var b [12]byte
		_, _ = rand.Read(b[:])
		return hex.EncodeToString(b[:])
	}
	h := sha256.Sum256([]byte(writer + "\x00" + res.Batch))
	return hex.EncodeToString(h[:12])
}

// holdsWatermark reports whether a writer's progress holds the wallclock
// watermark back: only Event Hubs partitions do (PRODUCT.md §4). Pushed
// inputs (Event Grid, metric alerts; handlers name them "eventgrid" and
// "metric") deliver whenever something happens, so their newest time says
// nothing about what is still to come, and a metric alert replayed from a
// backlog would hold the watermark hours in the past.
func holdsWatermark(writer string) bool {
	return writer != "eventgrid" && writer != "metric" && !strings.HasPrefix(writer, "eventgrid/")
}

// loadProgress restores the merged progress and counted marks of the
// last commit.
func (r *resident) loadProgress() {
	r.progress = make(map[string]store.Progress, len(r.meta.Progress))
	for _, q := range r.meta.Progress {
		r.progress[q.Writer] = q
	}
	r.seen = decodeMarks(r.meta.Marks)
	for id, ns := range r.meta.OldMarks { // a row of an older version
		r.seen[marksKey(id)] = time.Unix(0, ns).UTC()
	}
	r.meta.OldMarks = nil
}

// merge counts a mark into its writer's progress: times move only
// forward (a maximum, merged from every mark, so a mark taken for counted
// loses no time), counters add up once per mark ID.
func (r *resident) merge(m store.Mark) {
	q := r.progress[m.Writer]
	q.Writer = m.Writer
	if m.Newest.After(q.Newest) {
		q.Newest = m.Newest
	}
	if m.Stamp.After(q.Updated) {
		q.Updated = m.Stamp
	}
	if _, dup := r.seen[marksKey(m.ID)]; !dup {
		r.seen[marksKey(m.ID)] = m.Stamp
		q.Read += m.Read
		q.Kept += m.Kept
		q.Ignored += m.Ignored
		q.Skipped += m.Skipped
	}
	r.progress[m.Writer] = q
}

// marksKey is what the meta row keeps of a mark ID: 8 bytes of its FNV-1a
// hash. Two marks of one seenKeep colliding (odds ~n²/2^65 for n marks)
// would count the second's records once too few in health, nothing else.
func marksKey(id string) uint64 {
	h := fnv.New64a()
	_, _ = h.Write([]byte(id))
	return h.Sum64()
}

// encodeMarks writes the counted marks as markSize records sorted by key,
// so that the same set encodes to the same bytes.
func encodeMarks(seen map[uint64]time.Time) []byte {
	keys := slices.Sorted(maps.Keys(seen))
	b := make([]byte, 0, len(keys)*markSize)
	for _, k := range keys {
		b = binary.BigEndian.AppendUint64(b, k)
		b = binary.BigEndian.AppendUint32(b, uint32(max(seen[k].Unix(), 0)))
	}
	return b
}

// decodeMarks reads encodeMarks' records; a damaged tail is dropped (its
// marks, if re-read, count again in health only).
func decodeMarks(b []byte) map[uint64]time.Time {
	seen := make(map[uint64]time.Time, len(b)/markSize)
	for ; len(b) >= markSize; b = b[markSize:] {
		seen[binary.BigEndian.Uint64(b)] = time.Unix(int64(binary.BigEndian.Uint32(b[8:])), 0).UTC()
	}
	return seen
}

// progressChanged reports whether marks were counted since the last commit.
func (r *resident) progressChanged() bool {
	return len(r.seen) != len(r.meta.Marks)/markSize || len(r.progress) != len(r.meta.Progress) ||
		slices.ContainsFunc(r.meta.Progress, func(q store.Progress) bool { return r.progress[q.Writer] != q })
}

// keepProgress prepares the commit's copy: writers gone longer than
// progressKeep (by the stamp of their last append, against readTo) and
// mark IDs older than seenKeep are dropped.
func (r *resident) keepProgress(now time.Time) {
	ref := r.readTo
	if ref.IsZero() || ref.After(now) {
		ref = now
	}
	r.meta.Progress = r.meta.Progress[:0]
	for w, q := range r.progress {
		if ref.Sub(q.Updated) > progressKeep {
			delete(r.progress, w)
			continue
		}
		r.meta.Progress = append(r.meta.Progress, q)
	}
	slices.SortFunc(r.meta.Progress, func(a, b store.Progress) int { return strings.Compare(a.Writer, b.Writer) })
	for id, st := range r.seen {
		if ref.Sub(st) > seenKeep {
			delete(r.seen, id)
		}
	}
	if len(r.seen) > maxMarks {
		ids := slices.Collect(maps.Keys(r.seen))
		slices.SortFunc(ids, func(a, b uint64) int { return r.seen[b].Compare(r.seen[a]) }) // newest first
		for _, id := range ids[maxMarks:] {
			delete(r.seen, id)
		}
	}
	r.meta.Marks = encodeMarks(r.seen)
}

// saveProgress publishes the committed progress in the progress table, for
// the API's health and anyone watching the pipeline: the rows that changed
// since this holder last wrote them, and it removes the rows of writers no
// longer in it (gone for progressKeep, or rows of an older version). What
// the table holds is listed once per load of the state, then known.
func (p *Pipeline) saveProgress(ctx context.Context) error {
	res := p.res
	if res.published == nil {
		rows, err := p.st.ListProgress(ctx)
		if err != nil {
			return fmt.Errorf("pipeline: list progress: %w", err)
		}
		res.published = make(map[string]store.Progress, len(rows))
		for _, q := range rows {
			res.published[q.Writer] = q
		}
	}
	var put []store.Progress
	for _, q := range res.meta.Progress {
		if old, ok := res.published[q.Writer]; !ok || !sameProgress(old, q) {
			put = append(put, q)
		}
	}
	var gone []string
	for w := range res.published {
		if _, ok := res.progress[w]; !ok {
			gone = append(gone, w)
		}
	}
	slices.Sort(gone)
	if len(put) > 0 {
		if err := p.st.PutProgress(ctx, put...); err != nil {
			res.published = nil // unknown now: listed again at the next commit
			return fmt.Errorf("pipeline: save progress: %w", err)
		}
	}
	for _, q := range put {
		res.published[q.Writer] = q
	}
	if len(gone) > 0 {
		if err := p.st.DeleteProgress(ctx, gone...); err != nil {
			res.published = nil
			return fmt.Errorf("pipeline: purge progress: %w", err)
		}
	}
	for _, w := range gone {
		delete(res.published, w)
	}
	return nil
}

// sameProgress compares two progress rows as stored (times to the
// nanosecond, whatever their location).
func sameProgress(a, b store.Progress) bool {
	return a.Writer == b.Writer && a.Newest.Equal(b.Newest) && a.Updated.Equal(b.Updated) &&
		a.Read == b.Read && a.Kept == b.Kept && a.Ignored == b.Ignored && a.Skipped == b.Skipped
}

// watermarkAt computes the watermark from the merged progress, as of the read
// position: a backlog read in steps is judged as of the stamps it has
// reached, so a partition is idle only if it appended nothing for
// ALLOWED_LATENESS before that point, not before the wall clock. newest is
// the newest event time of any writer.
func (p *Pipeline) watermarkAt(now time.Time) (wm, newest time.Time) {
	res := p.res
	at := now
	if !res.readTo.IsZero() && res.readTo.Before(now) {
		at = res.readTo
	}
	cp := make([]classify.Progress, 0, len(res.progress))
	for _, q := range res.progress {
		if q.Newest.After(newest) {
			newest = q.Newest
		}
		if p.cfg.Engine.Mode == classify.WallClock && !holdsWatermark(q.Writer) {
			continue
		}
		cp = append(cp, classify.Progress{Writer: q.Writer, Newest: q.Newest, Updated: q.Updated})
	}
	return classify.Watermark(p.cfg.Engine.Mode, at, p.cfg.Engine.AllowedLateness, cp), newest
}
