package sim

import (
	"bytes"
	"crypto/sha256"
	"encoding/json"
	"fmt"
	"os"
	"path/filepath"
	"reflect"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/disconnect-doctor/disconnect-doctor/classify"
)

// digest hashes every byte a run produces, in order.
func digest(out *Output) string {
	h := sha256.New()
	for _, set := range [][]Message{out.Diagnostics, out.EventGrid, out.MetricAlerts} {
		for _, m := range set {
			fmt.Fprintf(h, "%s|%s|", m.Enqueued.Format(time.RFC3339Nano), m.Partition)
			h.Write(m.Body)
		}
		h.Write([]byte{0})
	}
	b, _ := json.Marshal([]any{out.Truth, out.Incidents, out.Expect, out.Stats})
	h.Write(b)
	return fmt.Sprintf("%x", h.Sum(nil))
}

func TestDeterministic(t *testing.T) {
	small := DefaultConfig(3)
	small.Devices, small.Duration = 120, 3*time.Hour
	tests := []struct {
		name string
		cfg  Config
	}{
		{"default", DefaultConfig(42)},
		{"small", small},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			a, b := Generate(tc.cfg), Generate(tc.cfg)
			if da, db := digest(a), digest(b); da != db {
				t.Fatalf("same seed, different output: %s vs %s", da, db)
			}
			other := tc.cfg
			other.Seed++
			if digest(Generate(other)) == digest(a) {
				t.Fatal("different seeds gave identical output")
			}
		})
	}
}

func TestBodiesFollowDocumentedFormats(t *testing.T) {
	s, out := defaultRun()
	recs := parseRecords(t, s.cfg, out)
	if len(recs) != out.Stats.Delivered {
		t.Fatalf("parsed %d records, delivered %d", len(recs), out.Stats.Delivered)
	}
	cats := map[string]int{}
	codes := map[int]int{}
	for _, r := range recs {
		cats[r.Category]++
		codes[r.Code]++
	}
	for _, c := range []string{"Connections", "D2CTwinOperations", "C2DTwinOperations", "DeviceTelemetry", "Routes"} {
		if cats[c] == 0 {
			t.Errorf("no %s records", c)
		}
	}
	for _, c := range []int{404104, 401003, 500001, 500008, 400027, 409002, 0} {
		if codes[c] == 0 {
			t.Errorf("no records with resultType %d", c)
		}
	}
	// Bodies mix categories and spread over the partitions.
	parts := map[string]bool{}
	mixed := 0
	for _, m := range out.Diagnostics {
		parts[m.Partition] = true
		if bytes.Contains(m.Body, []byte(`"Connections"`)) && bytes.Contains(m.Body, []byte(`TwinOperations"`)) {
			mixed++
		}
	}
	if len(parts) != s.cfg.Partitions {
		t.Errorf("bodies on %d partitions, want %d", len(parts), s.cfg.Partitions)
	}
	if mixed < len(out.Diagnostics)/4 {
		t.Errorf("only %d of %d bodies mix categories", mixed, len(out.Diagnostics))
	}
	avg := float64(len(recs)) / float64(len(out.Diagnostics))
	if avg < 8 || avg > 32 {
		t.Errorf("%.1f records per body, want about %d", avg, s.cfg.RecordsPerBody)
	}
	// connect records carry sdkVersion; disconnects do not (reference §1.3).
	for _, r := range recs {
		if r.Category != "Connections" {
			continue
		}
		if r.Operation == "deviceConnect" && r.Code == 0 && r.SDK == "" {
			t.Fatalf("successful deviceConnect without sdkVersion: %s", r.Raw)
		}
		if r.Operation == "deviceDisconnect" && r.SDK != "" {
			t.Fatalf("deviceDisconnect with sdkVersion: %s", r.Raw)
		}
	}

	// Event Grid: both schemas, strictly increasing sequence numbers per
	// identity in event order.
	evs := parseEventGrid(t, s.cfg, out)
	ce := 0
	seen := map[string]egParsed{}
	byDev := map[string][]egParsed{}
	for _, e := range evs {
		if e.CloudEvents {
			ce++
		}
		if prev, dup := seen[e.ID]; dup {
			if prev != e {
				t.Fatalf("event id %s reused for a different event", e.ID)
			}
			continue
		}
		seen[e.ID] = e
		byDev[e.Device+"/"+e.Module] = append(byDev[e.Device+"/"+e.Module], e)
	}
	if ce == 0 || ce == len(evs) {
		t.Errorf("%d of %d deliveries are CloudEvents; want some, not all", ce, len(evs))
	}
	for k, list := range byDev {
		slices.SortStableFunc(list, func(a, b egParsed) int { return a.Time.Compare(b.Time) })
		for i := 1; i < len(list); i++ {
			if list[i].Seq <= list[i-1].Seq {
				t.Fatalf("%s: sequence numbers not strictly increasing in event order: %s then %s", k, list[i-1].Seq, list[i].Seq)
			}
		}
	}

	// Metric alerts: common alert schema, Fired then Resolved, same alertId.
	var prevCond, prevID string
	for i, m := range out.MetricAlerts {
		var b alertBody
		if err := json.Unmarshal(m.Body, &b); err != nil {
			t.Fatalf("metric alert %d: %v", i, err)
		}
		e := b.Data.Essentials
		if b.SchemaID != "azureMonitorCommonAlertSchema" || e.SignalType != "Metric" || len(b.Data.AlertContext.Condition.AllOf) != 1 ||
			b.Data.AlertContext.Condition.AllOf[0].MetricName != "connectedDeviceCount" {
			t.Fatalf("metric alert %d: not a connectedDeviceCount common-schema alert: %s", i, m.Body)
		}
		want := "Fired"
		if prevCond == "Fired" {
			want = "Resolved"
			if e.AlertID != prevID {
				t.Fatalf("metric alert %d: Resolved with another alertId", i)
			}
		}
		if e.MonitorCondition != want {
			t.Fatalf("metric alert %d: %s, want %s", i, e.MonitorCondition, want)
		}
		prevCond, prevID = e.MonitorCondition, e.AlertID
	}
}

