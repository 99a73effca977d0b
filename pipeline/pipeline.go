// Package pipeline wires disconnect-doctor's parts together in the one
// direction data flows: parsed events → store → classify → store → alert →
// notify. It is the imperative shell around the pure engine: every function
// of the app reaches the rest of the product through a Pipeline (it
// implements handlers.Backend).
//
// Ingest runs on many instances at once and only appends: it never reads
// state, so instances never contend. Evaluate runs one at a time (a lease,
// on top of the Functions timer's own singleton) and owns all state: it reads
// the events appended since its cursor, advances the engine, records
// diagnoses and incidents, turns signals into notifications (written to the
// outbox before anything is sent) and delivers them.
package pipeline

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"sync"
	"time"

	"github.com/rs/zerolog"

	"github.com/disconnect-doctor/disconnect-doctor/alert"
	"github.com/disconnect-doctor/disconnect-doctor/classify"
	"github.com/disconnect-doctor/disconnect-doctor/config"
	"github.com/disconnect-doctor/disconnect-doctor/event"
	"github.com/disconnect-doctor/disconnect-doctor/rollup"
	"github.com/disconnect-doctor/disconnect-doctor/site"
	"github.com/disconnect-doctor/disconnect-doctor/store"
	"github.com/disconnect-doctor/disconnect-doctor/suspect"
	"github.com/disconnect-doctor/disconnect-doctor/watch"
)

// Options configure a Pipeline.
type Options struct {
	Config config.Config
	Store  store.Store
	// Channels are the notification channels by name ("teams", "email",
	// "webhook"). With none, alerts still go through their state machine
	// (visible in the API) but nothing is sent.
	Channels map[string]alert.Notifier
	// Now is the wall clock; tests and simulations inject their own.
	Now func() time.Time
	Log zerolog.Logger
	// ReadSafety is how far before its cursor Evaluate re-reads appended
	// events, to catch appends of invocations still in flight when it last
	// read (re-read events are deduplicated by the engine). The default, 0,
	// means 2 minutes; a negative value means none, for drivers that know no
	// append can be in flight (make run, replay).
	ReadSafety time.Duration
	// Instance names this process: it holds the Evaluate lease under this
	// name and writes its own ingest progress rows. Random by default; it
	// must differ between processes sharing a store.
	Instance string
}

// Pipeline is the app. It is safe for concurrent use.
type Pipeline struct {
	cfg      config.Config
	st       store.Store
	now      func() time.Time
	log      zerolog.Logger
	safety   time.Duration
	instance string
	engine   *classify.Engine
	alerts   *alert.Manager
	outbox   *alert.Dispatcher

	evalMu sync.Mutex // one Evaluate at a time in this process
	res    *resident  // state held between ticks; nil until loaded
	// leaseUntil is when the Evaluate lease this process last took runs
	// out. While it holds the lease no other instance can evaluate, so the
	// resident state needs no re-check against the store.
	leaseUntil time.Time
	// epoch is the lease epoch this process holds it under (fencing);
	// period is the measured interval between ticks and lastTick the wall
	// clock of the last one (see lease.go).
	epoch    int64
	period   time.Duration
	lastTick time.Time
	// stepEvents and stepBudget bound one Evaluate invocation: steps of at
	// most stepEvents events each, more steps while a backlog waits and the
	// invocation has run less than stepBudget.
	stepEvents int
	stepBudget time.Duration
	// stepRead bounds one step's read in time as stepEvents does in
	// events: on a slow store (throttled, or Azurite) a step stops taking
	// on events after it, commits, and the next step or tick goes on.
	// since measures both budgets (time.Since; tests inject their own).
	stepRead time.Duration
	since    func(time.Time) time.Duration
	// outboxBusy: the outbox may hold items due now or soon (something was
	// enqueued, or the last delivery left retries).
	outboxBusy bool
	// ticked: the current tick has advanced the engine (see run).
	ticked bool
	// raised are the pipeline's own alert conditions found during the
	// current tick outside the built-in checks (see raise).
	raised []watch.Condition
	// rollup counts disconnects per minute for the dashboard (rollup.go).
	rollup *rollup.Rollup
	// digestDone is the end of the last daily digests all hubs have (see
	// digestPhase).
	digestDone time.Time
	// lastDeadLetters and lastSilences are when the dead letters and the
	// silences were last read (deadletter.go, silences.go); silences are
	// those read.
	lastDeadLetters, lastSilences time.Time
	silences                      []store.Silence
}

