package store

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"net/http"
	"slices"
	"strings"
	"sync"
	"time"

	"github.com/Azure/azure-sdk-for-go/sdk/azcore"
	"github.com/Azure/azure-sdk-for-go/sdk/azcore/policy"
	"github.com/Azure/azure-sdk-for-go/sdk/data/aztables"
	"golang.org/x/sync/errgroup"

	"github.com/disconnect-doctor/disconnect-doctor/classify"
	"github.com/disconnect-doctor/disconnect-doctor/event"
)

// DefaultTablePrefix is the table name prefix when STATE_TABLE_PREFIX is unset.
const DefaultTablePrefix = "dcdoctor"

// TableOptions configures OpenTable. Exactly one way to reach the account
// is given: ConnectionString, or ServiceURL with Credential.
type TableOptions struct {
	// ConnectionString is a storage connection string with AccountName and
	// AccountKey (and TableEndpoint for Azurite), or
	// "UseDevelopmentStorage=true" (Azurite's well-known account on
	// 127.0.0.1:10002). It is a secret: never logged or put in an error.
	ConnectionString string
	// ServiceURL (https://<account>.table.core.windows.net) and Credential
	// are the identity-based alternative.
	ServiceURL string
	Credential azcore.TokenCredential
	// Prefix starts every table name (DefaultTablePrefix if empty).
	Prefix string
	// Retry is the budget for transient failures (429, 5xx, timeouts,
	// connection refused); Retry-After is honoured. Zero fields take
	// azcore's defaults, except MaxRetries (4) and MaxRetryDelay (30 s).
	// Tests shorten it; after it is spent the call fails with ErrUnavailable.
	Retry policy.RetryOptions
	// Transport, if set, replaces the HTTP client (tests, benchmarks).
	Transport policy.Transporter
}

// Table is the Store on Azure Table storage (or Azurite), safe for many
// instances at once. The layout follows the scale-out model: ingest
// instances only append (events in stamp-minute partitions, progress one row
// per writer), so they never contend; Evaluate, one at a time under a lease,
// owns blobs, diagnoses, incidents and the outbox.
//
// Tables (created on first use) are <prefix>events, progress, blob<kind>,
// diag, incident, outbox and lease. One ServiceClient is shared.
type Table struct {
	svc    *aztables.ServiceClient
	prefix string
	mu     sync.Mutex
	tables map[string]*aztables.Client // created (or known to exist)
	// claims are the partitions this process has claimed under a fence
	// epoch (tablewrite.go); migrated the blob kinds whose rows of the
	// single-partition layout have been moved (blobs.go).
	claims   map[string]int64
	migrated map[BlobKind]bool
	// leases remembers, per lease name, the row this process last wrote
	// (leaseTag), so that a holder renews with one conditional write.
	leases sync.Map
}

var _ Store = (*Table)(nil)

const devStorageConn = "DefaultEndpointsProtocol=http;AccountName=devstoreaccount1;" +
	"AccountKey=Eby8vdM02xNOcqFlqUwJPLlmEtlCDXJ1OUzFT50uSRZ6IFsuFq2UVErCz4I6tq/K1SZFPTOtr/KBHBeksoGMGw==;" +
	"TableEndpoint=http://127.0.0.1:10002/devstoreaccount1;"

// isDevStorage reports whether s is "UseDevelopmentStorage=true", which
// aztables does not understand (local-components.md §1.2).
func isDevStorage(s string) bool {
	return strings.EqualFold(strings.TrimSpace(strings.TrimSuffix(strings.TrimSpace(s), ";")), "UseDevelopmentStorage=true")
}

// ValidPrefix checks a table name prefix: Table names are alphanumeric,
// start with a letter and are 3–63 characters; the longest suffix used is
// 11, so the prefix may be 1–52 characters.
func ValidPrefix(p string) error {
	if p == "" || len(p) > 52 || !(p[0] >= 'a' && p[0] <= 'z' || p[0] >= 'A' && p[0] <= 'Z') ||
		strings.IndexFunc(p, func(r rune) bool {
			return !(r >= 'a' && r <= 'z' || r >= 'A' && r <= 'Z' || r >= '0' && r <= '9')
		}) >= 0 {
		return fmt.Errorf("store: table prefix %q: want 1-52 letters and digits, starting with a letter", p)
	}
	return nil
}

