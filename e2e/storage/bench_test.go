package storage_test

import (
	"encoding/json"
	"fmt"
	"maps"
	"os"
	"path/filepath"
	"slices"
	"sort"
	"testing"
	"time"

	"github.com/rs/zerolog"

	"github.com/disconnect-doctor/disconnect-doctor/config"
	"github.com/disconnect-doctor/disconnect-doctor/ingest"
	"github.com/disconnect-doctor/disconnect-doctor/internal/azurite"
	"github.com/disconnect-doctor/disconnect-doctor/internal/faultproxy"
	"github.com/disconnect-doctor/disconnect-doctor/internal/funchost"
	"github.com/disconnect-doctor/disconnect-doctor/pipeline"
	"github.com/disconnect-doctor/disconnect-doctor/sim"
	"github.com/disconnect-doctor/disconnect-doctor/store"
)

// benchMessage is one Event Hubs body (or Event Grid event) of a
// benchmark scenario with the writer it is ingested under.
type benchMessage struct {
	writer string
	body   []byte
	at     time.Time
	grid   bool
	// batch, when set, is one Event Hubs invocation the trigger formed
	// (eventHubFleet): its bodies, parsed by ConnectionStateRoute's parser
	// when stateHub is set, else as resource logs.
	batch    [][]byte
	stateHub bool
}

// scenario is a benchmark input: messages in arrival order, and the first
// and last simulated minute to tick.
type scenario struct {
	msgs       []benchMessage
	start, end time.Time
	// note is logged with the scenario's figures.
	note string
}

const benchHub = "insights-logs-connections"

// steadyConfig is the simulator's default fleet of the given size and
// length with no hub incident and no site outage.
func steadyConfig(devices int, dur time.Duration) sim.Config {
	cfg := sim.DefaultConfig(11)
	cfg.Devices, cfg.Duration = devices, dur
	cfg.Incidents, cfg.SiteOutages = 0, 0
	return cfg
}

// steadyFleet is a simulated steady-state fleet: the given number of
// devices over dur, no hub incident, no site outage. withGrid adds the Event
// Grid events, batched as ConnectionEvents ("cardinality": "many") receives
// them: Event Grid batches what is queued when it delivers, modelled as the
// events arriving within the same second (at most 500, the README's
// --max-events-per-batch) making one delivery.
func steadyFleet(devices int, dur time.Duration, withGrid bool) scenario {
	cfg := steadyConfig(devices, dur)
	out := sim.Generate(cfg)
	var s scenario
	for _, m := range out.Diagnostics {
		s.msgs = append(s.msgs, benchMessage{writer: benchHub + "/" + m.Partition, body: m.Body, at: m.Enqueued})
	}
	if withGrid {
		var batch []json.RawMessage
		var at time.Time
		flush := func() {
			if len(batch) > 0 {
				body, _ := json.Marshal(batch)
				s.msgs = append(s.msgs, benchMessage{writer: "eventgrid", body: body, at: at, grid: true})
			}
			batch = nil
		}
		for _, m := range out.EventGrid {
			if sec := m.Enqueued.Truncate(time.Second); !sec.Equal(at.Truncate(time.Second)) || len(batch) >= 500 {
				flush()
			}
			at = m.Enqueued
			for _, ev := range funchost.SplitEventGrid(m.Body) {
				batch = append(batch, json.RawMessage(ev))
			}
		}
		flush()
	}
	sort.SliceStable(s.msgs, func(i, j int) bool { return s.msgs[i].at.Before(s.msgs[j].at) })
	s.start, s.end = cfg.Start, s.msgs[len(s.msgs)-1].at.Add(10*time.Minute)
	return s
}

// eventGridHubPartitions is the partition count of the Event Hub an Event
// Grid subscription delivers to in eventHubFleet (the README's deployment
// step: one partition is plenty up to tens of thousands of devices, and at
// a low rate every partition makes its own partial batches).
const eventGridHubPartitions = 1

