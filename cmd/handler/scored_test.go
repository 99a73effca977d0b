package main

import (
	"testing"
	"time"

	"github.com/disconnect-doctor/disconnect-doctor/classify"
	"github.com/disconnect-doctor/disconnect-doctor/sim"
)

// TestScoredWindow checks the window the run scores: from is kept, until is
// not, and sub-second times count at their second, as ScoreDiagnoses pairs
// them.
func TestScoredWindow(t *testing.T) {
	from := time.Date(2024, 5, 14, 7, 12, 0, 0, time.UTC)
	until := from.Add(time.Hour)
	cases := []struct {
		name string
		at   time.Time
		from time.Time
		keep bool
	}{
		{"before from", from.Add(-time.Second), from, false},
		{"at from", from, from, true},
		{"within the second before from", from.Add(-time.Millisecond), from, false},
		{"inside", from.Add(30 * time.Minute), from, true},
		{"last second", until.Add(-time.Second), from, true},
		{"within until's second", until.Add(500 * time.Millisecond), from, false},
		{"at until", until, from, false},
		{"no lower bound", from.Add(-time.Hour), time.Time{}, true},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			truth := []sim.Truth{{Hub: "h", Device: "d", Time: c.at, Cause: classify.TokenExpiry}}
			ds := []classify.Diagnosis{{Time: c.at, Cause: classify.TokenExpiry}}
			ts, got := scored(truth, ds, c.from, until)
			if (len(ts) == 1) != c.keep || (len(got) == 1) != c.keep {
				t.Errorf("%s kept %d truths and %d diagnoses, want kept=%v", c.at.Format(time.RFC3339Nano), len(ts), len(got), c.keep)
			}
		})
	}
}