// OpenTable returns a Table over one aztables.ServiceClient. It does no I/O:
// tables are created on first use, and Ping checks reachability.
func OpenTable(ctx context.Context, o TableOptions) (*Table, error) {
	_ = ctx
	if o.Prefix == "" {
		o.Prefix = DefaultTablePrefix
	}
	if err := ValidPrefix(o.Prefix); err != nil {
		return nil, err
	}
	co := &aztables.ClientOptions{}
	co.Retry = o.Retry
	if co.Retry.MaxRetries == 0 {
		co.Retry.MaxRetries = 4
	}
	if co.Retry.MaxRetryDelay == 0 {
		co.Retry.MaxRetryDelay = 30 * time.Second
	}
	co.Transport = o.Transport
	var svc *aztables.ServiceClient
	var err error
	switch {
	case o.ConnectionString != "":
		cs := o.ConnectionString
		if isDevStorage(cs) {
			cs = devStorageConn
		}
		svc, err = aztables.NewServiceClientFromConnectionString(cs, co)
		if err != nil {
			// the SDK's message may quote the string: do not pass it on
			return nil, errors.New("store: open table storage: the connection string is malformed (it needs AccountName and AccountKey, or TableEndpoint)")
		}
	case o.ServiceURL != "" && o.Credential != nil:
		svc, err = aztables.NewServiceClient(o.ServiceURL, o.Credential, co)
		if err != nil {
			return nil, fmt.Errorf("store: open table storage %s: %w", o.ServiceURL, err)
		}
	default:
		return nil, errors.New("store: open table storage: need a connection string, or a service URL and a credential")
	}
	return &Table{svc: svc, prefix: o.Prefix, tables: map[string]*aztables.Client{}, claims: map[string]int64{},
		migrated: map[BlobKind]bool{}}, nil
}

// Table name suffixes.
const (
	tEvents   = "events"
	tProgress = "progress"
	tDiag     = "diag"
	tIncident = "incident"
	tOutbox   = "outbox"
	tLease    = "lease"
)

func blobTable(kind BlobKind) string { return "blob" + string(kind) }

// client returns the client of table prefix+suffix, creating the table the
// first time.
func (t *Table) client(ctx context.Context, suffix string) (*aztables.Client, error) {
	t.mu.Lock()
	c := t.tables[suffix]
	t.mu.Unlock()
	if c != nil {
		return c, nil
	}
	name := t.prefix + suffix
	_, err := t.svc.CreateTable(ctx, name, nil)
	if err != nil {
		if st, code := statusOf(err); !(st == http.StatusConflict && code == string(aztables.TableAlreadyExists)) {
			return nil, wrap(ctx, err, "create table %s", name)
		}
	}
	c = t.svc.NewClient(name)
	t.mu.Lock()
	t.tables[suffix] = c
	t.mu.Unlock()
	return c, nil
}

// do runs fn on a table's client; if the table vanished (deleted, or an
// in-memory emulator restarted) it is created again and fn retried once.
func (t *Table) do(ctx context.Context, suffix string, fn func(c *aztables.Client) error) error {
	for attempt := 0; ; attempt++ {
		c, err := t.client(ctx, suffix)
		if err != nil {
			return err
		}
		err = fn(c)
		if st, code := statusOf(err); attempt == 0 && st == http.StatusNotFound && code == string(aztables.TableNotFound) {
			t.mu.Lock()
			delete(t.tables, suffix)
			t.mu.Unlock()
			continue
		}
		return err
	}
}

// query calls fn for every page of entities matching filter.
func (t *Table) query(ctx context.Context, suffix, filter, sel string, top int32, fn func([]entity) (bool, error)) error {
	return t.do(ctx, suffix, func(c *aztables.Client) error {
		o := &aztables.ListEntitiesOptions{}
		if filter != "" {
			o.Filter = &filter
		}
		if sel != "" {
			o.Select = &sel
		}
		if top > 0 {
			o.Top = &top
		}
		p := c.NewListEntitiesPager(o)
		for p.More() {
			resp, err := p.NextPage(ctx)
			if err != nil {
				return err
			}
			ents := make([]entity, 0, len(resp.Entities))
			for _, b := range resp.Entities {
				e, err := parseEntity(b)
				if err != nil {
					return err
				}
				ents = append(ents, e)
			}
			if len(ents) == 0 {
				continue
			}
			more, err := fn(ents)
			if err != nil || !more {
				return err
			}
		}
		return nil
	})
}

