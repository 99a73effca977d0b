package store

import (
	"context"
	"fmt"
	"slices"
	"sort"
	"strconv"
	"strings"
	"sync"
	"time"

	"github.com/disconnect-doctor/disconnect-doctor/classify"
	"github.com/disconnect-doctor/disconnect-doctor/event"
)

// memPage is the page size of Memory's paged reads, the same as Azure
// Table's 1000-row cap, so callers see the same paging in both stores.
const memPage = 1000

// Memory is the embedded, in-process Store: the zero-config default for
// local runs, replay and tests. It keeps the semantics of Table — ETags,
// ErrConflict on stale ETags, key order, paging, cursors — so code tested
// against it behaves the same on Azure. It is safe for concurrent use; all
// state is lost when the process exits.
type Memory struct {
	mu       sync.Mutex
	etag     uint64
	events   map[string]memEvent // by eventRowKey
	evKeys   keyIndex
	progress map[string]Progress
	blobs    map[BlobKind]map[string]Blob  // by key
	diags    map[string]classify.Diagnosis // by diagRowKey
	// diagIdx holds the diagnoses' keys in order (newest first): "" for
	// every hub's, one per hub, and one per hub incident (diagIncIdx), so a
	// page of ListDiagnoses reads from its cursor on instead of sorting
	// every diagnosis stored (keys added since are merged in by the next
	// list: keyIndex); nil diagIdx is rebuilt by the next list (none yet,
	// after a purge, or after a diagnosis changed incident).
	diagIdx  map[string]*keyIndex
	incs     map[string]classify.Incident
	outbox   map[string]OutboxItem
	leases   map[string]memLease
	silences map[string]Silence
	dead     map[string]DeadLetter
	// fences is the highest epoch that has written under each fence name
	// (fence.go): Memory fences the whole store at once.
	fences map[string]int64
	closed bool
	// readKeep, when positive, is how far before a read's start events
	// are kept (ForgetReadEvents).
	readKeep time.Duration
}

// MemoryOption configures NewMemory.
type MemoryOption func(*Memory)

// ForgetReadEvents bounds the events a Memory keeps for a store with one
// forward reader — `handler run` and replay, where one pipeline reads the
// events in stamp order and re-reads at most from its last commit: a
// ReadEvents from `from` drops the events stamped before from-keep, as
// Purge would. Without it events stay until Purge (hourly, an hour behind
// the reader's cursor), which at 100 000 devices is millions of events
// nobody reads again.
func ForgetReadEvents(keep time.Duration) MemoryOption {
	return func(m *Memory) { m.readKeep = keep }
}

type memEvent struct {
	stamp time.Time
	data  []byte // EncodeEvent: stored compactly, and copied like Table would
	mark  bool   // data is a Mark (JSON), not an event
}

type memLease struct {
	holder string
	until  time.Time
	epoch  int64
}

// NewMemory returns an empty in-process store.
func NewMemory(opts ...MemoryOption) *Memory {
	m := &Memory{
		events:   map[string]memEvent{},
		progress: map[string]Progress{},
		blobs:    map[BlobKind]map[string]Blob{},
		diags:    map[string]classify.Diagnosis{},
		incs:     map[string]classify.Incident{},
		outbox:   map[string]OutboxItem{},
		leases:   map[string]memLease{},
		silences: map[string]Silence{},
		dead:     map[string]DeadLetter{},
		fences:   map[string]int64{},
	}
	for _, o := range opts {
		o(m)
	}
	return m
}

// fence refuses a write under an older epoch than one that has written;
// callers hold mu.
func (m *Memory) fence(ctx context.Context, what string) error {
	f, ok := fenceOf(ctx)
	if !ok {
		return nil
	}
	if cur := m.fences[f.Name]; cur > f.Epoch {
		return fencedErr(f, cur, what)
	}
	m.fences[f.Name] = f.Epoch
	return nil
}

var _ Store = (*Memory)(nil)

// nextETag returns a fresh ETag; callers hold mu.
func (m *Memory) nextETag() string {
	m.etag++
	return `W/"m` + strconv.FormatUint(m.etag, 10) + `"`
}

