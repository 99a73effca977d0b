// Package storage_test puts Azure Table storage (Azurite) under the real
// handler: several handler processes sharing one store, a storage outage in
// the middle of a stream, and the number of Table requests each ingested
// record costs (issue 4's acceptance). Nothing here is linked into a binary.
//
// The handler binary reads the real wall clock, so the runs use
// WATERMARK=eventtime: verdicts follow the simulated event time, and the
// simulated fleet is delivered minute by minute, each minute's Event Hubs
// batches, Event Grid deliveries and metric alerts first, then the Evaluate
// timer.
package storage_test

import (
	"context"
	"encoding/json"
	"fmt"
	"net/http"
	"net/url"
	"slices"
	"sort"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/disconnect-doctor/disconnect-doctor/classify"
	"github.com/disconnect-doctor/disconnect-doctor/ingest"
	"github.com/disconnect-doctor/disconnect-doctor/internal/funchost"
	"github.com/disconnect-doctor/disconnect-doctor/internal/funchost/emulator"
	"github.com/disconnect-doctor/disconnect-doctor/sim"
	"github.com/disconnect-doctor/disconnect-doctor/store"
)

// Function names of the app (functions/<Name>/function.json).
const (
	fnDiagnostics = "DiagnosticLogs"
	fnEventGrid   = "ConnectionEvents"
	fnMetric      = "MetricAlert"
	fnEvaluate    = "Evaluate"
	fnAPI         = "Api"
)

// functionKey is the key the tests pass on HTTP functions (the emulator
// does not check it; a real host would).
const functionKey = "storage-e2e-function-key"

// delivery is one invocation's worth of input: an Event Hubs batch of one
// partition (bodies with their enqueued times), one Event Grid event or one
// metric alert. It is kept whole so that a failed delivery can be sent
// again, as the host (or Event Grid, or Azure Monitor) would.
type delivery struct {
	fn        string
	partition string
	bodies    [][]byte
	times     []time.Time
	// records is what the parsers read from the bodies (ingest.Result.Read):
	// what the health counters must add up to.
	records int
}

// minute is what arrives in one simulated minute, in arrival order.
type minute struct {
	at         time.Time
	deliveries []delivery
}

// fleetConfig is the simulated fleet of the handler tests: 100 devices over
// 2 hours with one hub incident. It is kept this small for the package's
// wall time: under the emulator every Evaluate re-reads the events of the
// last two real minutes (pipeline ReadSafety), i.e. the whole run so far.
func fleetConfig() sim.Config {
	cfg := sim.DefaultConfig(4)
	cfg.Devices = 100
	cfg.Duration = 2 * time.Hour
	return cfg
}

