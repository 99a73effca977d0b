package store

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"regexp"
	"slices"
	"strconv"
	"strings"
	"sync"
	"time"

	"github.com/Azure/azure-sdk-for-go/sdk/azcore"
	"github.com/Azure/azure-sdk-for-go/sdk/azcore/runtime"
	"github.com/Azure/azure-sdk-for-go/sdk/data/aztables"
	"golang.org/x/sync/errgroup"

	"github.com/disconnect-doctor/disconnect-doctor/event"
)

// ErrRejected is returned (wrapped) when the store refuses a request for its
// content and always will: a limit of Azure Table checked before sending,
// or an HTTP 400/413 from the service. Retrying cannot help, so ingest sets
// the refused records aside (DeadLetter) instead of failing the batch, which
// the host would retry for ever.
var ErrRejected = errors.New("store: rejected")

// Rejection is one event of an append that the store refused for good.
type Rejection struct {
	// Index is the event's position in the appended slice.
	Index  int
	ID     event.ID
	Reason string
}

// RejectedError is AppendEvents' answer when it refused some events for
// good: every other event (and the mark) was stored. It wraps ErrRejected.
type RejectedError struct{ Rejected []Rejection }

func (e *RejectedError) Error() string {
	r := e.Rejected
	if len(r) == 1 {
		return fmt.Sprintf("store: event %d rejected: %s", r[0].Index, r[0].Reason)
	}
	return fmt.Sprintf("store: %d events rejected, the first (%d): %s", len(r), r[0].Index, r[0].Reason)
}

// Unwrap makes errors.Is(err, ErrRejected) hold.
func (e *RejectedError) Unwrap() error { return ErrRejected }

// DeadLetter is an input record set aside because the store refused it for
// good (ErrRejected): what it was and why, so nothing is lost silently.
// The record itself is not kept whole (it is what the store refused); its
// identity and an excerpt are, and the original stays in the input's own
// archive (the diagnostic setting's storage, Event Hubs Capture).
type DeadLetter struct {
	// ID is unique: the event's ID (an event refused again, by a retry or a
	// duplicate, is the same dead letter), or a refused batch's own.
	ID string
	// At is the wall clock of the refused append.
	At time.Time
	// Writer is the input stream ("<event hub>/<partition>", "eventgrid" …).
	Writer string
	// Hub, Device, Module, Time and Kind describe the record ("" / zero
	// for a whole refused batch).
	Hub, Device, Module string
	Time                time.Time
	Kind                string
	Reason              string
	// Excerpt is the record's readable fields, cut to maxExcerpt bytes.
	Excerpt string
}

// maxExcerpt bounds DeadLetter.Excerpt so that a dead letter always fits.
const maxExcerpt = 2048

// DeadLetterStore holds the dead letters. They are rare (a record the
// store refuses for good), written by ingest on any instance and listed by
// the API and by Evaluate (to alert); RETENTION purges them.
type DeadLetterStore interface {
	// PutDeadLetters writes dead letters (upsert by ID).
	PutDeadLetters(ctx context.Context, ds []DeadLetter) error
	// ListDeadLetters returns the dead letters with At in [from, to), newest
	// first, at most limit (1..1000).
	ListDeadLetters(ctx context.Context, from, to time.Time, limit int) ([]DeadLetter, error)
}

// NewDeadLetter describes an event the store refused.
func NewDeadLetter(at time.Time, writer string, e *event.Event, reason string) DeadLetter {
	ex := fmt.Sprintf("%s %s/%s %s op=%s code=%d %s sdk=%q msg=%q", e.Time.UTC().Format(time.RFC3339Nano), e.Hub, e.Device,
		e.Category, e.Operation, e.Code, e.Description, e.SDK, e.Message)
	return DeadLetter{ID: e.ID.String(), At: at, Writer: writer, Hub: e.Hub, Device: e.Device,
		Module: e.Module, Time: e.Time, Kind: e.Kind.String(), Reason: reason, Excerpt: cut(ex, maxExcerpt)}
}

// cut shortens s to at most n bytes at a rune boundary.
func cut(s string, n int) string {
	if len(s) <= n {
		return s
	}
	for n > 0 && (s[n]&0xC0) == 0x80 {
		n--
	}
	return s[:n]
}

// checkDeadLetter bounds every field so that a dead letter is never itself
// refused.
func checkDeadLetter(d *DeadLetter) error {
	if d.ID == "" || len(EncodeKey(d.ID)) > maxKeyLen {
		return inputErr("store: dead letter without a usable ID")
	}
	d.Writer, d.Hub, d.Device, d.Module = cut(d.Writer, 1024), cut(d.Hub, 1024), cut(d.Device, 1024), cut(d.Module, 1024)
	d.Kind, d.Reason, d.Excerpt = cut(d.Kind, 64), cut(d.Reason, maxExcerpt), cut(d.Excerpt, maxExcerpt)
	return nil
}