func (m *Memory) check(ctx context.Context) error {
	if err := ctx.Err(); err != nil {
		return err
	}
	if m.closed {
		return fmt.Errorf("store: memory store closed: %w", ErrUnavailable)
	}
	return nil
}

// AppendEvents stores events under (stamp, ID); re-appending the same event
// with the same stamp overwrites it.
func (m *Memory) AppendEvents(ctx context.Context, stamp time.Time, evs []event.Event, mark *Mark) error {
	var md []byte
	if mark != nil {
		var err error
		if md, err = encodeMark(mark); err != nil {
			return err
		}
	}
	m.mu.Lock()
	defer m.mu.Unlock()
	if err := m.check(ctx); err != nil {
		return fmt.Errorf("store: append events: %w", err)
	}
	put := func(k string, e memEvent) {
		if _, ok := m.events[k]; !ok {
			m.evKeys.add(k)
		}
		m.events[k] = e
	}
	var rej []Rejection
	for i := range evs {
		if err := checkEvent(&evs[i]); err != nil {
			rej = append(rej, Rejection{Index: i, ID: evs[i].ID, Reason: err.Error()})
			continue
		}
		put(eventRowKey(stamp, evs[i].ID), memEvent{stamp: stamp, data: encodeStored(&evs[i])})
	}
	if mark != nil {
		put(markRowKey(stamp, mark.ID), memEvent{stamp: stamp, data: md, mark: true})
	}
	if len(rej) > 0 {
		return &RejectedError{Rejected: rej}
	}
	return nil
}

// ReadEvents calls fn with pages of up to 1000 events stamped in [from, to),
// in stamp order. The lock is not held while fn runs.
func (m *Memory) ReadEvents(ctx context.Context, from, to time.Time, fn func([]event.Event, []Mark) error) error {
	lo, hi := stampKey(from), stampKey(to)
	if m.readKeep > 0 {
		m.mu.Lock()
		if !m.closed {
			m.evKeys.dropBefore(stampKey(from.Add(-m.readKeep)), func(k string) { delete(m.events, k) })
		}
		m.mu.Unlock()
	}
	for {
		m.mu.Lock()
		if err := m.check(ctx); err != nil {
			m.mu.Unlock()
			return fmt.Errorf("store: read events: %w", err)
		}
		i := m.evKeys.search(lo)
		keys := m.evKeys.keys
		var page []event.Event
		var marks []Mark
		for ; i < len(keys) && len(page)+len(marks) < memPage; i++ {
			k := keys[i]
			if k >= hi {
				break
			}
			me := m.events[k]
			if me.mark {
				mk, err := decodeMark(me.data, me.stamp)
				if err != nil {
					m.mu.Unlock()
					return fmt.Errorf("store: read mark %s: %w", k, err)
				}
				marks = append(marks, mk)
				continue
			}
			e, err := DecodeEvent(me.data)
			if err != nil {
				m.mu.Unlock()
				return fmt.Errorf("store: read event %s: %w", k, err)
			}
			page = append(page, e)
		}
		more := i < len(keys) && keys[i] < hi
		if more {
			lo = keys[i]
		}
		m.mu.Unlock()
		if len(page)+len(marks) == 0 {
			return nil
		}
		if err := fn(page, marks); err != nil {
			return err
		}
		if !more {
			return nil
		}
	}
}

// PutProgress records ps (last write wins per writer).
func (m *Memory) PutProgress(ctx context.Context, ps ...Progress) error {
	m.mu.Lock()
	defer m.mu.Unlock()
	if err := m.check(ctx); err != nil {
		return fmt.Errorf("store: put progress: %w", err)
	}
	for _, p := range ps {
		m.progress[p.Writer] = p
	}
	return nil
}

// DeleteProgress removes writers' progress.
func (m *Memory) DeleteProgress(ctx context.Context, writers ...string) error {
	m.mu.Lock()
	defer m.mu.Unlock()
	if err := m.check(ctx); err != nil {
		return fmt.Errorf("store: delete progress: %w", err)
	}
	for _, w := range writers {
		delete(m.progress, w)
	}
	return nil
}

