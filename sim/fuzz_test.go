package sim

import (
	"flag"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/disconnect-doctor/disconnect-doctor/classify"
)

var update = flag.Bool("update", false, "rewrite the golden files under testdata/")

// FuzzGenerate runs small fleets from arbitrary seeds and sizes and checks the
// invariants every run must keep: bodies follow the documented formats,
// the run is deterministic, Lost marks exactly the undelivered 404104s, and
// clean-renewing SDKs never get a token verdict. The seed corpus runs in
// plain `go test`.
func FuzzGenerate(f *testing.F) {
	f.Add(int64(1), uint16(40), uint8(3), uint8(1), uint8(1))
	f.Add(int64(-9), uint16(1), uint8(1), uint8(0), uint8(0))
	f.Add(int64(77), uint16(120), uint8(9), uint8(3), uint8(2))
	f.Add(int64(5), uint16(300), uint8(2), uint8(2), uint8(0))
	f.Fuzz(func(t *testing.T, seed int64, devices uint16, hours, incidents, sites uint8) {
		cfg := DefaultConfig(seed)
		cfg.Devices = 1 + int(devices%60)
		cfg.Duration = time.Duration(1+hours%5) * time.Hour
		cfg.Incidents = int(incidents % 4)
		cfg.SiteOutages = int(sites % 3)
		s, out := generate(cfg)
		if digest(Generate(cfg)) != digest(out) {
			t.Fatal("not deterministic")
		}
		recs := parseRecords(t, s.cfg, out)
		parseEventGrid(t, s.cfg, out)
		if len(recs) != out.Stats.Delivered || out.Stats.Records != out.Stats.Delivered+out.Stats.Lost-out.Stats.Duplicated {
			t.Fatalf("stats do not add up: %+v, parsed %d", out.Stats, len(recs))
		}
		seen := map[string]bool{}
		for _, r := range recs {
			if r.Code == 404104 {
				seen[r.Device+"/"+r.Module+"@"+r.Time.Format(time.RFC3339)] = true
			}
			if r.Time.Before(s.start) || !r.Time.Before(s.end.Add(time.Second)) {
				t.Fatalf("record outside the run: %s", r.Raw)
			}
		}
		hubCut := map[string]bool{}
		for _, d := range s.devices {
			hubCut[d.id+"/"+d.module] = d.hubCut()
		}
		for _, tr := range out.Truth {
			k := tr.Device + "/" + tr.Module
			if tr.Lost == seen[k+"@"+tr.Time.Format(time.RFC3339)] {
				t.Fatalf("truth %s at %s: Lost=%v", k, tr.Time, tr.Lost)
			}
			if !hubCut[k] && (tr.Cause == classify.TokenExpiry || tr.Cause == classify.TokenRenewalFailed) {
				t.Fatalf("%s is not cut off by the hub, yet has %s", k, tr.Cause)
			}
		}
	})
}

// TestGolden pins a small run's truth, expectations and first bodies, so that
// any change to the generated data is seen and reviewed (go test -update).
func TestGolden(t *testing.T) {
	cfg := DefaultConfig(2024)
	cfg.Devices, cfg.Duration, cfg.Modules = 40, 3*time.Hour, 1
	cfg.Crashing, cfg.Flapping, cfg.RenewalFailing, cfg.DuplicateIdentity, cfg.SiteDevices = 1, 1, 1, 1, 4
	out := Generate(cfg)
	dir := t.TempDir()
	if err := WriteFiles(dir, out); err != nil {
		t.Fatal(err)
	}
	for _, name := range []string{"truth.json", "eventhub/00001.json", "eventgrid/00001.json", "metricalerts/00001.json"} {
		got, err := os.ReadFile(filepath.Join(dir, filepath.FromSlash(name)))
		if err != nil {
			t.Fatal(err)
		}
		golden := filepath.Join("testdata", "golden", strings.ReplaceAll(name, "/", "-"))
		if *update {
			if err := os.MkdirAll(filepath.Dir(golden), 0o755); err != nil {
				t.Fatal(err)
			}
			if err := os.WriteFile(golden, got, 0o644); err != nil {
				t.Fatal(err)
			}
		}
		want, err := os.ReadFile(golden)
		if err != nil {
			t.Fatalf("%v (run go test -update to create it)", err)
		}
		if string(got) != string(want) {
			t.Errorf("%s differs from %s (go test -update after reviewing the change)", name, golden)
		}
	}
}