func TestTruthCountsArePlausible(t *testing.T) {
	noFaults := DefaultConfig(11)
	noFaults.Incidents, noFaults.SiteOutages, noFaults.FlakyShare = 0, 0, 0
	noFaults.Crashing, noFaults.Flapping, noFaults.RenewalFailing, noFaults.DuplicateIdentity = 0, 0, 0, 0
	two := DefaultConfig(12)
	two.Incidents, two.Duration = 2, 10*time.Hour
	big := DefaultConfig(13)
	big.Devices = 600
	tests := []struct {
		name string
		cfg  Config
	}{
		{"default", DefaultConfig(7)},
		{"two incidents", two},
		{"no faults", noFaults},
		{"600 devices", big},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			s, out := generate(tc.cfg)
			cfg := s.cfg
			by := map[classify.Cause]int{}
			for _, tr := range out.Truth {
				by[tr.Cause]++
			}
			// Hub-cut devices with 60-min tokens cut every ~65–70 min.
			cut := 0
			for _, d := range s.devices {
				if d.hubCut() && d.ttl == time.Hour {
					cut++
				}
			}
			perDevice := cfg.Duration.Minutes() / 70
			if lo := int(float64(cut) * (perDevice - 1)); by[classify.TokenExpiry] < lo {
				t.Errorf("token-expiry %d, want >= %d for %d hub-cut devices", by[classify.TokenExpiry], lo, cut)
			}
			if hi := int(float64(cut)*(perDevice+1)) + cfg.Devices/5; by[classify.TokenExpiry] > hi {
				t.Errorf("token-expiry %d, want <= %d", by[classify.TokenExpiry], hi)
			}
			if by[classify.TokenRenewalFailed] != cfg.RenewalFailing {
				t.Errorf("token-renewal-failed %d, want %d", by[classify.TokenRenewalFailed], cfg.RenewalFailing)
			}
			if cfg.Incidents == 0 {
				if by[classify.HubTransient] != 0 || out.Stats.MetricAlertFired != 0 {
					t.Errorf("no incidents, yet %d hub-transient and %d metric alerts", by[classify.HubTransient], out.Stats.MetricAlertFired)
				}
			} else {
				lo := int(cfg.IncidentShareMin * 0.7 * float64(cfg.Devices) * float64(cfg.Incidents))
				if by[classify.HubTransient] < lo {
					t.Errorf("hub-transient %d, want >= %d", by[classify.HubTransient], lo)
				}
				if out.Stats.MetricAlertFired < cfg.Incidents {
					t.Errorf("%d metric alerts fired for %d incidents", out.Stats.MetricAlertFired, cfg.Incidents)
				}
			}
			if len(out.Incidents) != cfg.Incidents {
				t.Errorf("%d incidents, want %d", len(out.Incidents), cfg.Incidents)
			}
			faults := cfg.FlakyShare > 0 || cfg.Crashing > 0 || cfg.Flapping > 0 || cfg.SiteOutages > 0
			if faults && by[classify.DeviceOrNetwork] < cfg.Crashing+cfg.Flapping*cfg.FlapCount {
				t.Errorf("device-or-network %d, too few", by[classify.DeviceOrNetwork])
			}
			if !faults && by[classify.DeviceOrNetwork] != 0 {
				t.Errorf("device-or-network %d without network faults", by[classify.DeviceOrNetwork])
			}
			if (cfg.DuplicateIdentity > 0) != (by[classify.DuplicateIdentity] > 0) {
				t.Errorf("duplicate-identity %d with %d duplicate devices", by[classify.DuplicateIdentity], cfg.DuplicateIdentity)
			}
			for _, tr := range out.Truth {
				if !tr.Cause.Valid() || tr.Cause == classify.Pending {
					t.Fatalf("truth with cause %q", tr.Cause)
				}
			}
			// Expected alerts follow the injected faults.
			kinds := map[classify.SignalKind]map[string]bool{}
			for _, e := range out.Expect {
				if kinds[e.Kind] == nil {
					kinds[e.Kind] = map[string]bool{}
				}
				kinds[e.Kind][e.Device+"/"+e.Module] = true
			}
			count := func(k classify.SignalKind) int { return len(kinds[k]) }
			if n := 0; cfg.Incidents > 0 {
				for _, e := range out.Expect {
					if e.Kind == classify.HubIncident {
						n++
					}
				}
				if n != cfg.Incidents {
					t.Errorf("%d hub-incident alerts, want %d", n, cfg.Incidents)
				}
			}
			if count(classify.TokenRenewalFailing) != cfg.RenewalFailing {
				t.Errorf("token-renewal-failed alerts for %d devices, want %d", count(classify.TokenRenewalFailing), cfg.RenewalFailing)
			}
			for _, d := range s.devices {
				k := d.id + "/" + d.module
				if d.role == roleCrash && !d.crashAt.After(s.end.Add(-cfg.OfflineAfter-10*time.Minute)) && !kinds[classify.DeviceOffline][k] {
					t.Errorf("crashed device %s has no device-offline alert", k)
				}
				if d.role == roleFlapping && !kinds[classify.DeviceFlapping][k] {
					t.Errorf("flapping device %s has no device-flapping alert", k)
				}
			}
		})
	}
}

