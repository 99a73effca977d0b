// Package rollup keeps the per-hub, per-minute counts the dashboard draws:
// disconnects by cause and hub-side errors, so that a page for a hub of
// 100 000 devices reads two small rows per day instead of millions of
// diagnoses.
//
// Counting is idempotent, because the engine emits a diagnosis several times
// (pending, final, revised) and replays a tick's output after a crash. Each
// minute of each hub keeps its members — the ID of every 404104 counted in
// it, with the cause column it was counted in — as rows of its own
// (store.RollupMemberBlobs; a minute with more members than a row holds
// spreads over several pages), and the minute's cause counts are recomputed
// from those members whenever one changes. Hub-side errors are not kept as
// members (an incident brings millions of them): their column is the
// engine's own deduplicated count for the minute (classify.State.HubErrors),
// set, never added. The counts of a whole UTC day live in one blob per hub
// (store.RollupBlobs), which is all a page reads.
//
// Members are kept for MemberWindow: a verdict revised later than that no
// longer moves the chart (the dashboard draws 24 hours).
package rollup

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"slices"
	"strconv"
	"strings"
	"time"

	"github.com/disconnect-doctor/disconnect-doctor/classify"
	"github.com/disconnect-doctor/disconnect-doctor/event"
	"github.com/disconnect-doctor/disconnect-doctor/store"
)

// Causes are the counted causes in column order: the order the dashboard
// stacks them in, pending last.
var Causes = []classify.Cause{classify.TokenExpiry, classify.TokenRenewalFailed, classify.DeviceOrNetwork,
	classify.DuplicateIdentity, classify.HubTransient, classify.Pending}

// HubErrors is the column of hub-side error records (event.IsHubSide).
const HubErrors = 6

// Columns is the number of counters per minute: one per cause, then
// HubErrors.
const Columns = HubErrors + 1

// MemberWindow is how long a minute's members are kept (relative to the
// watermark): diagnoses and hub errors of older minutes are not counted.
const MemberWindow = 26 * time.Hour

// Counts are the counters of one minute, indexed by column.
type Counts [Columns]uint32

// Disconnects is the sum of the cause columns.
func (c *Counts) Disconnects() uint32 {
	var n uint32
	for i := range HubErrors {
		n += c[i]
	}
	return n
}

// column returns the column of a cause (Pending for an unknown one).
func column(c classify.Cause) uint8 {
	if i := slices.Index(Causes, c); i >= 0 {
		return uint8(i)
	}
	return uint8(len(Causes) - 1)
}

// Rollup accumulates what Evaluate saw and writes it: Save at once, or
// Stage every tick and Flush with the pipeline's commit. It keeps the rows
// it has read or written (the minutes of the last cacheWindow, the days in
// use), so a tick reads only what it has not seen and writes only the rows
// whose bytes changed. The cache is valid while this Rollup is the only
// writer (the Evaluate lease): a pipeline that reloads its state starts a
// new Rollup. It is not safe for concurrent use: Evaluate runs one tick at
// a time.
type Rollup struct {
	st        store.Store
	retention time.Duration
	// errMinutes are the minutes in which hub-side errors were read since
	// the last Stage (their counts come from the engine at Stage).
	errMinutes map[minuteKey]struct{}
	// last is the newest event time seen per hub since the last Stage.
	last map[string]time.Time
	// samples are the ingest-rate samples (loaded once); fresh counts the
	// records new to the engine since the last one.
	samples []Sample
	loaded  bool
	fresh   int64
	// members and days are the rows read or written (members of a minute
	// with no disconnect counted in its day row are known to be none);
	// dirtyMin and dirtyDay are those changed since the last Flush, and
	// dirtySample the samples; written is each day row's bytes as last
	// written or read.
	members     map[minuteKey]map[memberID]uint8
	days        map[dayKey]*Day
	written     map[dayKey][]byte
	dirtyMin    map[minuteKey]bool
	dirtyDay    map[dayKey]bool
	dirtySample bool
}

// cacheWindow is how long a minute's members stay cached behind the
// watermark: verdicts are revised within minutes, and an older minute is
// read again when one is.
const cacheWindow = 2 * time.Hour

// New returns a Rollup writing to st; day rows older than retention are
// removed as new days begin.
func New(st store.Store, retention time.Duration) *Rollup {
	return &Rollup{st: st, retention: retention, members: map[minuteKey]map[memberID]uint8{}, days: map[dayKey]*Day{},
		written: map[dayKey][]byte{}, dirtyMin: map[minuteKey]bool{}, dirtyDay: map[dayKey]bool{}}
}

