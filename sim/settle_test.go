package sim

import (
	"encoding/json"
	"slices"
	"testing"
	"time"

	"github.com/disconnect-doctor/disconnect-doctor/classify"
)

// TestSettle: with Config.Settle the devices away at the run's end come
// back after it — their connect records follow the end, and nothing else
// does — while the run itself (its truth, its records before the end) is
// the one without it.
func TestSettle(t *testing.T) {
	cfg := DefaultConfig(5)
	cfg.Devices, cfg.Duration = 400, 3*time.Hour
	plain := Generate(cfg)
	cfg.Settle = 2 * time.Hour
	settled := Generate(cfg)
	end := cfg.Start.Add(cfg.Duration)

	a, _ := json.Marshal(plain.Truth)
	b, _ := json.Marshal(settled.Truth)
	if string(a) != string(b) {
		t.Fatalf("truth differs with Settle: %d true 404104s against %d", len(settled.Truth), len(plain.Truth))
	}
	// The records before the end, as delivered (lost, duplicated), and the
	// Event Grid deliveries enqueued before it are the same ones: what
	// comes after the end draws and numbers apart. Only their packing into
	// Event Hubs bodies near the end may differ.
	before := func(recs []parsedRecord) map[string]int {
		m := map[string]int{}
		for _, r := range recs {
			if r.Time.Before(end) {
				m[r.Raw]++
			}
		}
		return m
	}
	pr, sr := parseRecords(t, cfg, plain), parseRecords(t, cfg, settled)
	pb, sb := before(pr), before(sr)
	if len(pb) != len(sb) {
		t.Errorf("%d distinct records before the end with Settle, %d without", len(sb), len(pb))
	}
	for raw, n := range pb {
		if sb[raw] != n {
			t.Fatalf("a record before the end differs with Settle (%d copies against %d): %s", sb[raw], n, raw)
		}
	}
	grid := func(out *Output) []string {
		var g []string
		for _, m := range out.EventGrid {
			if m.Enqueued.Before(end) {
				g = append(g, m.Enqueued.Format(time.RFC3339Nano)+string(m.Body))
			}
		}
		return g
	}
	if pg, sg := grid(plain), grid(settled); !slices.Equal(pg, sg) {
		t.Errorf("Event Grid deliveries before the end differ with Settle: %d against %d", len(sg), len(pg))
	}

	// Every record after the end is a connect attempt before end+Settle.
	after := 0
	for _, r := range sr {
		if r.Time.Before(end) {
			continue
		}
		after++
		if r.Operation != "deviceConnect" || !r.Time.Before(end.Add(cfg.Settle)) {
			t.Errorf("after the end: %s %s %d at %s", r.Operation, r.Device, r.Code, r.Time.Format(time.RFC3339))
		}
	}
	for _, r := range pr {
		if !r.Time.Before(end) {
			t.Errorf("without Settle, a record at %s, after the end", r.Time.Format(time.RFC3339))
		}
	}
	if after == 0 || len(settled.EventGrid) <= len(plain.EventGrid) {
		t.Errorf("%d records and %d Event Grid deliveries after the end: the case is not exercised", after, len(settled.EventGrid)-len(plain.EventGrid))
	}

	// A token cut-off's SDK is back within 40 s: with nothing lost in
	// delivery, every cut-off in the run's last minute has its connect with
	// Settle; without it, those whose connect fell after the end have none.
	cfg.LossRate = 0
	lossless := parseRecords(t, cfg, Generate(cfg))
	cfg.Settle = 0
	plainLossless := parseRecords(t, cfg, Generate(cfg))
	backAfter := func(recs []parsedRecord, dev string, t0 time.Time) bool {
		for _, r := range recs {
			if r.Device == dev && r.Operation == "deviceConnect" && r.Code == 0 && r.Time.After(t0) {
				return true
			}
		}
		return false
	}
	cuts, plainBack := 0, 0
	for _, tr := range settled.Truth {
		if tr.Cause != classify.TokenExpiry || tr.Time.Before(end.Add(-time.Minute)) {
			continue
		}
		cuts++
		if !backAfter(lossless, tr.Device, tr.Time) {
			t.Errorf("%s, cut off at %s, has no connect after it with Settle", tr.Device, tr.Time.Format(time.RFC3339))
		}
		if backAfter(plainLossless, tr.Device, tr.Time) {
			plainBack++
		}
	}
	if plainBack == cuts {
		t.Fatalf("all %d last-minute cut-offs are back before the end: the case is not exercised", cuts)
	}
	t.Logf("%d connect records after the end; of %d last-minute cut-offs, %d back without Settle, all with it", after, cuts, plainBack)
}
