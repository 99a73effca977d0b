package funchost

import (
	"encoding/json"
	"fmt"
	"testing"
	"time"
)

func TestBatchRuleForm(t *testing.T) {
	t0 := time.Date(2026, 12, 6, 10, 0, 0, 0, time.UTC)
	at := func(secs ...float64) []time.Time {
		out := make([]time.Time, len(secs))
		for i, s := range secs {
			out[i] = t0.Add(time.Duration(s * float64(time.Second)))
		}
		return out
	}
	// render is a batch as "from-to@second".
	render := func(bs []FormedBatch) string {
		s := ""
		for _, b := range bs {
			s += fmt.Sprintf("%d-%d@%g ", b.From, b.To, b.At.Sub(t0).Seconds())
		}
		return s
	}
	tests := []struct {
		name string
		rule BatchRule
		in   []time.Time
		want string
	}{
		{"min 1: each receive at once", BatchRule{Max: 32, Min: 1}, at(0, 1, 1, 5), "0-1@0 1-3@1 3-4@5 "},
		{"min 1: max bounds a receive", BatchRule{Max: 2, Min: 1}, at(0, 0, 0), "0-2@0 2-3@0 "},
		{"min reached: dispatched at once", BatchRule{Max: 32, Min: 3, MaxWait: 10 * time.Second}, at(0, 1, 2, 3), "0-3@2 3-4@13 "},
		{"trickle: partial batch after maxWait", BatchRule{Max: 32, Min: 32, MaxWait: 10 * time.Second}, at(0, 4, 9, 12, 30), "0-3@10 3-4@22 4-5@40 "},
		{"event at the timer's instant waits for the next", BatchRule{Max: 32, Min: 32, MaxWait: 10 * time.Second}, at(0, 10), "0-1@10 1-2@20 "},
		{"max below min", BatchRule{Max: 2, Min: 3, MaxWait: time.Second}, at(0, 0, 0), "0-2@0 2-3@1 "},
		{"nothing", BatchRule{Max: 32, Min: 32, MaxWait: time.Second}, nil, ""},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			if got := render(tc.rule.Form(tc.in)); got != tc.want {
				t.Errorf("Form = %q, want %q", got, tc.want)
			}
		})
	}
}

func TestHostConfigBatchRule(t *testing.T) {
	var c HostConfig
	if err := json.Unmarshal([]byte(`{"extensions":{"eventHubs":{"maxEventBatchSize":32,"minEventBatchSize":16,"maxWaitTime":"00:00:10"}}}`), &c); err != nil {
		t.Fatal(err)
	}
	if got, want := c.BatchRule(), (BatchRule{Max: 32, Min: 16, MaxWait: 10 * time.Second}); got != want {
		t.Errorf("BatchRule = %+v, want %+v", got, want)
	}
	// Keys left out take the extension's defaults (reference §4.4).
	if got, want := (HostConfig{}).BatchRule(), (BatchRule{Max: 100, MaxWait: time.Minute}); got != want {
		t.Errorf("default BatchRule = %+v, want %+v", got, want)
	}
}
