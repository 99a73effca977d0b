package store_test

import (
	"time"

	"github.com/disconnect-doctor/disconnect-doctor/event"
	"testing"

	"github.com/disconnect-doctor/disconnect-doctor/store"
	"github.com/disconnect-doctor/disconnect-doctor/store/storetest"
)

func TestMemoryConformance(t *testing.T) {
	storetest.Run(t, func(t *testing.T) store.Store {
		m := store.NewMemory()
		t.Cleanup(func() { _ = m.Close() })
		return m
	})
}

// TestMemoryForgetReadEvents: with ForgetReadEvents, a read drops the
// events stamped more than keep before its start, and only those; with it
// the store still passes the whole conformance suite.
func TestMemoryForgetReadEvents(t *testing.T) {
	const keep = 10 * time.Minute
	t.Run("conformance", func(t *testing.T) {
		storetest.Run(t, func(t *testing.T) store.Store {
			m := store.NewMemory(store.ForgetReadEvents(keep))
			t.Cleanup(func() { _ = m.Close() })
			return m
		})
	})
	ctx := t.Context()
	m := store.NewMemory(store.ForgetReadEvents(keep))
	stamps := []time.Duration{0, 5 * time.Minute, 20 * time.Minute, 25 * time.Minute, 40 * time.Minute}
	for i, d := range stamps {
		at := storetest.T0.Add(d)
		if err := m.AppendEvents(ctx, at, []event.Event{storetest.Event(i, "hub", "dev", at)}, nil); err != nil {
			t.Fatal(err)
		}
	}
	count := func(from time.Time) int {
		n := 0
		if err := m.ReadEvents(ctx, from, storetest.T0.Add(time.Hour), func(evs []event.Event, _ []store.Mark) error {
			n += len(evs)
			return nil
		}); err != nil {
			t.Fatal(err)
		}
		return n
	}
	// Reads from T0+30m: 20m and 25m are kept (within keep), 0 and 5m go.
	if n := count(storetest.T0.Add(30 * time.Minute)); n != 1 {
		t.Fatalf("read from T0+30m: %d events, want 1", n)
	}
	if n := count(storetest.T0); n != 3 {
		t.Fatalf("after it, read from T0: %d events, want the 3 stamped since T0+20m", n)
	}
}
