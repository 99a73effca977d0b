package storage_test

import (
	"context"
	"encoding/base64"
	"encoding/json"
	"flag"
	"fmt"
	"strings"
	"testing"
	"time"

	"github.com/Azure/azure-sdk-for-go/sdk/data/aztables"

	"github.com/disconnect-doctor/disconnect-doctor/classify"
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

// dropDevices is the hub size of TestHubDropping20kUnderHandler: 4 000 by
// default, the largest that runs in about two minutes (see the test's
// comment); -args -drop-devices=20000 runs issue 9's full size by hand.
var dropDevices = flag.Int("drop-devices", 4000, "devices of the hub that drops in TestHubDropping20kUnderHandler (20000: issue 9's size, by hand)")

// dropFunctionTimeout overrides host.json's functionTimeout for the drop
// runs (0: host.json's). Only for diagnosing a run by hand: an Evaluate
// that outlasts host.json's timeout fails issue 9's acceptance.
var dropFunctionTimeout = flag.Duration("drop-function-timeout", 0, "functionTimeout of the drop runs instead of host.json's (diagnosis by hand only)")

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
//
// It runs at 4 000 devices by default, not 20 000, because of Azurite's
// speed, not the handler's: Azurite's table store (LokiJS) slows down as a
// partition grows, and a hub's diagnoses share one partition — at 4 000
// devices a transaction of 100 diagnoses takes up to 2.3 s (-v logs each
// tick's Table time by request kind). At 20 000 devices one simulated
// minute took 1–9 minutes of wall clock on this 2-core machine: the whole
// run passed once in 21 minutes, and on the same machine more loaded the
// Evaluate of simulated 09:09 outlasted host.json's 10-minute
// functionTimeout. At 4 000 the test takes 102–250 s, at 2 000 50 s.
// Issue 9's 20 000 is run by hand with
// `go test ./e2e/storage -run TestHubDropping20kUnderHandler -timeout 0 -args -drop-devices=20000`.
func TestHubDropping20kUnderHandler(t *testing.T) {
	r := runDrop(t, "table", dropConfig{devices: *dropDevices, grid: true, controls: 200, heartbeatUntil: 40 * time.Minute})
	rss, err := r.h.PeakRSS()
	if err != nil {
		t.Fatal(err)
	}
	logTicks(t, r.ticks, dropT0, dropT0.Add(15*time.Minute))
	ctx := context.Background()
	t.Run("handler peak RSS within its bound", func(t *testing.T) {
		bound := rssBound(*dropDevices)
		t.Logf("handler peak RSS %.0f MiB, bound %.0f MiB", float64(rss)/(1<<20), float64(bound)/(1<<20))
		if rss > bound {
			t.Errorf("handler peak RSS %d MiB over %d MiB for %d devices", rss>>20, bound>>20, *dropDevices)
		}
	})
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

// rssBound is the peak RSS the Table-store handler may reach serving a hub
// of the given size: issue 9's target, 1 GiB at 100 000 devices, as a
// floor of 64 MiB (the Go runtime, the HTTP server and the Azure SDK: the
// handler peaks at ~32 MiB serving 400 devices) plus 9 KiB per device, so
// that 100 000 devices stay under the GiB (943 MiB). Measured on Azurite:
// 27–32 MiB at 400 devices, 54–56 MiB at 4 000, 125 MiB at 20 000.
func rssBound(devices int) int64 {
	return 64<<20 + int64(devices)*9<<10
}

// logTicks logs the cost of the Evaluate ticks from from to to (the
// minutes in which the drop's records arrive, 1–4 minutes after their
// time, and are decided behind the watermark), and the run's costliest tick by requests and by wall time (issue
// 9 item 3: requests and seconds per tick on Azurite).
func logTicks(t *testing.T, ticks []tickCost, from, to time.Time) {
	t.Helper()
	var most, slowest tickCost
	for _, c := range ticks {
		if !c.at.Before(from) && !c.at.After(to) {
			t.Logf("tick %s: %d Table requests, %s (longest: %s): %s", c.at.Format(time.TimeOnly), c.requests, c.took.Round(time.Millisecond), c.spent, c.summary)
		}
		if c.requests > most.requests {
			most = c
		}
		if c.took > slowest.took {
			slowest = c
		}
	}
	t.Logf("most requests: tick %s, %d (%s); slowest: tick %s, %s (%d requests)", most.at.Format(time.TimeOnly), most.requests,
		most.took.Round(time.Millisecond), slowest.at.Format(time.TimeOnly), slowest.took.Round(time.Millisecond), slowest.requests)
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
					var key struct{ RowKey string }
					_ = json.Unmarshal(raw, &key) // entitySize has parsed it already
					t.Errorf("%s: state blob %q of %d bytes, over the %d-byte bound", name, key.RowKey, data, stateBlobBound)
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