// submitAll runs the operations as transactions (chunkOps), up to 4 at once.
func (t *Table) submitAll(ctx context.Context, suffix string, ops []op) error {
	chunks := chunkOps(ops)
	g, gctx := errgroup.WithContext(ctx)
	g.SetLimit(4)
	for _, ch := range chunks {
		g.Go(func() error {
			return t.do(gctx, suffix, func(c *aztables.Client) error { return submit(gctx, c, ch) })
		})
	}
	return g.Wait()
}

// ---- events ----

// AppendEvents upserts the events in entity-group transactions of at most
// 100 (one stamp minute = one partition), so a retried append is harmless.
func (t *Table) AppendEvents(ctx context.Context, stamp time.Time, evs []event.Event, mark *Mark) error {
	pk := minuteKey(stamp)
	seen := make(map[event.ID]bool, len(evs))
	ops := make([]op, 0, len(evs))
	evOf := make([]int, 0, len(evs)+1) // op index -> event index (-1: the mark)
	var rej []Rejection
	for i := range evs {
		if seen[evs[i].ID] {
			continue
		}
		seen[evs[i].ID] = true
		if err := checkEvent(&evs[i]); err != nil {
			rej = append(rej, Rejection{Index: i, ID: evs[i].ID, Reason: err.Error()})
			continue
		}
		evOf = append(evOf, i)
		rk := eventRowKey(stamp, evs[i].ID)
		body, err := marshalEntity(pk, rk, props{"E": encodeStored(&evs[i])})
		if err != nil {
			return fmt.Errorf("store: append event %s: %w", evs[i].ID, err)
		}
		ops = append(ops, op{pk: pk, rk: rk, typ: aztables.TransactionTypeInsertReplace, body: body})
	}
	if mark != nil {
		// Last, so it shares the final transaction with events.
		doc, err := encodeMark(mark)
		if err != nil {
			return err
		}
		rk := markRowKey(stamp, mark.ID)
		body, err := marshalEntity(pk, rk, props{"M": string(doc)})
		if err != nil {
			return fmt.Errorf("store: append mark %q: %w", mark.Writer, err)
		}
		ops = append(ops, op{pk: pk, rk: rk, typ: aztables.TransactionTypeInsertReplace, body: body})
		evOf = append(evOf, -1)
	}
	aside, err := t.appendSetAside(ctx, tEvents, ops)
	if err != nil {
		return wrap(ctx, err, "append %d events", len(ops))
	}
	for j, reason := range aside {
		if evOf[j] < 0 {
			return fmt.Errorf("store: append mark of %q: %s: %w", cut(mark.Writer, 64), reason, ErrRejected)
		}
		rej = append(rej, Rejection{Index: evOf[j], ID: evs[evOf[j]].ID, Reason: reason})
	}
	if len(rej) > 0 {
		slices.SortFunc(rej, func(a, b Rejection) int { return a.Index - b.Index })
		return &RejectedError{Rejected: rej}
	}
	return nil
}

// ReadEvents scans the stamp-minute partitions of [from, to) in key order.
func (t *Table) ReadEvents(ctx context.Context, from, to time.Time, fn func([]event.Event, []Mark) error) error {
	if !to.After(from) {
		return nil
	}
	filter := fmt.Sprintf("PartitionKey ge '%s' and PartitionKey le '%s' and RowKey ge '%s' and RowKey lt '%s'",
		minuteKey(from), minuteKey(to.Add(-1)), stampKey(from), stampKey(to))
	var fnErr error
	err := t.query(ctx, tEvents, filter, "RowKey,E,M", 0, func(ents []entity) (bool, error) {
		page := make([]event.Event, 0, len(ents))
		var marks []Mark
		for i := range ents {
			if m := ents[i].str("M"); m != "" {
				mk, err := decodeMark([]byte(m), stampOfKey(ents[i].RowKey))
				if err != nil {
					return false, fmt.Errorf("store: read mark %s/%s: %w", ents[i].PartitionKey, ents[i].RowKey, err)
				}
				marks = append(marks, mk)
				continue
			}
			e, err := DecodeEvent(ents[i].bytes("E"))
			if err != nil {
				return false, fmt.Errorf("store: read event %s/%s: %w", ents[i].PartitionKey, ents[i].RowKey, err)
			}
			page = append(page, e)
		}
		if err := fn(page, marks); err != nil {
			fnErr = err
			return false, err
		}
		return true, nil
	})
	if fnErr != nil {
		return fnErr
	}
	return wrap(ctx, err, "read events [%s, %s)", from.Format(time.RFC3339Nano), to.Format(time.RFC3339Nano))
}