// schedule cuts a fleet's inputs into simulated minutes as the host would
// deliver them: per minute, each partition's newly arrived bodies in
// batches of at most batchSize (with their enqueued times), one invocation
// per Event Grid event and per metric alert.
func schedule(t testing.TB, fleet *sim.Output, start time.Time, batchSize int) []minute {
	t.Helper()
	type arrival struct {
		m    sim.Message
		kind string
	}
	var as []arrival
	for _, m := range fleet.Diagnostics {
		as = append(as, arrival{m, fnDiagnostics})
	}
	for _, m := range fleet.EventGrid {
		as = append(as, arrival{m, fnEventGrid})
	}
	for _, m := range fleet.MetricAlerts {
		as = append(as, arrival{m, fnMetric})
	}
	sort.SliceStable(as, func(i, j int) bool { return as[i].m.Enqueued.Before(as[j].m.Enqueued) })
	var out []minute
	next := 0
	for now := start; next < len(as); now = now.Add(time.Minute) {
		mn := minute{at: now}
		parts := map[string]int{} // partition → index of its open batch in mn.deliveries
		for ; next < len(as) && !as[next].m.Enqueued.After(now); next++ {
			a := as[next]
			switch a.kind {
			case fnDiagnostics:
				i, ok := parts[a.m.Partition]
				if !ok || len(mn.deliveries[i].bodies) >= batchSize {
					mn.deliveries = append(mn.deliveries, delivery{fn: fnDiagnostics, partition: a.m.Partition})
					i = len(mn.deliveries) - 1
					parts[a.m.Partition] = i
				}
				d := &mn.deliveries[i]
				d.bodies = append(d.bodies, a.m.Body)
				d.times = append(d.times, a.m.Enqueued)
				var res ingest.Result
				ingest.ResourceLogs(a.m.Body, &res)
				d.records += res.Read
			case fnEventGrid:
				var res ingest.Result
				ingest.EventGridEvents(a.m.Body, &res)
				mn.deliveries = append(mn.deliveries, delivery{fn: fnEventGrid, bodies: [][]byte{a.m.Body},
					times: []time.Time{a.m.Enqueued}, records: res.Read})
			case fnMetric:
				var res ingest.Result
				ingest.MetricAlert(a.m.Body, &res)
				mn.deliveries = append(mn.deliveries, delivery{fn: fnMetric, bodies: [][]byte{a.m.Body},
					times: []time.Time{a.m.Enqueued}, records: res.Read})
			}
		}
		out = append(out, mn)
	}
	return out
}

// records sums what the parsers read from a run's deliveries.
func records(ms []minute) int64 {
	var n int64
	for _, m := range ms {
		for _, d := range m.deliveries {
			n += int64(d.records)
		}
	}
	return n
}

// sent is the outcome of one delivery: every attempt's HTTP status (0 when
// the handler gave none) and whether the host counts the last one a success.
type sent struct {
	d        delivery
	ok       bool
	statuses []int
	err      error
}

// send delivers d to h under its function's retry policy (Event Hubs: the
// emulator's DeliverPartition, which retries and checkpoints; Event Grid and
// metric alerts: their senders retry on their own, so one attempt here).
func send(ctx context.Context, h *emulator.Host, d delivery) sent {
	s := sent{d: d}
	var results []*funchost.Result
	switch d.fn {
	case fnDiagnostics:
		out := h.DeliverPartition(ctx, fnDiagnostics, d.partition, []emulator.Batch{{
			Bodies: d.bodies, Opts: []funchost.EventOption{funchost.Enqueued(d.times...)}}})
		results = out[0].Results
	case fnEventGrid:
		// One POST: with cardinality many the host makes one invocation.
		for _, inv := range h.EventGridDelivery(fnEventGrid, d.bodies[0], funchost.EventGridText) {
			results = append(results, h.Invoke(ctx, inv, 0, nil))
		}
	case fnMetric:
		inv := h.HTTP(fnMetric, "POST", "api/hooks/metric-alert", url.Values{"code": {functionKey}},
			http.Header{"Content-Type": {"application/json"}}, d.bodies[0])
		results = []*funchost.Result{h.Invoke(ctx, inv, 0, nil)}
	default:
		s.err = fmt.Errorf("unknown function %s", d.fn)
		return s
	}
	for _, r := range results {
		s.statuses = append(s.statuses, r.Status)
	}
	last := results[len(results)-1]
	s.ok, s.err = succeeded(h, last)
	return s
}

// succeeded judges an attempt as the sender sees it: the host's verdict
// and, for an HTTP function, the status of its http output.
func succeeded(h *emulator.Host, r *funchost.Result) (bool, error) {
	if r.Failed() {
		return false, fmt.Errorf("%s: %w (body %.200s)", r.Function, r.Err, r.Body)
	}
	for _, b := range h.Function(r.Function).Bindings {
		if strings.EqualFold(b.Type, "http") && strings.EqualFold(b.Direction, "out") {
			res, err := r.HTTPResponse(b.Name)
			if err != nil {
				return false, fmt.Errorf("%s: %w", r.Function, err)
			}
			if res.StatusCode/100 != 2 {
				return false, fmt.Errorf("%s answered %d: %.200s", r.Function, res.StatusCode, res.Body)
			}
		}
	}
	return true, nil
}

