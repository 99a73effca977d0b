package storage_test

import (
	"context"
	"encoding/base64"
	"encoding/json"
	"flag"
	"fmt"
	"net/http"
	"net/http/httptest"
	"os"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/Azure/azure-sdk-for-go/sdk/data/aztables"

	"github.com/disconnect-doctor/disconnect-doctor/classify"
	"github.com/disconnect-doctor/disconnect-doctor/internal/azurite"
	"github.com/disconnect-doctor/disconnect-doctor/internal/funchost"
	"github.com/disconnect-doctor/disconnect-doctor/internal/funchost/emulator"
	"github.com/disconnect-doctor/disconnect-doctor/sim"
)

// Table storage's limits (reference/local-components.md §1.5; Azurite
// enforces none of them), and issue 9's bound on a state blob.
const (
	maxEntityBytes   = 1 << 20 // an entity, counted as the service counts it
	maxPropertyBytes = 64 << 10
	maxCustomProps   = 252
	maxKeyBytes      = 1 << 10
	stateBlobBound   = 64 << 10
)

// TestHubDropping20kUnderHandler is issue 9's acceptance on Azurite: a
// 20 000-device hub dropping within two minutes, through the real handler
// binary under the emulated Functions host. Records go in as the host
// delivers them — Event Hubs batches of each partition to DiagnosticLogs,
// Event Grid deliveries to ConnectionEvents, the Evaluate timer once a
// simulated minute — on a simulated clock with WATERMARK=eventtime: the
// scenario spans 55 minutes of event time, which the wall clock could not
// replay inside a test. Every invocation must answer 2xx (the emulator
// retries nothing: MaxAttempts 1); afterwards the hub has exactly one
// incident, opened and closed; every 404104 is diagnosed as the truth says;
// and every entity the run left in Table storage is within the service's
// limits, every state blob under 64 KiB.
func TestHubDropping20kUnderHandler(t *testing.T) {
	r := runDrop(t, "table", dropConfig{devices: *dropDevices, grid: true, controls: 200, heartbeatUntil: 40 * time.Minute})
	rss, err := r.h.PeakRSS()
	if err != nil {
		t.Fatal(err)
	}
	t.Logf("handler peak RSS %.0f MiB", float64(rss)/(1<<20))
	ctx := context.Background()
	o := readOutcome(ctx, t, r.srv.ConnString(), r.prefix)
	t.Run("one incident, opened and closed", func(t *testing.T) {
		if len(o.incidents) != 1 || !strings.Contains(o.incidents[0], "open=false") {
			t.Fatalf("incidents %v, want one, closed", o.incidents)
		}
		var fired, resolved int
		for _, n := range r.hook.incident() {
			switch n {
			case "firing":
				fired++
			case "resolved":
				resolved++
			}
		}
		if fired == 0 || resolved != 1 {
			t.Errorf("hub-incident notifications: %d firing, %d resolved; want the incident notified and resolved once", fired, resolved)
		}
	})
	t.Run("causes against the truth", func(t *testing.T) {
		checkTruth(t, o, r.truth)
	})
	t.Run("every entity within Table storage's limits, state blobs under 64 KiB", func(t *testing.T) {
		checkEntities(ctx, t, r.srv.ConnString(), r.prefix)
	})
}

// dropDevices is the hub size of TestHubDropping20kUnderHandler and of the
// Table-store run of BenchmarkHandlerPeakRSS (go test ./e2e/storage -run
// HubDropping -args -drop-devices=20000).
var dropDevices = flag.Int("drop-devices", 20000, "devices of the hub that drops in TestHubDropping20kUnderHandler and BenchmarkHandlerPeakRSS/table")