type minuteKey struct {
	hub string
	min int64 // unix minute
}

func (k minuteKey) blobKey() string { return k.hub + "/" + strconv.FormatInt(k.min*60, 10) }

// pageKey is the row of the minute's i-th member page (the first is the
// minute's own key, as before pages existed).
func (k minuteKey) pageKey(i int) string {
	if i == 0 {
		return k.blobKey()
	}
	return k.blobKey() + "/" + strconv.Itoa(i)
}

func (k minuteKey) day() dayKey {
	return dayKey{k.hub, k.min / (24 * 60)}
}

type dayKey struct {
	hub string
	day int64 // unix day
}

func (k dayKey) blobKey() string {
	return k.hub + "/" + time.Unix(k.day*86400, 0).UTC().Format(time.DateOnly)
}

// Note records the minutes with hub-side errors and the newest record time
// per hub of a page of events read by Evaluate, and fresh, how many of them
// were new to the engine (its deduplicated count: the ingest rate).
func (r *Rollup) Note(evs []event.Event, fresh int) {
	r.fresh += int64(fresh)
	for i := range evs {
		e := &evs[i]
		if e.Hub == "" {
			continue
		}
		if r.last == nil {
			r.last = map[string]time.Time{}
		}
		if e.Time.After(r.last[e.Hub]) {
			r.last[e.Hub] = e.Time
		}
		if !e.IsHubSide() {
			continue
		}
		if r.errMinutes == nil {
			r.errMinutes = map[minuteKey]struct{}{}
		}
		r.errMinutes[minuteKey{e.Hub, e.Time.Unix() / 60}] = struct{}{}
	}
}

// ErrorCount returns the deduplicated hub-side error count of the minute of
// hub holding t (classify.State.HubErrors); ok false leaves the stored
// count as it is.
type ErrorCount func(hub string, t time.Time) (n int, ok bool)

// Save is Stage then Flush: it counts ds and writes what changed at once.
func (r *Rollup) Save(ctx context.Context, ds []classify.Diagnosis, watermark time.Time, errs ErrorCount) error {
	if err := r.Stage(ctx, ds, watermark, errs); err != nil {
		return err
	}
	return r.Flush(ctx)
}

// Stage counts ds (the tick's diagnoses, any state) and sets the hub-error
// column of the minutes Note saw errors in from errs, in the rows this
// Rollup holds (reading those it has not seen); Flush writes them.
// Anything before watermark - MemberWindow is left out. Stage is
// idempotent: staging the same input again changes nothing.
func (r *Rollup) Stage(ctx context.Context, ds []classify.Diagnosis, watermark time.Time, errs ErrorCount) error {
	horizon := watermark.Add(-MemberWindow).Unix() / 60
	updates := map[minuteKey]map[memberID]uint8{}
	for i := range ds {
		d := &ds[i]
		k := minuteKey{d.Key.Hub, d.Time.Unix() / 60}
		if k.min < horizon {
			continue
		}
		if updates[k] == nil {
			updates[k] = map[memberID]uint8{}
		}
		updates[k][idOf(d.EventID)] = column(d.Cause)
	}
	changed, err := r.applyMembers(ctx, updates)
	if err != nil {
		return err
	}
	errCounts := map[minuteKey]uint32{}
	for k := range r.errMinutes {
		if k.min < horizon || errs == nil {
			continue
		}
		if n, ok := errs(k.hub, time.Unix(k.min*60, 0)); ok {
			errCounts[k] = uint32(n)
		}
	}
	if err := r.stageDays(ctx, changed, errCounts); err != nil {
		return err
	}
	r.errMinutes, r.last = nil, nil
	r.evict(watermark)
	return nil
}

// applyMembers merges the updates into each minute's members and returns
// the new counts of the minutes that changed.
func (r *Rollup) applyMembers(ctx context.Context, updates map[minuteKey]map[memberID]uint8) (map[minuteKey]Counts, error) {
	changed := map[minuteKey]Counts{}
	for k, u := range updates {
		m, err := r.membersOf(ctx, k)
		if err != nil {
			return nil, err
		}
		dirty := false
		for id, col := range u {
			if old, ok := m[id]; !ok || old != col {
				m[id] = col
				dirty = true
			}
		}
		if !dirty {
			continue
		}
		r.dirtyMin[k] = true
		var c Counts
		for _, col := range m {
			c[col]++
		}
		changed[k] = c
	}
	return changed, nil
}