// ListProgress returns every writer's progress, ordered by writer.
func (m *Memory) ListProgress(ctx context.Context) ([]Progress, error) {
	m.mu.Lock()
	defer m.mu.Unlock()
	if err := m.check(ctx); err != nil {
		return nil, fmt.Errorf("store: list progress: %w", err)
	}
	out := make([]Progress, 0, len(m.progress))
	for _, p := range m.progress {
		out = append(out, p)
	}
	slices.SortFunc(out, func(a, b Progress) int { return strings.Compare(EncodeKey(a.Writer), EncodeKey(b.Writer)) })
	return out, nil
}

// GetBlob reads one blob (a copy); ErrNotFound if absent.
func (m *Memory) GetBlob(ctx context.Context, kind BlobKind, key string) (Blob, error) {
	m.mu.Lock()
	defer m.mu.Unlock()
	if err := m.check(ctx); err != nil {
		return Blob{}, fmt.Errorf("store: get %s blob %q: %w", kind, key, err)
	}
	b, ok := m.blobs[kind][key]
	if !ok {
		return Blob{}, fmt.Errorf("store: get %s blob %q: %w", kind, key, ErrNotFound)
	}
	b.Data = slices.Clone(b.Data)
	return b, nil
}

// ListBlobs calls fn with pages of up to 1000 blobs of kind, ordered by
// encoded key (Table's RowKey order).
func (m *Memory) ListBlobs(ctx context.Context, kind BlobKind, fn func([]Blob) error) error {
	m.mu.Lock()
	if err := m.check(ctx); err != nil {
		m.mu.Unlock()
		return fmt.Errorf("store: list %s blobs: %w", kind, err)
	}
	all := make([]Blob, 0, len(m.blobs[kind]))
	for _, b := range m.blobs[kind] {
		b.Data = slices.Clone(b.Data)
		all = append(all, b)
	}
	m.mu.Unlock()
	slices.SortFunc(all, func(a, b Blob) int { return strings.Compare(EncodeKey(a.Key), EncodeKey(b.Key)) })
	for len(all) > 0 {
		n := min(len(all), memPage)
		if err := fn(all[:n:n]); err != nil {
			return err
		}
		all = all[n:]
	}
	return nil
}

// PutBlobs writes blobs; a blob whose ETag is stale is not written and the
// call returns ErrConflict (naming the keys) after writing the others. The
// returned ETags are in input order, "" for a blob that was not written.
func (m *Memory) PutBlobs(ctx context.Context, kind BlobKind, blobs []Blob) ([]string, error) {
	if err := checkBlobs(kind, blobs); err != nil {
		return nil, err
	}
	m.mu.Lock()
	defer m.mu.Unlock()
	if err := m.check(ctx); err != nil {
		return nil, fmt.Errorf("store: put %s blobs: %w", kind, err)
	}
	if err := m.fence(ctx, "put "+string(kind)+" blobs"); err != nil {
		return nil, err
	}
	tab := m.blobs[kind]
	if tab == nil {
		tab = map[string]Blob{}
		m.blobs[kind] = tab
	}
	tags := make([]string, len(blobs))
	var conflicts []string
	for i, b := range blobs {
		if b.ETag != "" {
			if cur, ok := tab[b.Key]; !ok || cur.ETag != b.ETag {
				conflicts = append(conflicts, b.Key)
				continue
			}
		}
		b.ETag = m.nextETag()
		b.Data = slices.Clone(b.Data)
		tab[b.Key] = b
		tags[i] = b.ETag
	}
	if conflicts != nil {
		return tags, conflictErr(kind, conflicts)
	}
	return tags, nil
}

// DeleteBlobs removes blobs by key; missing keys are not an error.
func (m *Memory) DeleteBlobs(ctx context.Context, kind BlobKind, keys []string) error {
	m.mu.Lock()
	defer m.mu.Unlock()
	if err := m.check(ctx); err != nil {
		return fmt.Errorf("store: delete %s blobs: %w", kind, err)
	}
	if err := m.fence(ctx, "delete "+string(kind)+" blobs"); err != nil {
		return err
	}
	for _, k := range keys {
		delete(m.blobs[kind], k)
	}
	return nil
}

