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

// Diagnoses are written to their hub's partition "h<hub>", RowKey
// diagRowKey (inverted time, then the key), so a small fleet's commit costs
// one transaction per hub. Table storage serves about 2 000 entities/s per
// partition, so a hub with more than diagSpreadAbove rows in one write (a
// 100 000-device hub's drop: tens of thousands of diagnoses in a tick)
// spreads them over SpreadPartitions shards "h<hub>!<spreadSuffix of the
// device key>", whose transactions writeOps runs in parallel. EncodeKey
// escapes '!' and every character below it, so a shard key never equals
// a hub's key, "h<hub>!…" sorts inside the "h".."i" range of the skip
// scan, and the range ["h<hub>", "h<hub>!g") holds exactly the hub's nine
// partitions.
//
// A hub's listing is one range query over that range (diagScanHub) and,
// when the hub has shards with rows in the listing's range, a scan of each
// shard, merged by RowKey; a listing across hubs
// finds every partition with a skip scan (one Top-1 query per partition)
// and merges the same way. A diagnosis rewritten by a write of the other
// size (a revision, non-final to final) has a row in two partitions: the
// merge keeps the one written last (diagNewer). A listing filtered by the
// service on Cause or Incident can still return the older row alone when
// only it matches.
//
// Versions before this one also wrote each diagnosis to partition "all".
// Those rows are never read (their twins in the hub partitions are) and go
// with RETENTION (Purge), so nothing is listed twice after an upgrade.
const diagAllPK = "all"

func diagHubPK(hub string) string { return "h" + EncodeKey(hub) }

// diagSpreadAbove is the most rows of one hub a write keeps in the hub's
// partition: as many as fill SpreadPartitions transactions.
const diagSpreadAbove = maxBatch * SpreadPartitions

