package storage_test

import (
	"context"
	"encoding/json"
	"fmt"
	"net/http"
	"slices"
	"sync"
	"testing"
	"time"

	"github.com/disconnect-doctor/disconnect-doctor/internal/azurite"
	"github.com/disconnect-doctor/disconnect-doctor/internal/faultproxy"
	"github.com/disconnect-doctor/disconnect-doctor/internal/funchost/emulator"
	"github.com/disconnect-doctor/disconnect-doctor/sim"
	"github.com/disconnect-doctor/disconnect-doctor/store"
)

// outageMinutes is how long (simulated) storage is down. Every failing
// attempt costs the handler its store's whole retry budget (5 requests,
// 1 s apart with the proxy's Retry-After), so the outage is kept short.
const outageMinutes = 1

// TestTableStorageUnderHandler is issue 4's acceptance for Table storage
// under the real handler binary, on one Azurite (on disk) shared by three
// scenarios on their own table prefixes:
//
//   - reference: one handler process, no fault;
//   - multi-instance: three handler processes (three emulated hosts) on one
//     prefix ingest disjoint shares concurrently — Event Hubs partition p on
//     process p mod 3, Event Grid deliveries and metric alerts round-robin —
//     while Evaluate fires on the processes in turn every simulated minute
//     (the lease lets exactly one run);
//   - outage: one process behind a faultproxy; after half the fleet Azurite
//     is stopped (the proxy answers 503, Retry-After 1 s, in its place, so a
//     failing attempt takes ~4 s instead of ~20 s against a closed port) and
//     the next minute's deliveries must all fail on every attempt (the host
//     retries, then checkpoints; Event Grid and Azure Monitor redeliver);
//     Azurite is restarted and the failed deliveries are sent again,
//     followed by the rest.
//
// Verdicts (key, time, cause, final) and incidents of both must equal the
// reference, and the ingest counters must add up to the records delivered.
// The three runs go at once (they share only Azurite) to keep the wall time
// down.
func TestTableStorageUnderHandler(t *testing.T) {
	ctx := context.Background()
	srv := azurite.Start(t, azurite.Options{Disk: true})
	px := faultproxy.Start(t, "http://"+srv.Addr(), 7)
	direct := srv.ConnString()
	cfg := fleetConfig()
	fleet := sim.Generate(cfg)
	if len(fleet.Incidents) == 0 {
		t.Fatal("the fleet has no hub incident")
	}

	refPrefix, multiPrefix, outPrefix := srv.Prefix(), srv.Prefix(), srv.Prefix()
	ref := startHosts(t, 1, direct, refPrefix, 1)
	multi := startHosts(t, 3, direct, multiPrefix, 1)
	out := startHosts(t, 1, azurite.ConnStringFor(px.URL()), outPrefix, 2)
	h := out[0]
	ms := schedule(t, fleet, cfg.Start, h.Host.Extensions.EventHubs.MaxEventBatchSize)
	t.Logf("fleet: %d devices, %s, %d Event Hubs bodies, %d Event Grid deliveries, %d metric alerts, %d records; %d minutes",
		cfg.Devices, cfg.Duration, len(fleet.Diagnostics), len(fleet.EventGrid), len(fleet.MetricAlerts), records(ms), len(ms))
	half := len(ms) / 2
	down := half + outageMinutes

	outRouter := &router{n: 1}
	concurrently(t, map[string]func() error{
		"reference (one process)": func() error {
			return runSettled(ctx, ref, &router{n: 1}, ms, 0, direct, refPrefix)
		},
		"three processes": func() error {
			return runSettled(ctx, multi, &router{n: 3}, ms, 0, direct, multiPrefix)
		},
		"outage run, before the outage": func() error { return runFleet(ctx, out, outRouter, ms, 0, half) },
	})

	// The outage: Azurite stopped (SIGINT: it saves its database), the proxy
	// answering 503 in its place.
	srv.Stop()
	px.Inject(faultproxy.Fault{Status: http.StatusServiceUnavailable, RetryAfter: time.Second, Probability: 1})
	px.Reset()
	var held []delivery
	var failed []sent
	began := time.Now()
	for k := half; k < down; k++ {
		setClock(out, ms[k].at)
		// Partitions and pushes go at once, as the host would send them.
		var mu sync.Mutex
		var wg sync.WaitGroup
		for _, d := range ms[k].deliveries {
			wg.Go(func() {
				s := send(ctx, h, d)
				mu.Lock()
				defer mu.Unlock()
				failed = append(failed, s)
			})
		}
		wg.Wait()
		held = append(held, ms[k].deliveries...)
		r := h.Invoke(ctx, h.Timer(fnEvaluate), 0, nil)
		if ok, _ := succeeded(h, r); ok {
			t.Errorf("minute %s: Evaluate succeeded with storage down: %s", ms[k].at.Format(time.RFC3339), r.Logs)
		} else if r.Status/100 == 2 {
			t.Errorf("minute %s: Evaluate failed but answered %d", ms[k].at.Format(time.RFC3339), r.Status)
		}
	}
	t.Logf("outage: %d deliveries in %d minute(s), every attempt failed within %s; proxy answered %v",
		len(failed), outageMinutes, time.Since(began).Round(time.Millisecond), px.Statuses())

	t.Run("outage: every invocation answers non-2xx", func(t *testing.T) {
		if len(failed) == 0 {
			t.Fatal("no delivery fell in the outage")
		}
		for _, s := range failed {
			if s.ok {
				t.Errorf("%s delivery succeeded with storage down", s.d.fn)
			}
			if slices.ContainsFunc(s.statuses, func(st int) bool { return st/100 == 2 }) {
				t.Errorf("%s: an attempt answered 2xx with storage down: %v", s.d.fn, s.statuses)
			}
			if s.d.fn == fnDiagnostics && len(s.statuses) != 2 {
				t.Errorf("Event Hubs batch tried %d times, want 2 (the emulator's bound on the retry policy)", len(s.statuses))
			}
		}
		if st := px.Statuses(); st[http.StatusServiceUnavailable] == 0 || len(st) != 1 {
			t.Errorf("proxy statuses during the outage %v, want only 503s", st)
		}
	})

	// Storage is back: redeliver what failed, in arrival order, evaluate,
	// then the rest of the fleet.
	srv.Restart()
	px.Clear()
	for _, d := range held {
		if s := send(ctx, h, d); !s.ok {
			t.Fatalf("redelivery of a %s delivery failed: %v", d.fn, s.err)
		}
	}
	if _, err := evaluate(ctx, out, 0); err != nil {
		t.Fatalf("evaluate after the outage: %v", err)
	}
	if err := runSettled(ctx, out, outRouter, ms, down, direct, outPrefix); err != nil {
		t.Fatal(err)
	}

	want := readOutcome(ctx, t, direct, refPrefix)
	gotMulti := readOutcome(ctx, t, direct, multiPrefix)
	gotOut := readOutcome(ctx, t, direct, outPrefix)
	for _, o := range []struct {
		name string
		o    outcome
	}{{"reference", want}, {"three processes", gotMulti}, {"outage", gotOut}} {
		t.Logf("%s: %d verdicts %v (%d revised), %d incidents %v", o.name, len(o.o.verdicts), o.o.byCause, o.o.revised, len(o.o.incidents), o.o.incidents)
	}

	t.Run("multi-instance: verdicts and incidents equal one process", func(t *testing.T) {
		compareOutcomes(t, "three processes", gotMulti, want)
	})
	// This caught a real bug: Event Grid and metric alerts reach every
	// process, and each process wrote its in-memory counters to one shared
	// row, last write wins (eventgrid showed 99 of 293 records). Progress rows
	// are now per writer and instance, summed on read.
	t.Run("multi-instance: ingest counters add up", func(t *testing.T) {
		checkCounters(ctx, t, multi[1], ms, gotMulti)
	})
	t.Run("outage: verdicts and incidents equal a fault-free run", func(t *testing.T) {
		compareOutcomes(t, "after the outage", gotOut, want)
	})
	t.Run("outage: ingest counters add up", func(t *testing.T) {
		checkCounters(ctx, t, h, ms, gotOut)
	})
	t.Run("reference: ingest counters add up", func(t *testing.T) {
		checkCounters(ctx, t, ref[0], ms, want)
	})
}