// eventHubFleet is steadyFleet with Event Grid on and delivered through an
// Event Hub (an Event Grid subscription with --endpoint-type eventhub, read by
// ConnectionStateRoute), every Event Hubs input batched as the trigger
// batches it under the repository's host.json (funchost.BatchRule.Form:
// maxEventBatchSize, minEventBatchSize, maxWaitTime), since those settings
// apply to every Event Hubs trigger: the Event Grid events — one event a
// message, spread round-robin over eventGridHubPartitions partitions (Event
// Grid sets no partition key) — and the resource-log bodies of each
// partition (which steadyFleet's other scenarios batch per simulated
// minute). Each formed batch is ingested at its dispatch time.
func eventHubFleet(tb testing.TB, devices int, dur time.Duration) scenario {
	rule := hostConfig(tb).BatchRule()
	cfg := steadyConfig(devices, dur)
	out := sim.Generate(cfg)
	var s scenario
	// eager is the trigger without the hold (minEventBatchSize 1), for
	// the note: what the hold saves.
	eager := funchost.BatchRule{Max: rule.Max, Min: 1}
	counts := map[bool][2]int{}
	form := func(writer string, ms []sim.Message, stateHub bool) {
		enq := make([]time.Time, len(ms))
		for i, m := range ms {
			enq[i] = m.Enqueued
		}
		formed := rule.Form(enq)
		c := counts[stateHub]
		counts[stateHub] = [2]int{c[0] + len(formed), c[1] + len(eager.Form(enq))}
		for _, fb := range formed {
			bm := benchMessage{writer: writer, at: fb.At, stateHub: stateHub}
			for _, m := range ms[fb.From:fb.To] {
				bm.batch = append(bm.batch, m.Body)
			}
			s.msgs = append(s.msgs, bm)
		}
	}
	diag := map[string][]sim.Message{}
	for _, m := range out.Diagnostics {
		diag[m.Partition] = append(diag[m.Partition], m)
	}
	for _, p := range slices.Sorted(maps.Keys(diag)) {
		form(benchHub+"/"+p, diag[p], false)
	}
	grid := make([][]sim.Message, eventGridHubPartitions)
	for i, m := range out.EventGrid {
		grid[i%len(grid)] = append(grid[i%len(grid)], m)
	}
	for p, ms := range grid {
		form(fmt.Sprintf("eventgrid/connection-state/%d", p), ms, true)
	}
	s.note = fmt.Sprintf("trigger invocations under %+v: resource logs %d (%d with minEventBatchSize 1), Event Grid %d (%d)",
		rule, counts[false][0], counts[false][1], counts[true][0], counts[true][1])
	sort.SliceStable(s.msgs, func(i, j int) bool { return s.msgs[i].at.Before(s.msgs[j].at) })
	s.start, s.end = cfg.Start, s.msgs[len(s.msgs)-1].at.Add(10*time.Minute)
	return s
}

// hostConfig reads the repository's host.json.
func hostConfig(tb testing.TB) funchost.HostConfig {
	tb.Helper()
	root, err := azurite.RepoRoot()
	if err != nil {
		tb.Fatal(err)
	}
	raw, err := os.ReadFile(filepath.Join(root, "host.json"))
	if err != nil {
		tb.Fatal(err)
	}
	var c funchost.HostConfig
	if err := json.Unmarshal(raw, &c); err != nil {
		tb.Fatal(err)
	}
	return c
}

// eventGridHubProps are the application properties Event Grid sets on each
// message it writes to an Event Hub.
var eventGridHubProps = map[string]any{"aeg-subscription-name": "DCDOCTOR-CONNECTIONS", "aeg-delivery-count": "0",
	"aeg-event-type": "Notification", "aeg-metadata-version": "1", "aeg-data-version": "1"}

// ingestFormed parses one formed Event Hubs batch as its function would.
func ingestFormed(m benchMessage, res *ingest.Result) {
	for _, body := range m.batch {
		if m.stateHub {
			ingest.StateMessage(body, eventGridHubProps, m.at, res)
		} else {
			ingest.ResourceLogs(body, res)
		}
	}
}

// massDisconnect is massDisconnectN(10 000).
func massDisconnect() scenario { return massDisconnectN(10000) }

// massDisconnectN is n devices of a hub dropping within two minutes
// (massDrop without controls or Event Grid).
func massDisconnectN(devices int) scenario {
	s, _ := massDrop(dropConfig{devices: devices})
	return s
}

