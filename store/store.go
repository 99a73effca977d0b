// Package store holds every piece of disconnect-doctor's state that must
// outlive one invocation, behind one interface with two implementations:
// Table (Azure Table storage through aztables, safe for many instances) and
// Memory (embedded, in-process: the zero-config default for `make run`,
// `handler replay` and local use). Both pass the same conformance suite
// (storetest).
//
// The shape follows the access patterns of the pipeline, not a generic
// key-value API:
//
//   - Ingest (DiagnosticLogs, ConnectionEvents … on many instances at once)
//     only appends events and records its progress: no read-modify-write, so
//     instances never contend.
//   - Evaluate (the timer, one at a time under a lease) reads the events
//     appended since its cursor, owns the engine's and the alert side's state
//     (opaque blobs), and writes diagnoses, incidents and the outbox.
//   - The query API reads diagnoses, incidents, device blobs and progress.
package store

import (
	"context"
	"errors"
	"time"

	"github.com/disconnect-doctor/disconnect-doctor/classify"
	"github.com/disconnect-doctor/disconnect-doctor/event"
)

// ErrConflict is returned (wrapped) when a conditional write lost a race: the
// ETag given no longer matches. The caller reloads and retries.
var ErrConflict = errors.New("store: conflict")

// ErrNotFound is returned (wrapped) by point reads of a missing row.
var ErrNotFound = errors.New("store: not found")

// ErrUnavailable is returned (wrapped) when the backing service cannot be
// reached or keeps failing after retries: the function must answer non-2xx
// so the host retries the batch.
var ErrUnavailable = errors.New("store: unavailable")

// Progress is one ingest writer's position: a writer is one input stream
// partition (Event Hub name + partition id), or "eventgrid", "metric".
// Evaluate keeps it, merged from the writers' Marks, and stores it with
// every commit (PutProgress) for the API and for anyone watching the
// pipeline.
type Progress struct {
	Writer string
	// Newest is the newest event time of any well-formed record the writer
	// has read, kept or ignored; it only moves forward.
	Newest time.Time
	// Updated is the stamp of the writer's last append; a partition idle
	// for longer than ALLOWED_LATENESS stops holding the watermark back.
	Updated time.Time
	// Counters since the writer started: records read, kept, ignored,
	// skipped (malformed).
	Read, Kept, Ignored, Skipped int64
}

// Mark is one ingest invocation's account of what it read. It is appended
// with the invocation's events, in the same transaction when they fit one,
// so progress costs no Table request of its own; Evaluate reads marks with
// the events and merges them into each writer's Progress (a maximum for
// times, a sum for counters), so concurrent invocations of one writer never
// lose each other's updates.
type Mark struct {
	Writer string
	// ID identifies the batch: a retry of the same batch carries the same
	// ID, and readers count a mark once per ID.
	ID string
	// Newest is the newest event time of any well-formed record read, kept
	// or ignored (zero when there was none).
	Newest time.Time
	// Counters of this invocation.
	Read, Kept, Ignored, Skipped int64
	// Stamp is the append stamp; set by ReadEvents.
	Stamp time.Time
}

// Blob is an opaque serialized value (engine device or hub state, alert
// state) with its ETag. Key is unique within its kind.
type Blob struct {
	Key  string
	Data []byte
	ETag string
}

// BlobKind names a family of blobs; each lives in its own table (device
// blobs spread over partitions, store/blobs.go).
type BlobKind string

const (
	DeviceBlobs BlobKind = "device" // one per tracked device (classify)
	HubBlobs    BlobKind = "hub"    // one per hub (classify)
	AlertBlobs  BlobKind = "alert"  // one per alert key (alert)
	MetaBlobs   BlobKind = "meta"   // cursor, watermark, generation (pipeline)
)

// DiagnosisQuery selects diagnoses for the API. Zero fields do not filter.
type DiagnosisQuery struct {
	Hub, Device string
	From, To    time.Time // From inclusive, To exclusive; on Diagnosis.Time
	Cause       classify.Cause
	Limit       int    // 1..1000
	Cursor      string // opaque, from a previous page's Next
	// Module filters by module id when ByModule is set: "" selects device
	// identities only, "$edgeHub" that module (of Device, or of every
	// device when Device is ""). Unset, a device's query covers the device
	// and all its modules.
	Module   string
	ByModule bool
	// Incident keeps only the diagnoses caught in that hub incident
	// (classify.Diagnosis.Incident); the caller bounds From and To to the
	// incident's span, so a page reads no more than the span holds.
	Incident string
}