// ---- progress ----

type progressDoc struct {
	Writer                       string
	Newest, Updated              int64
	Read, Kept, Ignored, Skipped int64
}

// PutProgress upserts writers' rows, in transactions of up to 100 (one
// partition): Evaluate writes them all with one request in practice.
func (t *Table) PutProgress(ctx context.Context, ps ...Progress) error {
	ops := make([]op, 0, len(ps))
	for _, p := range ps {
		doc, _ := json.Marshal(progressDoc{p.Writer, unixNano(p.Newest), unixNano(p.Updated), p.Read, p.Kept, p.Ignored, p.Skipped})
		body, err := marshalEntity("p", EncodeKey(p.Writer), props{"J": string(doc)})
		if err != nil {
			return fmt.Errorf("store: put progress %q: %w", p.Writer, err)
		}
		ops = append(ops, op{pk: "p", rk: EncodeKey(p.Writer), typ: aztables.TransactionTypeInsertReplace, body: body})
	}
	return wrap(ctx, t.submitAll(ctx, tProgress, ops), "put progress of %d writers", len(ps))
}

// DeleteProgress deletes writers' rows; missing ones are no error.
func (t *Table) DeleteProgress(ctx context.Context, writers ...string) error {
	ops := make([]op, 0, len(writers))
	seen := map[string]bool{}
	for _, w := range writers {
		if rk := EncodeKey(w); !seen[rk] {
			seen[rk] = true
			ops = append(ops, op{pk: "p", rk: rk, typ: aztables.TransactionTypeDelete})
		}
	}
	return wrap(ctx, t.deleteOps(ctx, tProgress, ops), "delete progress of %d writers", len(ops))
}

// ListProgress returns every writer's progress, ordered by encoded writer.
func (t *Table) ListProgress(ctx context.Context) ([]Progress, error) {
	var out []Progress
	err := t.query(ctx, tProgress, "PartitionKey eq 'p'", "", 0, func(ents []entity) (bool, error) {
		for _, e := range ents {
			var d progressDoc
			if err := json.Unmarshal([]byte(e.str("J")), &d); err != nil {
				return false, fmt.Errorf("store: progress %s: %w", e.RowKey, err)
			}
			out = append(out, Progress{Writer: d.Writer, Newest: fromNano(d.Newest), Updated: fromNano(d.Updated),
				Read: d.Read, Kept: d.Kept, Ignored: d.Ignored, Skipped: d.Skipped})
		}
		return true, nil
	})
	if err != nil {
		return nil, wrap(ctx, err, "list progress")
	}
	return out, nil
}

// unixNano maps the zero time to 0, so it survives a round trip.
func unixNano(t time.Time) int64 {
	if t.IsZero() {
		return 0
	}
	return t.UnixNano()
}

func fromNano(ns int64) time.Time {
	if ns == 0 {
		return time.Time{}
	}
	return time.Unix(0, ns).UTC()
}

// deleteOps deletes rows in transactions, redoing a transaction that hit a
// missing row one row at a time, ignoring 404s.
func (t *Table) deleteOps(ctx context.Context, suffix string, ops []op) error {
	g, gctx := errgroup.WithContext(ctx)
	g.SetLimit(4)
	for _, ch := range chunkOps(ops) {
		g.Go(func() error {
			err := t.do(gctx, suffix, func(c *aztables.Client) error { return submit(gctx, c, ch) })
			if st, _ := statusOf(err); st != http.StatusNotFound {
				return err
			}
			for _, o := range ch {
				err := t.do(gctx, suffix, func(c *aztables.Client) error {
					_, err := c.DeleteEntity(gctx, o.pk, o.rk, nil)
					return err
				})
				if st, _ := statusOf(err); err != nil && st != http.StatusNotFound {
					return err
				}
			}
			return nil
		})
	}
	return g.Wait()
}