// resident is the state Evaluate keeps in memory between ticks. It is valid
// as long as the stored meta row still carries the ETag this process wrote:
// another instance evaluating in between changes it, and the state is then
// reloaded from the store.
type resident struct {
	engine *classify.State
	alerts *alert.State
	meta   meta
	etag   string
	// gone are devices the engine dropped (deleted identities, retention)
	// whose blobs are still to be deleted.
	gone []event.Key
	// readTo is how far appended events have been read into the resident
	// engine; meta.Cursor is how far the last commit covers. readAt is the
	// wall clock of that read (appends in flight then may still land
	// behind readTo; see readFrom).
	readTo, readAt time.Time
	// ticks counts ticks since the last commit.
	ticks int
	// progress is every writer's progress merged from the marks read
	// (meta.Progress is the committed copy); seen are the mark IDs
	// counted, by stamp, so re-read and retried marks count once.
	progress map[string]store.Progress
	seen     map[uint64]time.Time
	// written is each state row's bytes as this holder last wrote them, by
	// kind (rows.go).
	written map[store.BlobKind]map[string][]byte
	// published is what the progress table holds, as this holder last
	// listed or wrote it (nil: not known, listed at the next commit).
	published map[string]store.Progress
	// watch is the state of the pipeline's own alerts (package watch),
	// stored as the MetaBlobs blob watchKey.
	watch *watch.State
	// retryDiag / retryInc are rows not written yet: held until the next
	// commit or notifying tick, or of hubs whose writes failed (hubs.go).
	retryDiag []classify.Diagnosis
	retryInc  []classify.Incident
	// suspect is the early incident detector's state (package suspect),
	// one MetaBlobs blob per hub under suspectPrefix.
	suspect *suspect.State
	// site is the site outage detector's state (package site; site.go).
	site *site.State
}

// meta is the pipeline's own bookkeeping, stored as a MetaBlobs blob.
type meta struct {
	// Cursor is the stamp up to which appended events have been read.
	Cursor time.Time `json:"cursor"`
	// Watermark is the last watermark used (for the API's health).
	Watermark time.Time `json:"watermark"`
	// LastPurge is the wall clock of the last retention run.
	LastPurge time.Time `json:"lastPurge"`
	// Committed is the wall clock of this commit.
	Committed time.Time `json:"committed"`
	// Epoch is the lease epoch of the holder that wrote this row: a new
	// holder claims the state by writing its epoch before anything else,
	// so the commit of a paused predecessor (conditional on the ETag it
	// read) is rejected.
	Epoch int64 `json:"epoch,omitempty"`
	// Progress is every writer's merged progress as of Cursor, and Marks
	// the marks counted in it (fixed-size records, progress.go): kept with
	// the cursor so that a successor re-reading from it counts no mark
	// twice. OldMarks is how rows of an older version held them (mark ID
	// → unix ns of its stamp), read once.
	Progress []store.Progress `json:"progress,omitempty"`
	Marks    []byte           `json:"seen,omitempty"`
	OldMarks map[string]int64 `json:"marks,omitempty"`
}

const (
	metaKey   = "evaluate"
	watchKey  = "watch"
	leaseName = "evaluate"
	purgeEach = time.Hour
	// commitEvery is how often the engine's state and the cursor are
	// committed together. Between commits they live in this process only:
	// after a crash the next instance reloads the last commit and re-reads
	// the events since its cursor (deduplicated), while diagnoses, alert
	// state and the outbox, written every tick, are idempotent upserts.
	commitEvery = 5 * time.Minute
	// commitTicks commits after this many ticks whatever the wall clock
	// says: a replay or a test may drive hours of event time through
	// Evaluate in seconds. (At the 30-second schedule it commits every 2.5
	// minutes.)
	commitTicks = 5
	// deliverLimit is the most outbox items one tick delivers.
	deliverLimit = 200
	// stepBudget is how long one Evaluate invocation goes on taking bounded
	// steps through a backlog: well inside functionTimeout (10 minutes in
	// host.json, 5 on Consumption), and each step commits.
	stepBudget = 2 * time.Minute
	// stepRead is how long one step goes on taking on events: a step begun
	// just before stepBudget ran out reads at most a minute more, which
	// leaves two of Consumption's five minutes of functionTimeout to
	// decide and persist what it read.
	stepRead = time.Minute
)

