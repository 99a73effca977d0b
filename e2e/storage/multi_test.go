package storage_test

import (
	"context"
	"testing"

	"github.com/disconnect-doctor/disconnect-doctor/internal/azurite"
	"github.com/disconnect-doctor/disconnect-doctor/sim"
)

// TestMultiInstance is issue 4's multi-instance acceptance: three handler
// processes (three emulated hosts) on one Azurite and one table prefix
// ingest disjoint shares of a simulated fleet concurrently — Event Hubs
// partition p on process p mod 3, Event Grid deliveries and metric alerts
// spread round-robin — while the Evaluate timer fires on the processes in
// turn every simulated minute (the lease lets exactly one run). The
// verdicts and incidents must equal those of the same fleet through one
// process on a fresh prefix, and the ingest counters must add up exactly to
// the records delivered.
func TestMultiInstance(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	srv := azurite.Start(t, azurite.Options{})
	conn := srv.ConnString()
	cfg := fleetConfig()
	fleet := sim.Generate(cfg)

	multiPrefix, soloPrefix := srv.Prefix(), srv.Prefix()
	multi := startHosts(t, 3, conn, multiPrefix, 1)
	solo := startHosts(t, 1, conn, soloPrefix, 1)
	batch := multi[0].Host.Extensions.EventHubs.MaxEventBatchSize
	ms := schedule(t, fleet, cfg.Start, batch)
	t.Logf("fleet: %d devices, %s, %d Event Hubs bodies, %d Event Grid deliveries, %d metric alerts, %d records; %d minutes",
		cfg.Devices, cfg.Duration, len(fleet.Diagnostics), len(fleet.EventGrid), len(fleet.MetricAlerts), records(ms), len(ms))

	// The two runs go at once (they share only Azurite), for wall time.
	concurrently(t, map[string]func() error{
		"three processes": func() error { return runFleet(ctx, multi, &router{n: 3}, ms, 0, len(ms)) },
		"one process":     func() error { return runFleet(ctx, solo, &router{n: 1}, ms, 0, len(ms)) },
	})

	got := readOutcome(ctx, t, conn, multiPrefix)
	want := readOutcome(ctx, t, conn, soloPrefix)
	t.Logf("three processes: %d verdicts %v (%d revised), %d incidents; one process: %d verdicts %v (%d revised), %d incidents",
		len(got.verdicts), got.byCause, got.revised, len(got.incidents), len(want.verdicts), want.byCause, want.revised, len(want.incidents))

	t.Run("verdicts and incidents equal one process", func(t *testing.T) {
		compareOutcomes(t, "three processes", got, want)
	})
	t.Run("ingest counters add up (three processes)", func(t *testing.T) {
		checkCounters(ctx, t, multi[1], ms, got)
	})
	t.Run("ingest counters add up (one process)", func(t *testing.T) {
		checkCounters(ctx, t, solo[0], ms, want)
	})
}