// ---- incidents ----

type incidentDoc struct {
	ID, Hub            string
	Open               bool
	Start, End         int64
	Devices, HubErrors int
	MetricCorroborated bool
	Evidence           []string `json:",omitempty"`
}

// PutIncidents upserts incidents by ID (partition = hub), fenced by the
// context's Fence.
func (t *Table) PutIncidents(ctx context.Context, is []classify.Incident) error {
	var ops []op
	for _, in := range is {
		doc, _ := json.Marshal(incidentDoc{in.ID, in.Hub, in.Open, unixNano(in.Start), unixNano(in.End), in.Devices,
			in.HubErrors, in.MetricCorroborated, in.Evidence})
		p := props{"Open": in.Open, "End": unixNano(in.End)}
		if err := putParts(p, doc); err != nil {
			return fmt.Errorf("store: put incident %q: %w", in.ID, err)
		}
		pk, rk := diagHubPK(in.Hub), EncodeKey(in.ID)
		body, err := marshalEntity(pk, rk, p)
		if err != nil {
			return fmt.Errorf("store: put incident %q: %w", in.ID, err)
		}
		ops = append(ops, op{pk: pk, rk: rk, typ: aztables.TransactionTypeInsertReplace, body: body})
	}
	return wrap(ctx, t.upsertOps(ctx, tIncident, ops, fenceFor(ctx)), "put %d incidents", len(ops))
}

// ListIncidents returns incidents newest first (Start descending, then ID).
func (t *Table) ListIncidents(ctx context.Context, hub string, open *bool) ([]classify.Incident, error) {
	f := []string{dataRows}
	if hub != "" {
		f = append(f, "PartitionKey eq "+odataString(diagHubPK(hub)))
	}
	if open != nil {
		f = append(f, fmt.Sprintf("Open eq %t", *open))
	}
	var out []classify.Incident
	err := t.query(ctx, tIncident, strings.Join(f, " and "), "", 0, func(ents []entity) (bool, error) {
		for _, e := range ents {
			data, err := e.parts()
			if err != nil {
				return false, err
			}
			var d incidentDoc
			if err := json.Unmarshal(data, &d); err != nil {
				return false, fmt.Errorf("store: incident %s: %w", e.RowKey, err)
			}
			out = append(out, classify.Incident{ID: d.ID, Hub: d.Hub, Open: d.Open, Start: fromNano(d.Start), End: fromNano(d.End),
				Devices: d.Devices, HubErrors: d.HubErrors, MetricCorroborated: d.MetricCorroborated, Evidence: d.Evidence})
		}
		return true, nil
	})
	if err != nil {
		return nil, wrap(ctx, err, "list incidents")
	}
	sortIncidents(out)
	return out, nil
}

// ---- outbox ----

// The outbox lives in one partition (written only by Evaluate): item rows
// "i_<id>" and, for pending items, a due-index row "d_<due>!<id>", written
// in the same transaction, so DueItems is a short range scan.
const outboxPK = "o"

type itemDoc struct {
	ID, NotificationID, Channel string
	Payload                     []byte
	Created, Due                int64
	Attempts                    int
	State                       OutboxState
	LastError                   string `json:",omitempty"`
}

func itemOps(it *OutboxItem) (item op, index *op, err error) {
	if it.State == "" {
		it.State = OutboxPending
	}
	doc, _ := json.Marshal(itemDoc{it.ID, it.NotificationID, it.Channel, it.Payload, unixNano(it.Created), unixNano(it.Due),
		it.Attempts, it.State, it.LastError})
	x := ""
	if it.State == OutboxPending {
		x = outboxDueKey(it.Due, it.ID)
	}
	p := props{"State": string(it.State), "C": unixNano(it.Created), "X": x}
	if err := putParts(p, doc); err != nil {
		return op{}, nil, err
	}
	rk := outboxItemKey(it.ID)
	body, err := marshalEntity(outboxPK, rk, p)
	if err != nil {
		return op{}, nil, err
	}
	item = op{pk: outboxPK, rk: rk, body: body}
	if x != "" {
		ib, err := marshalEntity(outboxPK, x, props{"I": rk})
		if err != nil {
			return op{}, nil, err
		}
		index = &op{pk: outboxPK, rk: x, typ: aztables.TransactionTypeInsertReplace, body: ib}
	}
	return item, index, nil
}

