package sim

import (
	"crypto/sha256"
	"encoding/json"
	"fmt"
	"slices"
	"testing"
	"time"
)

// wholeRunDigests are the digests of three fleets as the whole-run
// generator produced them before the simulator was sliced (commit cf10036,
// sim.Generate simulating every identity's whole run, then sorting all
// records): [0] the delivered record copies in arrival order (each
// copy's arrival time and JSON record: the records, their order, loss,
// delays and duplicates), [1] the Event Grid deliveries, metric alerts,
// truth, incidents, expected alerts, stats and sites.
var wholeRunDigests = map[string][2]string{
	"default7": {"017d6b1bb780a2170e8793dbc087268c46cac4fc43b713ae0a42fade1074d513", "b8e2c19594705f306b586ebded00a9d39ff56fe641b26524bd2021af25eedfb1"},
	"two12":    {"8ec3eb043be4fb67d3e820bf9a5e03de6b61e95b35b3b386217f9da2e5105dd6", "80e1939912eb8e5e0d07ef0305703254179db8bc261f3810294304d60cb583da"},
	"small77":  {"e672afe488953840bfcee670dbac95291bdd1a31eead206c659bc942dc94db32", "210af7c03a11914177250adf3c416a9cbfb2a974b06f94eb63ebea10223cb3d1"},
}

// digestConfigs are the fleets of wholeRunDigests. They keep the token
// model of that generator (TokenPerConnect): the digests pin the slicing,
// and the token model changed after them.
func digestConfigs() map[string]Config {
	d7 := DefaultConfig(7)
	two := DefaultConfig(12)
	two.Incidents, two.Duration = 2, 10*time.Hour
	small := DefaultConfig(77)
	small.Devices, small.Duration, small.Incidents, small.SiteOutages = 45, 4*time.Hour, 3, 2
	cs := map[string]Config{"default7": d7, "two12": two, "small77": small}
	for k, c := range cs {
		c.TokenPerConnect = true
		cs[k] = c
	}
	return cs
}

// TestSlicedRecordsAreTheWholeRuns: simulating a minute at a time gives the
// records, delivery decisions, Event Grid deliveries, metric alerts and
// truth the whole-run generator gave for the same seed. Only the packing of
// records into Event Hubs bodies changed (it draws from its own stream now:
// it used to draw after every record's delivery, which a stream cannot).
func TestSlicedRecordsAreTheWholeRuns(t *testing.T) {
	for name, cfg := range digestConfigs() {
		t.Run(name, func(t *testing.T) {
			st := NewStream(cfg)
			h := sha256.New()
			for !st.generated() {
				st.slice()
				// Each slice's arrivals are in order and later than the last.
				for i := 1; i < len(st.arrived); i++ {
					if st.arrived[i].arrive.Before(st.arrived[i-1].arrive) {
						t.Fatalf("arrivals out of order at %s", st.arrived[i].arrive)
					}
				}
				for _, d := range st.arrived {
					fmt.Fprintf(h, "%d|", d.arrive.UnixNano())
					h.Write(st.s.encode(d.r))
				}
				st.arrived = st.arrived[:0]
			}
			out := Generate(cfg)
			g := sha256.New()
			for _, set := range [][]Message{out.EventGrid, out.MetricAlerts} {
				for _, m := range set {
					fmt.Fprintf(g, "%s|%s|", m.Enqueued.Format(time.RFC3339Nano), m.Partition)
					g.Write(m.Body)
				}
				g.Write([]byte{0})
			}
			b, err := json.Marshal([]any{out.Truth, out.Incidents, out.Expect, out.Stats, out.Sites})
			if err != nil {
				t.Fatal(err)
			}
			g.Write(b)
			got := [2]string{fmt.Sprintf("%x", h.Sum(nil)), fmt.Sprintf("%x", g.Sum(nil))}
			if want := wholeRunDigests[name]; got != want {
				t.Errorf("digests %v, want the whole run's %v", got, want)
			}
		})
	}
}

// TestStreamReadAnyWay: however a reader's clock advances, it gets every
// message once, in arrival order, never one enqueued after its clock, and
// the same messages as Generate.
func TestStreamReadAnyWay(t *testing.T) {
	cfg := DefaultConfig(21)
	cfg.Devices, cfg.Duration = 150, 3*time.Hour
	whole := Generate(cfg)
	steps := map[string]time.Duration{"minute": time.Minute, "7s": 7 * time.Second, "25min": 25 * time.Minute}
	for name, step := range steps {
		t.Run(name, func(t *testing.T) {
			st := NewStream(cfg)
			var got Arrivals
			for now := st.Start(); now.Before(st.End().Add(2 * time.Hour)); now = now.Add(step) {
				a := st.Next(now)
				for _, ms := range [][]Message{a.Diagnostics, a.EventGrid, a.MetricAlerts} {
					for _, m := range ms {
						if m.Enqueued.After(now) || !m.Enqueued.After(now.Add(-step)) {
							t.Fatalf("message enqueued %s handed out at %s", m.Enqueued, now)
						}
					}
				}
				got.Diagnostics = append(got.Diagnostics, a.Diagnostics...)
				got.EventGrid = append(got.EventGrid, a.EventGrid...)
				got.MetricAlerts = append(got.MetricAlerts, a.MetricAlerts...)
			}
			out := *st.Result()
			out.Diagnostics, out.EventGrid, out.MetricAlerts = got.Diagnostics, got.EventGrid, got.MetricAlerts
			if digest(&out) != digest(whole) {
				t.Fatalf("read every %s: %d/%d/%d messages differ from Generate's %d/%d/%d", step,
					len(got.Diagnostics), len(got.EventGrid), len(got.MetricAlerts),
					len(whole.Diagnostics), len(whole.EventGrid), len(whole.MetricAlerts))
			}
			if !slices.IsSortedFunc(got.Diagnostics, func(a, b Message) int { return a.Enqueued.Compare(b.Enqueued) }) {
				t.Fatal("diagnostic bodies out of arrival order")
			}
		})
	}
}

// BenchmarkStream simulates a fleet through a stream read minute by
// minute, as `handler run` reads it, and reports how many records it held
// at most (simulated, on their way, or waiting to be packed) against how
// many the run had: what bounds its memory. FLEET_DEVICES-sized fleets are
// `make bench`'s business; this one is 5 000 devices × 3 h.
func BenchmarkStream(b *testing.B) {
	cfg := DefaultConfig(1)
	cfg.Devices, cfg.Duration = 5000, 3*time.Hour
	for b.Loop() {
		st := NewStream(cfg)
		held := 0
		for now := st.Start(); !st.generated() || len(st.ready) > 0; now = now.Add(time.Minute) {
			st.Next(now)
			n := st.inFlight.Len() + len(st.arrived)
			for _, d := range st.s.devices {
				n += len(d.out)
			}
			held = max(held, n)
		}
		b.ReportMetric(float64(held), "held-records")
		b.ReportMetric(float64(st.Result().Stats.Records), "records")
	}
}
