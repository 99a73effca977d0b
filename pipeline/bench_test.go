package pipeline

import (
	"context"
	"fmt"
	"math/rand/v2"
	"regexp"
	"slices"
	"strconv"
	"testing"
	"time"

	"github.com/rs/zerolog"

	"github.com/disconnect-doctor/disconnect-doctor/config"
	"github.com/disconnect-doctor/disconnect-doctor/event"
	"github.com/disconnect-doctor/disconnect-doctor/ingest"
	"github.com/disconnect-doctor/disconnect-doctor/store"
)

// dropEvents is a hub of n devices, connected for up to 30 minutes, all
// closed with 404104 within two minutes of t0, 30% refused once with
// 500001 ten seconds later (hub-side evidence), back 30 s to 5 min after.
func dropEvents(n int, t0 time.Time) []event.Event {
	rng := rand.New(rand.NewPCG(9, uint64(n)))
	evs := make([]event.Event, 0, n*4)
	rec := func(dev string, kind event.Kind, t time.Time, code int) {
		e := event.Event{Source: event.ResourceLog, Kind: kind, Hub: "big-hub", Device: dev, Time: t, Category: "Connections", Code: code}
		e.ID = event.NewID(&e, "")
		evs = append(evs, e)
	}
	for i := range n {
		dev := "sensor-" + strconv.Itoa(i)
		rec(dev, event.Connect, t0.Add(-time.Duration(rng.Int64N(int64(30*time.Minute)))), 0)
		cut := t0.Add(time.Duration(rng.Int64N(int64(2 * time.Minute))))
		rec(dev, event.Disconnect, cut, event.CodeConnectionClosedRemotely)
		if rng.IntN(10) < 3 {
			rec(dev, event.Connect, cut.Add(10*time.Second), 500001)
		}
		rec(dev, event.Connect, cut.Add(30*time.Second+time.Duration(rng.Int64N(int64(270*time.Second)))), 0)
	}
	slices.SortFunc(evs, func(a, b event.Event) int { return a.Time.Compare(b.Time) })
	return evs
}

var sizeSuffix = regexp.MustCompile(`^(PutBlobs|WriteBlobs|DeleteBlobs|PutDiagnoses|PutIncidents|Enqueue)(:[a-z]+)?:(\d+)$`)

// BenchmarkIncidentTicks drives a hub whose every device drops within two
// minutes through the pipeline on the request-counting store, minute by
// minute (records arrive a minute after their time, Evaluate every minute,
// wall-clock watermark as in production), and reports per tick: the most
// store calls, the most rows written, and the Table transactions those rows
// need at 100 entities each (the unit Table storage bills and throttles:
// ~2 000 entities/s per partition, 20 000/s per account); and the slowest
// tick's seconds on the in-memory store (the engine's own cost).
// transactions models the Table transactions of one store call of size
// rows: 100 rows each per partition; device blobs are spread over the
// store's SpreadPartitions partitions (each diagnosis is written once, to
// its hub's partition).
func transactions(kind string, size int) int {
	switch {
	case kind != ":"+string(store.DeviceBlobs):
		return (size + 99) / 100
	case size <= store.SpreadPartitions: // at worst one partition each
		return size
	}
	return store.SpreadPartitions * ((size/store.SpreadPartitions + 99) / 100)
}

func BenchmarkIncidentTicks(b *testing.B) {
	for _, n := range []int{1000, 10000, 100000} {
		b.Run(fmt.Sprintf("devices=%d", n), func(b *testing.B) {
			t0 := time.Date(2026, 12, 6, 9, 0, 0, 0, time.UTC)
			evs := dropEvents(n, t0)
			var maxCalls, maxRows, maxTx, ticks int
			var slowest time.Duration
			cfg, err := config.Load(func(string) string { return "" })
			if err != nil {
				b.Fatal(err)
			}
			for b.Loop() {
				cs := &counting{Store: store.NewMemory(), n: map[string]int{}}
				c := &clock{t: t0.Add(-31 * time.Minute)}
				p, err := New(Options{Config: cfg, Store: cs, Now: c.Now, Instance: "bench", Log: zerolog.Nop(), ReadSafety: -1})
				if err != nil {
					b.Fatal(err)
				}
				next := 0
				for ; !c.t.After(t0.Add(20 * time.Minute)); c.t = c.t.Add(time.Minute) {
					var res ingest.Result
					for ; next < len(evs) && !evs[next].Time.Add(time.Minute).After(c.t); next++ {
						res.Keep(evs[next])
						res.Read++
						res.Newest = evs[next].Time
					}
					if len(res.Events) > 0 {
						if err := p.Ingest(b.Context(), "logs/0", &res); err != nil {
							b.Fatal(err)
						}
					}
					clear(cs.n)
					began := time.Now()
					if _, err := p.Tick(context.Background()); err != nil {
						b.Fatal(err)
					}
					slowest = max(slowest, time.Since(began))
					calls, rows, tx := 0, 0, 0
					for k, v := range cs.n {
						calls += v
						if m := sizeSuffix.FindStringSubmatch(k); m != nil {
							size, _ := strconv.Atoi(m[3])
							rows += v * size
							tx += v * transactions(m[2], size)
						}
					}
					maxCalls, maxRows, maxTx = max(maxCalls, calls), max(maxRows, rows), max(maxTx, tx)
					ticks++
				}
				// the scenario must be what it claims: one incident, over
				is, err := cs.ListIncidents(b.Context(), "", nil)
				if err != nil || len(is) != 1 || is[0].Open || is[0].Devices < n*97/100 {
					b.Fatalf("incidents %+v (%v), want one closed of ~%d devices", is, err, n)
				}
			}
			b.ReportMetric(float64(maxCalls), "max-calls/tick")
			b.ReportMetric(float64(maxRows), "max-rows/tick")
			b.ReportMetric(float64(maxTx), "max-tx/tick")
			b.ReportMetric(slowest.Seconds(), "slowest-tick-s")
		})
	}
}
