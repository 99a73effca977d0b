package rollup

import (
	"context"
	"testing"
	"time"

	"github.com/disconnect-doctor/disconnect-doctor/store"
)

// TestIngestRate: records new to the engine are sampled every SampleEvery,
// the samples survive a new Rollup (another instance), and PerMinute reads
// the rate over a window.
func TestIngestRate(t *testing.T) {
	ctx := context.Background()
	st := store.NewMemory()
	t0 := time.Date(2026, 12, 6, 10, 0, 0, 0, time.UTC)
	r := New(st, 7*24*time.Hour)
	for i := range 11 { // one tick a minute, 100 new records each
		r.Note(nil, 100)
		if err := r.SaveSample(ctx, t0.Add(time.Duration(i)*time.Minute)); err != nil {
			t.Fatal(err)
		}
	}
	ss, err := ReadSamples(ctx, st)
	if err != nil {
		t.Fatal(err)
	}
	if len(ss) != 3 { // minutes 0, 5, 10
		t.Fatalf("%d samples, want 3: %v", len(ss), ss)
	}
	tests := []struct {
		window time.Duration
		rate   float64
		ok     bool
	}{{20 * time.Minute, 100, true}, {5 * time.Minute, 100, true}, {time.Minute, 0, false}}
	for _, tt := range tests {
		rate, ok := PerMinute(ss, tt.window)
		if ok != tt.ok || rate != tt.rate {
			t.Errorf("PerMinute(%s) = %v, %v; want %v, %v", tt.window, rate, ok, tt.rate, tt.ok)
		}
	}
	// Another instance carries the running total on.
	r2 := New(st, 7*24*time.Hour)
	r2.Note(nil, 1000)
	if err := r2.SaveSample(ctx, t0.Add(15*time.Minute)); err != nil {
		t.Fatal(err)
	}
	ss, _ = ReadSamples(ctx, st)
	if got := ss[len(ss)-1].Read - ss[len(ss)-2].Read; got != 1000 {
		t.Errorf("the new instance's sample adds %d, want 1000", got)
	}
}