// MatchesModule reports whether identity k passes q's module filter.
func (q *DiagnosisQuery) MatchesModule(k event.Key) bool {
	return !q.ByModule || k.Module == q.Module
}

// MatchesIncident reports whether d passes q's incident filter.
func (q *DiagnosisQuery) MatchesIncident(d *classify.Diagnosis) bool {
	return q.Incident == "" || d.Incident == q.Incident
}

// OutboxItem is one notification to deliver on one channel. The outbox is
// written before anything is sent, so a crash never loses a notification.
type OutboxItem struct {
	// ID is unique: NotificationID + "/" + Channel.
	ID             string
	NotificationID string
	Channel        string // "teams", "email", "webhook"
	Payload        []byte // the notification, JSON (alert.Notification)
	Created        time.Time
	// Due is when the next attempt may be made.
	Due       time.Time
	Attempts  int
	State     OutboxState
	LastError string // redacted by the caller; never a secret
	ETag      string
}

// OutboxState is the life cycle of an outbox item.
type OutboxState string

const (
	OutboxPending   OutboxState = "pending"
	OutboxDelivered OutboxState = "delivered"
	OutboxDead      OutboxState = "dead" // kept failing; dead-lettered
	// OutboxSuppressed: recorded but never to be sent (a stale alert of a
	// backlog being caught up, STALE_AFTER).
	OutboxSuppressed OutboxState = "suppressed"
)

// Silence is a maintenance window in Alertmanager's model: while it is
// active (StartsAt <= t < EndsAt) the alerts its matchers select are
// recorded but not notified (package alert's silence stage). It is never
// deleted by the API, only expired (EndsAt set to the time of the request),
// so the history stays visible until RETENTION purges it.
type Silence struct {
	ID string
	// Hub and Device are globs (path.Match syntax); "" matches anything.
	// Kind is an alert kind; "" matches every kind.
	Hub, Device, Kind string
	StartsAt, EndsAt  time.Time
	CreatedBy         string
	Comment           string
	// UpdatedAt is when the silence was created or last changed.
	UpdatedAt time.Time
	ETag      string
}

// SilenceStore holds the silences. Few exist at a time (tens), so they are
// listed whole.
type SilenceStore interface {
	// PutSilence writes a silence and returns its new ETag. With an ETag it
	// replaces the stored silence only if that ETag still matches
	// (ErrConflict otherwise, ErrNotFound if it is gone); without one it
	// writes unconditionally.
	PutSilence(ctx context.Context, s Silence) (string, error)
	// GetSilence reads one silence; ErrNotFound if absent.
	GetSilence(ctx context.Context, id string) (Silence, error)
	// ListSilences returns every silence, by StartsAt then ID.
	ListSilences(ctx context.Context) ([]Silence, error)
}