// New builds a Pipeline.
func New(opts Options) (*Pipeline, error) {
	if opts.Store == nil {
		return nil, errors.New("pipeline: no store")
	}
	if opts.Now == nil {
		opts.Now = time.Now
	}
	if err := opts.Config.Engine.Validate(); err != nil {
		return nil, fmt.Errorf("pipeline: %w", err)
	}
	p := &Pipeline{
		cfg:      opts.Config,
		st:       opts.Store,
		now:      func() time.Time { return opts.Now().UTC() },
		log:      opts.Log,
		safety:   opts.ReadSafety,
		instance: opts.Instance,
		engine:   classify.New(opts.Config.Engine),
	}
	p.stepEvents, p.stepBudget, p.stepRead, p.since = opts.Config.StepEvents, stepBudget, stepRead, time.Since
	if p.stepEvents <= 0 {
		p.stepEvents = 100_000
	}
	switch {
	case p.safety == 0:
		p.safety = 2 * time.Minute
	case p.safety < 0:
		p.safety = 0
	}
	if p.instance == "" {
		var b [6]byte
		_, _ = rand.Read(b[:])
		p.instance = hex.EncodeToString(b[:])
	}
	p.alerts = alert.New(alert.Config{
		RepeatInterval: opts.Config.RepeatInterval,
		GroupInterval:  opts.Config.GroupInterval,
		StaleAfter:     opts.Config.StaleAfter,
		PublicBaseURL:  opts.Config.PublicBaseURL,
	})
	p.outbox = &alert.Dispatcher{Store: opts.Store, Channels: opts.Channels, Routes: opts.Config.Routes, Log: opts.Log, Limit: deliverLimit}
	return p, nil
}

// Report is what one Evaluate tick did, for the invocation's Logs and tests.
type Report struct {
	Skipped       string // non-empty when the tick did not run (lease held elsewhere)
	Events        int    // events read from the store
	New           int    // of which new to the engine
	Watermark     time.Time
	Diagnoses     int
	Incidents     int
	Signals       int
	Notifications int
	Delivery      alert.Report
	Forgotten     int
	// Backlog: the read stopped at its step budget, more is waiting.
	Backlog bool
	// Steps is the number of bounded steps the invocation ran.
	Steps int
}

// String renders the report as one line.
func (r Report) String() string {
	if r.Skipped != "" {
		return "evaluate skipped: " + r.Skipped
	}
	wm := "none"
	if !r.Watermark.IsZero() {
		wm = r.Watermark.Format(time.RFC3339)
	}
	d := r.Delivery
	s := fmt.Sprintf("evaluate: read %d events (%d new), watermark %s, %d diagnoses, %d incidents, %d signals, %d notifications; delivered %d, retrying %d, dead %d, deferred %d",
		r.Events, r.New, wm, r.Diagnoses, r.Incidents, r.Signals, r.Notifications, d.Delivered, d.Retrying, d.Dead, d.Deferred)
	if r.Steps > 1 || r.Backlog {
		s += fmt.Sprintf("; %d bounded steps", r.Steps)
		if r.Backlog {
			s += ", backlog still waiting"
		}
	}
	return s
}

// Evaluate runs one tick and returns its summary line (handlers.Backend).
func (p *Pipeline) Evaluate(ctx context.Context) (string, error) {
	r, err := p.Tick(ctx)
	if err != nil {
		return "", err
	}
	return r.String(), nil
}

