package store

import (
	"context"
	"encoding/json"
	"fmt"
	"slices"
	"strings"
	"sync"
	"time"

	"github.com/Azure/azure-sdk-for-go/sdk/data/aztables"
	"golang.org/x/sync/errgroup"

	"github.com/disconnect-doctor/disconnect-doctor/classify"
	"github.com/disconnect-doctor/disconnect-doctor/event"
)

// Diagnoses are written once, to their hub's partition "h<hub>", RowKey
// diagRowKey (inverted time, then the key): a hub's listing is a forward
// range scan of its partition. A listing across hubs finds the hub
// partitions with a skip scan (one Top-1 query per hub) and merges their
// range scans by RowKey, which orders exactly like one partition of every
// hub would.
//
// Versions before this one also wrote each diagnosis to partition "all".
// Those rows are never read (their twins in the hub partitions are) and go
// with RETENTION (Purge), so nothing is listed twice after an upgrade.
const diagAllPK = "all"

func diagHubPK(hub string) string { return "h" + EncodeKey(hub) }

// diagHubsEnd is above every hub partition key ("h…").
const diagHubsEnd = "i"

type diagDoc struct {
	Hub, Device, Module string
	Time                int64
	EventID             string
	Cause               classify.Cause
	Final               bool
	Confidence          float64
	Evidence            []string `json:",omitempty"`
	Recommendation      string   `json:",omitempty"`
	Revisions           int      `json:",omitempty"`
	Incident            string   `json:",omitempty"`
}

// PutDiagnoses upserts diagnoses keyed by (Key, EventID), one row each in
// its hub's partition, fenced by the context's Fence.
func (t *Table) PutDiagnoses(ctx context.Context, ds []classify.Diagnosis) error {
	byRK := map[string]int{}
	for i := range ds {
		if err := checkDiagnosis(&ds[i]); err != nil {
			return err
		}
		byRK[diagRowKey(&ds[i])] = i // last wins
	}
	ops := make([]op, 0, len(byRK))
	for rk, i := range byRK {
		d := &ds[i]
		doc, _ := json.Marshal(diagDoc{d.Key.Hub, d.Key.Device, d.Key.Module, d.Time.UnixNano(), d.EventID.String(),
			d.Cause, d.Final, d.Confidence, d.Evidence, d.Recommendation, d.Revisions, d.Incident})
		p := props{"Device": d.Key.Device, "Module": d.Key.Module, "Cause": string(d.Cause)}
		if d.Incident != "" {
			p["Incident"] = d.Incident // filtered by the service (DiagnosisQuery.Incident)
		}
		if err := putParts(p, doc); err != nil {
			return fmt.Errorf("store: put diagnosis of %s: %w", d.Key, err)
		}
		pk := diagHubPK(d.Key.Hub)
		body, err := marshalEntity(pk, rk, p)
		if err != nil {
			return fmt.Errorf("store: put diagnosis of %s: %w", d.Key, err)
		}
		ops = append(ops, op{pk: pk, rk: rk, typ: aztables.TransactionTypeInsertReplace, body: body})
	}
	slices.SortFunc(ops, func(a, b op) int { return strings.Compare(a.pk+"/"+a.rk, b.pk+"/"+b.rk) })
	return wrap(ctx, t.upsertOps(ctx, tDiag, ops, fenceFor(ctx)), "put %d diagnoses", len(ops))
}

func (e *entity) diagnosis() (classify.Diagnosis, error) {
	data, err := e.parts()
	if err != nil {
		return classify.Diagnosis{}, err
	}
	var d diagDoc
	if err := json.Unmarshal(data, &d); err != nil {
		return classify.Diagnosis{}, fmt.Errorf("store: diagnosis %s: %w", e.RowKey, err)
	}
	id, _ := event.ParseID(d.EventID)
	return classify.Diagnosis{Key: event.Key{Hub: d.Hub, Device: d.Device, Module: d.Module}, Time: time.Unix(0, d.Time).UTC(),
		EventID: id, Cause: d.Cause, Final: d.Final, Confidence: d.Confidence, Evidence: d.Evidence,
		Recommendation: d.Recommendation, Revisions: d.Revisions, Incident: d.Incident}, nil
}

// diagRow is a listed diagnosis with its RowKey (the merge and cursor key).
type diagRow struct {
	rk string
	d  classify.Diagnosis
}