// router picks the handler process a delivery goes to: Event Hubs partition
// p to process p mod n (a partition is owned by one instance at a time),
// pushed deliveries (Event Grid, metric alerts) round-robin, as a load
// balancer spreads them.
type router struct {
	n    int
	push int
}

func (r *router) route(d delivery) int {
	if d.fn == fnDiagnostics {
		p, _ := strconv.Atoi(d.partition) // sim's partitions are "0".."3"
		return p % r.n
	}
	r.push++
	return (r.push - 1) % r.n
}

// deliverMinute sends one minute's deliveries: each process gets its share,
// and the processes run concurrently (one goroutine each, delivering its
// share in arrival order). It returns the outcomes in the order sent.
func deliverMinute(ctx context.Context, hosts []*emulator.Host, rt *router, m minute) []sent {
	shares := make([][]delivery, len(hosts))
	for _, d := range m.deliveries {
		i := rt.route(d)
		shares[i] = append(shares[i], d)
	}
	outs := make([][]sent, len(hosts))
	var wg sync.WaitGroup
	for i, share := range shares {
		if len(share) == 0 {
			continue
		}
		wg.Go(func() {
			for _, d := range share {
				outs[i] = append(outs[i], send(ctx, hosts[i], d))
			}
		})
	}
	wg.Wait()
	return slices.Concat(outs...)
}

// evaluate invokes the Evaluate timer on every process, starting with
// process first and going round; it returns how many ran (the others
// answered that the lease is held elsewhere) and the first failure.
func evaluate(ctx context.Context, hosts []*emulator.Host, first int) (ran int, err error) {
	for i := range hosts {
		h := hosts[(first+i)%len(hosts)]
		r := h.Invoke(ctx, h.Timer(fnEvaluate), 0, nil)
		if ok, e := succeeded(h, r); !ok {
			return ran, e
		}
		if !slices.ContainsFunc(r.Logs, func(l string) bool { return strings.Contains(l, "evaluate skipped") }) {
			ran++
		}
	}
	return ran, nil
}

// setClock sets the simulated "now" the emulated hosts stamp on the
// invocations they build (enqueued times are given explicitly). Call it
// only while no delivery is in flight.
func setClock(hosts []*emulator.Host, now time.Time) {
	for _, h := range hosts {
		h.Clock = func() time.Time { return now }
	}
}

// startHosts starts n emulated Functions hosts, each running its own
// handler process, all on the same storage and table prefix.
func startHosts(t *testing.T, n int, conn, prefix string, maxAttempts int) []*emulator.Host {
	t.Helper()
	hosts := make([]*emulator.Host, n)
	for i := range hosts {
		hosts[i] = emulator.Start(t, emulator.Options{
			Env: funchost.WithLocalSettings(map[string]string{
				"STATE_STORAGE":      conn,
				"STATE_TABLE_PREFIX": prefix,
				"WATERMARK":          "eventtime",
			}),
			FunctionTimeout: 2 * time.Minute,
			MaxAttempts:     maxAttempts,
		})
	}
	return hosts
}

// runFleet drives ms[from:to] through hosts (deliveries routed by rt,
// Evaluate on the processes in turn) and returns the first failed
// invocation or minute in which not exactly one Evaluate ran. It may run in
// a goroutine of its own: it reports, it does not fail the test.
func runFleet(ctx context.Context, hosts []*emulator.Host, rt *router, ms []minute, from, to int) error {
	for k := from; k < to; k++ {
		m := ms[k]
		setClock(hosts, m.at)
		for _, s := range deliverMinute(ctx, hosts, rt, m) {
			if !s.ok {
				return fmt.Errorf("minute %s: %s delivery failed after %d attempt(s) %v: %w",
					m.at.Format(time.RFC3339), s.d.fn, len(s.statuses), s.statuses, s.err)
			}
		}
		ran, err := evaluate(ctx, hosts, k%len(hosts))
		if err != nil {
			return fmt.Errorf("minute %s: %w", m.at.Format(time.RFC3339), err)
		}
		if ran != 1 {
			return fmt.Errorf("minute %s: %d Evaluate runs, want exactly 1 (the lease keeps it single)", m.at.Format(time.RFC3339), ran)
		}
	}
	return nil
}

