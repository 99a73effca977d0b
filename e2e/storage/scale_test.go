package storage_test

import (
	"cmp"
	"context"
	"encoding/json"
	"flag"
	"fmt"
	"maps"
	"net/http"
	"net/http/httptest"
	"os"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/disconnect-doctor/disconnect-doctor/internal/azurite"
	"github.com/disconnect-doctor/disconnect-doctor/internal/faultproxy"
	"github.com/disconnect-doctor/disconnect-doctor/internal/funchost"
	"github.com/disconnect-doctor/disconnect-doctor/internal/funchost/emulator"
	"github.com/disconnect-doctor/disconnect-doctor/sim"
)

// rssDevices is the hub size of BenchmarkHandlerPeakRSS's Table-store run
// (Azurite slows down as its tables grow: 20 000 devices take the better
// part of an hour there).
var rssDevices = flag.Int("rss-devices", 2000, "devices of the hub that drops in BenchmarkHandlerPeakRSS/table")

// rssEmbeddedDevices is the hub size of BenchmarkHandlerPeakRSS's
// embedded-store run: issue 9's 100 000; smaller ones give the curve.
var rssEmbeddedDevices = flag.Int("rss-embedded-devices", 100000, "devices of the hub that drops in BenchmarkHandlerPeakRSS/memory")

// BenchmarkHandlerPeakRSS reports the handler process's peak RSS (VmHWM)
// while it serves DiagnosticLogs, ConnectionEvents and Evaluate for a hub
// whose every device drops (TestHubDropping20kUnderHandler's scenario),
// and the wall time per ingested record: with the Table store on Azurite
// (-rss-devices, mostly Azurite's time) and with the embedded store at
// 100 000 devices — an upper bound for the Table store's handler, whose
// events, diagnoses and blobs live in Table storage, not in the process.
func BenchmarkHandlerPeakRSS(b *testing.B) {
	for _, c := range []struct {
		store   string
		devices int
	}{{"table", *rssDevices}, {"memory", *rssEmbeddedDevices}} {
		b.Run(fmt.Sprintf("%s/devices=%d", c.store, c.devices), func(b *testing.B) {
			var rss int64
			var perRecord float64
			for b.Loop() {
				r := runDrop(b, c.store, dropConfig{devices: c.devices, grid: true, heartbeatUntil: 40 * time.Minute})
				got, err := r.h.PeakRSS()
				if err != nil {
					b.Fatal(err)
				}
				rss = max(rss, got)
				perRecord = r.took.Seconds() / float64(records(r.ms))
			}
			b.ReportMetric(float64(rss)/(1<<20), "peak-RSS-MiB")
			b.ReportMetric(perRecord*1e6, "wall-µs/record")
		})
	}
}

// dropRun is one run of massDrop's scenario through the real handler.
type dropRun struct {
	srv    *azurite.Server // nil on the embedded store
	prefix string
	h      *emulator.Host
	hook   *notes
	ms     []minute
	truth  []dropTruth
	took   time.Duration
	px     *faultproxy.Proxy // counts the handler's Table requests (nil on the embedded store)
	spent  *reqTimes         // the handler's Table requests' time by kind
	ticks  []tickCost        // one per simulated minute
}

// reqTimes sums the time of Table requests by kind ("query events",
// "get blobdevice", "batch" …): what a slow tick spent its time on.
type reqTimes struct {
	prefix string
	mu     sync.Mutex
	by     map[string]reqTime
}

type reqTime struct {
	n    int
	took time.Duration
}

