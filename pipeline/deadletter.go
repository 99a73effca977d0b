package pipeline

import (
	"context"
	"errors"
	"fmt"
	"time"

	"github.com/disconnect-doctor/disconnect-doctor/classify"
	"github.com/disconnect-doctor/disconnect-doctor/ingest"
	"github.com/disconnect-doctor/disconnect-doctor/store"
	"github.com/disconnect-doctor/disconnect-doctor/watch"
)

// Records the store refuses for good (issue 10 item 9). Only a transient
// failure may fail an ingest invocation: the host retries the batch, for
// ever with our retry policy, so a record the store will never accept would
// block its partition for good. Such a record is set aside instead — a dead
// letter the API lists (GET v1/deadletters) — the rest of its batch is
// stored, the refusal is logged as an error, and Evaluate raises the
// records-rejected alert about the product itself while dead letters are
// recent.

const (
	// deadLetterWindow is how far back Evaluate looks for dead letters.
	deadLetterWindow = time.Hour
	// deadLetterHold keeps records-rejected firing this long after the tick
	// that last saw a recent dead letter.
	deadLetterHold = time.Hour
	// deadLetterEvery is how often Evaluate looks for dead letters: ingest
	// sets them aside on any instance, unseen by Evaluate, and a records-
	// rejected alert up to 15 minutes late costs nothing (the records are
	// set aside and listed by the API either way, and the alert is held
	// for deadLetterHold), while a look every tick was a quarter of an idle
	// tick's Table requests, and every 5 minutes 31 of a 2 000-device hub's
	// 1 112 Evaluate requests in two hours.
	deadLetterEvery = 15 * time.Minute
)

// setAside handles an append the store refused (err wraps ErrRejected):
// the refused events become dead letters — or, when the refusal names no
// event, the batch as a whole does — and the invocation goes on. Only a
// failure to store the dead letters fails it (then the host retries the
// batch, which appends the same events again, harmlessly).
func (p *Pipeline) setAside(ctx context.Context, at time.Time, writer string, res *ingest.Result, err error) error {
	var ds []store.DeadLetter
	var rej *store.RejectedError
	if errors.As(err, &rej) {
		for _, r := range rej.Rejected {
			if r.Index >= 0 && r.Index < len(res.Events) {
				ds = append(ds, store.NewDeadLetter(at, writer, &res.Events[r.Index], r.Reason))
			}
		}
	}
	if len(ds) == 0 {
		ds = append(ds, store.DeadLetter{
			ID: "batch-" + markID(writer, res), At: at, Writer: writer,
			Reason:  err.Error(),
			Excerpt: fmt.Sprintf("a batch of %d records (%d kept): %s", res.Read, len(res.Events), res.Summary()),
		})
	}
	if perr := p.st.PutDeadLetters(ctx, ds); perr != nil {
		return fmt.Errorf("pipeline: ingest %s: set aside %d refused records: %w", writer, len(ds), perr)
	}
	p.log.Error().Str("writer", writer).Int("records", len(ds)).Str("reason", ds[0].Reason).
		Msg("records refused by the state store were set aside as dead letters; the rest of the batch is stored")
	return nil
}

// checkDeadLetters raises records-rejected while dead letters of the last
// deadLetterWindow exist, looking every deadLetterEvery (the condition's
// Hold keeps it raised in between). Listing them is one query on a table that is
// nearly always empty; a failure to list is logged and skipped (the store
// being down fails the tick elsewhere).
func (p *Pipeline) checkDeadLetters(ctx context.Context, now time.Time) {
	if now.Sub(p.lastDeadLetters) < deadLetterEvery && !p.lastDeadLetters.After(now) {
		return
	}
	p.lastDeadLetters = now
	ds, err := p.st.ListDeadLetters(ctx, now.Add(-deadLetterWindow), now.Add(time.Nanosecond), 1000)
	if err != nil {
		p.log.Error().Err(err).Msg("cannot list dead letters")
		return
	}
	if len(ds) == 0 {
		return
	}
	oldest := ds[len(ds)-1]
	ev := make([]string, 0, 4)
	for _, d := range ds[:min(3, len(ds))] {
		ev = append(ev, fmt.Sprintf("%s %s/%s (%s): %s", d.At.UTC().Format(time.RFC3339), d.Hub, d.Device, d.Writer, d.Reason))
	}
	if len(ds) > 3 {
		ev = append(ev, fmt.Sprintf("…and %d more", len(ds)-3))
	}
	p.raise(watch.Condition{
		Kind: classify.RecordsRejected, Since: oldest.At.Truncate(time.Minute), Hold: deadLetterHold,
		Summary:  fmt.Sprintf("%d input records refused by the state store in the last hour were set aside as dead letters", len(ds)),
		Evidence: ev,
		Recommendation: "List them with GET /api/v1/deadletters: each names the record and the store's reason. A record the " +
			"Table service refuses points at a limit or a bug of disconnect-doctor: report it with the dead letter; the " +
			"original record is still in the diagnostic setting's archive, and can be replayed once fixed.",
	})
}