func (e *entity) item() (OutboxItem, error) {
	data, err := e.parts()
	if err != nil {
		return OutboxItem{}, err
	}
	var d itemDoc
	if err := json.Unmarshal(data, &d); err != nil {
		return OutboxItem{}, fmt.Errorf("store: outbox item %s: %w", e.RowKey, err)
	}
	return OutboxItem{ID: d.ID, NotificationID: d.NotificationID, Channel: d.Channel, Payload: d.Payload,
		Created: fromNano(d.Created), Due: fromNano(d.Due), Attempts: d.Attempts, State: d.State,
		LastError: d.LastError, ETag: e.ETag}, nil
}

// Enqueue inserts each item with its index row in one transaction (fenced
// by the context's Fence); an item that exists (EntityAlreadyExists) is
// left as it is.
func (t *Table) Enqueue(ctx context.Context, items []OutboxItem) error {
	for _, it := range items {
		if it.ID == "" {
			return fmt.Errorf("store: enqueue: item with empty ID")
		}
		item, index, err := itemOps(&it)
		if err != nil {
			return fmt.Errorf("store: enqueue %q: %w", it.ID, err)
		}
		item.typ = aztables.TransactionTypeAdd
		ops := []op{item}
		if index != nil {
			ops = append(ops, *index)
		}
		if err := t.enqueueOne(ctx, ops); err != nil {
			return wrap(ctx, err, "enqueue %q", it.ID)
		}
	}
	return nil
}

// enqueueOne inserts one item with its index row, fenced by the context's
// Fence; an item that exists is left as it is. A transaction refused for
// a row's reason is tried once more (the first may have lost a race to
// claim the partition) before the item counts as existing.
func (t *Table) enqueueOne(ctx context.Context, ops []op) error {
	f := fenceFor(ctx)
	if f == nil {
		err := t.do(ctx, tOutbox, func(c *aztables.Client) error { return submit(ctx, c, ops) })
		if st, code := statusOf(err); st == http.StatusConflict && code == string(aztables.EntityAlreadyExists) {
			return nil
		}
		return err
	}
	for range 2 {
		_, refused, err := t.writeOps(ctx, tOutbox, ops, f)
		if err != nil || len(refused) == 0 {
			return err
		}
	}
	return nil
}

// DueItems scans the due index up to now and reads the items it points to.
// Index rows that no longer match their item are skipped and removed.
func (t *Table) DueItems(ctx context.Context, now time.Time, limit int) ([]OutboxItem, error) {
	if limit <= 0 {
		return nil, nil
	}
	filter := fmt.Sprintf("PartitionKey eq 'o' and RowKey ge 'd_' and RowKey lt 'd_%s'", stampKey(now.Add(1)))
	var idx []entity
	err := t.query(ctx, tOutbox, filter, "RowKey,I", int32(limit), func(ents []entity) (bool, error) {
		idx = append(idx, ents...)
		return len(idx) < limit, nil
	})
	if err != nil {
		return nil, wrap(ctx, err, "due items")
	}
	if len(idx) > limit {
		idx = idx[:limit]
	}
	items := make([]*OutboxItem, len(idx))
	var stale []op
	var mu sync.Mutex
	g, gctx := errgroup.WithContext(ctx)
	g.SetLimit(8)
	for i, ix := range idx {
		g.Go(func() error {
			var e entity
			err := t.do(gctx, tOutbox, func(c *aztables.Client) error {
				resp, err := c.GetEntity(gctx, outboxPK, ix.str("I"), nil)
				if err != nil {
					return err
				}
				e, err = parseEntity(resp.Value)
				e.ETag = string(resp.ETag)
				return err
			})
			if st, _ := statusOf(err); err != nil && st != http.StatusNotFound {
				return err
			}
			if err != nil || e.str("X") != ix.RowKey {
				mu.Lock()
				stale = append(stale, op{pk: outboxPK, rk: ix.RowKey, typ: aztables.TransactionTypeDelete})
				mu.Unlock()
				return nil
			}
			it, err := e.item()
			items[i] = &it
			return err
		})
	}
	if err := g.Wait(); err != nil {
		return nil, wrap(ctx, err, "due items")
	}
	if len(stale) > 0 {
		_ = t.deleteOps(ctx, tOutbox, stale) // best effort; skipped either way
	}
	var out []OutboxItem
	for _, it := range items {
		if it != nil {
			out = append(out, *it)
		}
	}
	return out, nil
}