// observe adds one request (faultproxy.Proxy.Observe).
func (rt *reqTimes) observe(r *http.Request, head []byte, took time.Duration) {
	_, rest, _ := strings.Cut(strings.TrimPrefix(r.URL.Path, "/"), "/")
	table, _, _ := strings.Cut(rest, "(")
	kind := r.Method + " " + strings.TrimPrefix(table, rt.prefix)
	switch {
	case table == "$batch": // the first operation names the table: "PUT http://…/<account>/<table>(PartitionKey=…"
		kind = "batch"
		if _, op, ok := strings.Cut(string(head), "/"+azurite.Account+"/"); ok {
			if i := strings.IndexAny(op, "(? \r\n"); i >= 0 {
				op = op[:i]
			}
			kind = "batch " + strings.TrimPrefix(op, rt.prefix)
		}
	case r.Method == http.MethodGet && r.URL.Query().Has("$filter"):
		kind = "query " + strings.TrimPrefix(table, rt.prefix)
	}
	rt.mu.Lock()
	defer rt.mu.Unlock()
	t := rt.by[kind]
	rt.by[kind] = reqTime{t.n + 1, t.took + took}
}

// take returns the three kinds that took longest since the last take, as
// "kind n×seconds", and starts again.
func (rt *reqTimes) take() string {
	rt.mu.Lock()
	by := rt.by
	rt.by = map[string]reqTime{}
	rt.mu.Unlock()
	kinds := slices.SortedFunc(maps.Keys(by), func(a, b string) int { return cmp.Compare(by[b].took, by[a].took) })
	var out []string
	for _, k := range kinds[:min(3, len(kinds))] {
		out = append(out, fmt.Sprintf("%s %d×%.1fs", k, by[k].n, by[k].took.Seconds()))
	}
	return strings.Join(out, ", ")
}

// tickCost is what one Evaluate invocation of a run cost: the Table
// requests it made (0 on the embedded store), its wall time, and its
// summary line.
type tickCost struct {
	at       time.Time
	requests int64
	took     time.Duration
	summary  string
	spent    string // the request kinds it spent most time on (reqTimes.take)
}

// runDrop runs massDrop(cfg) through the real handler binary under the
// emulated host, on a fresh Azurite (st "table") or the embedded store
// ("memory"), minute by minute (each minute's deliveries, then Evaluate),
// and fails tb at the first invocation that does not answer 2xx. With -v
// it reports each minute's wall time and the handler's peak RSS as it goes.
func runDrop(tb testing.TB, st string, cfg dropConfig) dropRun {
	ctx := context.Background()
	r := dropRun{hook: &notes{}}
	hs := httptest.NewServer(r.hook)
	tb.Cleanup(hs.Close)
	env := map[string]string{
		"STATE_STORAGE":     "memory",
		"WATERMARK":         "eventtime",
		"ALERT_WEBHOOK_URL": hs.URL,
		// Deliveries are synchronous: no append is in flight when
		// Evaluate reads. The default margin (2 minutes of wall clock)
		// would re-read the whole compressed run at every tick.
		"EVALUATE_READ_SAFETY": "1s",
	}
	if st == "table" {
		r.srv = azurite.Start(tb, azurite.Options{})
		r.prefix = r.srv.Prefix()
		r.px = faultproxy.Start(tb, "http://"+r.srv.Addr(), 1)
		r.spent = &reqTimes{prefix: r.prefix, by: map[string]reqTime{}}
		r.px.Observe(r.spent.observe)
		env["STATE_STORAGE"], env["STATE_TABLE_PREFIX"] = azurite.ConnStringFor(r.px.URL()), r.prefix
	}
	r.h = emulator.Start(tb, emulator.Options{Env: funchost.WithLocalSettings(env), MaxAttempts: 1, FunctionTimeout: *dropFunctionTimeout})
	var s scenario
	s, r.truth = massDrop(cfg)
	r.ms = schedule(tb, s.output(), s.start, r.h.Host.Extensions.EventHubs.MaxEventBatchSize)
	for last := r.ms[len(r.ms)-1].at; last.Before(s.end); { // quiet minutes until the incident is over
		last = last.Add(time.Minute)
		r.ms = append(r.ms, minute{at: last})
	}
	began := time.Now()
	for k := range r.ms {
		t0 := time.Now()
		c, err := r.minute(ctx, r.ms[k])
		if err != nil {
			tb.Fatal(err)
		}
		r.ticks = append(r.ticks, c)
		if testing.Verbose() {
			rss, _ := r.h.PeakRSS()
			fmt.Fprintf(os.Stderr, "%s minute %s: %d deliveries, %d records, %s; Evaluate %d requests, %s (%s); handler peak RSS %d MiB\n", time.Now().Format(time.TimeOnly),
				r.ms[k].at.Format(time.TimeOnly), len(r.ms[k].deliveries), records(r.ms[k:k+1]), time.Since(t0).Round(time.Millisecond),
				c.requests, c.took.Round(time.Millisecond), c.spent, rss>>20)
		}
	}
	r.took = time.Since(began)
	tb.Logf("%s store, %d devices, %d records in %d deliveries over %d simulated minutes: %s", st, cfg.devices, records(r.ms), deliveries(r.ms),
		len(r.ms), r.took.Round(time.Millisecond))
	return r
}