// concurrently runs fns at once and fails t with their errors.
func concurrently(t *testing.T, fns map[string]func() error) {
	t.Helper()
	var mu sync.Mutex
	var wg sync.WaitGroup
	errs := map[string]error{}
	for name, fn := range fns {
		wg.Go(func() {
			began := time.Now()
			err := fn()
			mu.Lock()
			defer mu.Unlock()
			errs[name] = err
			t.Logf("%s: %s", name, time.Since(began).Round(time.Millisecond))
		})
	}
	wg.Wait()
	for name, err := range errs {
		if err != nil {
			t.Errorf("%s: %v", name, err)
		}
	}
	if t.Failed() {
		t.FailNow()
	}
}

// outcome is what a run left in the store, in comparable form.
type outcome struct {
	verdicts  []string // key time cause final, sorted
	incidents []string // id hub open start end devices hubErrors, sorted
	revised   int      // diagnoses with Revisions > 0 (informational)
	byCause   map[classify.Cause]int
	progress  []store.Progress
}

// readOutcome reads diagnoses, incidents and ingest progress of a prefix
// directly from Table storage.
func readOutcome(ctx context.Context, t *testing.T, conn, prefix string) outcome {
	t.Helper()
	st, err := store.OpenTable(ctx, store.TableOptions{ConnectionString: conn, Prefix: prefix})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = st.Close() })
	o := outcome{byCause: map[classify.Cause]int{}}
	cursor := ""
	for page := 0; ; page++ {
		if page > 10000 {
			t.Fatal("ListDiagnoses never ends")
		}
		ds, next, err := st.ListDiagnoses(ctx, store.DiagnosisQuery{Limit: 1000, Cursor: cursor})
		if err != nil {
			t.Fatalf("list diagnoses: %v", err)
		}
		for _, d := range ds {
			o.verdicts = append(o.verdicts, fmt.Sprintf("%s %s %s final=%v", d.Key, d.Time.UTC().Format(time.RFC3339Nano), d.Cause, d.Final))
			o.byCause[d.Cause]++
			if d.Revisions > 0 {
				o.revised++
			}
		}
		if next == "" {
			break
		}
		cursor = next
	}
	sort.Strings(o.verdicts)
	is, err := st.ListIncidents(ctx, "", nil)
	if err != nil {
		t.Fatalf("list incidents: %v", err)
	}
	for _, in := range is {
		o.incidents = append(o.incidents, fmt.Sprintf("%s %s open=%v %s..%s devices=%d hubErrors=%d", in.ID, in.Hub, in.Open,
			in.Start.UTC().Format(time.RFC3339), in.End.UTC().Format(time.RFC3339), in.Devices, in.HubErrors))
	}
	sort.Strings(o.incidents)
	if o.progress, err = st.ListProgress(ctx); err != nil {
		t.Fatalf("list progress: %v", err)
	}
	sort.Slice(o.progress, func(i, j int) bool { return o.progress[i].Writer < o.progress[j].Writer })
	return o
}