// ---- events refused by the service (Table) ----

// batchIndexRE finds the failing operation's index, which the service puts
// before the message of a failed transaction ("2:The property value …").
var batchIndexRE = regexp.MustCompile(`"value"\s*:\s*"(\d+):`)

// rejectedOp returns the index of the operation a failed transaction names,
// if the failure is a rejection (HTTP 400/413) and names one.
func rejectedOp(err error) (int, bool) {
	st, _ := statusOf(err)
	if st != 400 && st != 413 {
		return 0, false
	}
	var re *azcore.ResponseError
	if !errors.As(err, &re) || re.RawResponse == nil {
		return -1, true
	}
	body, perr := runtimePayload(re)
	if perr != nil {
		return -1, true
	}
	m := batchIndexRE.FindSubmatch(body)
	if m == nil {
		return -1, true
	}
	i, _ := strconv.Atoi(string(m[1]))
	return i, true
}

// rejectReason says why the service refused an operation: its status and
// error code (the SDK's message is not used: it carries the request URL).
func rejectReason(err error) string {
	st, code := statusOf(err)
	return strings.TrimSpace(fmt.Sprintf("refused by the table service: HTTP %d %s", st, code))
}

// submitSetAside submits one transaction's operations; when the service
// rejects one of them (HTTP 400/413), that operation is set aside and the
// rest submitted again, until what is left goes through. A rejection that
// names no operation is resolved by submitting the operations one by one.
// It returns the set-aside operations' indexes in ops with their reasons.
func (t *Table) submitSetAside(ctx context.Context, suffix string, ops []op) (map[int]string, error) {
	idx := make([]int, len(ops))
	for i := range idx {
		idx[i] = i
	}
	aside := map[int]string{}
	for len(idx) > 0 {
		cur := make([]op, len(idx))
		for i, j := range idx {
			cur[i] = ops[j]
		}
		err := t.do(ctx, suffix, func(c *aztables.Client) error { return submit(ctx, c, cur) })
		if err == nil {
			return aside, nil
		}
		bad, rejected := rejectedOp(err)
		if !rejected {
			return aside, err
		}
		reason := rejectReason(err)
		if bad >= 0 && bad < len(idx) {
			aside[idx[bad]] = reason
			idx = slices.Delete(idx, bad, bad+1)
			continue
		}
		// No index: one by one.
		for _, j := range idx {
			err := t.do(ctx, suffix, func(c *aztables.Client) error { return submit(ctx, c, []op{ops[j]}) })
			if _, rej := rejectedOp(err); rej {
				aside[j] = rejectReason(err)
			} else if err != nil {
				return aside, err
			}
		}
		return aside, nil
	}
	return aside, nil
}

func runtimePayload(re *azcore.ResponseError) ([]byte, error) { return runtime.Payload(re.RawResponse) }

// minEventTime and maxEventTime bound the event times both stores keep
// exactly (Unix nanoseconds in an int64); an event outside them is refused
// rather than stored with a wrong time.
var (
	minEventTime = time.Unix(0, -1<<63).UTC()
	maxEventTime = time.Unix(0, 1<<63-1).UTC()
)

// checkEvent refuses, the same way in both stores, an event neither can
// keep faithfully.
func checkEvent(e *event.Event) error {
	if e.Time.Before(minEventTime) || e.Time.After(maxEventTime) {
		return inputErr("store: event time %s is outside what the store holds (years 1678-2262)", e.Time.UTC().Format(time.RFC3339))
	}
	return nil
}

// appendSetAside runs the transactions of an append (chunkOps keeps the
// operations of one partition in order, so each chunk is a run of ops) and
// returns the indexes in ops the service rejected, with their reasons.
func (t *Table) appendSetAside(ctx context.Context, suffix string, ops []op) (map[int]string, error) {
	chunks := chunkOps(ops)
	aside := map[int]string{}
	var mu sync.Mutex
	g, gctx := errgroup.WithContext(ctx)
	g.SetLimit(4)
	off := 0
	for _, ch := range chunks {
		base := off
		off += len(ch)
		g.Go(func() error {
			a, err := t.submitSetAside(gctx, suffix, ch)
			mu.Lock()
			for i, r := range a {
				aside[base+i] = r
			}
			mu.Unlock()
			return err
		})
	}
	return aside, g.Wait()
}

// ---- dead letters (Table) ----

// Dead letters live in one partition per day of At (a handful of rows),
// the RowKey the ID (stamp first, so a range of At is a range of keys).
const tDeadLetter = "deadletter"

func deadLetterPK(at time.Time) string { return "d" + at.UTC().Format("20060102") }

// deadLetterDoc is the stored form (times in Unix nanoseconds).
type deadLetterDoc struct {
	ID, Writer, Hub, Device, Module, Kind, Reason, Excerpt string
	At, Time                                               int64
}

