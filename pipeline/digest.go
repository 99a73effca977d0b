package pipeline

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"slices"
	"time"

	"github.com/disconnect-doctor/disconnect-doctor/alert"
	"github.com/disconnect-doctor/disconnect-doctor/classify"
	"github.com/disconnect-doctor/disconnect-doctor/config"
	"github.com/disconnect-doctor/disconnect-doctor/digest"
	"github.com/disconnect-doctor/disconnect-doctor/store"
)

// digestKey is the MetaBlobs blob recording, per hub, the end of the last
// daily digest enqueued (digestRecord): one small row whatever the age of
// the deployment, read once a day.
const digestKey = "digest"

// digestRecord is the digestKey blob: hub → To of its last digest.
type digestRecord struct {
	Sent map[string]time.Time `json:"sent"`
}

// digestPhase enqueues each hub's daily digest once the watermark has
// passed the digest hour (DIGEST_HOUR) and none is recorded for that hub
// and day. The watermark is the pipeline's clock: the wall clock less the
// lateness in production, event time in replay and simulation, so a digest
// covers a day whose disconnects have been read. The digest goes through
// the outbox like any notification (retried, dead-lettered) under an id
// stable per hub and day, and is recorded after it is enqueued: a crash in
// between enqueues the same id again, which the outbox ignores.
//
// Only the latest due digest is sent: after an outage of days, the missed
// days are not sent late. A hub whose records began after the window ended
// gets none (a first deployment has nothing to summarise yet). A failure
// is logged and the digest is tried again at the next tick; it never fails
// the tick, whose own work is already stored.
func (p *Pipeline) digestPhase(ctx context.Context, now, wm time.Time) {
	if p.cfg.DigestHour == config.DigestOff || wm.IsZero() {
		return
	}
	to := digest.Due(p.cfg.DigestHour, wm)
	if !to.After(p.digestDone) {
		return
	}
	n, err := p.sendDigests(ctx, now, to)
	if err != nil {
		p.log.Error().Err(err).Time("to", to).Msg("pipeline: daily digest failed; retrying at the next tick")
		return
	}
	p.digestDone = to
	if n > 0 {
		p.outboxBusy = true
		p.log.Info().Int("hubs", n).Str("day", digest.Day(to)).Msg("pipeline: daily digests enqueued")
	}
}

// sendDigests enqueues the digests ending at to that are not yet recorded
// and records them; it returns how many it enqueued.
func (p *Pipeline) sendDigests(ctx context.Context, now, to time.Time) (int, error) {
	var hubs []string
	for _, h := range p.res.engine.Hubs() {
		if h.First.IsZero() || h.First.Before(to) {
			hubs = append(hubs, h.Name)
		}
	}
	if len(hubs) == 0 {
		return 0, nil // nothing to summarise: no read of the record either
	}
	rec, etag, err := p.loadDigestRecord(ctx)
	if err != nil {
		return 0, err
	}
	hubs = slices.DeleteFunc(hubs, func(h string) bool { return !rec.Sent[h].Before(to) })
	if len(hubs) == 0 {
		return 0, nil
	}
	ds, err := p.gatherDigests(ctx, now, hubs, to)
	if err != nil {
		return 0, err
	}
	notes := make([]alert.Notification, len(ds))
	for i := range ds {
		notes[i] = alert.DigestNotification(&ds[i], p.cfg.PublicBaseURL)
		rec.Sent[ds[i].Hub] = to
	}
	if err := p.outbox.Enqueue(ctx, notes, now); err != nil {
		return 0, fmt.Errorf("pipeline: enqueue digests: %w", err)
	}
	data, err := json.Marshal(rec)
	if err != nil {
		return 0, fmt.Errorf("pipeline: encode digest record: %w", err)
	}
	if _, err := p.st.PutBlobs(ctx, store.MetaBlobs, []store.Blob{{Key: digestKey, Data: data, ETag: etag}}); err != nil {
		return 0, fmt.Errorf("pipeline: record digests: %w", err)
	}
	return len(ds), nil
}