// ListDiagnoses scans the hub's partition — or every hub's, merged — from
// the cursor, with Device and Cause filtered by the service and the module
// (DiagnosisQuery.ByModule) as described there.
func (t *Table) ListDiagnoses(ctx context.Context, q DiagnosisQuery) ([]classify.Diagnosis, string, error) {
	limit := clampLimit(q.Limit)
	filter, err := diagFilter(&q)
	if err != nil {
		return nil, "", err
	}
	hubs := []string{diagHubPK(q.Hub)}
	if q.Hub == "" {
		if hubs, err = t.diagHubs(ctx); err != nil {
			return nil, "", wrap(ctx, err, "list diagnoses: find the hubs")
		}
	}
	var mu sync.Mutex
	var rows []diagRow
	g, gctx := errgroup.WithContext(ctx)
	g.SetLimit(writeParallel)
	for _, pk := range hubs {
		g.Go(func() error {
			got, err := t.diagScan(gctx, pk, filter, &q, limit+1)
			mu.Lock()
			rows = append(rows, got...)
			mu.Unlock()
			return err
		})
	}
	if err := g.Wait(); err != nil {
		return nil, "", wrap(ctx, err, "list diagnoses")
	}
	slices.SortFunc(rows, func(a, b diagRow) int { return strings.Compare(a.rk, b.rk) })
	next := ""
	if len(rows) > limit {
		rows = rows[:limit]
		next = encodeCursor(rows[limit-1].rk)
	}
	out := make([]classify.Diagnosis, len(rows))
	for i := range rows {
		out[i] = rows[i].d
	}
	return out, next, nil
}

// diagFilter is a listing's filter without its partition: the RowKey range
// (time bounds, cursor; never the fence rows) and the service-side filters.
func diagFilter(q *DiagnosisQuery) (string, error) {
	lo, hi := diagTimeBounds(q.From, q.To)
	loOp := "ge"
	if q.Cursor != "" {
		c, err := decodeCursor(q.Cursor)
		if err != nil {
			return "", err
		}
		if c >= lo {
			lo, loOp = c, "gt"
		}
	}
	if lo < rowMin {
		lo, loOp = rowMin, "ge"
	}
	f := []string{"RowKey " + loOp + " " + odataString(lo)}
	if hi != "" {
		f = append(f, "RowKey lt "+odataString(hi))
	}
	if q.Device != "" {
		f = append(f, "Device eq "+odataString(q.Device))
	}
	if q.Cause != "" {
		f = append(f, "Cause eq "+odataString(string(q.Cause)))
	}
	if q.Incident != "" {
		// The service filters, so a page of an incident costs its own rows,
		// not the other disconnects of its span (rows written before the
		// Incident property existed are not found until RETENTION has
		// purged them).
		f = append(f, "Incident eq "+odataString(q.Incident))
	}
	if q.ByModule && q.Device == "" {
		// Across devices the service filters (rows written before the Module
		// property existed are not found this way until RETENTION has
		// purged them); with a device, its few rows are filtered as read, so
		// those older rows are found too.
		f = append(f, "Module eq "+odataString(q.Module))
	}
	return strings.Join(f, " and "), nil
}

// diagScan reads up to n matching diagnoses of one partition, in RowKey
// order.
func (t *Table) diagScan(ctx context.Context, pk, filter string, q *DiagnosisQuery, n int) ([]diagRow, error) {
	var out []diagRow
	err := t.query(ctx, tDiag, "PartitionKey eq "+odataString(pk)+" and "+filter, "", int32(n), func(ents []entity) (bool, error) {
		for i := range ents {
			d, err := ents[i].diagnosis()
			if err != nil {
				return false, err
			}
			if q.MatchesModule(d.Key) && q.MatchesIncident(&d) {
				out = append(out, diagRow{ents[i].RowKey, d})
			}
		}
		return len(out) < n, nil
	})
	if len(out) > n {
		out = out[:n]
	}
	return out, err
}

// diagHubs lists the hub partitions of the diagnoses table with a skip
// scan: each query asks for the first row after the previous hub's
// partition, so it costs one request per hub, whatever the rows per hub.
func (t *Table) diagHubs(ctx context.Context) ([]string, error) {
	var hubs []string
	prev := "h"
	for {
		filter := "PartitionKey gt " + odataString(prev) + " and PartitionKey lt '" + diagHubsEnd + "'"
		next := ""
		err := t.query(ctx, tDiag, filter, "PartitionKey", 1, func(ents []entity) (bool, error) {
			next = ents[0].PartitionKey
			return false, nil
		})
		if err != nil {
			return nil, err
		}
		if next == "" {
			return hubs, nil
		}
		hubs = append(hubs, next)
		prev = next
	}
}