// diagShardPK is the shard of a big write's diagnosis of key k.
func diagShardPK(k event.Key) string { return diagHubPK(k.Hub) + keySep + spreadSuffix(k.String()) }

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
// its hub's partition — or its shards, for a hub with more than
// diagSpreadAbove rows in the call — fenced by the context's Fence.
func (t *Table) PutDiagnoses(ctx context.Context, ds []classify.Diagnosis) error {
	byRK := map[string]int{}
	for i := range ds {
		if err := checkDiagnosis(&ds[i]); err != nil {
			return err
		}
		byRK[diagRowKey(&ds[i])] = i // last wins
	}
	perHub := map[string]int{}
	for _, i := range byRK {
		perHub[ds[i].Key.Hub]++
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
		if perHub[d.Key.Hub] > diagSpreadAbove {
			pk = diagShardPK(d.Key)
		}
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

// diagRow is a listed diagnosis with its keys (RowKey: the merge and
// cursor key) and the time the service wrote it (the entity's Timestamp).
type diagRow struct {
	pk string
	rk string
	at time.Time
	d  classify.Diagnosis
}

// ListDiagnoses scans the hub's partitions — or every hub's — from the
// cursor, with Device and Cause filtered by the service and the module
// (DiagnosisQuery.ByModule) as described there, and merges them.
//
// Each partition gives its first limit+1 matching rows after the cursor.
// The first limit+1 distinct RowKeys of all partitions are among them, and
// so is every copy of each (a copy of one of them is within its own
// partition's first limit+1), so the page after deduplication holds the
// right rows with their newest content, and a next cursor is set whenever
// a row is left.
func (t *Table) ListDiagnoses(ctx context.Context, q DiagnosisQuery) ([]classify.Diagnosis, string, error) {
	limit := clampLimit(q.Limit)
	filter, err := diagFilter(&q)
	if err != nil {
		return nil, "", err
	}
	var rows []diagRow
	if q.Hub == "" {
		var pks []string
		if pks, err = t.diagHubs(ctx); err != nil {
			return nil, "", wrap(ctx, err, "list diagnoses: find the hubs")
		}
		rows, err = t.diagScanAll(ctx, pks, filter, &q, limit+1)
	} else {
		rows, err = t.diagScanHub(ctx, q.Hub, filter, &q, limit+1)
	}
	if err != nil {
		return nil, "", wrap(ctx, err, "list diagnoses")
	}
	rows = diagNewest(rows)
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

// diagScanHub reads up to n matching rows of each of hub's partitions with
// one range query over them all, which returns the hub's partition's rows
// first: when it ends before n rows, it has read everything; when it
// reached the shards or a probe finds matching rows there (the hub's
// partition alone filled it), the shards are scanned on their own. A hub
// that never had a big write costs what one partition did, but for the
// probe of a listing that pages.
func (t *Table) diagScanHub(ctx context.Context, hub, filter string, q *DiagnosisQuery, n int) ([]diagRow, error) {
	own := diagHubPK(hub)
	shardsLo, shardsHi := odataString(own+keySep), odataString(own+keySep+"g") // "!00".."!07"
	rows, err := t.diagScan(ctx, "PartitionKey ge "+odataString(own)+" and PartitionKey lt "+shardsHi, filter, q, n)
	if err != nil || len(rows) < n {
		return rows, err
	}
	sharded := rows[len(rows)-1].pk != own
	if !sharded {
		err = t.query(ctx, tDiag, "PartitionKey gt "+shardsLo+" and PartitionKey lt "+shardsHi+" and "+filter, "PartitionKey", 1,
			func([]entity) (bool, error) {
				sharded = true
				return false, nil
			})
	}
	if err != nil || !sharded {
		return rows, err
	}
	rows = slices.DeleteFunc(rows, func(r diagRow) bool { return r.pk != own })
	pks := make([]string, SpreadPartitions)
	for i := range pks {
		pks[i] = own + keySep + shardSuffix(uint32(i))
	}
	more, err := t.diagScanAll(ctx, pks, filter, q, n)
	return append(rows, more...), err
}

// diagScanAll reads up to n matching rows of each partition, in parallel.
func (t *Table) diagScanAll(ctx context.Context, pks []string, filter string, q *DiagnosisQuery, n int) ([]diagRow, error) {
	var mu sync.Mutex
	var rows []diagRow
	g, gctx := errgroup.WithContext(ctx)
	g.SetLimit(writeParallel)
	for _, pk := range pks {
		g.Go(func() error {
			got, err := t.diagScan(gctx, "PartitionKey eq "+odataString(pk), filter, q, n)
			mu.Lock()
			rows = append(rows, got...)
			mu.Unlock()
			return err
		})
	}
	return rows, g.Wait()
}

// diagNewest sorts rows by RowKey and keeps one row per RowKey, the newest
// (diagNewer).
func diagNewest(rows []diagRow) []diagRow {
	slices.SortFunc(rows, func(a, b diagRow) int { return strings.Compare(a.rk, b.rk) })
	out := rows[:0]
	for _, r := range rows {
		switch last := len(out) - 1; {
		case last < 0 || out[last].rk != r.rk:
			out = append(out, r)
		case diagNewer(&r, &out[last]):
			out[last] = r
		}
	}
	return out
}

// diagNewer reports whether a, a row of the same diagnosis as b in another
// partition, was written after it: by the service's Timestamp (successive
// writes of a diagnosis are a tick or more apart), and on a tie the
// engine's order — a final verdict after a provisional one, a revision
// after the one it revises.
func diagNewer(a, b *diagRow) bool {
	if !a.at.Equal(b.at) {
		return a.at.After(b.at)
	}
	if a.d.Final != b.d.Final {
		return a.d.Final
	}
	return a.d.Revisions > b.d.Revisions
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

// diagScan reads up to n matching diagnoses of the partitions where
// selects, in (PartitionKey, RowKey) order.
func (t *Table) diagScan(ctx context.Context, where, filter string, q *DiagnosisQuery, n int) ([]diagRow, error) {
	var out []diagRow
	err := t.query(ctx, tDiag, where+" and "+filter, "", int32(n), func(ents []entity) (bool, error) {
		for i := range ents {
			d, err := ents[i].diagnosis()
			if err != nil {
				return false, err
			}
			if q.MatchesModule(d.Key) && q.MatchesIncident(&d) {
				out = append(out, diagRow{ents[i].PartitionKey, ents[i].RowKey, time.Time(ents[i].Timestamp), d})
			}
		}
		return len(out) < n, nil
	})
	if len(out) > n {
		out = out[:n]
	}
	return out, err
}

// diagHubs lists the partitions of the diagnoses table (hubs' and their
// shards) with a skip scan: each query asks for the first row after the
// previous partition, so it costs one request per partition, whatever the
// rows in each.
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
