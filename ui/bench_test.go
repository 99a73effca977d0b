package ui

import (
	"context"
	"encoding/binary"
	"encoding/json"
	"fmt"
	"math/rand/v2"
	"testing"
	"time"

	"github.com/disconnect-doctor/disconnect-doctor/alert"
	"github.com/disconnect-doctor/disconnect-doctor/classify"
	"github.com/disconnect-doctor/disconnect-doctor/event"
	"github.com/disconnect-doctor/disconnect-doctor/rollup"
	"github.com/disconnect-doctor/disconnect-doctor/store"
)

// bigHub fills a store as a 100 000-device hub leaves it after a day and
// a half: every minute ~1 540 token expiries (65-minute tokens), some
// device-or-network and duplicate-identity disconnects, a 15-minute incident
// with 30 000 devices and hub-side errors, 1 000 firing device alerts, and 8
// ingest writers. The counts go in through rollup.Save, as Evaluate writes
// them.
func bigHub(b *testing.B) (*Pages, time.Time) {
	b.Helper()
	ctx := context.Background()
	st := store.NewMemory()
	const hub = "big-hub"
	now := time.Date(2026, 12, 6, 10, 30, 0, 0, time.UTC)
	start := now.Add(-36 * time.Hour)
	incStart := now.Add(-5 * time.Hour)
	r := rollup.New(st, 7*24*time.Hour)
	rng := rand.New(rand.NewPCG(1, 2))
	var seq uint64
	id := func() event.ID {
		seq++
		var x event.ID
		binary.BigEndian.PutUint64(x[:8], rng.Uint64())
		binary.BigEndian.PutUint64(x[8:], seq)
		return x
	}
	for m := start; m.Before(now); m = m.Add(time.Minute) {
		n := 1540 + rng.IntN(80)
		ds := make([]classify.Diagnosis, 0, n+2000)
		add := func(c classify.Cause, k int) {
			for range k {
				ds = append(ds, classify.Diagnosis{Key: event.Key{Hub: hub, Device: fmt.Sprintf("dev-%06d", rng.IntN(100000))},
					Time: m.Add(time.Duration(rng.IntN(60)) * time.Second), EventID: id(), Cause: c, Final: true})
			}
		}
		add(classify.TokenExpiry, n)
		add(classify.DeviceOrNetwork, 20+rng.IntN(20))
		add(classify.DuplicateIdentity, rng.IntN(3))
		if !m.Before(incStart) && m.Before(incStart.Add(15*time.Minute)) {
			add(classify.HubTransient, 2000)
		}
		if now.Sub(m) < 10*time.Minute {
			add(classify.Pending, 300)
		}
		if err := r.Save(ctx, ds, m.Add(time.Minute), nil); err != nil {
			b.Fatal(err)
		}
	}
	if _, err := st.PutBlobs(ctx, store.HubBlobs, []store.Blob{{Key: hub, Data: []byte("x")}}); err != nil {
		b.Fatal(err)
	}
	if err := st.PutIncidents(ctx, []classify.Incident{{ID: hub + "-inc", Hub: hub, Start: incStart, End: incStart.Add(15 * time.Minute),
		Devices: 30000, HubErrors: 90000, MetricCorroborated: true, Evidence: []string{"30000 devices disconnected"}}}); err != nil {
		b.Fatal(err)
	}
	var alerts []store.Blob
	kinds := []classify.SignalKind{classify.DeviceOffline, classify.DeviceFlapping, classify.TokenRenewalFailing}
	for i := range 1000 {
		k := kinds[i%3]
		rec := alert.Record{Key: fmt.Sprintf("%s/%s/dev-%06d", k, hub, i), Kind: k, Hub: hub, Device: fmt.Sprintf("dev-%06d", i),
			Firing: true, Since: now.Add(-time.Duration(i) * time.Minute), Summary: "a summary of about this length for the device", Devices: 1}
		data, _ := json.Marshal(rec)
		alerts = append(alerts, store.Blob{Key: rec.Key, Data: data})
	}
	if _, err := st.PutBlobs(ctx, store.AlertBlobs, alerts); err != nil {
		b.Fatal(err)
	}
	for i := range 8 {
		if err := st.PutProgress(ctx, store.Progress{Writer: fmt.Sprintf("insights-logs-connections/%d", i), Newest: now, Updated: now, Read: int64(i) * 1e6}); err != nil {
			b.Fatal(err)
		}
	}
	wm := func(context.Context) (time.Time, error) { return now.Add(-6 * time.Minute), nil }
	return New(st, func() time.Time { return now }, wm), now
}

// BenchmarkOverviewBigHub is issue 11's figure: the overview of a
// 100 000-device hub (target < 200 ms, < 300 KB), rendered from the
// embedded store (a Table store adds its round trips: two rollup rows, the
// incidents, the alert records, the hubs, the progress rows).
func BenchmarkOverviewBigHub(b *testing.B) {
	p, _ := bigHub(b)
	ctx := context.Background()
	var size int
	b.ResetTimer()
	for b.Loop() {
		status, page := p.Serve(ctx, "ui", nil)
		if status != 200 {
			b.Fatalf("status %d: %s", status, page.Body)
		}
		size = len(page.Body)
	}
	b.ReportMetric(float64(size), "page-bytes")
}

// BenchmarkHubPageBigHub: the hub page of that hub, which lists up to
// maxListedHub firing devices of each kind.
func BenchmarkHubPageBigHub(b *testing.B) {
	p, _ := bigHub(b)
	ctx := context.Background()
	var size int
	b.ResetTimer()
	for b.Loop() {
		status, page := p.Serve(ctx, "ui/hubs/big-hub", nil)
		if status != 200 {
			b.Fatalf("status %d", status)
		}
		size = len(page.Body)
	}
	b.ReportMetric(float64(size), "page-bytes")
}