// TestCleanRenewersNeverTokenCut pins §6.1: C, Node and Python devices renew
// with a clean MQTT DISCONNECT, so their renewals never produce a 404104.
// Their 404104s can only come from faults they are given or from incidents
// and site outages that hit every SDK alike.
func TestCleanRenewersNeverTokenCut(t *testing.T) {
	for _, seed := range []int64{1, 2, 3} {
		t.Run(fmt.Sprint(seed), func(t *testing.T) {
			s, out := generate(DefaultConfig(seed))
			sdkOf := map[string]*device{}
			for _, d := range s.devices {
				sdkOf[d.id+"/"+d.module] = d
			}
			clean := 0
			for _, tr := range out.Truth {
				d := sdkOf[tr.Device+"/"+tr.Module]
				if d.hubCut() {
					continue
				}
				if tr.Cause == classify.TokenExpiry || tr.Cause == classify.TokenRenewalFailed {
					t.Fatalf("%s device %s has a %s 404104", d.sdk, tr.Device, tr.Cause)
				}
				spared := d.role == roleNormal && d.site < 0 && !slices.ContainsFunc(d.hits, func(h time.Time) bool { return !h.IsZero() })
				if spared && (d.sdk == C || d.sdk == Node) {
					t.Fatalf("healthy %s device %s emitted a 404104 (%s)", d.sdk, tr.Device, tr.Cause)
				}
			}
			// Their renewals show up as Information deviceDisconnects.
			recs := parseRecords(t, s.cfg, out)
			for _, r := range recs {
				d := sdkOf[r.Device+"/"+r.Module]
				if r.Category == "Connections" && r.Operation == "deviceDisconnect" && r.Level == "Information" && d != nil && (d.sdk == C || d.sdk == Node) {
					clean++
				}
			}
			if clean == 0 {
				t.Fatal("no clean C/Node renewals")
			}
		})
	}
}