// compareOutcomes fails t when the verdicts or incidents of got differ
// from want, naming the first differences.
func compareOutcomes(t *testing.T, what string, got, want outcome) {
	t.Helper()
	if len(want.verdicts) == 0 {
		t.Fatalf("the reference run diagnosed nothing")
	}
	if len(want.incidents) == 0 {
		t.Errorf("the reference run opened no incident (the fleet has one)")
	}
	diff := func(kind string, g, w []string) {
		gs, ws := map[string]bool{}, map[string]bool{}
		for _, s := range g {
			gs[s] = true
		}
		for _, s := range w {
			ws[s] = true
		}
		var missing, extra []string
		for _, s := range w {
			if !gs[s] {
				missing = append(missing, s)
			}
		}
		for _, s := range g {
			if !ws[s] {
				extra = append(extra, s)
			}
		}
		if len(missing)+len(extra) > 0 || len(g) != len(w) {
			t.Errorf("%s: %d %s, reference %d; %d only in the reference, %d only here; first:\n  reference only: %s\n  %s only: %s",
				what, len(g), kind, len(w), len(missing), len(extra), first(missing, 5), what, first(extra, 5))
		}
	}
	diff("verdicts", got.verdicts, want.verdicts)
	diff("incidents", got.incidents, want.incidents)
}

func first(s []string, n int) string {
	if len(s) > n {
		s = s[:n]
	}
	return strings.Join(s, "\n    ")
}

// health is the part of the API's health answer the tests check.
type health struct {
	Store     string `json:"store"`
	Watermark string `json:"watermark"`
	Processed int64  `json:"recordsProcessed"`
	Kept      int64  `json:"recordsKept"`
	Writers   int    `json:"writers"`
}

// getHealth calls the Api function's health endpoint on h.
func getHealth(ctx context.Context, t *testing.T, h *emulator.Host) health {
	t.Helper()
	r := h.Invoke(ctx, h.HTTP(fnAPI, "GET", "api/v1/health", url.Values{"code": {functionKey}}, nil, nil), 0, nil)
	if ok, err := succeeded(h, r); !ok {
		t.Fatalf("health: %v", err)
	}
	res, err := r.HTTPResponse("res")
	if err != nil {
		t.Fatalf("health: %v", err)
	}
	var hl health
	if err := json.Unmarshal([]byte(res.Body), &hl); err != nil {
		t.Fatalf("health: %v: %s", err, res.Body)
	}
	return hl
}

// expectedByWriter sums the records delivered per ingest writer, named as
// the handler names them ("<event hub>/<partition>", "eventgrid", "metric").
func expectedByWriter(h *emulator.Host, ms []minute) map[string]int64 {
	hub := h.Settings["DIAGNOSTICS_EVENTHUB_NAME"]
	out := map[string]int64{}
	for _, m := range ms {
		for _, d := range m.deliveries {
			switch d.fn {
			case fnDiagnostics:
				out[hub+"/"+d.partition] += int64(d.records)
			case fnEventGrid:
				out["eventgrid"] += int64(d.records)
			case fnMetric:
				out["metric"] += int64(d.records)
			}
		}
	}
	return out
}

// checkCounters fails t when the stored progress rows do not add up, per
// writer and in total (through the API's health), to what was delivered.
func checkCounters(ctx context.Context, t *testing.T, h *emulator.Host, ms []minute, o outcome) {
	t.Helper()
	want := expectedByWriter(h, ms)
	// Each process keeps its own row per writer ("<writer>@<instance>"):
	// a writer's count is the sum of its rows.
	got := map[string]int64{}
	for _, p := range o.progress {
		w, _, _ := strings.Cut(p.Writer, "@")
		got[w] += p.Read
	}
	for w, n := range want {
		if got[w] != n {
			t.Errorf("writer %s: %d records processed, %d delivered (lost counter updates: %d)", w, got[w], n, n-got[w])
		}
	}
	for w, n := range got {
		if _, ok := want[w]; !ok {
			t.Errorf("writer %s: %d records processed, none delivered to it", w, n)
		}
	}
	hl := getHealth(ctx, t, h)
	if total := records(ms); hl.Processed != total {
		t.Errorf("health: recordsProcessed = %d, %d records delivered", hl.Processed, total)
	}
	if hl.Store != "ok" {
		t.Errorf("health: store = %q", hl.Store)
	}
}