// UpdateItem replaces the item if its ETag matches, moving its due-index
// row in the same transaction.
func (t *Table) UpdateItem(ctx context.Context, it OutboxItem) error {
	rk := outboxItemKey(it.ID)
	var cur entity
	err := t.do(ctx, tOutbox, func(c *aztables.Client) error {
		resp, err := c.GetEntity(ctx, outboxPK, rk, nil)
		if err != nil {
			return err
		}
		cur, err = parseEntity(resp.Value)
		cur.ETag = string(resp.ETag)
		return err
	})
	if err != nil {
		return wrap(ctx, err, "update item %q", it.ID)
	}
	if cur.ETag != it.ETag {
		return fmt.Errorf("store: update item %q: stale ETag: %w", it.ID, ErrConflict)
	}
	item, index, err := itemOps(&it)
	if err != nil {
		return fmt.Errorf("store: update item %q: %w", it.ID, err)
	}
	m := azcore.ETag(it.ETag)
	item.typ, item.ifMatch = aztables.TransactionTypeUpdateReplace, &m
	ops := []op{item}
	if old := cur.str("X"); old != "" && (index == nil || index.rk != old) {
		ops = append(ops, op{pk: outboxPK, rk: old, typ: aztables.TransactionTypeDelete})
	}
	if index != nil {
		ops = append(ops, *index)
	}
	err = t.do(ctx, tOutbox, func(c *aztables.Client) error { return submit(ctx, c, ops) })
	return wrap(ctx, err, "update item %q", it.ID)
}

// ListItems returns items created in [from, to), oldest first.
func (t *Table) ListItems(ctx context.Context, from, to time.Time) ([]OutboxItem, error) {
	filter := fmt.Sprintf("PartitionKey eq 'o' and RowKey ge 'i_' and RowKey lt 'i`' and C ge %dL and C lt %dL",
		unixNano(from), unixNano(to))
	var out []OutboxItem
	err := t.query(ctx, tOutbox, filter, "", 0, func(ents []entity) (bool, error) {
		for i := range ents {
			it, err := ents[i].item()
			if err != nil {
				return false, err
			}
			out = append(out, it)
		}
		return true, nil
	})
	if err != nil {
		return nil, wrap(ctx, err, "list items")
	}
	sortItems(out)
	return out, nil
}

// ---- leases ----

// leaseTag is the lease row as this process last wrote it.
type leaseTag struct {
	holder string
	epoch  int64
	etag   azcore.ETag
}

// AcquireLease reads the lease row and takes it with a conditional write
// (If-Match on its ETag, or an insert for a new lease): of racing callers
// exactly one wins, the others get false. A holder renewing the row this
// process last wrote skips the read: the write conditional on the ETag it
// got back succeeds only if nobody wrote the row since (renew), and
// otherwise the read and write are done as for a stranger.
func (t *Table) AcquireLease(ctx context.Context, name, holder string, now, until time.Time) (int64, error) {
	rk := EncodeKey(name)
	entity := func(epoch int64) ([]byte, error) {
		return marshalEntity("l", rk, props{"Holder": holder, "Until": until.UnixNano(), "Epoch": epoch})
	}
	if ep, ok, err := t.renewLease(ctx, name, holder, entity); ok || err != nil {
		return ep, err
	}
	var won int64
	err := t.do(ctx, tLease, func(c *aztables.Client) error {
		resp, err := c.GetEntity(ctx, "l", rk, nil)
		if st, _ := statusOf(err); st == http.StatusNotFound {
			body, err := entity(1)
			if err != nil {
				return err
			}
			add, err := c.AddEntity(ctx, body, nil)
			if st, _ := statusOf(err); st == http.StatusConflict {
				return nil // another holder inserted it first
			}
			if err == nil {
				won = 1
				t.leases.Store(name, leaseTag{holder, 1, add.ETag})
			}
			return err
		}
		if err != nil {
			return err
		}
		cur, err := parseEntity(resp.Value)
		if err != nil {
			return err
		}
		if cur.str("Holder") != holder && cur.i64("Until") > now.UnixNano() {
			return nil
		}
		epoch := cur.i64("Epoch")
		if cur.str("Holder") != holder || epoch == 0 {
			epoch++
		}
		body, err := entity(epoch)
		if err != nil {
			return err
		}
		up, err := c.UpdateEntity(ctx, body, &aztables.UpdateEntityOptions{UpdateMode: aztables.UpdateModeReplace, IfMatch: &resp.ETag})
		if st, _ := statusOf(err); st == http.StatusPreconditionFailed {
			return nil
		}
		if err == nil {
			won = epoch
			t.leases.Store(name, leaseTag{holder, epoch, up.ETag})
		}
		return err
	})
	if err != nil {
		return 0, wrap(ctx, err, "acquire lease %q", name)
	}
	return won, nil
}