// Tick runs one evaluation: read new events, advance the engine, persist,
// alert, deliver. An error after the engine advanced drops the resident
// state, so the next tick starts again from the last commit.
func (p *Pipeline) Tick(ctx context.Context) (Report, error) {
	return p.run(ctx, 0)
}

// Drain runs a tick that treats the input as complete: the watermark is
// moved to at least the newest event time seen plus extra, so everything
// ingested is decided (replay's end; pass the longest delay a verdict or an
// alert waits for, e.g. OFFLINE_AFTER). Never use it on a live stream.
func (p *Pipeline) Drain(ctx context.Context, extra time.Duration) (Report, error) {
	return p.run(ctx, extra)
}

func (p *Pipeline) run(ctx context.Context, drain time.Duration) (Report, error) {
	p.evalMu.Lock()
	defer p.evalMu.Unlock()
	started := time.Now()
	var total Report
	for {
		p.ticked = false
		r, err := p.tick(ctx, drain)
		if err != nil && p.ticked {
			// The engine's outputs of this tick may not all be stored, and it
			// will not emit them again: start over from the last commit.
			// A failure before Tick (the store down while reading) keeps the
			// state: ingesting events is idempotent and emits nothing.
			p.res = nil
		}
		total.add(r)
		if err != nil || !r.Backlog || p.since(started) >= p.stepBudget || ctx.Err() != nil {
			return total, err
		}
	}
}

// add accumulates a step's report into an invocation's.
func (r *Report) add(s Report) {
	r.Skipped, r.Watermark, r.Backlog = s.Skipped, s.Watermark, s.Backlog
	r.Steps++
	r.Events += s.Events
	r.New += s.New
	r.Diagnoses += s.Diagnoses
	r.Incidents += s.Incidents
	r.Signals += s.Signals
	r.Notifications += s.Notifications
	r.Forgotten += s.Forgotten
	r.Delivery.Delivered += s.Delivery.Delivered
	r.Delivery.Retrying += s.Delivery.Retrying
	r.Delivery.Dead += s.Delivery.Dead
	r.Delivery.Deferred += s.Delivery.Deferred
}

// tick runs the phases of one evaluation in order: lease → read → decide →
// persist → deliver. Each phase returns what the next needs; the
// crash-ordering rules sit at the boundaries (see persist).
func (p *Pipeline) tick(ctx context.Context, drain time.Duration) (Report, error) {
	var rep Report
	now := p.now()
	continuous, held, err := p.leasePhase(ctx, now)
	if err != nil {
		return rep, err
	}
	if !held {
		rep.Skipped = "another instance holds the evaluate lease"
		return rep, nil
	}
	ctx = p.fenced(ctx) // every state write below carries the epoch
	if err := p.readPhase(ctx, now, &rep); err != nil {
		return rep, err
	}
	d, err := p.decidePhase(ctx, now, drain, &rep)
	if err != nil {
		return rep, err
	}
	if err := p.persistPhase(ctx, now, drain, d, &rep); err != nil {
		return rep, err
	}
	p.digestPhase(ctx, now, d.wm)
	err = p.deliverPhase(ctx, now, continuous, len(d.notes), &rep)
	p.keepLease(ctx)
	return rep, err
}

// holding reports whether this process holds the Evaluate lease at now.
func (p *Pipeline) holding(now time.Time) bool { return now.Before(p.leaseUntil) }

// leasePhase takes or renews the Evaluate lease and makes the resident state
// current. It reports whether the lease was held without a gap since the
// last tick (then the resident state needs no re-check against the store),
// and whether the lease is held at all (if not, the tick is skipped).
//
// The lease lasts 1.5 timer periods and is renewed when half of it is left
// (so at every tick); a lease held without a gap, under the same epoch,
// means nobody else evaluated since this process last saved, so the
// resident state is current without a read (see lease.go).
func (p *Pipeline) leasePhase(ctx context.Context, now time.Time) (continuous, held bool, err error) {
	p.observeTick(now)
	ttl := p.leaseTTL()
	continuous = p.res != nil && p.holding(now)
	// Renewed when half of it is left, or when it reaches further than the
	// TTL (taken before the period was measured).
	if !continuous || now.After(p.leaseUntil.Add(-ttl/2)) || p.leaseUntil.Sub(now) > ttl {
		if err := p.renew(ctx, now, ttl); err != nil {
			return false, false, err
		}
		if !p.holding(now) {
			return false, false, nil
		}
		continuous = continuous && p.res.meta.Epoch == p.epoch
	}
	if !continuous {
		if err := p.load(p.fenced(ctx)); err != nil {
			return false, true, err
		}
	}
	return continuous, true, nil
}

