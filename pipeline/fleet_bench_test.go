package pipeline

import (
	"context"
	"fmt"
	"runtime"
	"runtime/metrics"
	"sort"
	"strconv"
	"testing"
	"time"

	"github.com/rs/zerolog"

	"github.com/disconnect-doctor/disconnect-doctor/config"
	"github.com/disconnect-doctor/disconnect-doctor/ingest"
	"github.com/disconnect-doctor/disconnect-doctor/sim"
	"github.com/disconnect-doctor/disconnect-doctor/store"
)

// BenchmarkFleet runs the simulator's default fleet (one hub incident,
// every device fault, Azure Monitor's delays) through the pipeline for
// 1 000, 10 000 and 100 000 devices over 3 hours, as the host delivers it:
// every 30 simulated seconds each partition's new Event Hubs bodies in
// batches of 32 (host.json maxEventBatchSize), the Event Grid deliveries and
// metric alerts, then Evaluate (wall-clock watermark and read margin as in
// production, on a simulated clock), until the incident is over and every
// verdict final. The store is the embedded one behind the request-counting
// wrapper. It reports:
//
//   - s/sim-hour: wall seconds per simulated hour (fleet generation not
//     included);
//   - peak-heap-MiB: the most Go heap in use (runtime/metrics
//     /memory/classes/heap/objects:bytes, sampled after every tick) of the
//     whole benchmark process: the pipeline, the embedded store's events,
//     blobs and diagnoses, and the generated fleet; fleet-heap-MiB is the
//     heap after generating the fleet, before the run;
//   - table-req/tick and max-table-req/tick: Evaluate's Table requests per
//     tick, modelled from its store calls (a write of n rows:
//     transactions of 100 rows per partition; the events read: one query
//     page per 1 000; every other call one request);
//   - incident-devices and incident-hub-errors: the injected incident's size.
//
// The 100 000-device run takes minutes and several GiB: run it alone,
// `flock /tmp/big.lock go test ./pipeline -run '^$' -bench 'Fleet/devices=100000' -benchtime=1x`.
func BenchmarkFleet(b *testing.B) {
	for _, n := range []int{1000, 10000, 100000} {
		b.Run(fmt.Sprintf("devices=%d/hours=3", n), func(b *testing.B) {
			sc := sim.DefaultConfig(1)
			sc.Devices, sc.Duration = n, 3*time.Hour
			var fr fleetRun
			for b.Loop() {
				fr = runFleetBench(b, sc)
			}
			b.ReportMetric(fr.wall.Seconds()/fr.simulated.Hours(), "s/sim-hour")
			b.ReportMetric(float64(fr.peakHeap)/(1<<20), "peak-heap-MiB")
			b.ReportMetric(float64(fr.fleetHeap)/(1<<20), "fleet-heap-MiB")
			b.ReportMetric(float64(fr.requests)/float64(fr.ticks), "table-req/tick")
			b.ReportMetric(float64(fr.maxRequests), "max-table-req/tick")
			b.ReportMetric(float64(fr.incidentDevices), "incident-devices")
			b.ReportMetric(float64(fr.incidentErrors), "incident-hub-errors")
		})
	}
}

// fleetRun is what one BenchmarkFleet run measured.
type fleetRun struct {
	wall, simulated                 time.Duration
	peakHeap, fleetHeap             uint64
	ticks, requests, maxRequests    int
	incidentDevices, incidentErrors int
}

// fleetArrival is one message of the simulated fleet with its function.
type fleetArrival struct {
	msg  sim.Message
	kind string // "diag", or the writer of a push: "eventgrid", "metric"
}