// TestPostIncidentTokenBurst pins trap (1): devices that reconnected after an
// incident with new tokens share token start times, so ~65–70 min later many
// of them are cut off together — token-expiry, with 401003s and no hub
// errors.
func TestPostIncidentTokenBurst(t *testing.T) {
	s, out := defaultRun()
	if len(out.Incidents) == 0 {
		t.Fatal("default config has no incident")
	}
	recs := parseRecords(t, s.cfg, out)
	for _, in := range out.Incidents {
		from, to := in.End.Add(55*time.Minute), in.End.Add(85*time.Minute)
		burst := map[string]bool{}
		peak := 0
		for _, tr := range out.Truth {
			if tr.Cause == classify.TokenExpiry && !tr.Time.Before(from) && tr.Time.Before(to) {
				burst[tr.Device+"/"+tr.Module] = true
			}
		}
		// Peak: most token-expiry 404104s in any 10-minute window.
		for _, a := range out.Truth {
			if a.Cause != classify.TokenExpiry || a.Time.Before(from) || !a.Time.Before(to) {
				continue
			}
			n := 0
			for _, b := range out.Truth {
				if b.Cause == classify.TokenExpiry && !b.Time.Before(a.Time) && b.Time.Before(a.Time.Add(10*time.Minute)) {
					n++
				}
			}
			peak = max(peak, n)
		}
		// Only the .NET and Java clients whose token was due when they got
		// back in (past 85% of its life: about half of them, after an
		// outage of ~15 min) reconnect with new tokens together; the
		// others reuse theirs (TestTokenReuse). They are ~58% of the
		// fleet, so ~29% of the devices the incident caught.
		if want := in.Devices / 5; peak < want {
			t.Errorf("incident %s: post-incident token burst peaks at %d in 10 min, want >= %d", in.ID, peak, want)
		}
		unauthorized, hubErrors := 0, 0
		for _, r := range recs {
			if r.Time.Before(from) || !r.Time.Before(to) {
				continue
			}
			if r.Code == 401003 {
				unauthorized++
			}
			if r.Code >= 500000 && r.Category != "Routes" {
				hubErrors++
			}
		}
		if unauthorized < len(burst)/2 {
			t.Errorf("burst of %d devices with only %d 401003s", len(burst), unauthorized)
		}
		if hubErrors > 5 {
			t.Errorf("burst window has %d hub errors; it must look like no incident", hubErrors)
		}
	}
}

// TestSiteOutage pins trap (2): a site's devices drop together behind one
// masked IP with no hub errors, and their truth is device-or-network (or
// token-expiry, when the hub cut a token off before it noticed the silence).
func TestSiteOutage(t *testing.T) {
	s, out := defaultRun()
	recs := parseRecords(t, s.cfg, out)
	for _, st := range s.sites {
		var times []time.Time
		for _, r := range recs {
			if r.Code == 404104 && r.MaskedIP == st.ip && r.Time.Before(st.end) && !r.Time.Before(st.start) {
				times = append(times, r.Time)
			}
		}
		if len(times) < len(st.members)*3/4 {
			t.Fatalf("site %s: %d 404104s for %d devices", st.ip, len(times), len(st.members))
		}
		slices.SortFunc(times, func(a, b time.Time) int { return a.Compare(b) })
		if spread := times[len(times)-1].Sub(times[0]); spread > 10*time.Minute {
			t.Errorf("site %s: drops spread over %s, want together", st.ip, spread)
		}
		for _, r := range recs {
			if r.Code >= 500000 && r.Category != "Routes" && !r.Time.Before(st.start) && r.Time.Before(st.end.Add(5*time.Minute)) {
				t.Errorf("hub error during site outage: %s", r.Raw)
			}
		}
		for _, tr := range out.Truth {
			if !tr.Time.Before(st.start) && tr.Time.Before(st.end) && slices.Contains(st.members, s.indexOf(tr.Device, tr.Module)) && tr.Cause == classify.HubTransient {
				t.Errorf("site device %s: truth %s", tr.Device, tr.Cause)
			}
		}
	}
}

func (s *sim) indexOf(device, module string) int {
	for _, d := range s.devices {
		if d.id == device && d.module == module {
			return d.idx
		}
	}
	return -1
}