// readPhase feeds the engine what was appended since the cursor (and a
// safety margin before it, for appends that were in flight when it last
// read).
//
// A step takes about stepEvents new events, or what it read in stepRead
// once it has new events (so each step makes progress): a backlog (a first deployment
// onto an Event Hub holding a week of logs, a recovery) is worked through
// in bounded steps, each ending at the stamp of the last mark read, so
// that one invocation never takes on more than it can finish well inside
// functionTimeout. rep.Backlog says the step stopped short of now.
func (p *Pipeline) readPhase(ctx context.Context, now time.Time, rep *Report) error {
	res := p.res
	if res.readTo.IsZero() {
		res.readTo, res.readAt = res.meta.Cursor, res.meta.Committed
	}
	// The budget counts events new to the engine: a step re-reads the
	// window of appends that may have been in flight at the last read, and
	// those re-reads must not use it up (the step would make no progress).
	limit, stepNew, started := p.stepEvents, 0, time.Now()
	var lastMark time.Time
	err := p.st.ReadEvents(ctx, p.readFrom(), now.Add(time.Nanosecond), func(evs []event.Event, marks []store.Mark) error {
		rep.Events += len(evs)
		watch.Observe(res.watch, evs, now)
		suspect.Observe(p.suspectConfig(), res.suspect, evs)
		site.Observe(res.site, evs)
		s := p.engine.Ingest(res.engine, evs)
		rep.New += s.New
		stepNew += s.New
		p.noteRollup(evs, s.New)
		for _, m := range marks {
			res.merge(m)
			if m.Stamp.After(lastMark) {
				lastMark = m.Stamp
			}
		}
		if (stepNew >= limit || stepNew > 0 && p.since(started) >= p.stepRead) && !lastMark.IsZero() {
			return errStepFull
		}
		return nil
	})
	switch {
	case errors.Is(err, errStepFull):
		// Everything stamped up to the last mark is read: a mark is
		// appended after its invocation's events (same stamp, later key).
		res.readTo, rep.Backlog = lastMark.Add(time.Nanosecond), true
	case err != nil:
		return fmt.Errorf("pipeline: read events: %w", err)
	default:
		res.readTo = now
	}
	res.readAt = now
	return nil
}

// errStepFull stops a step's read at its event or time budget.
var errStepFull = errors.New("pipeline: step full")

// readFrom is where the next read starts: at readTo, or earlier by the
// safety margin when the last read was so recent that appends stamped
// before readTo may still have been in flight (appends stamped before
// readAt − safety had all landed by then, so a backlog is not re-read).
func (p *Pipeline) readFrom() time.Time {
	res := p.res
	if inflight := res.readAt.Add(-p.safety); inflight.Before(res.readTo) {
		return inflight
	}
	return res.readTo
}

// decision is what the decide phase produced for persist and deliver.
type decision struct {
	wm     time.Time // the watermark the engine advanced to
	newest time.Time // the newest event time any writer reported
	out    classify.Output
	notes  []alert.Notification
	// purgeBefore is the retention cut when this tick runs retention (the
	// engine has forgotten what is older; the store purges it in persist);
	// zero otherwise.
	purgeBefore time.Time
	purged      bool
}