// PutDeadLetters writes dead letters; see DeadLetterStore.
func (t *Table) PutDeadLetters(ctx context.Context, ds []DeadLetter) error {
	ops := make([]op, 0, len(ds))
	for i := range ds {
		d := ds[i]
		if err := checkDeadLetter(&d); err != nil {
			return err
		}
		doc, err := json.Marshal(deadLetterDoc{d.ID, d.Writer, d.Hub, d.Device, d.Module, d.Kind, d.Reason, d.Excerpt,
			unixNano(d.At), unixNano(d.Time)})
		if err != nil {
			return fmt.Errorf("store: dead letter %q: %w", d.ID, err)
		}
		body, err := marshalEntity(deadLetterPK(d.At), EncodeKey(d.ID), props{"At": unixNano(d.At), "J": string(doc)})
		if err != nil {
			return fmt.Errorf("store: dead letter %q: %w", d.ID, err)
		}
		ops = append(ops, op{pk: deadLetterPK(d.At), rk: EncodeKey(d.ID), typ: aztables.TransactionTypeInsertReplace, body: body})
	}
	return wrap(ctx, t.submitAll(ctx, tDeadLetter, ops), "put %d dead letters", len(ds))
}

// ListDeadLetters returns dead letters by At; see DeadLetterStore.
func (t *Table) ListDeadLetters(ctx context.Context, from, to time.Time, limit int) ([]DeadLetter, error) {
	limit = min(max(limit, 1), 1000)
	if from.IsZero() {
		from = time.Unix(0, 0)
	}
	filter := fmt.Sprintf("PartitionKey ge '%s' and PartitionKey le '%s' and At ge %dL and At lt %dL",
		deadLetterPK(from), deadLetterPK(to), unixNano(from), unixNano(to))
	var out []DeadLetter
	err := t.query(ctx, tDeadLetter, filter, "J", 0, func(ents []entity) (bool, error) {
		for i := range ents {
			var d deadLetterDoc
			if err := json.Unmarshal([]byte(ents[i].str("J")), &d); err != nil {
				return false, fmt.Errorf("store: dead letter %s: %w", ents[i].RowKey, err)
			}
			out = append(out, DeadLetter{ID: d.ID, At: fromNano(d.At), Writer: d.Writer, Hub: d.Hub, Device: d.Device,
				Module: d.Module, Time: fromNano(d.Time), Kind: d.Kind, Reason: d.Reason, Excerpt: d.Excerpt})
		}
		return true, nil
	})
	if err != nil {
		return nil, wrap(ctx, err, "list dead letters")
	}
	return newestFirst(out, limit), nil
}

// purgeDeadLettersFilter selects the dead letters set aside before `before`.
func purgeDeadLettersFilter(before time.Time) string {
	return fmt.Sprintf("At lt %dL", unixNano(before))
}

// newestFirst orders dead letters by At (then ID), newest first, and keeps
// at most limit.
func newestFirst(ds []DeadLetter, limit int) []DeadLetter {
	slices.SortFunc(ds, func(a, b DeadLetter) int {
		if c := b.At.Compare(a.At); c != 0 {
			return c
		}
		return strings.Compare(b.ID, a.ID)
	})
	if len(ds) > limit {
		ds = ds[:limit]
	}
	return ds
}

// ---- dead letters (Memory) ----

// PutDeadLetters writes dead letters; see DeadLetterStore.
func (m *Memory) PutDeadLetters(ctx context.Context, ds []DeadLetter) error {
	m.mu.Lock()
	defer m.mu.Unlock()
	if err := m.check(ctx); err != nil {
		return fmt.Errorf("store: put dead letters: %w", err)
	}
	for i := range ds {
		d := ds[i]
		if err := checkDeadLetter(&d); err != nil {
			return err
		}
		d.At, d.Time = fromNano(unixNano(d.At)), fromNano(unixNano(d.Time))
		m.dead[d.ID] = d
	}
	return nil
}

// ListDeadLetters returns dead letters by At; see DeadLetterStore.
func (m *Memory) ListDeadLetters(ctx context.Context, from, to time.Time, limit int) ([]DeadLetter, error) {
	m.mu.Lock()
	defer m.mu.Unlock()
	if err := m.check(ctx); err != nil {
		return nil, fmt.Errorf("store: list dead letters: %w", err)
	}
	var out []DeadLetter
	for _, d := range m.dead {
		if !d.At.Before(from) && d.At.Before(to) {
			out = append(out, d)
		}
	}
	return newestFirst(out, min(max(limit, 1), 1000)), nil
}

func (m *Memory) purgeDeadLetters(before time.Time) {
	for id, d := range m.dead {
		if d.At.Before(before) {
			delete(m.dead, id)
		}
	}
}