// BenchmarkHandlerPeakRSS reports the handler process's peak RSS (VmHWM)
// while it serves DiagnosticLogs, ConnectionEvents and Evaluate for a hub
// whose every device drops (TestHubDropping20kUnderHandler's scenario),
// and the wall time per ingested record: with the Table store on Azurite
// (-drop-devices, mostly Azurite's time) and with the embedded store at
// 100 000 devices — an upper bound for the Table store's handler, whose
// events, diagnoses and blobs live in Table storage, not in the process.
func BenchmarkHandlerPeakRSS(b *testing.B) {
	for _, c := range []struct {
		store   string
		devices int
	}{{"table", *dropDevices}, {"memory", 100000}} {
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
		env["STATE_STORAGE"], env["STATE_TABLE_PREFIX"] = r.srv.ConnString(), r.prefix
	}
	r.h = emulator.Start(tb, emulator.Options{Env: funchost.WithLocalSettings(env), MaxAttempts: 1})
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
		if err := runFleet(ctx, []*emulator.Host{r.h}, &router{n: 1}, r.ms, k, k+1); err != nil {
			tb.Fatal(err)
		}
		if testing.Verbose() {
			rss, _ := r.h.PeakRSS()
			fmt.Fprintf(os.Stderr, "%s minute %s: %d deliveries, %d records, %s; handler peak RSS %d MiB\n", time.Now().Format(time.TimeOnly),
				r.ms[k].at.Format(time.TimeOnly), len(r.ms[k].deliveries), records(r.ms[k:k+1]), time.Since(t0).Round(time.Millisecond), rss>>20)
		}
	}
	r.took = time.Since(began)
	tb.Logf("%s store, %d devices, %d records in %d deliveries over %d simulated minutes: %s", st, cfg.devices, records(r.ms), deliveries(r.ms),
		len(r.ms), r.took.Round(time.Millisecond))
	return r
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

// checkTruth compares the final verdicts with the truth: every 404104
// diagnosed, and per true cause a recall of at least 0.97, per diagnosed
// cause a precision of at least 0.97 (issue 9's acceptance).
func checkTruth(t *testing.T, o outcome, truth []dropTruth) {
	t.Helper()
	want := map[string]classify.Cause{}
	for _, x := range truth {
		want["contoso-prod-hub/"+x.device+" "+x.at.UTC().Format(time.RFC3339)] = x.cause
	}
	got := map[string]classify.Cause{}
	for _, v := range o.verdicts { // "key time cause final=…"
		f := strings.Fields(v)
		at, err := time.Parse(time.RFC3339Nano, f[1])
		if err != nil {
			t.Fatalf("verdict %q: %v", v, err)
		}
		if f[3] != "final=true" {
			t.Errorf("verdict not final at the end: %s", v)
		}
		got[f[0]+" "+at.Truncate(time.Second).Format(time.RFC3339)] = classify.Cause(f[2])
	}
	type score struct{ truth, diagnosed, right int }
	by := map[classify.Cause]*score{}
	at := func(c classify.Cause) *score {
		if by[c] == nil {
			by[c] = &score{}
		}
		return by[c]
	}
	missing, wrong := 0, 0
	for k, c := range want {
		at(c).truth++
		g, ok := got[k]
		if !ok {
			missing++
			continue
		}
		at(g).diagnosed++
		if g == c {
			at(c).right++
		} else if wrong++; wrong <= 10 {
			t.Logf("%s: %s, truth %s", k, g, c)
		}
	}
	if missing > 0 || len(got) != len(want) {
		t.Errorf("%d 404104s in the truth, %d diagnosed, %d of the truth not diagnosed", len(want), len(got), missing)
	}
	for c, s := range by {
		t.Logf("%s: %d true, %d diagnosed, %d right", c, s.truth, s.diagnosed, s.right)
		if s.truth > 0 && float64(s.right) < 0.97*float64(s.truth) {
			t.Errorf("%s: recall %d/%d under 0.97", c, s.right, s.truth)
		}
		if s.diagnosed > 0 && float64(s.right) < 0.97*float64(s.diagnosed) {
			t.Errorf("%s: precision %d/%d under 0.97", c, s.right, s.diagnosed)
		}
	}
}