// decidePhase computes the watermark from the writers' progress, advances
// the engine to it and turns its signals into notifications. From here on
// the engine has moved: a later failure drops the resident state (run).
func (p *Pipeline) decidePhase(ctx context.Context, now time.Time, drain time.Duration, rep *Report) (decision, error) {
	var d decision
	res := p.res
	var wm time.Time
	wm, d.newest = p.watermarkAt(now)
	if drain > 0 && !d.newest.IsZero() && wm.Before(d.newest.Add(drain)) {
		wm = d.newest.Add(drain)
	}
	if wm.Before(res.meta.Watermark) {
		wm = res.meta.Watermark // never move backwards (a writer that came back)
	}
	d.wm = wm
	rep.Watermark = wm
	p.ticked = true
	d.out = p.engine.Tick(res.engine, wm)
	res.gone = append(res.gone, d.out.Removed...)
	rep.Diagnoses, rep.Incidents, rep.Signals = len(d.out.Diagnoses), len(d.out.Incidents), len(d.out.Signals)

	// "Now" of the alert side: the wall clock in production, the newest event
	// time when replaying (replayed data may be years old).
	alertNow := now
	if p.cfg.Engine.Mode == classify.EventTime {
		alertNow = d.newest
	}
	p.checkDeadLetters(ctx, now) // deadletter.go
	sigs := append(d.out.Signals, p.watchSignals(now, wm, alertNow)...)
	sigs = append(sigs, p.suspectSignals(now, wm, d.out)...)
	sigs = append(sigs, p.siteSignals(wm, &d.out, sigs)...)
	if now.Sub(res.meta.LastPurge) >= purgeEach {
		// Retention: forgotten devices resolve their open alerts.
		f := p.forget(now, &d)
		rep.Forgotten = len(f.Removed)
		sigs = append(sigs, f.Signals...)
	}
	// Firing device alerts whose identity the engine no longer tracks (left
	// by a version that forgot devices without resolving) resolve too.
	sigs = append(sigs, res.alerts.Orphans(res.engine.Tracks, alertNow)...)
	rep.Signals = len(sigs)
	d.notes = p.alerts.Apply(res.alerts, sigs, alertNow)
	notes, err := p.silence(ctx, res.alerts, d.notes, alertNow)
	if err != nil {
		return d, err
	}
	d.notes = notes
	rep.Notifications = len(d.notes)
	return d, nil
}

// persistPhase records the decision in the order that makes a crash
// harmless: the outbox and the alert state first (a recomputed transition
// then finds its alert already firing), diagnoses and incidents, the
// engine's state last, committed with the cursor. What is held for the
// commit (diagnoses of a tick that notifies nothing, the rollup, the
// detectors' device rows) the engine emits again after a crash.
func (p *Pipeline) persistPhase(ctx context.Context, now time.Time, drain time.Duration, d decision, rep *Report) error {
	res := p.res
	if err := p.fence(ctx); err != nil {
		return err
	}
	if err := p.outbox.Enqueue(ctx, d.notes, now); err != nil {
		return fmt.Errorf("pipeline: outbox: %w", err)
	}
	if err := p.saveAlerts(ctx); err != nil {
		return err
	}
	// Commit the engine's state with the cursor every commitEvery (or when
	// the input is drained, or after a retention run), not every minute: it
	// is most of a tick's Table requests.
	res.ticks++
	commit := drain > 0 || d.purged || rep.Backlog || res.ticks >= commitTicks || now.Sub(res.meta.Committed) >= commitEvery
	rows, err := p.stateRows(commit) // rows.go
	if err != nil {
		return err
	}
	if !commit {
		if err := p.writeRows(ctx, store.MetaBlobs, rows); err != nil {
			return err
		}
	}
	p.putResults(ctx, d.out.Diagnoses, d.out.Incidents, commit || len(d.notes) > 0) // hub by hub (hubs.go)
	if err := p.stageRollup(ctx, d.out.Diagnoses, d.wm, now); err != nil {
		return err
	}
	purged := d.purged
	if purged {
		if err := p.purge(ctx, d.purgeBefore); err != nil {
			return err
		}
		res.meta.LastPurge = now
	}
	res.meta.Watermark = d.wm
	if commit {
		return p.commit(ctx, now, purged, rows)
	}
	return nil
}