// WriteBlobs writes and deletes blobs of one kind at once; see Store.
func (m *Memory) WriteBlobs(ctx context.Context, kind BlobKind, puts []Blob, deletes []string) error {
	if err := checkBlobs(kind, puts); err != nil {
		return err
	}
	m.mu.Lock()
	defer m.mu.Unlock()
	if err := m.check(ctx); err != nil {
		return fmt.Errorf("store: write %s blobs: %w", kind, err)
	}
	if err := m.fence(ctx, "write "+string(kind)+" blobs"); err != nil {
		return err
	}
	tab := m.blobs[kind]
	if tab == nil {
		tab = map[string]Blob{}
		m.blobs[kind] = tab
	}
	for _, k := range deletes {
		delete(tab, k)
	}
	for _, b := range puts {
		b.ETag = m.nextETag()
		b.Data = slices.Clone(b.Data)
		tab[b.Key] = b
	}
	return nil
}

// PutDiagnoses upserts diagnoses keyed by (Key, EventID).
func (m *Memory) PutDiagnoses(ctx context.Context, ds []classify.Diagnosis) error {
	m.mu.Lock()
	defer m.mu.Unlock()
	if err := m.check(ctx); err != nil {
		return fmt.Errorf("store: put diagnoses: %w", err)
	}
	for _, d := range ds {
		if err := checkDiagnosis(&d); err != nil {
			return err
		}
	}
	if err := m.fence(ctx, "put diagnoses"); err != nil {
		return err
	}
	for _, d := range ds {
		d.Evidence = slices.Clone(d.Evidence)
		d.Time = d.Time.UTC()
		k := diagRowKey(&d)
		if old, ok := m.diags[k]; !ok && m.diagIdx != nil {
			m.indexDiag(k, &d)
		} else if ok && old.Incident != d.Incident {
			m.diagIdx = nil // a revision moved it between incidents (rare)
		}
		m.diags[k] = d
	}
	return nil
}

// indexDiags builds diagIdx from every diagnosis when it is nil; keys
// added later go in by indexDiag as they are written.
func (m *Memory) indexDiags() {
	if m.diagIdx != nil {
		return
	}
	m.diagIdx = map[string]*keyIndex{}
	for k, d := range m.diags {
		m.indexDiag(k, &d)
	}
}

// indexDiag adds key k of diagnosis d to the indexes that list d.
func (m *Memory) indexDiag(k string, d *classify.Diagnosis) {
	for _, name := range diagIndexes(d) {
		x := m.diagIdx[name]
		if x == nil {
			x = &keyIndex{}
			m.diagIdx[name] = x
		}
		x.add(k)
	}
}

// diagIndexes names the indexes (diagIdx) that list d: every hub's, its
// hub's, and its incident's ("\x00" + ID, which no hub name holds).
func diagIndexes(d *classify.Diagnosis) []string {
	if d.Incident == "" {
		return []string{"", d.Key.Hub}
	}
	return []string{"", d.Key.Hub, "\x00" + d.Incident}
}

// diagIndexOf is the index a query reads: its incident's, its hub's, or
// every hub's.
func diagIndexOf(q *DiagnosisQuery) string {
	if q.Incident != "" {
		return "\x00" + q.Incident
	}
	return q.Hub
}

// ListDiagnoses returns matching diagnoses newest first, and a cursor.
func (m *Memory) ListDiagnoses(ctx context.Context, q DiagnosisQuery) ([]classify.Diagnosis, string, error) {
	limit := clampLimit(q.Limit)
	lo, hi := diagTimeBounds(q.From, q.To)
	if q.Cursor != "" {
		c, err := decodeCursor(q.Cursor)
		if err != nil {
			return nil, "", err
		}
		if c >= lo {
			lo = c + "\x00" // strictly after the cursor
		}
	}
	m.mu.Lock()
	if err := m.check(ctx); err != nil {
		m.mu.Unlock()
		return nil, "", fmt.Errorf("store: list diagnoses: %w", err)
	}
	m.indexDiags()
	var idx []string
	if x := m.diagIdx[diagIndexOf(&q)]; x != nil {
		idx = x.ordered()
	}
	var keys []string
	for i := sort.SearchStrings(idx, lo); i < len(idx) && len(keys) <= limit; i++ {
		k := idx[i]
		if hi != "" && k >= hi {
			break
		}
		if d := m.diags[k]; diagMatches(&d, &q) {
			keys = append(keys, k)
		}
	}
	next := ""
	if len(keys) > limit {
		keys = keys[:limit]
		next = encodeCursor(keys[limit-1])
	}
	out := make([]classify.Diagnosis, len(keys))
	for i, k := range keys {
		out[i] = m.diags[k]
		out[i].Evidence = slices.Clone(out[i].Evidence)
	}
	m.mu.Unlock()
	return out, next, nil
}