// TestDeliveryImperfections: arrival order differs from event order,
// records are late (mostly 1–5 min, a tail to ~20 min), duplicated and lost,
// and Truth.Lost marks exactly the 404104s whose every copy was lost.
func TestDeliveryImperfections(t *testing.T) {
	s, out := defaultRun()
	recs := parseRecords(t, s.cfg, out)
	inversions := 0
	for i := 1; i < len(recs); i++ {
		if recs[i].Time.Before(recs[i-1].Time) {
			inversions++
		}
	}
	if inversions < len(recs)/10 {
		t.Errorf("only %d inversions of event order in %d arrivals", inversions, len(recs))
	}
	late, tail := 0, 0
	for _, r := range recs {
		d := out.Diagnostics[r.Body].Enqueued.Sub(r.Time)
		if d < 0 {
			t.Fatalf("record arrived before it happened: %s", r.Raw)
		}
		if d > 25*time.Minute {
			t.Fatalf("record %s late; beyond the configured tail", d)
		}
		if d >= time.Minute {
			late++
		}
		if d > 6*time.Minute {
			tail++
		}
	}
	if late < len(recs)*9/10 || tail == 0 {
		t.Errorf("%d of %d records late by >= 1 min, %d in the tail", late, len(recs), tail)
	}
	copies := map[string]int{}
	for _, r := range recs {
		copies[r.Raw]++
	}
	dups := 0
	for _, n := range copies {
		if n > 1 {
			dups++
		}
	}
	if dups == 0 || out.Stats.Duplicated == 0 || out.Stats.Lost == 0 {
		t.Errorf("duplicates %d (stats %d), lost %d", dups, out.Stats.Duplicated, out.Stats.Lost)
	}
	delivered404 := map[string]bool{}
	for _, r := range recs {
		if r.Code == 404104 {
			delivered404[r.Device+"/"+r.Module+"@"+r.Time.Format(time.RFC3339)] = true
		}
	}
	lost := 0
	for _, tr := range out.Truth {
		k := tr.Device + "/" + tr.Module + "@" + tr.Time.Format(time.RFC3339)
		if tr.Lost == delivered404[k] {
			t.Fatalf("truth %s: Lost=%v but delivered=%v", k, tr.Lost, delivered404[k])
		}
		if tr.Lost {
			lost++
		}
	}
	if lost == 0 {
		t.Error("no 404104 was lost; trap (4) needs missing evidence")
	}
	// Trap (4): some token-expiry 404104s come without any 401003.
	bare := 0
	for _, tr := range out.Truth {
		if tr.Cause != classify.TokenExpiry || tr.Lost {
			continue
		}
		found := false
		for _, r := range recs {
			if r.Code == 401003 && r.Device == tr.Device && r.Module == tr.Module && absDur(r.Time.Sub(tr.Time)) <= 5*time.Second {
				found = true
				break
			}
		}
		if !found {
			bare++
		}
	}
	if bare == 0 {
		t.Error("every token-expiry 404104 has its 401003; the period must sometimes be the only evidence")
	}
}

func absDur(d time.Duration) time.Duration {
	if d < 0 {
		return -d
	}
	return d
}

// TestEventGridSnapshots: brief blips often produce no Event Grid event, so
// there are fewer DeviceDisconnected events than disconnect records.
func TestEventGridSnapshots(t *testing.T) {
	s, out := defaultRun()
	evs := parseEventGrid(t, s.cfg, out)
	recs := parseRecords(t, s.cfg, out)
	disc, egDisc, dupIDs := 0, 0, 0
	for _, r := range recs {
		if r.Category == "Connections" && r.Operation == "deviceDisconnect" && (r.Code == 0 || r.Code == 404104) {
			disc++
		}
	}
	ids := map[string]bool{}
	for _, e := range evs {
		if ids[e.ID] {
			dupIDs++
			continue
		}
		ids[e.ID] = true
		if e.Type == "Microsoft.Devices.DeviceDisconnected" {
			egDisc++
		}
	}
	if egDisc == 0 || egDisc >= disc*3/4 {
		t.Errorf("%d DeviceDisconnected events for %d disconnect records; blips should often go unreported", egDisc, disc)
	}
	if dupIDs == 0 {
		t.Error("no duplicate Event Grid delivery")
	}
	for i := 1; i < len(out.EventGrid); i++ {
		if out.EventGrid[i].Enqueued.Before(out.EventGrid[i-1].Enqueued) {
			t.Fatal("Event Grid deliveries not in arrival order")
		}
	}
}