// commit writes the engine's changed state, then the meta row with the
// cursor (conditional on its ETag) and the tick's state rows.
func (p *Pipeline) commit(ctx context.Context, now time.Time, purged bool, rows *rowBatch) error {
	res := p.res
	res.ticks = 0
	if err := p.flushRollup(ctx); err != nil {
		return err
	}
	engineSaved, err := p.saveEngine(ctx)
	if err != nil {
		return err
	}
	// Nothing changed since the last commit (every change leaves the
	// engine dirty): the older stored cursor only makes a successor
	// re-read a range with no new event.
	if engineSaved || purged || res.progressChanged() {
		res.meta.Cursor = res.readTo
		res.meta.Committed = now
		res.keepProgress(now)
		if err := p.saveMeta(ctx, rows); err != nil {
			return err
		}
		return p.saveProgress(ctx)
	}
	return p.writeRows(ctx, store.MetaBlobs, rows)
}

// deliverPhase sends what is due after everything is recorded. A channel
// failure is the outbox's business (retries, dead letters), not the tick's.
func (p *Pipeline) deliverPhase(ctx context.Context, now time.Time, continuous bool, notes int, rep *Report) error {
	// Only the lease holder enqueues (notifications, digests): while it
	// has held the lease without a gap it knows whether anything can be
	// due, and an idle outbox needs no look. Items left by a process that
	// died are found by the first tick after a gap (not continuous).
	if notes == 0 && !p.outboxBusy && continuous {
		return nil
	}
	d, err := p.outbox.Deliver(ctx, now)
	rep.Delivery = d
	if err != nil {
		return fmt.Errorf("pipeline: deliver: %w", err)
	}
	p.outboxBusy = d.Retrying+d.Deferred > 0 || d.Delivered+d.Dead >= deliverLimit
	return p.watchDeliveries(ctx, d.Outcomes, now)
}

// load makes the resident state current: kept if the stored meta still
// carries this process's last ETag, reloaded from the store otherwise.
func (p *Pipeline) load(ctx context.Context) error {
	b, err := p.st.GetBlob(ctx, store.MetaBlobs, metaKey)
	switch {
	case errors.Is(err, store.ErrNotFound):
		b = store.Blob{}
	case err != nil:
		return fmt.Errorf("pipeline: load meta: %w", err)
	}
	if p.res != nil && p.res.etag == b.ETag {
		return p.claim(ctx, p.res)
	}
	res := &resident{engine: classify.NewState(), alerts: alert.NewState(), etag: b.ETag}
	p.rollup = nil // its cached rows may be another instance's past
	if len(b.Data) > 0 {
		if err := json.Unmarshal(b.Data, &res.meta); err != nil {
			return fmt.Errorf("pipeline: decode meta: %w", err)
		}
	}
	res.loadProgress()
	if err := p.claim(ctx, res); err != nil {
		return err
	}
	load := func(kind store.BlobKind, put func(key string, data []byte) error) error {
		return p.st.ListBlobs(ctx, kind, func(bs []store.Blob) error {
			for _, b := range bs {
				if err := put(b.Key, b.Data); err != nil {
					// A blob this version cannot read is state lost for one
					// device or hub, not a reason to stop the whole app:
					// reported for its hub (hubs.go).
					p.log.Error().Str("kind", string(kind)).Str("key", b.Key).Err(err).Msg("dropping unreadable state")
					if kind == store.DeviceBlobs || kind == store.HubBlobs {
						p.hubBroken(hubOfBlob(kind, b.Key), string(kind), err)
					}
				}
			}
			return nil
		})
	}
	if err := load(store.DeviceBlobs, func(key string, data []byte) error {
		k, ok := event.ParsePath(key)
		if !ok {
			return fmt.Errorf("bad device key %q", key)
		}
		return res.engine.UnmarshalDevice(k, data)
	}); err != nil {
		return fmt.Errorf("pipeline: load devices: %w", err)
	}
	if err := load(store.HubBlobs, res.engine.UnmarshalHub); err != nil {
		return fmt.Errorf("pipeline: load hubs: %w", err)
	}
	if err := load(store.AlertBlobs, res.alerts.Unmarshal); err != nil {
		return fmt.Errorf("pipeline: load alerts: %w", err)
	}
	if res.watch, err = p.loadWatch(ctx, res.alerts); err != nil {
		return err
	}
	if res.suspect, err = p.loadSuspect(ctx); err != nil {
		return err
	}
	if res.site, err = p.loadSite(ctx); err != nil {
		return err
	}
	res.engine.ClearDirty()
	res.alerts.ClearDirty()
	p.res = res
	return nil
}