// runFleetBench generates sc's fleet and drives it through a pipeline on
// the counting embedded store (see BenchmarkFleet).
func runFleetBench(b *testing.B, sc sim.Config) fleetRun {
	ctx := context.Background()
	cfg, err := config.Load(func(string) string { return "" })
	if err != nil {
		b.Fatal(err)
	}
	fleet := sim.Generate(sc)
	if len(fleet.Incidents) != 1 {
		b.Fatalf("%d incidents in the fleet, want 1", len(fleet.Incidents))
	}
	var as []fleetArrival
	for _, m := range fleet.Diagnostics {
		as = append(as, fleetArrival{m, "diag"})
	}
	for _, m := range fleet.EventGrid {
		as = append(as, fleetArrival{m, "eventgrid"})
	}
	for _, m := range fleet.MetricAlerts {
		as = append(as, fleetArrival{m, "metric"})
	}
	sort.SliceStable(as, func(i, j int) bool { return as[i].msg.Enqueued.Before(as[j].msg.Enqueued) })
	fr := fleetRun{incidentDevices: fleet.Incidents[0].Devices, incidentErrors: fleet.Incidents[0].HubErrors}
	runtime.GC()
	fr.fleetHeap = heapInUse()

	cs := &counting{Store: store.NewMemory(), n: map[string]int{}}
	c := &clock{t: sc.Start}
	p, err := New(Options{Config: cfg, Store: cs, Now: c.Now, Instance: "bench", Log: zerolog.Nop()})
	if err != nil {
		b.Fatal(err)
	}
	e := cfg.Engine
	end := as[len(as)-1].msg.Enqueued.Add(e.AllowedLateness + e.ReconnectGrace + e.OfflineAfter + 10*time.Minute)
	began, next := time.Now(), 0
	for ; !c.t.After(end); c.t = c.t.Add(30 * time.Second) {
		next = deliverFleet(b, p, as, next, c.t)
		clear(cs.n)
		rep, err := p.Tick(ctx)
		if err != nil {
			b.Fatalf("tick at %s: %v", c.t.Format(time.RFC3339), err)
		}
		req := tableRequests(cs.n, rep.Events)
		fr.requests += req
		fr.maxRequests = max(fr.maxRequests, req)
		fr.ticks++
		fr.peakHeap = max(fr.peakHeap, heapInUse())
	}
	fr.wall, fr.simulated = time.Since(began), end.Sub(sc.Start)
	is, err := cs.ListIncidents(ctx, "", nil)
	if err != nil || len(is) == 0 || is[0].Open {
		b.Fatalf("incidents %+v (%v), want the injected one found and closed", is, err)
	}
	return fr
}

// deliverFleet ingests as[next:] up to now as the host would deliver it and
// returns the index of the first message not yet arrived.
func deliverFleet(b *testing.B, p *Pipeline, as []fleetArrival, next int, now time.Time) int {
	ctx := context.Background()
	parts := map[string][][]byte{}
	var order []string
	for ; next < len(as) && !as[next].msg.Enqueued.After(now); next++ {
		a := as[next]
		var res ingest.Result
		switch a.kind {
		case "diag":
			if parts[a.msg.Partition] == nil {
				order = append(order, a.msg.Partition)
			}
			parts[a.msg.Partition] = append(parts[a.msg.Partition], a.msg.Body)
			continue
		case "eventgrid":
			ingest.EventGridEvents(a.msg.Body, &res)
		case "metric":
			ingest.MetricAlert(a.msg.Body, &res)
		}
		if err := p.Ingest(ctx, a.kind, &res); err != nil {
			b.Fatal(err)
		}
	}
	for _, part := range order {
		for bodies := parts[part]; len(bodies) > 0; {
			k := min(len(bodies), 32)
			var res ingest.Result
			for _, body := range bodies[:k] {
				ingest.ResourceLogs(body, &res)
			}
			if err := p.Ingest(ctx, "insights-logs-connections/"+part, &res); err != nil {
				b.Fatal(err)
			}
			bodies = bodies[k:]
		}
	}
	return next
}

// tableRequests models the Table requests of one tick from its store calls
// (counting's keys) and the events it read.
func tableRequests(calls map[string]int, eventsRead int) int {
	n := max(calls["ReadEvents"], (eventsRead+999)/1000)
	for k, v := range calls {
		if k == "ReadEvents" {
			continue // counted by pages
		}
		if m := sizeSuffix.FindStringSubmatch(k); m != nil {
			size, _ := strconv.Atoi(m[3])
			n += v * transactions(m[2], size)
			continue
		}
		n += v
	}
	return n
}

// heapInUse is the Go heap's bytes in objects (live and not yet swept).
func heapInUse() uint64 {
	s := []metrics.Sample{{Name: "/memory/classes/heap/objects:bytes"}}
	metrics.Read(s)
	return s[0].Value.Uint64()
}