func TestWriteFiles(t *testing.T) {
	cfg := DefaultConfig(5)
	cfg.Devices, cfg.Duration = 60, 2*time.Hour
	out := Generate(cfg)
	dir := t.TempDir()
	if err := WriteFiles(dir, out); err != nil {
		t.Fatal(err)
	}
	for _, set := range []struct {
		sub  string
		msgs []Message
	}{{"eventhub", out.Diagnostics}, {"eventgrid", out.EventGrid}, {"metricalerts", out.MetricAlerts}} {
		for i, m := range set.msgs {
			b, err := os.ReadFile(filepath.Join(dir, set.sub, fmt.Sprintf("%05d.json", i+1)))
			if err != nil || !bytes.Equal(b, m.Body) {
				t.Fatalf("%s %d: %v / content differs", set.sub, i+1, err)
			}
		}
	}
	lines := 0
	err := filepath.WalkDir(filepath.Join(dir, "diagnostics"), func(p string, d os.DirEntry, err error) error {
		if err != nil || d.IsDir() {
			return err
		}
		if d.Name() != "PT1H.json" {
			t.Errorf("unexpected archive file %s", p)
		}
		b, err := os.ReadFile(p)
		if err != nil {
			return err
		}
		for _, l := range strings.Split(strings.TrimSuffix(string(b), "\n"), "\n") {
			var rec map[string]any
			if err := json.Unmarshal([]byte(l), &rec); err != nil {
				t.Fatalf("%s: line not JSON: %v", p, err)
			}
			lines++
		}
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
	if lines != out.Stats.Delivered {
		t.Errorf("archive holds %d lines, want %d", lines, out.Stats.Delivered)
	}
	var tf struct {
		Truth  []Truth      `json:"truth"`
		Expect []TruthAlert `json:"expect"`
	}
	b, err := os.ReadFile(filepath.Join(dir, "truth.json"))
	if err != nil {
		t.Fatal(err)
	}
	if err := json.Unmarshal(b, &tf); err != nil {
		t.Fatal(err)
	}
	if !reflect.DeepEqual(tf.Truth, out.Truth) && len(tf.Truth) != len(out.Truth) {
		t.Errorf("truth.json has %d entries, want %d", len(tf.Truth), len(out.Truth))
	}
	if err := WriteFiles(filepath.Join(dir, "truth.json", "x"), out); err == nil {
		t.Error("WriteFiles under a file succeeded")
	}
}

func BenchmarkGenerate(b *testing.B) {
	cfg := DefaultConfig(1)
	b.ReportAllocs()
	for b.Loop() {
		Generate(cfg)
	}
}

// TestTokenReuse pins what the SDKs do with the token they hold when they
// reconnect after a drop that was not the token's (Config.TokenPerConnect):
// a default .NET or Java client is cut on its token's schedule, so a
// cut-off can come sooner after a reconnect than a token lives — never
// when every connect makes a new token.
func TestTokenReuse(t *testing.T) {
	for _, perConnect := range []bool{false, true} {
		t.Run(fmt.Sprint("perConnect=", perConnect), func(t *testing.T) {
			cfg := DefaultConfig(1)
			cfg.Devices = 2000
			cfg.Duration = 3 * time.Hour
			cfg.TokenPerConnect = perConnect
			s, out := generate(cfg)
			byKey := map[string]*device{}
			for _, d := range s.devices {
				byKey[d.id+"/"+d.module] = d
			}
			early := 0 // cut-offs less than a token's life after the connect before them
			for _, tr := range out.Truth {
				d := byKey[tr.Device+"/"+tr.Module]
				if tr.Cause != classify.TokenExpiry || !d.hubCut() || d.ttl != time.Hour {
					continue
				}
				var last time.Time // the newest connect before the cut-off
				for _, c := range d.changes {
					if c.connected && c.t.Before(tr.Time) {
						last = c.t
					}
				}
				if !last.IsZero() && tr.Time.Sub(last) < 55*time.Minute {
					early++
				}
			}
			if perConnect && early != 0 {
				t.Errorf("%d default-token cut-offs came less than 55 min after a connect that made a new token", early)
			}
			if !perConnect && early < 20 {
				t.Errorf("only %d default-token cut-offs came less than 55 min after a reconnect: reconnects are not reusing the token", early)
			}
			t.Logf("%d cut-offs within 55 min of the connect before them", early)
		})
	}
}