// minute delivers m to the run's handler and then invokes Evaluate once,
// as runFleet does for one process, and returns what that tick cost.
func (r *dropRun) minute(ctx context.Context, m minute) (tickCost, error) {
	setClock([]*emulator.Host{r.h}, m.at)
	for _, s := range deliverMinute(ctx, []*emulator.Host{r.h}, &router{n: 1}, m) {
		if !s.ok {
			return tickCost{}, fmt.Errorf("minute %s: %s delivery failed after %d attempt(s) %v: %w",
				m.at.Format(time.RFC3339), s.d.fn, len(s.statuses), s.statuses, s.err)
		}
	}
	c := tickCost{at: m.at, requests: r.requests()}
	if r.spent != nil {
		r.spent.take() // the deliveries' requests
	}
	began := time.Now()
	res := r.h.Invoke(ctx, r.h.Timer(fnEvaluate), 0, nil)
	c.took, c.requests = time.Since(began), r.requests()-c.requests
	if r.spent != nil {
		c.spent = r.spent.take()
	}
	if ok, err := succeeded(r.h, res); !ok {
		return c, fmt.Errorf("minute %s: %w", m.at.Format(time.RFC3339), err)
	}
	if len(res.Logs) > 0 {
		c.summary = res.Logs[len(res.Logs)-1]
	}
	return c, nil
}

// requests is the number of Table requests the handler has made so far.
func (r *dropRun) requests() int64 {
	if r.px == nil {
		return 0
	}
	n, _ := r.px.Counts()
	return n
}

// output is the scenario as the simulator would hand it over: Event Hubs
// bodies with their partition, Event Grid deliveries.
func (s scenario) output() *sim.Output {
	out := &sim.Output{}
	for _, m := range s.msgs {
		if m.grid {
			out.EventGrid = append(out.EventGrid, sim.Message{Body: m.body, Enqueued: m.at})
			continue
		}
		_, part, _ := strings.Cut(m.writer, "/")
		out.Diagnostics = append(out.Diagnostics, sim.Message{Body: m.body, Enqueued: m.at, Partition: part})
	}
	return out
}

// deliveries counts the invocations of a run's inputs.
func deliveries(ms []minute) int {
	n := 0
	for _, m := range ms {
		n += len(m.deliveries)
	}
	return n
}

// notes is a webhook that keeps the status of every hub-incident
// notification.
type notes struct {
	mu  sync.Mutex
	got []string
}

func (n *notes) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	var body struct {
		GroupKey string `json:"groupKey"`
		Status   string `json:"status"`
	}
	if err := json.NewDecoder(r.Body).Decode(&body); err != nil {
		http.Error(w, err.Error(), http.StatusBadRequest)
		return
	}
	if strings.HasPrefix(body.GroupKey, "hub-incident/") {
		n.mu.Lock()
		n.got = append(n.got, body.Status)
		n.mu.Unlock()
	}
	w.WriteHeader(http.StatusOK)
}

func (n *notes) incident() []string {
	n.mu.Lock()
	defer n.mu.Unlock()
	return append([]string(nil), n.got...)
}
