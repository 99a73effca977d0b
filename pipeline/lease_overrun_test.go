package pipeline

import (
	"context"
	"errors"
	"testing"
	"time"

	"github.com/disconnect-doctor/disconnect-doctor/event"
	"github.com/disconnect-doctor/disconnect-doctor/store"
)

// slowRead advances the shared clock by d in the first ReadEvents after it
// is armed, and then runs meanwhile (if set): a tick whose read of a burst
// outlasts its whole lease, before its lease check.
type slowRead struct {
	store.Store
	c         *clock
	d         time.Duration
	armed     bool
	meanwhile func()
}

func (s *slowRead) ReadEvents(ctx context.Context, from, to time.Time, fn func([]event.Event, []store.Mark) error) error {
	if s.armed {
		s.armed = false
		s.c.t = s.c.t.Add(s.d)
		if s.meanwhile != nil {
			s.meanwhile()
		}
	}
	return s.Store.ReadEvents(ctx, from, to, fn)
}

// TestTickOutlastingItsLease: a tick that runs longer than its whole lease
// (a hub dropping on a loaded instance) still holds it if no other instance
// took it meanwhile — the lease is taken back under the same epoch and the
// tick commits — and is fenced if one did. Found by
// e2e/storage TestHubDropping20kUnderHandler: with one instance, every tick
// longer than 1.5 timer periods failed with "the evaluate lease passed to
// another instance".
func TestTickOutlastingItsLease(t *testing.T) {
	for _, tc := range []struct {
		name     string
		takeover bool
		fenced   bool
	}{
		{name: "alone: the tick commits", takeover: false, fenced: false},
		{name: "another instance took over: fenced", takeover: true, fenced: true},
	} {
		t.Run(tc.name, func(t *testing.T) {
			ctx := context.Background()
			mem := store.NewMemory()
			c := &clock{t: time.Date(2026, 11, 29, 10, 0, 0, 0, time.UTC)}
			slow := &slowRead{Store: mem, c: c}
			a, b := newPipeline(t, slow, c, "a"), newPipeline(t, mem, c, "b")
			const period = 20 * time.Second
			for range 3 { // a measures the period: its lease lasts 30 s
				if r, err := a.Tick(ctx); err != nil || r.Skipped != "" {
					t.Fatalf("holder: %+v %v", r, err)
				}
				c.t = c.t.Add(period)
			}
			ingestLogs(t, a, "logs/0", logRecord(c.t.Add(-time.Minute), "Connections", "deviceConnect", "", "d1"))
			slow.d, slow.armed = 45*time.Second, true
			if tc.takeover {
				slow.meanwhile = func() {
					if r, err := b.Tick(ctx); err != nil || r.Skipped != "" {
						t.Errorf("b could not take the expired lease: %+v %v", r, err)
					}
				}
			}
			_, err := a.Tick(ctx)
			if slow.armed {
				t.Fatal("the tick read nothing: the test did not stall it")
			}
			if got := errors.Is(err, errFenced); got != tc.fenced {
				t.Fatalf("tick outlasting its lease: error %v, fenced %v, want fenced %v", err, got, tc.fenced)
			}
			if !tc.fenced && err != nil {
				t.Fatalf("tick outlasting its lease, alone: %v", err)
			}
		})
	}
}
