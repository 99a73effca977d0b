package storage

import (
	"encoding/json"
	"os"
	"path/filepath"
	"testing"
	"time"

	"github.com/rs/zerolog"

	"github.com/disconnect-doctor/disconnect-doctor/config"
	"github.com/disconnect-doctor/disconnect-doctor/internal/azurite"
	"github.com/disconnect-doctor/disconnect-doctor/internal/faultproxy"
	"github.com/disconnect-doctor/disconnect-doctor/internal/funchost"
	"github.com/disconnect-doctor/disconnect-doctor/pipeline"
	"github.com/disconnect-doctor/disconnect-doctor/store"
)

// evaluatePeriod reads the Evaluate timer's schedule from its function.json
// and returns its period.
func evaluatePeriod(tb testing.TB) (string, time.Duration) {
	tb.Helper()
	root, err := azurite.RepoRoot()
	if err != nil {
		tb.Fatal(err)
	}
	raw, err := os.ReadFile(filepath.Join(root, "functions", "Evaluate", "function.json"))
	if err != nil {
		tb.Fatal(err)
	}
	var f funchost.Function
	if err := json.Unmarshal(raw, &f); err != nil {
		tb.Fatal(err)
	}
	expr := f.Trigger().Schedule
	s, err := funchost.ParseSchedule(expr)
	if err != nil {
		tb.Fatal(err)
	}
	return expr, s.Period(time.Date(2026, 12, 6, 0, 0, 0, 0, time.UTC))
}

// BenchmarkIdleTickCost measures what the Evaluate timer costs while
// nothing arrives: the Table requests (counted by a proxy in front of
// Azurite) of one idle tick, at the period of the schedule in
// functions/Evaluate/function.json, and per day. After a warm-up hour,
// ticks run on a simulated clock at the schedule's period.
func BenchmarkIdleTickCost(b *testing.B) {
	expr, period := evaluatePeriod(b)
	srv := azurite.Start(b, azurite.Options{})
	px := faultproxy.Start(b, "http://"+srv.Addr(), 1)
	cfg, err := config.Load(func(string) string { return "" })
	if err != nil {
		b.Fatal(err)
	}
	st, err := store.OpenTable(b.Context(), store.TableOptions{ConnectionString: azurite.ConnStringFor(px.URL()), Prefix: srv.Prefix()})
	if err != nil {
		b.Fatal(err)
	}
	defer st.Close()
	now := time.Date(2026, 12, 6, 0, 0, 0, 0, time.UTC)
	p, err := pipeline.New(pipeline.Options{Config: cfg, Store: st, Now: func() time.Time { return now }, Log: zerolog.Nop(), Instance: "bench"})
	if err != nil {
		b.Fatal(err)
	}
	tick := func() {
		now = now.Add(period)
		if _, err := p.Tick(b.Context()); err != nil {
			b.Fatal(err)
		}
	}
	for range int(time.Hour / period) {
		tick() // warm-up: first load, first commit, first purge
	}
	before, _ := px.Counts()
	ticks := 0
	for b.Loop() {
		tick()
		ticks++
	}
	after, by := px.Counts()
	perTick := float64(after-before) / float64(ticks)
	perDay := perTick * float64(24*time.Hour/period)
	b.ReportMetric(perTick, "req/tick")
	b.ReportMetric(perDay, "req/day")
	b.Logf("schedule %q (every %s): %d idle ticks, %d requests (%.2f per tick, %.0f per day); by method so far %v",
		expr, period, ticks, after-before, perTick, perDay, by)
}