// saveAlerts writes the changed alert records in one call (rows.go).
func (p *Pipeline) saveAlerts(ctx context.Context) error {
	var b rowBatch
	for _, k := range p.res.alerts.Dirty() {
		data, ok, err := p.res.alerts.Marshal(k)
		if err != nil {
			return fmt.Errorf("pipeline: encode alert %s: %w", k, err)
		}
		if !ok {
			b.del(k)
			continue
		}
		b.put(k, data)
	}
	if err := p.writeRows(ctx, store.AlertBlobs, &b); err != nil {
		return fmt.Errorf("pipeline: save alerts: %w", err)
	}
	p.res.alerts.ClearDirty()
	return nil
}

// saveEngine writes the engine's changed state and deletes what it
// dropped; it reports whether anything was written.
func (p *Pipeline) saveEngine(ctx context.Context) (bool, error) {
	devs, hubs := p.res.engine.Dirty()
	gone := make([]string, len(p.res.gone))
	for i, k := range p.res.gone {
		gone[i] = k.Path()
	}
	// Deletions first: a device deleted and created again in one tick is
	// both gone and dirty, and its new state must survive.
	if err := p.st.DeleteBlobs(ctx, store.DeviceBlobs, gone); err != nil {
		return false, fmt.Errorf("pipeline: delete devices: %w", err)
	}
	// hub by hub: one hub's failure is reported, not the tick's (hubs.go)
	p.saveHubs(ctx, devs, hubs)
	wrote := len(devs)+len(gone)+len(hubs) > 0
	p.res.gone = nil
	return wrote, nil
}

// saveMeta commits the tick. It is conditional on the ETag read at load: if
// another instance evaluated in between, the write fails and this tick's
// resident state is dropped.
//
// The tick's changed state rows of the same partition go in the same
// request (one transaction on Table storage; should the meta row's ETag
// fail, the others are still written, one by one); their deletes, rare,
// in a call of their own.
func (p *Pipeline) saveMeta(ctx context.Context, rows *rowBatch) error {
	data, err := json.Marshal(p.res.meta)
	if err != nil {
		return fmt.Errorf("pipeline: encode meta: %w", err)
	}
	puts := p.changedRows(store.MetaBlobs, rows.puts)
	tags, err := p.st.PutBlobs(ctx, store.MetaBlobs, append([]store.Blob{{Key: metaKey, Data: data, ETag: p.res.etag}}, puts...))
	if err != nil {
		return fmt.Errorf("pipeline: save meta: %w", err)
	}
	p.res.etag = tags[0]
	p.wroteRows(store.MetaBlobs, puts, nil)
	return p.writeRows(ctx, store.MetaBlobs, &rowBatch{dels: rows.dels})
}

// forget applies RETENTION to the engine: devices idle longer are
// forgotten, and their open alert conditions resolved (the returned
// signals). It records the cut in d for purge.
func (p *Pipeline) forget(now time.Time, d *decision) classify.Output {
	ref := now
	if p.cfg.Engine.Mode == classify.EventTime {
		ref = d.newest
	}
	d.purged = true
	if ref.IsZero() {
		return classify.Output{}
	}
	d.purgeBefore = ref.Add(-p.cfg.Engine.Retention)
	out := p.engine.Forget(p.res.engine, d.purgeBefore)
	p.res.gone = append(p.res.gone, out.Removed...)
	return out
}

// purge removes old rows from the store after forget: events are kept an
// hour past the cursor (they are read once; the hour covers re-reads and
// debugging), diagnoses, resolved incidents and finished outbox items until
// before.
func (p *Pipeline) purge(ctx context.Context, before time.Time) error {
	if before.IsZero() {
		return nil
	}
	if err := p.st.Purge(ctx, p.res.meta.Cursor.Add(-time.Hour), before); err != nil {
		return fmt.Errorf("pipeline: purge: %w", err)
	}
	return nil
}