// BenchmarkRequestsPerRecord counts every HTTP request the Table store
// makes (through a counting faultproxy in front of Azurite) while a
// pipeline ingests a scenario minute by minute — each partition's arrived
// bodies in batches of 100, one invocation per Event Grid delivery — and
// ticks Evaluate every simulated minute, as production would (wall-clock
// watermark on a simulated clock, default read safety). It reports
// requests per ingested record (the number that costs money on Azure),
// split into ingest and evaluate, and records/s (mostly Azurite's speed).
func BenchmarkRequestsPerRecord(b *testing.B) {
	scenarios := []struct {
		name string
		s    scenario
	}{
		// Evaluate's cost per tick is mostly fixed, so requests per record
		// fall as the fleet grows: two sizes show the curve.
		{"steady-500dev-2h", steadyFleet(500, 2*time.Hour, false)},
		{"steady-2000dev-2h", steadyFleet(2000, 2*time.Hour, false)},
		// Issue 13's sizes, with Event Grid on (targets 0.5, 0.1, 0.05).
		{"steady-300dev-2h+eventgrid", steadyFleet(300, 2*time.Hour, true)},
		{"steady-2000dev-2h+eventgrid", steadyFleet(2000, 2*time.Hour, true)},
		{"steady-10000dev-1h+eventgrid", steadyFleet(10000, time.Hour, true)},
		// The same with Event Grid delivered through an Event Hub, and
		// every Event Hubs input batched by host.json's rule (eventHubFleet).
		{"steady-300dev-2h+eventgrid-eventhub", eventHubFleet(b, 300, 2*time.Hour)},
		{"steady-2000dev-2h+eventgrid-eventhub", eventHubFleet(b, 2000, 2*time.Hour)},
		{"steady-10000dev-1h+eventgrid-eventhub", eventHubFleet(b, 10000, time.Hour)},
		{"mass-disconnect-10k", massDisconnect()},
		// issue 9: a 20 000-device hub dropping within two minutes
		{"mass-disconnect-20k", massDisconnectN(20000)},
	}
	for _, sc := range scenarios {
		b.Run(sc.name, func(b *testing.B) {
			srv := azurite.Start(b, azurite.Options{})
			px := faultproxy.Start(b, "http://"+srv.Addr(), 1)
			cfg, err := config.Load(func(string) string { return "" })
			if err != nil {
				b.Fatal(err)
			}
			var recs, ingestReq, evalReq, ticks, maxEvalReq int64
			var elapsed, slowest time.Duration
			var by *attributing
			for b.Loop() {
				st, err := store.OpenTable(b.Context(), store.TableOptions{ConnectionString: azurite.ConnStringFor(px.URL()), Prefix: srv.Prefix()})
				if err != nil {
					b.Fatal(err)
				}
				now := sc.s.start
				by = newAttributing(st, px)
				p, err := pipeline.New(pipeline.Options{Config: cfg, Store: by, Now: func() time.Time { return now }, Log: zerolog.Nop(), Instance: "bench"})
				if err != nil {
					b.Fatal(err)
				}
				began := time.Now()
				next := 0
				for ; !now.After(sc.s.end); now = now.Add(time.Minute) {
					before, _ := px.Counts()
					batches := map[string][][]byte{}
					var order []string
					for ; next < len(sc.s.msgs) && !sc.s.msgs[next].at.After(now); next++ {
						m := sc.s.msgs[next]
						if m.batch != nil {
							var res ingest.Result
							ingestFormed(m, &res)
							if err := p.Ingest(b.Context(), m.writer, &res); err != nil {
								b.Fatal(err)
							}
							recs += int64(res.Read)
							continue
						}
						if m.grid {
							var res ingest.Result
							ingest.EventGridEvents(m.body, &res)
							if err := p.Ingest(b.Context(), m.writer, &res); err != nil {
								b.Fatal(err)
							}
							recs += int64(res.Read)
							continue
						}
						if batches[m.writer] == nil {
							order = append(order, m.writer)
						}
						batches[m.writer] = append(batches[m.writer], m.body)
					}
					for _, w := range order {
						bodies := batches[w]
						for len(bodies) > 0 {
							n := min(len(bodies), 100)
							var res ingest.Result
							for _, body := range bodies[:n] {
								ingest.ResourceLogs(body, &res)
							}
							if err := p.Ingest(b.Context(), w, &res); err != nil {
								b.Fatal(err)
							}
							recs += int64(res.Read)
							bodies = bodies[n:]
						}
					}
					mid, _ := px.Counts()
					tickBegan := time.Now()
					if _, err := p.Tick(b.Context()); err != nil {
						b.Fatal(err)
					}
					slowest = max(slowest, time.Since(tickBegan))
					after, _ := px.Counts()
					ingestReq += mid - before
					evalReq += after - mid
					maxEvalReq = max(maxEvalReq, after-mid)
					ticks++
				}
				elapsed += time.Since(began)
				_ = st.Close()
			}
			total, methods := px.Counts()
			b.ReportMetric(float64(ingestReq+evalReq)/float64(recs), "req/record")
			b.ReportMetric(float64(ingestReq)/float64(recs), "ingest-req/record")
			b.ReportMetric(float64(evalReq)/float64(ticks), "eval-req/tick")
			b.ReportMetric(float64(maxEvalReq), "max-eval-req/tick")
			b.ReportMetric(slowest.Seconds(), "slowest-tick-s")
			b.ReportMetric(float64(recs)/elapsed.Seconds(), "records/s")
			b.Logf("%d records, %d ticks: %d requests (%d ingest, %d evaluate; proxy total %d %v), statuses %v, %s",
				recs, ticks, ingestReq+evalReq, ingestReq, evalReq, total, methods, px.Statuses(), elapsed.Round(time.Millisecond))
			if sc.s.note != "" {
				b.Log(sc.s.note)
			}
			b.Logf("requests by what made them (last run):%s", by.table())
		})
	}
}
