package sim

import (
	"encoding/json"
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
	// Delivery draws follow the order of every record emitted, the ones
	// after the end included: without loss or duplicates, the records
	// before the end must be the same ones.
	cfg.LossRate, cfg.DuplicateRate = 0, 0
	plain := Generate(cfg)
	cfg.Settle = 2 * time.Hour
	settled := Generate(cfg)
	end := cfg.Start.Add(cfg.Duration)

	a, _ := json.Marshal(plain.Truth)
	b, _ := json.Marshal(settled.Truth)
	if string(a) != string(b) {
		t.Fatalf("truth differs with Settle: %d true 404104s against %d", len(settled.Truth), len(plain.Truth))
	}

	// A record's content, not its labels: the Routes records' messageId
	// numbers every record emitted, those after the end included.
	before := func(recs []parsedRecord) map[parsedRecord]int {
		m := map[parsedRecord]int{}
		for _, r := range recs {
			if r.Time.Before(end) {
				r.Raw, r.Body = "", 0
				m[r]++
			}
		}
		return m
	}
	pr, sr := parseRecords(t, cfg, plain), parseRecords(t, cfg, settled)
	pb, sb := before(pr), before(sr)
	if len(pb) != len(sb) {
		t.Errorf("%d distinct records before the end with Settle, %d without", len(sb), len(pb))
	}
	for r, n := range pb {
		if sb[r] != n {
			t.Fatalf("a record before the end differs with Settle (%d copies against %d): %+v", sb[r], n, r)
		}
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
	// A token cut-off's SDK is back within 40 s: every cut-off in the run's
	// last minute has its connect with Settle; without it, those whose
	// connect fell after the end have none.
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
		if !backAfter(sr, tr.Device, tr.Time) {
			t.Errorf("%s, cut off at %s, has no connect after it with Settle", tr.Device, tr.Time.Format(time.RFC3339))
		}
		if backAfter(pr, tr.Device, tr.Time) {
			plainBack++
		}
	}
	if after == 0 || plainBack == cuts {
		t.Fatalf("%d records after the end; %d of the %d last-minute cut-offs back without Settle: the case is not exercised", after, plainBack, cuts)
	}
	t.Logf("%d connect records after the end; of %d last-minute cut-offs, %d back without Settle, all with it", after, cuts, plainBack)
}