func diagMatches(d *classify.Diagnosis, q *DiagnosisQuery) bool {
	return (q.Hub == "" || d.Key.Hub == q.Hub) && (q.Device == "" || d.Key.Device == q.Device) &&
		(q.Cause == "" || d.Cause == q.Cause) && q.MatchesModule(d.Key) && q.MatchesIncident(d)
}

// PutIncidents upserts incidents by ID.
func (m *Memory) PutIncidents(ctx context.Context, is []classify.Incident) error {
	m.mu.Lock()
	defer m.mu.Unlock()
	if err := m.check(ctx); err != nil {
		return fmt.Errorf("store: put incidents: %w", err)
	}
	if err := m.fence(ctx, "put incidents"); err != nil {
		return err
	}
	for _, in := range is {
		in.Evidence = slices.Clone(in.Evidence)
		in.Start, in.End = in.Start.UTC(), in.End.UTC()
		m.incs[in.ID] = in
	}
	return nil
}

// ListIncidents returns a hub's incidents (all when hub is ""), newest
// first (Start descending, then ID); open filters by status when non-nil.
func (m *Memory) ListIncidents(ctx context.Context, hub string, open *bool) ([]classify.Incident, error) {
	m.mu.Lock()
	defer m.mu.Unlock()
	if err := m.check(ctx); err != nil {
		return nil, fmt.Errorf("store: list incidents: %w", err)
	}
	var out []classify.Incident
	for _, in := range m.incs {
		if (hub == "" || in.Hub == hub) && (open == nil || in.Open == *open) {
			in.Evidence = slices.Clone(in.Evidence)
			out = append(out, in)
		}
	}
	sortIncidents(out)
	return out, nil
}

func sortIncidents(is []classify.Incident) {
	slices.SortFunc(is, func(a, b classify.Incident) int {
		if c := b.Start.Compare(a.Start); c != 0 {
			return c
		}
		return strings.Compare(a.ID, b.ID)
	})
}

// Enqueue adds outbox items; an existing ID is left untouched.
func (m *Memory) Enqueue(ctx context.Context, items []OutboxItem) error {
	m.mu.Lock()
	defer m.mu.Unlock()
	if err := m.check(ctx); err != nil {
		return fmt.Errorf("store: enqueue: %w", err)
	}
	if err := m.fence(ctx, "enqueue"); err != nil {
		return err
	}
	for _, it := range items {
		if it.ID == "" {
			return fmt.Errorf("store: enqueue: item with empty ID")
		}
		if _, ok := m.outbox[it.ID]; ok {
			continue
		}
		if it.State == "" {
			it.State = OutboxPending
		}
		it.Payload = slices.Clone(it.Payload)
		it.Created, it.Due = it.Created.UTC(), it.Due.UTC()
		it.ETag = m.nextETag()
		m.outbox[it.ID] = it
	}
	return nil
}

// DueItems returns pending items with Due <= now, oldest Due first (then
// ID), at most limit.
func (m *Memory) DueItems(ctx context.Context, now time.Time, limit int) ([]OutboxItem, error) {
	m.mu.Lock()
	defer m.mu.Unlock()
	if err := m.check(ctx); err != nil {
		return nil, fmt.Errorf("store: due items: %w", err)
	}
	if limit <= 0 {
		return nil, nil
	}
	var keys []string
	byKey := map[string]OutboxItem{}
	for _, it := range m.outbox {
		if it.State == OutboxPending && !it.Due.After(now) {
			k := outboxDueKey(it.Due, it.ID)
			keys = append(keys, k)
			byKey[k] = it
		}
	}
	sort.Strings(keys)
	if len(keys) > limit {
		keys = keys[:limit]
	}
	out := make([]OutboxItem, len(keys))
	for i, k := range keys {
		out[i] = byKey[k]
		out[i].Payload = slices.Clone(out[i].Payload)
	}
	return out, nil
}

