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

// BenchmarkFleet streams the simulator's default fleet (one hub incident,
// every device fault, Azure Monitor's delays) through the pipeline for
// 1 000, 10 000 and 100 000 devices over 3 hours, as the host delivers it:
// every 30 simulated seconds each partition's new Event Hubs bodies in
// batches of 32 (host.json maxEventBatchSize), the Event Grid deliveries and
// metric alerts, then Evaluate (wall-clock watermark and read margin as in
// production, on a simulated clock), until the incident is over and every
// verdict final. The store is the embedded one (forgetting events read 10
// minutes ago) behind the request-counting wrapper. It reports:
//
//   - s/sim-hour: wall seconds per simulated hour, the stream's simulation
//     of each minute included (as in `handler run`);
//   - peak-heap-MiB: the most Go heap in use (runtime/metrics
//     /memory/classes/heap/objects:bytes, sampled after every tick) of the
//     whole benchmark process: the pipeline, the embedded store's events,
//     blobs and diagnoses, and the fleet's stream (its decided run and the
//     minutes in flight); fleet-heap-MiB is the heap after preparing the
//     stream, before the run;
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

// runFleetBench streams sc's fleet (sim.NewStream: only minutes of it in
// memory, as `handler run` does) through a pipeline on the counting
// embedded store (see BenchmarkFleet).
func runFleetBench(b *testing.B, sc sim.Config) fleetRun {
	ctx := context.Background()
	cfg, err := config.Load(func(string) string { return "" })
	if err != nil {
		b.Fatal(err)
	}
	fleet := sim.NewStream(sc)
	runtime.GC()
	fr := fleetRun{fleetHeap: heapInUse()}

	// The store forgets events 10 minutes after they are read, as in
	// `handler run`: the pipeline re-reads at most from its last commit
	// (every 5 ticks), and in production the events live in Table storage,
	// not in the process.
	cs := &counting{Store: store.NewMemory(store.ForgetReadEvents(10 * time.Minute)), n: map[string]int{}}
	c := &clock{t: fleet.Start()}
	p, err := New(Options{Config: cfg, Store: cs, Now: c.Now, Instance: "bench", Log: zerolog.Nop()})
	if err != nil {
		b.Fatal(err)
	}
	// The last record arrives at most TailMax after the fleet's end; the
	// run then waits for every verdict to settle.
	e := cfg.Engine
	end := fleet.End().Add(sc.TailMax + e.AllowedLateness + e.ReconnectGrace + e.OfflineAfter + 10*time.Minute)
	began := time.Now()
	for ; !c.t.After(end); c.t = c.t.Add(30 * time.Second) {
		deliverFleet(b, p, fleetArrivals(fleet.Next(c.t)))
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
	fr.wall, fr.simulated = time.Since(began), end.Sub(fleet.Start())
	out := fleet.Result()
	if len(out.Incidents) != 1 {
		b.Fatalf("%d incidents in the fleet, want 1", len(out.Incidents))
	}
	fr.incidentDevices, fr.incidentErrors = out.Incidents[0].Devices, out.Incidents[0].HubErrors
	is, err := cs.ListIncidents(ctx, "", nil)
	if err != nil || len(is) == 0 || is[0].Open {
		b.Fatalf("incidents %+v (%v), want the injected one found and closed", is, err)
	}
	return fr
}

// fleetArrivals is a's messages in arrival order, each with its function.
func fleetArrivals(a sim.Arrivals) []fleetArrival {
	var as []fleetArrival
	for _, m := range a.Diagnostics {
		as = append(as, fleetArrival{m, "diag"})
	}
	for _, m := range a.EventGrid {
		as = append(as, fleetArrival{m, "eventgrid"})
	}
	for _, m := range a.MetricAlerts {
		as = append(as, fleetArrival{m, "metric"})
	}
	sort.SliceStable(as, func(i, j int) bool { return as[i].msg.Enqueued.Before(as[j].msg.Enqueued) })
	return as
}

// deliverFleet ingests as, the messages that arrived since the last tick,
// as the host would deliver them.
func deliverFleet(b *testing.B, p *Pipeline, as []fleetArrival) {
	ctx := context.Background()
	parts := map[string][][]byte{}
	var order []string
	for _, a := range as {
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