// renewLease renews the lease row this process last wrote for holder with
// one write conditional on its ETag. ok is false when there is no such row
// or somebody wrote it since (the caller then reads it).
func (t *Table) renewLease(ctx context.Context, name, holder string, entity func(int64) ([]byte, error)) (epoch int64, ok bool, err error) {
	v, found := t.leases.Load(name)
	if !found || v.(leaseTag).holder != holder {
		return 0, false, nil
	}
	last := v.(leaseTag)
	body, err := entity(last.epoch)
	if err != nil {
		return 0, false, err
	}
	err = t.do(ctx, tLease, func(c *aztables.Client) error {
		up, err := c.UpdateEntity(ctx, body, &aztables.UpdateEntityOptions{UpdateMode: aztables.UpdateModeReplace, IfMatch: &last.etag})
		if err == nil {
			t.leases.Store(name, leaseTag{holder, last.epoch, up.ETag})
		}
		return err
	})
	if st, _ := statusOf(err); st == http.StatusPreconditionFailed || st == http.StatusNotFound {
		t.leases.Delete(name)
		return 0, false, nil
	}
	if err != nil {
		return 0, false, wrap(ctx, err, "renew lease %q", name)
	}
	return last.epoch, true, nil
}

// ---- retention ----

// Purge deletes, in transactions: events stamped before eventsBefore,
// diagnoses with Time before `before`, resolved incidents that ended before
// it, finished outbox items created before it and silences that ended
// before it.
func (t *Table) Purge(ctx context.Context, eventsBefore, before time.Time) error {
	type sel struct{ suffix, filter string }
	_, diagFrom := diagTimeBounds(before, time.Time{})
	sels := []sel{
		{tEvents, fmt.Sprintf("PartitionKey le '%s' and RowKey lt '%s'", minuteKey(eventsBefore), stampKey(eventsBefore))},
		{tDiag, "RowKey ge " + odataString(diagFrom)},
		{tIncident, fmt.Sprintf("Open eq false and End lt %dL", unixNano(before))},
		{tOutbox, fmt.Sprintf("PartitionKey eq 'o' and RowKey ge 'i_' and RowKey lt 'i`' and State ne 'pending' and C lt %dL", unixNano(before))},
		{tSilence, purgeSilencesFilter(before)},
		{tDeadLetter, purgeDeadLettersFilter(before)},
	}
	for _, s := range sels {
		var ops []op
		err := t.query(ctx, s.suffix, s.filter, "PartitionKey,RowKey", 0, func(ents []entity) (bool, error) {
			for _, e := range ents {
				ops = append(ops, op{pk: e.PartitionKey, rk: e.RowKey, typ: aztables.TransactionTypeDelete})
			}
			return true, nil
		})
		if err == nil {
			err = t.deleteOps(ctx, s.suffix, ops)
		}
		if err != nil {
			return wrap(ctx, err, "purge %s", s.suffix)
		}
	}
	return nil
}

// Ping lists at most one table: it proves the account answers and the
// credential works.
func (t *Table) Ping(ctx context.Context) error {
	top := int32(1)
	_, err := t.svc.NewListTablesPager(&aztables.ListTablesOptions{Top: &top}).NextPage(ctx)
	return wrap(ctx, err, "ping")
}

// Close releases nothing: the HTTP client is shared by the SDK.
func (t *Table) Close() error { return nil }