// UpdateItem writes it back if its ETag still matches (ErrConflict
// otherwise, ErrNotFound if the item does not exist).
func (m *Memory) UpdateItem(ctx context.Context, it OutboxItem) error {
	m.mu.Lock()
	defer m.mu.Unlock()
	if err := m.check(ctx); err != nil {
		return fmt.Errorf("store: update item %q: %w", it.ID, err)
	}
	cur, ok := m.outbox[it.ID]
	if !ok {
		return fmt.Errorf("store: update item %q: %w", it.ID, ErrNotFound)
	}
	if it.ETag != cur.ETag {
		return fmt.Errorf("store: update item %q: %w", it.ID, ErrConflict)
	}
	it.Payload = slices.Clone(it.Payload)
	it.Created, it.Due = it.Created.UTC(), it.Due.UTC()
	it.ETag = m.nextETag()
	m.outbox[it.ID] = it
	return nil
}

// ListItems returns items created in [from, to), oldest first (then ID).
func (m *Memory) ListItems(ctx context.Context, from, to time.Time) ([]OutboxItem, error) {
	m.mu.Lock()
	defer m.mu.Unlock()
	if err := m.check(ctx); err != nil {
		return nil, fmt.Errorf("store: list items: %w", err)
	}
	var out []OutboxItem
	for _, it := range m.outbox {
		if !it.Created.Before(from) && it.Created.Before(to) {
			it.Payload = slices.Clone(it.Payload)
			out = append(out, it)
		}
	}
	sortItems(out)
	return out, nil
}

func sortItems(its []OutboxItem) {
	slices.SortFunc(its, func(a, b OutboxItem) int {
		if c := a.Created.Compare(b.Created); c != 0 {
			return c
		}
		return strings.Compare(a.ID, b.ID)
	})
}

// AcquireLease takes or renews the named lease for holder until `until`.
func (m *Memory) AcquireLease(ctx context.Context, name, holder string, now, until time.Time) (int64, error) {
	m.mu.Lock()
	defer m.mu.Unlock()
	if err := m.check(ctx); err != nil {
		return 0, fmt.Errorf("store: acquire lease %q: %w", name, err)
	}
	cur, ok := m.leases[name]
	if ok && cur.holder != holder && cur.until.After(now) {
		return 0, nil
	}
	epoch := cur.epoch
	if !ok || cur.holder != holder {
		epoch++
	}
	m.leases[name] = memLease{holder: holder, until: until, epoch: epoch}
	return epoch, nil
}

// Purge removes events stamped before eventsBefore, and diagnoses (by
// Time), resolved incidents (by End), finished outbox items (by Created)
// and silences (by EndsAt) older than before.
func (m *Memory) Purge(ctx context.Context, eventsBefore, before time.Time) error {
	m.mu.Lock()
	defer m.mu.Unlock()
	if err := m.check(ctx); err != nil {
		return fmt.Errorf("store: purge: %w", err)
	}
	m.evKeys.dropBefore(stampKey(eventsBefore), func(k string) { delete(m.events, k) })
	for k, d := range m.diags {
		if d.Time.Before(before) {
			delete(m.diags, k)
			m.diagIdx = nil // rebuilt by the next list
		}
	}
	for k, in := range m.incs {
		if !in.Open && in.End.Before(before) {
			delete(m.incs, k)
		}
	}
	for k, it := range m.outbox {
		if it.State != OutboxPending && it.Created.Before(before) {
			delete(m.outbox, k)
		}
	}
	m.purgeSilences(before)
	m.purgeDeadLetters(before)
	return nil
}

// Ping reports whether the store is open.
func (m *Memory) Ping(ctx context.Context) error {
	m.mu.Lock()
	defer m.mu.Unlock()
	return m.check(ctx)
}

// Close discards nothing but makes further calls fail with ErrUnavailable.
func (m *Memory) Close() error {
	m.mu.Lock()
	defer m.mu.Unlock()
	m.closed = true
	return nil
}