// maxSettleTicks bounds settle: Evaluate commits at least every 5 ticks
// (pipeline commitTicks), and a lease handover in between restarts that
// count once.
const maxSettleTicks = 12

// runSettled is runFleet over ms[from:] followed by settle: Evaluate
// commits the engine, the diagnoses it holds back and the ingest progress
// every 5 ticks (or 5 minutes), not every tick, so what a run leaves in the
// store lags its last ticks until the next commit. Before, the checks
// passed only because the fleet's 136 minutes end on a commit tick (135 =
// 27 × 5): a lease handover (the new holder counts from 0) or a wall-clock
// commit under load shifted that cadence, and the last minutes' records
// were missing from the counters ("lost counter updates: 1"; ending the
// run 3 minutes early shows it every time).
func runSettled(ctx context.Context, hosts []*emulator.Host, rt *router, ms []minute, from int, conn, prefix string) error {
	if err := runFleet(ctx, hosts, rt, ms, from, len(ms)-1); err != nil {
		return err
	}
	lastMinute := time.Now() // the last minute's input is stamped after this
	if err := runFleet(ctx, hosts, rt, ms, len(ms)-1, len(ms)); err != nil {
		return err
	}
	return settle(ctx, hosts, conn, prefix, ms[len(ms)-1].at, lastMinute)
}

// settle ticks Evaluate (clock at at, no new input) until the stored meta
// row's cursor — how far the last commit read — passes after: a commit
// covers everything delivered by then. A tick that commits nothing new
// leaves the cursor where it is, so a run whose last tick committed
// settles at once.
func settle(ctx context.Context, hosts []*emulator.Host, conn, prefix string, at, after time.Time) error {
	st, err := store.OpenTable(ctx, store.TableOptions{ConnectionString: conn, Prefix: prefix})
	if err != nil {
		return err
	}
	defer func() { _ = st.Close() }()
	setClock(hosts, at)
	for i := 0; ; i++ {
		b, err := st.GetBlob(ctx, store.MetaBlobs, "evaluate")
		if err != nil {
			return fmt.Errorf("settle: read the meta row: %w", err)
		}
		var m struct {
			Cursor time.Time `json:"cursor"`
		}
		if err := json.Unmarshal(b.Data, &m); err != nil {
			return fmt.Errorf("settle: decode the meta row: %w", err)
		}
		if m.Cursor.After(after) {
			return nil
		}
		if i == maxSettleTicks {
			return fmt.Errorf("settle: no commit covered the run after %d more Evaluate ticks", maxSettleTicks)
		}
		if _, err := evaluate(ctx, hosts, i%len(hosts)); err != nil {
			return fmt.Errorf("settle: %w", err)
		}
	}
}