// Store is the state of disconnect-doctor. Every method is safe for
// concurrent use. Errors wrap ErrConflict, ErrNotFound or ErrUnavailable
// where those apply.
type Store interface {
	// AppendEvents stores events stamped with the writer's wall-clock ingest
	// time, and the invocation's mark (nil for none) with them: in the same
	// request when the events fit one transaction (99 or fewer). Appending an
	// event that is already stored (same ID, any stamp) may store it again;
	// readers deduplicate by ID (events) and mark ID (marks).
	// An event the store refuses for good (ErrRejected) does not stop the
	// others: they and the mark are stored, and a *RejectedError names the
	// refused ones.
	AppendEvents(ctx context.Context, stamp time.Time, evs []event.Event, mark *Mark) error
	// ReadEvents returns the events and marks whose stamp is in [from, to),
	// in stamp order, calling fn once per page; fn's error stops the read and
	// is returned.
	ReadEvents(ctx context.Context, from, to time.Time, fn func([]event.Event, []Mark) error) error
	// PutProgress records writers' progress (last write wins per writer).
	PutProgress(ctx context.Context, ps ...Progress) error
	// DeleteProgress removes writers' progress; missing ones are no error.
	DeleteProgress(ctx context.Context, writers ...string) error
	// ListProgress returns every writer's progress.
	ListProgress(ctx context.Context) ([]Progress, error)

	// GetBlob reads one blob; ErrNotFound if absent.
	GetBlob(ctx context.Context, kind BlobKind, key string) (Blob, error)
	// ListBlobs calls fn for every blob of a kind, in pages.
	ListBlobs(ctx context.Context, kind BlobKind, fn func([]Blob) error) error
	// PutBlobs writes blobs. A blob with an ETag is replaced only if the
	// stored ETag still matches (ErrConflict otherwise, and nothing of that
	// blob is written); an empty ETag writes unconditionally. Returns the new
	// ETags in input order.
	PutBlobs(ctx context.Context, kind BlobKind, blobs []Blob) ([]string, error)
	// DeleteBlobs removes blobs by key; missing keys are not an error.
	DeleteBlobs(ctx context.Context, kind BlobKind, keys []string) error
	// WriteBlobs writes puts and deletes the blobs named in deletes, all of
	// one kind, in as few requests as the store can: on Table storage one
	// entity-group transaction per 100 rows of a partition, so the few
	// state rows Evaluate changes in a tick cost one request, and such a
	// transaction is all or nothing. ETags are ignored (every put is
	// unconditional) and none are returned: it is for rows only the
	// Evaluate lease holder writes and never reads back while it holds the
	// lease. A key both put and deleted is put; a missing key to delete is
	// not an error.
	WriteBlobs(ctx context.Context, kind BlobKind, puts []Blob, deletes []string) error

	// PutDiagnoses upserts diagnoses, keyed by (Key, EventID).
	PutDiagnoses(ctx context.Context, ds []classify.Diagnosis) error
	// ListDiagnoses returns matching diagnoses newest first (by Time, then
	// key), and a cursor for the next page ("" when done).
	ListDiagnoses(ctx context.Context, q DiagnosisQuery) ([]classify.Diagnosis, string, error)

	// PutIncidents upserts incidents by ID.
	PutIncidents(ctx context.Context, is []classify.Incident) error
	// ListIncidents returns a hub's incidents (all hubs when hub is ""),
	// newest first; open filters by status when non-nil.
	ListIncidents(ctx context.Context, hub string, open *bool) ([]classify.Incident, error)

	// Enqueue adds outbox items; an item whose ID exists is left as it is
	// (re-enqueueing after a crash is harmless).
	Enqueue(ctx context.Context, items []OutboxItem) error
	// DueItems returns pending items with Due <= now, oldest first, at most limit.
	DueItems(ctx context.Context, now time.Time, limit int) ([]OutboxItem, error)
	// UpdateItem writes an item back conditionally on its ETag.
	UpdateItem(ctx context.Context, it OutboxItem) error
	// ListItems returns outbox items created in [from, to) (any state), for
	// the API and tests.
	ListItems(ctx context.Context, from, to time.Time) ([]OutboxItem, error)

	// AcquireLease takes or renews the named lease for holder until `until`;
	// it succeeds if the lease is free, expired at now, or already held by
	// holder. Only one Evaluate runs at a time. It returns the lease's epoch
	// (0: not acquired): 1 for a new lease, one more each time the lease
	// passes to another holder, unchanged while one holder renews or takes
	// its own lease back. A holder's commits carry its epoch (fencing).
	AcquireLease(ctx context.Context, name, holder string, now, until time.Time) (epoch int64, err error)

	// Purge removes events stamped before eventsBefore, and diagnoses,
	// resolved incidents, finished outbox items and silences that ended
	// before `before`.
	Purge(ctx context.Context, eventsBefore, before time.Time) error

	// Silences (maintenance windows): written by the API on any instance,
	// read by Evaluate every tick. See Silence.
	SilenceStore
	// Dead letters: records the store refused for good (ErrRejected), set
	// aside by ingest, listed by the API. See DeadLetter.
	DeadLetterStore

	// Ping checks the backing service is reachable (API health).
	Ping(ctx context.Context) error
	// Close releases resources.
	Close() error
}

// Blob kinds of the dashboard's rollup (package rollup): per-hub, per-minute
// disconnect counts by cause, so that pages never scan diagnoses.
const (
	RollupBlobs       BlobKind = "rollup"    // one per hub and UTC day: the day's counts
	RollupMemberBlobs BlobKind = "rollupids" // one per hub and minute: the records counted in it
)