// checkEntities reads every entity of every table of prefix straight from
// Table storage and fails t for each one over the service's limits, and
// for each state blob (tables "<prefix>blob<kind>") whose data is over
// stateBlobBound. It logs the largest entity and blob per table.
func checkEntities(ctx context.Context, t *testing.T, conn, prefix string) {
	t.Helper()
	svc, err := aztables.NewServiceClientFromConnectionString(conn, nil)
	if err != nil {
		t.Fatal(err)
	}
	filter := fmt.Sprintf("TableName ge '%s' and TableName lt '%s~'", prefix, prefix)
	tables := svc.NewListTablesPager(&aztables.ListTablesOptions{Filter: &filter})
	var names []string
	for tables.More() {
		page, err := tables.NextPage(ctx)
		if err != nil {
			t.Fatalf("list tables: %v", err)
		}
		for _, tb := range page.Tables {
			names = append(names, *tb.Name)
		}
	}
	if len(names) == 0 {
		t.Fatalf("no table with prefix %s", prefix)
	}
	total := 0
	for _, name := range names {
		isBlob := strings.HasPrefix(name, prefix+"blob")
		var n, largest, largestBlob int
		pager := svc.NewClient(name).NewListEntitiesPager(nil)
		for pager.More() {
			page, err := pager.NextPage(ctx)
			if err != nil {
				t.Fatalf("list %s: %v", name, err)
			}
			for _, raw := range page.Entities {
				sz, data, err := entitySize(raw)
				if err != nil {
					t.Errorf("%s: %v", name, err)
					continue
				}
				n++
				largest, largestBlob = max(largest, sz), max(largestBlob, data)
				if isBlob && data > stateBlobBound {
					t.Errorf("%s: a state blob of %d bytes, over the %d-byte bound: %.120s", name, data, stateBlobBound, raw)
				}
			}
		}
		total += n
		t.Logf("%s: %d entities, largest %d bytes (blob data %d)", strings.TrimPrefix(name, prefix), n, largest, largestBlob)
	}
	t.Logf("%d tables, %d entities", len(names), total)
}

// entitySize is an entity's size as Table storage counts it (4 bytes, the
// keys in UTF-16, and per property 8 bytes, its name in UTF-16 and its
// value: strings in UTF-16 plus 4, binary plus 4, numbers 8, booleans 1),
// and the bytes of its binary properties (a blob's data). It returns an
// error for a key, a property or an entity over the service's limits.
func entitySize(raw []byte) (size, binary int, err error) {
	var m map[string]any
	if err := json.Unmarshal(raw, &m); err != nil {
		return 0, 0, fmt.Errorf("entity %.80s: %w", raw, err)
	}
	pk, _ := m["PartitionKey"].(string)
	rk, _ := m["RowKey"].(string)
	if len(pk)*2 > maxKeyBytes || len(rk)*2 > maxKeyBytes {
		return 0, 0, fmt.Errorf("entity %s/%s: a key over %d bytes", pk, rk, maxKeyBytes)
	}
	size = 4 + (len(pk)+len(rk))*2
	props := 0
	for k, v := range m {
		if k == "PartitionKey" || k == "RowKey" || k == "Timestamp" || strings.Contains(k, "@odata") {
			continue
		}
		props++
		var vs int
		switch val := v.(type) {
		case string:
			if m[k+"@odata.type"] == "Edm.Binary" {
				b, err := base64.StdEncoding.DecodeString(val)
				if err != nil {
					return 0, 0, fmt.Errorf("entity %s/%s: property %s: %w", pk, rk, k, err)
				}
				vs = 4 + len(b)
				binary += len(b)
			} else {
				vs = 4 + len([]rune(val))*2 // UTF-16, outside the BMP undercounted
			}
		case bool:
			vs = 1
		default:
			vs = 8
		}
		if vs-4 > maxPropertyBytes {
			return 0, 0, fmt.Errorf("entity %s/%s: property %s of %d bytes, over %d", pk, rk, k, vs-4, maxPropertyBytes)
		}
		size += 8 + len(k)*2 + vs
	}
	if props > maxCustomProps {
		return 0, 0, fmt.Errorf("entity %s/%s: %d properties, over %d", pk, rk, props, maxCustomProps)
	}
	if size > maxEntityBytes {
		return 0, 0, fmt.Errorf("entity %s/%s: %d bytes, over %d", pk, rk, size, maxEntityBytes)
	}
	return size, binary, nil
}
