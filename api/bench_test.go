package api

import (
	"context"
	"fmt"
	"net/http"
	"net/url"
	"testing"
	"time"

	"github.com/disconnect-doctor/disconnect-doctor/classify"
	"github.com/disconnect-doctor/disconnect-doctor/event"
	"github.com/disconnect-doctor/disconnect-doctor/internal/azurite"
	"github.com/disconnect-doctor/disconnect-doctor/internal/faultproxy"
	"github.com/disconnect-doctor/disconnect-doctor/store"
)

// incidentHistory fills st as three hours of a hub of n devices leave it:
// each device's hourly token expiries (3 per device) and, at 10:00, an
// incident that disconnects every device within two minutes (n
// hub-transient disconnects caught in it). It returns the incident's ID.
func incidentHistory(tb testing.TB, st store.Store, n int) string {
	tb.Helper()
	const hub = "contoso-prod-hub"
	inc := classify.Incident{ID: hub + "-20240514T1000Z", Hub: hub, Start: t0, End: t0.Add(6 * time.Minute), Devices: n, HubErrors: 20 * n}
	ctx := context.Background()
	if err := st.PutIncidents(ctx, []classify.Incident{inc}); err != nil {
		tb.Fatal(err)
	}
	if _, err := st.PutBlobs(ctx, store.HubBlobs, []store.Blob{{Key: hub, Data: []byte("{}")}}); err != nil {
		tb.Fatal(err)
	}
	var ds []classify.Diagnosis
	flush := func() {
		if err := st.PutDiagnoses(ctx, ds); err != nil {
			tb.Fatal(err)
		}
		ds = ds[:0]
	}
	for i := range n {
		dev := event.Key{Hub: hub, Device: fmt.Sprintf("sensor-%06d", i)}
		for h := range 3 {
			at := t0.Add(-time.Hour + time.Duration(h)*time.Hour + time.Duration(i%3600)*time.Second + 17*time.Minute)
			ds = append(ds, diag(dev, at, classify.TokenExpiry, "", "401003 IoTHubUnauthorized 1s before, reconnected 12s later"))
		}
		at := t0.Add(time.Duration(i%120) * time.Second)
		ds = append(ds, diag(dev, at, classify.HubTransient, inc.ID, "part of IoT Hub incident "+inc.ID+": 500001 ServerError from the hub"))
		if len(ds) >= 4000 {
			flush()
		}
	}
	flush()
	return inc.ID
}

func diag(k event.Key, at time.Time, c classify.Cause, inc, evidence string) classify.Diagnosis {
	d := classify.Diagnosis{Key: k, Time: at, Cause: c, Final: true, Confidence: 0.95, Evidence: []string{evidence},
		Recommendation: "See the cause's recommendation.", Incident: inc}
	d.EventID = event.NewID(&event.Event{Hub: k.Hub, Device: k.Device, Time: at, Code: int(c[0])}, "")
	return d
}

// pageOf answers one page of the incident's disconnects and returns its
// cursor.
func pageOf(b *testing.B, a *API, q url.Values) string {
	status, body := a.Query(context.Background(), "disconnects", q)
	if status != http.StatusOK {
		b.Fatalf("status %d: %v", status, body)
	}
	p := body.(struct {
		Items []Diagnosis `json:"items"`
		Next  string      `json:"next"`
	})
	if len(p.Items) != 100 || p.Next == "" {
		b.Fatalf("a page of %d items, next %q", len(p.Items), p.Next)
	}
	return p.Next
}

// benchPages measures the first page of disconnects?incident= (100 items)
// and a page in the middle of the incident, reached by its cursor.
func benchPages(b *testing.B, a *API, id string, counted func() int64) {
	first := url.Values{"incident": {id}, "limit": {"100"}}
	mid := url.Values{"incident": {id}, "limit": {"100"}, "to": {t0.Add(time.Minute).Format(time.RFC3339)}}
	mid.Set("cursor", pageOf(b, a, mid))
	mid.Del("to")
	for _, c := range []struct {
		name string
		q    url.Values
	}{{"first", first}, {"middle", mid}} {
		b.Run(c.name, func(b *testing.B) {
			before := counted()
			for b.Loop() {
				pageOf(b, a, c.q)
			}
			b.ReportMetric(float64(counted()-before)/float64(b.N), "req/page")
		})
	}
}

// BenchmarkIncidentPageMemory: one page of a 100 000-device incident's
// disconnects on the embedded store, with 400 000 diagnoses stored; the
// 10 000-device fleet shows how a page's cost scales with the total.
func BenchmarkIncidentPageMemory(b *testing.B) {
	for _, n := range []int{10000, 100000} {
		b.Run(fmt.Sprintf("devices=%d", n), func(b *testing.B) {
			st := store.NewMemory()
			id := incidentHistory(b, st, n)
			benchPages(b, New(st, nil, nil), id, func() int64 { return 0 })
		})
	}
}

// BenchmarkIncidentPageAzurite: the same on Table storage (Azurite, every
// request through a counting proxy) at 1 000 and 5 000 devices (4 000 and
// 20 000 diagnoses in the hub's partition).
func BenchmarkIncidentPageAzurite(b *testing.B) {
	for _, n := range []int{1000, 5000} {
		b.Run(fmt.Sprintf("devices=%d", n), func(b *testing.B) {
			srv := azurite.Start(b, azurite.Options{})
			px := faultproxy.Start(b, "http://"+srv.Addr(), 1)
			prefix := srv.Prefix()
			open := func(conn string) *store.Table {
				st, err := store.OpenTable(b.Context(), store.TableOptions{ConnectionString: conn, Prefix: prefix})
				if err != nil {
					b.Fatal(err)
				}
				b.Cleanup(func() { _ = st.Close() })
				return st
			}
			start := time.Now()
			id := incidentHistory(b, open(srv.ConnString()), n) // written directly; the proxy counts the reads
			b.Logf("%d diagnoses written in %v", 4*n, time.Since(start).Round(time.Millisecond))
			benchPages(b, New(open(azurite.ConnStringFor(px.URL())), nil, nil), id, func() int64 { total, _ := px.Counts(); return total })
		})
	}
}