// membersOf returns minute k's members: cached, none when its day row
// counts no disconnect in it (members are written before or with their
// day row, so the minute has no member row: no read that can only find
// nothing), else read from its pages.
func (r *Rollup) membersOf(ctx context.Context, k minuteKey) (map[memberID]uint8, error) {
	if m := r.members[k]; m != nil {
		return m, nil
	}
	d, err := r.dayOf(ctx, k.day())
	if err != nil {
		return nil, err
	}
	m := map[memberID]uint8{}
	if c := d.Minutes[int(k.min%(24*60))]; c.Disconnects() > 0 {
		if m, err = r.loadMembers(ctx, k); err != nil {
			return nil, err
		}
	}
	r.members[k] = m
	return m, nil
}

func (r *Rollup) loadMembers(ctx context.Context, k minuteKey) (map[memberID]uint8, error) {
	m := map[memberID]uint8{}
	for i, pages := 0, 1; i < pages; i++ {
		b, err := r.st.GetBlob(ctx, store.RollupMemberBlobs, k.pageKey(i))
		if errors.Is(err, store.ErrNotFound) {
			return m, nil
		}
		if err != nil {
			return nil, fmt.Errorf("rollup: members of %s: %w", k.pageKey(i), err)
		}
		n, err := decodeMembers(b.Data, m)
		if err != nil {
			// A damaged row is recounted from what comes next rather
			// than blocking Evaluate for ever.
			return map[memberID]uint8{}, nil
		}
		if i == 0 {
			pages = n
		}
	}
	return m, nil
}

// dayOf returns day k's row: cached, read, or new. A day row that did not
// exist yet starts a new day: the members of two days before and the day
// rows past retention are removed.
func (r *Rollup) dayOf(ctx context.Context, k dayKey) (*Day, error) {
	if d := r.days[k]; d != nil {
		return d, nil
	}
	d, err := readDay(ctx, r.st, k)
	switch {
	case errors.Is(err, errDamaged):
		d = &Day{Hub: k.hub, Date: time.Unix(k.day*86400, 0).UTC(), Minutes: map[int]Counts{}}
	case errors.Is(err, store.ErrNotFound):
		d = &Day{Hub: k.hub, Date: time.Unix(k.day*86400, 0).UTC(), Minutes: map[int]Counts{}}
		if err := r.forget(ctx, k); err != nil {
			return nil, err
		}
	case err != nil:
		return nil, err
	default:
		r.written[k] = d.encode()
	}
	r.days[k] = d
	return d, nil
}

// stageDays puts the changed minutes' counts and the newest record times
// into the day rows.
func (r *Rollup) stageDays(ctx context.Context, changed map[minuteKey]Counts, errCounts map[minuteKey]uint32) error {
	set := func(k minuteKey, f func(c *Counts)) error {
		d, err := r.dayOf(ctx, k.day())
		if err != nil {
			return err
		}
		c := d.Minutes[int(k.min%(24*60))]
		f(&c)
		d.Minutes[int(k.min%(24*60))] = c
		r.dirtyDay[k.day()] = true
		return nil
	}
	for k, c := range changed {
		if err := set(k, func(old *Counts) { c[HubErrors] = old[HubErrors]; *old = c }); err != nil {
			return err
		}
	}
	for k, n := range errCounts {
		if err := set(k, func(c *Counts) { c[HubErrors] = n }); err != nil {
			return err
		}
	}
	for hub, t := range r.last {
		k := minuteKey{hub, t.Unix() / 60}.day()
		d, err := r.dayOf(ctx, k)
		if err != nil {
			return err
		}
		if t.After(d.LastRecord) {
			d.LastRecord = t.UTC()
			r.dirtyDay[k] = true
		}
	}
	return nil
}