// loadDigestRecord reads the digest record and its ETag (empty when none).
func (p *Pipeline) loadDigestRecord(ctx context.Context) (digestRecord, string, error) {
	rec := digestRecord{Sent: map[string]time.Time{}}
	b, err := p.st.GetBlob(ctx, store.MetaBlobs, digestKey)
	switch {
	case errors.Is(err, store.ErrNotFound):
		return rec, "", nil
	case err != nil:
		return rec, "", fmt.Errorf("pipeline: read digest record: %w", err)
	}
	if err := json.Unmarshal(b.Data, &rec); err != nil {
		// A record this version cannot read would stop every digest:
		// start a new one (at worst one day's digests are sent twice,
		// under the same ids, which the outbox still holds).
		p.log.Error().Err(err).Msg("pipeline: unreadable digest record replaced")
		rec = digestRecord{}
	}
	if rec.Sent == nil {
		rec.Sent = map[string]time.Time{}
	}
	return rec, b.ETag, nil
}

// gatherDigests reads what the digests of hubs ending at to summarise: the
// diagnoses and incidents of each hub, the outbox items of the window and
// the silences from the store, the token periods from the engine's
// resident state. Site outages join here when they exist (Builder.Outage).
func (p *Pipeline) gatherDigests(ctx context.Context, now time.Time, hubs []string, to time.Time) ([]digest.Digest, error) {
	from := to.Add(-digest.Window)
	bs := make(map[string]*digest.Builder, len(hubs))
	for _, h := range hubs {
		bs[h] = digest.NewBuilder(h, to)
	}
	p.res.engine.EachPeriod(from, to, func(v classify.PeriodView) {
		if b := bs[v.Key.Hub]; b != nil {
			b.Period(v)
		}
	})
	if err := p.eachAlert(ctx, now, from, to, bs); err != nil {
		return nil, err
	}
	sils, err := p.st.ListSilences(ctx)
	if err != nil {
		return nil, fmt.Errorf("pipeline: digest: silences: %w", err)
	}
	out := make([]digest.Digest, 0, len(hubs))
	for _, h := range hubs {
		b := bs[h]
		for i := range sils {
			if s, ok := alert.DigestSilence(&sils[i], h); ok {
				b.Silence(s, sils[i].StartsAt)
			}
		}
		if err := p.eachDiagnosis(ctx, h, from, to, b.Diagnosis); err != nil {
			return nil, err
		}
		incs, err := p.st.ListIncidents(ctx, h, nil)
		if err != nil {
			return nil, fmt.Errorf("pipeline: digest: incidents of %s: %w", h, err)
		}
		for _, in := range incs {
			b.Incident(in)
		}
		out = append(out, b.Digest())
	}
	return out, nil
}

// eachAlert feeds the builders the outbox items of their hubs that fell due
// in [from, to). Items are listed by their creation on the wall clock: with
// the production watermark that is the window itself; in event time
// (replay) the window is in the data's past, so every item is listed and
// judged by when its notification fell due.
func (p *Pipeline) eachAlert(ctx context.Context, now, from, to time.Time, bs map[string]*digest.Builder) error {
	lo, hi := from, to
	eventTime := p.cfg.Engine.Mode == classify.EventTime
	if eventTime {
		lo, hi = time.Time{}, now.Add(time.Nanosecond)
	}
	items, err := p.st.ListItems(ctx, lo, hi)
	if err != nil {
		return fmt.Errorf("pipeline: digest: outbox: %w", err)
	}
	for _, it := range items {
		n, err := alert.DecodePayload(it.Payload)
		if err != nil {
			continue // counted nowhere: the Dispatcher dead-letters it
		}
		at := it.Created
		if eventTime {
			at = n.Due
		}
		if b := bs[n.Hub]; b != nil {
			b.Alert(digest.Delivery{Kind: string(n.Kind), NotificationID: it.NotificationID, State: string(it.State), At: at})
		}
	}
	return nil
}

// eachDiagnosis pages through hub's diagnoses in [from, to).
func (p *Pipeline) eachDiagnosis(ctx context.Context, hub string, from, to time.Time, fn func(classify.Diagnosis)) error {
	q := store.DiagnosisQuery{Hub: hub, From: from, To: to, Limit: 1000}
	for {
		ds, next, err := p.st.ListDiagnoses(ctx, q)
		if err != nil {
			return fmt.Errorf("pipeline: digest: diagnoses of %s: %w", hub, err)
		}
		for _, d := range ds {
			fn(d)
		}
		if next == "" {
			return nil
		}
		q.Cursor = next
	}
}
