package storage_test

import (
	"context"
	"net/http"
	"slices"
	"sync"
	"testing"
	"time"

	"github.com/disconnect-doctor/disconnect-doctor/internal/azurite"
	"github.com/disconnect-doctor/disconnect-doctor/internal/faultproxy"
	"github.com/disconnect-doctor/disconnect-doctor/sim"
)

// outageMinutes is how long (simulated) storage is down. Every failing
// attempt costs the handler its store's whole retry budget (5 requests,
// 1 s apart with the proxy's Retry-After), so the outage is kept short.
const outageMinutes = 2

// TestStorageOutage is issue 4's outage acceptance: with Azurite on disk,
// half the fleet goes in, then Azurite is stopped and the next minutes'
// deliveries all fail (non-2xx on every attempt; the host retries, then
// checkpoints; Event Grid and Azure Monitor would redeliver), Azurite is
// restarted, the failed deliveries are sent again followed by the rest, and
// the verdicts and incidents equal a fault-free run of the same fleet.
//
// A faultproxy in front of Azurite answers 503 (Retry-After: 1 s) while it
// is down, so a failing attempt takes ~4 s instead of ~20 s against a
// closed port; it is still the dependency failing, as the handler sees it.
func TestStorageOutage(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	srv := azurite.Start(t, azurite.Options{Disk: true})
	px := faultproxy.Start(t, "http://"+srv.Addr(), 7)
	conn := azurite.ConnStringFor(px.URL())
	cfg := fleetConfig()
	fleet := sim.Generate(cfg)

	outPrefix, refPrefix := srv.Prefix(), srv.Prefix()
	hosts := startHosts(t, 1, conn, outPrefix, 2)
	ref := startHosts(t, 1, srv.ConnString(), refPrefix, 1)
	h := hosts[0]
	ms := schedule(t, fleet, cfg.Start, h.Host.Extensions.EventHubs.MaxEventBatchSize)
	half := len(ms) / 2
	down := half + outageMinutes

	rt := &router{n: 1}
	concurrently(t, map[string]func() error{
		"fault-free run": func() error { return runFleet(ctx, ref, &router{n: 1}, ms, 0, len(ms)) },
		"first half":     func() error { return runFleet(ctx, hosts, rt, ms, 0, half) },
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
		setClock(hosts, ms[k].at)
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
	t.Logf("outage: %d deliveries over %d minutes, all attempts in %s; proxy answered %v",
		len(failed), outageMinutes, time.Since(began).Round(time.Millisecond), px.Statuses())
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

	// Storage is back: redeliver what failed, in arrival order, then the rest.
	srv.Restart()
	px.Clear()
	for _, d := range held {
		if s := send(ctx, h, d); !s.ok {
			t.Fatalf("redelivery of a %s delivery failed: %v", d.fn, s.err)
		}
	}
	if err := runFleet(ctx, hosts, rt, ms, down-1, len(ms)); err != nil { // re-runs the last outage minute's Evaluate
		t.Fatal(err)
	}

	got := readOutcome(ctx, t, srv.ConnString(), outPrefix)
	want := readOutcome(ctx, t, srv.ConnString(), refPrefix)
	t.Logf("after the outage: %d verdicts %v, %d incidents; fault-free: %d verdicts %v, %d incidents",
		len(got.verdicts), got.byCause, len(got.incidents), len(want.verdicts), want.byCause, len(want.incidents))
	t.Run("verdicts and incidents equal a fault-free run", func(t *testing.T) {
		compareOutcomes(t, "after the outage", got, want)
	})
	t.Run("ingest counters add up", func(t *testing.T) {
		checkCounters(ctx, t, h, ms, got)
	})
}