// Flush writes the staged rows: the changed minutes' members first (a day
// row never counts members that are not stored), then the day rows whose
// bytes changed and the ingest-rate samples, each kind in as few
// transactions as the store allows. What fails stays staged for the next
// Flush.
func (r *Rollup) Flush(ctx context.Context) error {
	var members []store.Blob
	for k := range r.dirtyMin {
		for i, data := range encodeMembers(r.members[k]) {
			members = append(members, store.Blob{Key: k.pageKey(i), Data: data})
		}
	}
	if len(members) > 0 {
		slices.SortFunc(members, func(a, b store.Blob) int { return strings.Compare(a.Key, b.Key) })
		if err := r.st.WriteBlobs(ctx, store.RollupMemberBlobs, members, nil); err != nil {
			return fmt.Errorf("rollup: members: %w", err)
		}
	}
	clear(r.dirtyMin)
	var rows []store.Blob
	enc := map[dayKey][]byte{}
	for k := range r.dirtyDay {
		if b := r.days[k].encode(); !bytes.Equal(b, r.written[k]) {
			enc[k] = b
			rows = append(rows, store.Blob{Key: k.blobKey(), Data: b})
		}
	}
	if r.dirtySample {
		b, err := json.Marshal(r.samples)
		if err != nil {
			return fmt.Errorf("rollup: samples: %w", err)
		}
		rows = append(rows, store.Blob{Key: ingestKey, Data: b})
	}
	if len(rows) > 0 {
		slices.SortFunc(rows, func(a, b store.Blob) int { return strings.Compare(a.Key, b.Key) })
		if err := r.st.WriteBlobs(ctx, store.RollupBlobs, rows, nil); err != nil {
			return fmt.Errorf("rollup: days: %w", err)
		}
	}
	for k, b := range enc {
		r.written[k] = b
	}
	clear(r.dirtyDay)
	r.dirtySample = false
	return nil
}

// evict drops the cached rows too old to be touched soon (and not waiting
// for a Flush): minutes older than cacheWindow behind the watermark, days
// before yesterday's.
func (r *Rollup) evict(watermark time.Time) {
	minMin := watermark.Add(-cacheWindow).Unix() / 60
	for k := range r.members {
		if k.min < minMin && !r.dirtyMin[k] {
			delete(r.members, k)
		}
	}
	minDay := watermark.Unix()/86400 - 1
	for k := range r.days {
		if k.day < minDay && !r.dirtyDay[k] {
			delete(r.days, k)
			delete(r.written, k)
		}
	}
}

// forget removes, as day k begins, the members of day k-2 (past
// MemberWindow) and the day rows that fell out of retention.
func (r *Rollup) forget(ctx context.Context, k dayKey) error {
	// Which member rows day k-2 has is in its own day row: a minute has
	// members only where it counted a disconnect (or, in rows written
	// before errors left the members, a hub-side error), and its pages
	// follow from the count. So neither the 1 440 minute keys of a day,
	// most never written, are deleted blind, nor every hub's rows listed.
	old, err := r.memberKeys(ctx, dayKey{k.hub, k.day - 2})
	if err != nil {
		return err
	}
	if err := r.st.DeleteBlobs(ctx, store.RollupMemberBlobs, old); err != nil {
		return fmt.Errorf("rollup: forget members: %w", err)
	}
	keep := int64(r.retention/(24*time.Hour)) + 1
	var gone []string
	for d := k.day - keep - 3; d < k.day-keep; d++ {
		gone = append(gone, dayKey{k.hub, d}.blobKey())
	}
	if err := r.st.DeleteBlobs(ctx, store.RollupBlobs, gone); err != nil {
		return fmt.Errorf("rollup: forget days: %w", err)
	}
	return nil
}

// memberKeys returns the member rows day k wrote, from its day row (none
// when the row is missing or damaged).
func (r *Rollup) memberKeys(ctx context.Context, k dayKey) ([]string, error) {
	d, err := readDay(ctx, r.st, k)
	if errors.Is(err, store.ErrNotFound) || errors.Is(err, errDamaged) {
		return nil, nil
	}
	if err != nil {
		return nil, err
	}
	var keys []string
	for m, c := range d.Minutes {
		n := int(c.Disconnects())
		if n == 0 && c[HubErrors] == 0 {
			continue
		}
		mk := minuteKey{k.hub, k.day*24*60 + int64(m)}
		for i := range max(1, (n+membersPerPage-1)/membersPerPage) {
			keys = append(keys, mk.pageKey(i))
		}
	}
	return keys, nil
}

// Series are a hub's counts per minute over a time range.
type Series struct {
	Hub string
	// Start is the first minute; Minutes[i] counts minute Start + i.
	Start   time.Time
	Minutes []Counts
	// LastRecord is the newest record of the hub seen by Evaluate in the
	// days read (zero when none).
	LastRecord time.Time
}

