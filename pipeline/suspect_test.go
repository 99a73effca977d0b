package pipeline

import (
	"context"
	"fmt"
	"strings"
	"testing"
	"time"

	"github.com/rs/zerolog"

	"github.com/disconnect-doctor/disconnect-doctor/alert"
	"github.com/disconnect-doctor/disconnect-doctor/classify"
	"github.com/disconnect-doctor/disconnect-doctor/event"
	"github.com/disconnect-doctor/disconnect-doctor/ingest"
	"github.com/disconnect-doctor/disconnect-doctor/store"
)

// TestSuspicionWithdrawn drives the early incident detector through the
// pipeline on a simulated wall clock: a burst of Event Grid disconnects
// across the fleet's networks is notified at once as a suspected
// hub-incident; the resource logs that arrive minutes later show clean
// 404104s and no hub-side error, so once they (and the watermark) have
// passed the burst it is withdrawn — a resolved of the same alert that says
// it was not the hub.
func TestSuspicionWithdrawn(t *testing.T) {
	ctx := context.Background()
	st := store.NewMemory()
	hook := &channel{}
	t0 := time.Date(2026, 12, 6, 10, 0, 0, 0, time.UTC)
	c := &clock{t: t0.Add(-45 * time.Minute)}
	p, err := New(Options{Config: testConfig(t), Store: st, Now: c.Now, Instance: "x", Log: zerolog.Nop(), ReadSafety: -1,
		Channels: map[string]alert.Notifier{"webhook": hook}})
	if err != nil {
		t.Fatal(err)
	}
	const hub, n = "h1", 200
	dev := func(i int) string { return fmt.Sprintf("d%03d", i) }
	ip := func(i int) string { return fmt.Sprintf("10.1.%d.XXX", i/5) } // 40 networks of 5
	seq := 0
	id := func() event.ID { seq++; return event.ID{byte(seq), byte(seq >> 8), byte(seq >> 16)} }
	logRec := func(kind event.Kind, i int, at time.Time, code int) event.Event {
		return event.Event{ID: id(), Source: event.ResourceLog, Kind: kind, Hub: hub, Device: dev(i), Time: at,
			Category: "Connections", MaskedIP: ip(i), Code: code, Protocol: "Mqtt"}
	}
	grid := func(kind event.Kind, i int, at time.Time) event.Event {
		return event.Event{ID: id(), Source: event.EventGrid, Kind: kind, Hub: hub, Device: dev(i), Time: at}
	}
	push := func(writer string, evs ...event.Event) {
		t.Helper()
		res := &ingest.Result{Events: evs, Read: len(evs)}
		for _, e := range evs {
			if e.Time.After(res.Newest) {
				res.Newest = e.Time
			}
		}
		if err := p.Ingest(ctx, writer, res); err != nil {
			t.Fatal(err)
		}
	}
	// The devices connected over the 45 minutes before, one every 12 s
	// (logs and Event Grid); one device a minute drops and comes back (the
	// usual rate).
	var conns, grids []event.Event
	for i := range n {
		at := c.t.Add(time.Duration(i) * 12 * time.Second)
		conns = append(conns, logRec(event.Connect, i, at, 0))
		grids = append(grids, grid(event.StateConnected, i, at))
	}
	push("logs/0", conns...)
	push("eventgrid", grids...)
	burst := t0.Add(10 * time.Second)
	var notes []alert.Notification
	tickTo := func(until time.Time) {
		t.Helper()
		for c.t.Before(until) {
			c.t = c.t.Add(30 * time.Second)
			if c.t.Sub(t0) < 0 && c.t.Second() == 0 {
				i := int(c.t.Sub(t0.Add(-45*time.Minute))/time.Minute) + 100
				push("eventgrid", grid(event.StateDisconnected, i, c.t), grid(event.StateConnected, i, c.t.Add(5*time.Second)))
				push("logs/0", logRec(event.Connect, i%n, c.t.Add(-4*time.Minute), 0)) // the logs keep coming, 4 min late
			}
			if _, err := p.Tick(ctx); err != nil {
				t.Fatal(err)
			}
		}
		notes = nil
		hook.mu.Lock()
		notes = append(notes, hook.got...)
		hook.mu.Unlock()
	}
	tickTo(t0)
	// The burst: a fifth of the fleet, every network, within 5 seconds.
	var drops []event.Event
	for i := 0; i < n; i += 5 {
		drops = append(drops, grid(event.StateDisconnected, i, burst.Add(time.Duration(i%5)*time.Second)))
	}
	push("eventgrid", drops...)
	tickTo(t0.Add(time.Minute))
	if len(notes) != 1 || !notes[0].Suspected() || notes[0].Status != alert.StatusFiring || notes[0].Kind != classify.HubIncident {
		t.Fatalf("want one suspected hub-incident, got %+v", notes)
	}
	// Four minutes later the logs: clean 404104s and reconnects, then
	// ordinary traffic past the burst.
	c.t = t0.Add(4 * time.Minute)
	var logs []event.Event
	for i := 0; i < n; i += 5 {
		logs = append(logs, logRec(event.Disconnect, i, burst, event.CodeConnectionClosedRemotely),
			logRec(event.Connect, i, burst.Add(20*time.Second), 0))
	}
	push("logs/0", logs...)
	for k := 1; k <= 12; k++ {
		c.t = t0.Add(4*time.Minute + time.Duration(k)*30*time.Second)
		push("logs/0", logRec(event.Connect, k, c.t.Add(-time.Minute), 0))
		if _, err := p.Tick(ctx); err != nil {
			t.Fatal(err)
		}
	}
	tickTo(t0.Add(15 * time.Minute))
	if len(notes) != 2 {
		t.Fatalf("want the suspicion and its withdrawal, got %d: %+v", len(notes), notes)
	}
	w := notes[1]
	if w.Status != alert.StatusResolved || !w.Suspected() || w.StatusTag() != "[RESOLVED][WITHDRAWN]" ||
		!strings.Contains(w.Alerts[0].Summary, "not an IoT Hub incident") || w.Alerts[0].StartsAt != notes[0].Alerts[0].StartsAt {
		t.Fatalf("withdrawal %+v", w)
	}
	t.Logf("suspected: %s; withdrawn: %s %v", notes[0].Alerts[0].Summary, w.Alerts[0].Summary, w.Alerts[0].Evidence)
}
