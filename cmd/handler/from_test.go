package main

import (
	"testing"
	"time"

	"github.com/disconnect-doctor/disconnect-doctor/classify"
	"github.com/disconnect-doctor/disconnect-doctor/sim"
)

// TestFrom checks what the settled score keeps: t itself and after, to the
// second, as ScoreDiagnoses pairs a diagnosis with its true 404104.
func TestFrom(t *testing.T) {
	at := time.Date(2024, 5, 14, 7, 12, 0, 0, time.UTC)
	cases := []struct {
		name string
		x    time.Time
		keep bool
	}{
		{"a second before", at.Add(-time.Second), false},
		{"within the second before", at.Add(-time.Millisecond), false},
		{"at it", at, true},
		{"within its second", at.Add(500 * time.Millisecond), true},
		{"later", at.Add(2 * time.Hour), true},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			truth := []sim.Truth{{Hub: "h", Device: "d", Time: c.x, Cause: classify.TokenExpiry}}
			ds := []classify.Diagnosis{{Time: c.x, Cause: classify.TokenExpiry}}
			ts, got := from(truth, ds, at)
			if (len(ts) == 1) != c.keep || (len(got) == 1) != c.keep {
				t.Errorf("%s: kept %d truths and %d diagnoses, want kept=%v", c.x.Format(time.RFC3339Nano), len(ts), len(got), c.keep)
			}
		})
	}
}
