package storage_test

import (
	"encoding/json"
	"fmt"
	"math/rand/v2"
	"sort"
	"strconv"
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
}

// scenario is a benchmark input: messages in arrival order, and the first
// and last simulated minute to tick.
type scenario struct {
	msgs       []benchMessage
	start, end time.Time
}

const benchHub = "insights-logs-connections"

// steadyFleet is a simulated steady-state fleet: the given number of
// devices over dur, no hub incident, no site outage. withGrid adds the Event
// Grid events, batched as ConnectionEvents ("cardinality": "many") receives
// them: Event Grid batches what is queued when it delivers, modelled as the
// events arriving within the same second (at most 500, the README's
// --max-events-per-batch) making one delivery.
func steadyFleet(devices int, dur time.Duration, withGrid bool) scenario {
	cfg := sim.DefaultConfig(11)
	cfg.Devices = devices
	cfg.Duration = dur
	cfg.Incidents = 0
	cfg.SiteOutages = 0
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

// massDisconnect is massDisconnectN(10 000).
func massDisconnect() scenario { return massDisconnectN(10000) }

// massDisconnectN is n devices, connected for up to 30 minutes, all
// closed with 404104 within 2 minutes, with 500001/500008 hub errors on
// connects and twin updates during the burst, and reconnects 30 s to 5 min
// later — records in the documented resource-log format (sim's encoding:
// reference/iothub-telemetry.md §1), 20 per body over 4 partitions,
// arriving 1–4 minutes after their event time.
func massDisconnectN(devices int) scenario {
	const perBody, partitions = 20, 4
	rng := rand.New(rand.NewPCG(3, 9))
	t0 := time.Date(2024, 5, 14, 9, 0, 0, 0, time.UTC)
	resID := "/SUBSCRIPTIONS/9F3C2B1A-4D5E-4F60-8A7B-1C2D3E4F5A6B/RESOURCEGROUPS/RG-IOT-PROD/PROVIDERS/MICROSOFT.DEVICES/IOTHUBS/CONTOSO-PROD-HUB"
	type rec struct {
		at   time.Time
		part int
		json []byte
	}
	var recs []rec
	conn := func(dev string, at time.Time, op string, code int, level string) {
		props := map[string]any{"deviceId": dev, "protocol": "Mqtt", "authType": nil, "maskedIpAddress": "40.242.33.XXX",
			"statusCode": nil, "errorMessage": ""}
		r := map[string]any{"time": at.Format("2006-01-02T15:04:05Z"), "resourceId": resID, "operationName": op,
			"category": "Connections", "level": level, "location": "westeurope"}
		if code != 0 {
			r["resultType"] = strconv.Itoa(code)
			r["resultDescription"] = map[int]string{404104: "DeviceConnectionClosedRemotely", 500001: "ServerError"}[code]
			props["statusCode"] = strconv.Itoa(code / 1000)
			if code == 404104 {
				props["errorMessage"] = "Device disconnected, see cause and resolution at https://aka.ms/iothub404104"
			}
		} else {
			props["sdkVersion"] = "azure-iot-device/1.42.0 (.NET 8.0; Linux; x64)"
		}
		p, _ := json.Marshal(props)
		r["properties"] = string(p)
		b, _ := json.Marshal(r)
		recs = append(recs, rec{at, rng.IntN(partitions), b})
	}
	twinErr := func(dev string, at time.Time) {
		p, _ := json.Marshal(map[string]any{"deviceId": dev, "protocol": "Mqtt", "authenticationType": `{"scope":"device","type":"sas","issuer":"iothub","acceptingIpFilterRule":null}`,
			"sdkVersion": "azure-iot-device/1.42.0 (.NET 8.0; Linux; x64)", "messageSize": "377"})
		b, _ := json.Marshal(map[string]any{"time": at.Format("2006-01-02T15:04:05Z"), "resourceId": resID, "operationName": "update",
			"category": "D2CTwinOperations", "level": "Error", "resultType": "500008", "resultDescription": "GenericTimeout",
			"durationMs": "1848", "properties": string(p), "location": "westeurope"})
		recs = append(recs, rec{at, rng.IntN(partitions), b})
	}
	for i := range devices {
		dev := fmt.Sprintf("sensor-%05d", i)
		connected := t0.Add(-time.Duration(rng.Int64N(int64(30 * time.Minute))))
		conn(dev, connected, "deviceConnect", 0, "Information")
		cut := t0.Add(time.Duration(rng.Int64N(int64(2 * time.Minute))))
		conn(dev, cut, "deviceDisconnect", 404104, "Error")
		back := cut.Add(30*time.Second + time.Duration(rng.Int64N(int64(270*time.Second))))
		if rng.IntN(10) < 3 { // a failed connect first: the hub is still struggling
			conn(dev, cut.Add(10*time.Second), "deviceConnect", 500001, "Error")
		}
		if rng.IntN(10) < 2 {
			twinErr(dev, cut.Add(-5*time.Second))
		}
		conn(dev, back, "deviceConnect", 0, "Information")
	}
	arrive := func(r rec) time.Time { return r.at.Add(time.Minute + time.Duration(r.part)*time.Second*40) }
	sort.SliceStable(recs, func(i, j int) bool { return arrive(recs[i]).Before(arrive(recs[j])) })
	var s scenario
	open := make([][]rec, partitions)
	flush := func(p int) {
		if len(open[p]) == 0 {
			return
		}
		body := []byte(`{"records":[`)
		for i, r := range open[p] {
			if i > 0 {
				body = append(body, ',')
			}
			body = append(body, r.json...)
		}
		body = append(body, "]}"...)
		s.msgs = append(s.msgs, benchMessage{writer: benchHub + "/" + strconv.Itoa(p), body: body, at: arrive(open[p][len(open[p])-1])})
		open[p] = nil
	}
	for _, r := range recs {
		open[r.part] = append(open[r.part], r)
		if len(open[r.part]) == perBody {
			flush(r.part)
		}
	}
	for p := range open {
		flush(p)
	}
	sort.SliceStable(s.msgs, func(i, j int) bool { return s.msgs[i].at.Before(s.msgs[j].at) })
	s.start = t0.Add(-30 * time.Minute).Truncate(time.Minute)
	s.end = s.msgs[len(s.msgs)-1].at.Add(20 * time.Minute)
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
			b.Logf("requests by what made them (last run):%s", by.table())
		})
	}
}