// Read returns hub's counts for the minutes in [from, to), reading one row
// per UTC day.
func Read(ctx context.Context, st store.Store, hub string, from, to time.Time) (Series, error) {
	f, t := from.Unix()/60, (to.Unix()+59)/60
	s := Series{Hub: hub, Start: time.Unix(f*60, 0).UTC()}
	if t <= f {
		return s, nil
	}
	s.Minutes = make([]Counts, t-f)
	for day := f / (24 * 60); day <= (t-1)/(24*60); day++ {
		d, err := readDay(ctx, st, dayKey{hub, day})
		if errors.Is(err, store.ErrNotFound) || errors.Is(err, errDamaged) {
			continue
		}
		if err != nil {
			return s, err
		}
		for m, c := range d.Minutes {
			abs := day*24*60 + int64(m)
			if abs >= f && abs < t {
				s.Minutes[abs-f] = c
			}
		}
		if d.LastRecord.After(s.LastRecord) {
			s.LastRecord = d.LastRecord
		}
	}
	return s, nil
}

func readDay(ctx context.Context, st store.Store, k dayKey) (*Day, error) {
	b, err := st.GetBlob(ctx, store.RollupBlobs, k.blobKey())
	if err != nil {
		return nil, fmt.Errorf("rollup: day %s: %w", k.blobKey(), err)
	}
	d, err := DecodeDay(b.Data)
	if err != nil {
		return nil, fmt.Errorf("rollup: day %s: %w: %v", k.blobKey(), errDamaged, err)
	}
	d.Hub, d.Date = k.hub, time.Unix(k.day*86400, 0).UTC()
	return d, nil
}

// ingestKey is the RollupBlobs row of the ingest-rate samples (not a hub:
// hub names have no '*').
const ingestKey = "*ingest"

// maxSamples bounds the ingest-rate samples kept: two hours of them.
const maxSamples = 24

// Sample is the running total of records Evaluate took in (new to the
// engine) at a time.
type Sample struct {
	At   time.Time `json:"at"`
	Read int64     `json:"read"`
}

// SampleEvery is the spacing of the ingest-rate samples.
const SampleEvery = 5 * time.Minute

// SaveSample is StageSample then Flush.
func (r *Rollup) SaveSample(ctx context.Context, now time.Time) error {
	if err := r.StageSample(ctx, now); err != nil {
		return err
	}
	return r.Flush(ctx)
}

// StageSample records the running total of records Evaluate took in, so
// that a page can tell records per minute; Flush writes it. A sample is
// taken every SampleEvery; the samples are read from the store once and
// then kept.
func (r *Rollup) StageSample(ctx context.Context, now time.Time) error {
	if !r.loaded {
		ss, err := ReadSamples(ctx, r.st)
		if err != nil {
			return err
		}
		r.samples, r.loaded = ss, true
	}
	if n := len(r.samples); n > 0 && now.Sub(r.samples[n-1].At) < SampleEvery {
		return nil
	}
	total := r.fresh
	if n := len(r.samples); n > 0 {
		total += r.samples[n-1].Read
	}
	r.samples = append(r.samples, Sample{At: now.UTC(), Read: total})
	r.fresh = 0
	if len(r.samples) > maxSamples {
		r.samples = r.samples[len(r.samples)-maxSamples:]
	}
	r.dirtySample = true
	return nil
}

// ReadSamples returns the ingest-rate samples, oldest first (none when the
// row is missing or damaged).
func ReadSamples(ctx context.Context, st store.Store) ([]Sample, error) {
	b, err := st.GetBlob(ctx, store.RollupBlobs, ingestKey)
	if errors.Is(err, store.ErrNotFound) {
		return nil, nil
	}
	if err != nil {
		return nil, fmt.Errorf("rollup: samples: %w", err)
	}
	var ss []Sample
	if json.Unmarshal(b.Data, &ss) != nil {
		return nil, nil
	}
	return ss, nil
}

// PerMinute is the records read per minute between the newest sample and
// the oldest one at most window before it; ok is false with fewer than two
// such samples.
func PerMinute(ss []Sample, window time.Duration) (rate float64, ok bool) {
	if len(ss) < 2 {
		return 0, false
	}
	last := ss[len(ss)-1]
	for _, s := range ss[:len(ss)-1] {
		if d := last.At.Sub(s.At); d > 0 && d <= window {
			return max(0, float64(last.Read-s.Read)/d.Minutes()), true
		}
	}
	return 0, false
}
