package pipeline

import (
	"context"
	"testing"
	"time"

	"github.com/disconnect-doctor/disconnect-doctor/store"
)

// storedDiagnoses counts the diagnoses in the store.
func storedDiagnoses(t *testing.T, st store.Store) int {
	t.Helper()
	ds, _, err := st.ListDiagnoses(context.Background(), store.DiagnosisQuery{Limit: 1000})
	if err != nil {
		t.Fatal(err)
	}
	return len(ds)
}

// TestDiagnosesHeldUntilCommit: a tick that emits diagnoses and notifies
// nothing holds them; the commit writes them; a holder that dies with
// diagnoses held loses nothing — its successor, reloading the last commit,
// emits and writes them again. A tick that notifies writes at once (the
// notification's link must find its diagnosis).
func TestDiagnosesHeldUntilCommit(t *testing.T) {
	mem := store.NewMemory()
	c := &clock{t: time.Date(2026, 12, 6, 10, 0, 30, 0, time.UTC)}
	hook := &channel{}
	a := hubPipeline(t, mem, c, "a", hook)
	ticks(t, a, c, 1) // the first tick commits
	ingestLogs(t, a, "logs/0",
		logRecord(c.t.Add(-30*time.Minute), "Connections", "deviceConnect", "", "d1"),
		logRecord(c.t.Add(-20*time.Second), "Connections", "deviceDisconnect", "404104", "d1"))
	held := false
	for range 4 {
		c.t = c.t.Add(time.Minute)
		r, err := a.Tick(context.Background())
		if err != nil {
			t.Fatal(err)
		}
		if r.Diagnoses > 0 && r.Notifications == 0 && a.res.ticks != 0 {
			held = true
			if n := storedDiagnoses(t, mem); n != 0 {
				t.Fatalf("a tick that committed nothing and notified nothing wrote %d diagnoses", n)
			}
		}
	}
	if !held {
		t.Fatal("setup: no tick emitted a diagnosis between commits")
	}
	// a dies holding them; b takes over once a's lease has run out
	b := hubPipeline(t, mem, c, "b", hook)
	c.t = c.t.Add(a.leaseTTL() + time.Second)
	ticks(t, b, c, 1)
	if n := storedDiagnoses(t, mem); n != 1 {
		t.Fatalf("after the successor's first tick: %d diagnoses stored, want 1 (emitted again and written)", n)
	}
	// A tick that notifies writes at once: an incident (30 devices) fires
	// hub-incident.
	ingestAll(t, b, hubBurst("h2", c.t.Add(-3*time.Minute), 30))
	for range 20 {
		before := storedDiagnoses(t, mem)
		c.t = c.t.Add(time.Minute)
		r, err := b.Tick(context.Background())
		if err != nil {
			t.Fatal(err)
		}
		if r.Notifications > 0 && r.Diagnoses > 0 {
			if after := storedDiagnoses(t, mem); after == before {
				t.Fatalf("a notifying tick with %d diagnoses wrote none", r.Diagnoses)
			}
			return
		}
	}
	t.Fatal("setup: no tick notified with diagnoses")
}

// TestUnchangedRowsNotWritten: state rows are written in one call per
// kind, and a row whose bytes did not change since this holder wrote it is
// left out (a batch of only such rows makes no call at all).
func TestUnchangedRowsNotWritten(t *testing.T) {
	cs := &counting{Store: store.NewMemory(), n: map[string]int{}}
	c := &clock{t: time.Date(2026, 12, 6, 10, 0, 0, 0, time.UTC)}
	p := newPipeline(t, cs, c, "x")
	ticks(t, p, c, 1)
	ctx := context.Background()
	write := func(rows map[string]string, dels ...string) {
		t.Helper()
		var b rowBatch
		for k, v := range rows {
			b.put(k, []byte(v))
		}
		b.del(dels...)
		if err := p.writeRows(ctx, store.MetaBlobs, &b); err != nil {
			t.Fatal(err)
		}
	}
	clear(cs.n)
	write(map[string]string{"watch": "1", "site/h": "a"})
	write(map[string]string{"watch": "1", "site/h": "a"}) // nothing changed: no call
	write(map[string]string{"watch": "2", "site/h": "a"}) // one row changed
	write(nil, "site/h")
	write(map[string]string{"site/h": "a"}) // deleted since: written again
	// calls by rows put + deleted
	want := map[string]int{"WriteBlobs:meta:2": 1, "WriteBlobs:meta:1": 3}
	for k, n := range want {
		if cs.n[k] != n {
			t.Errorf("%s: %d calls, want %d (all: %v)", k, cs.n[k], n, cs.n)
		}
	}
	if len(cs.n) != len(want) {
		t.Errorf("calls %v, want only %v", cs.n, want)
	}
	if b, err := cs.GetBlob(ctx, store.MetaBlobs, "watch"); err != nil || string(b.Data) != "2" {
		t.Errorf("watch row = %q, %v", b.Data, err)
	}
}

// TestSilencesReadWhenTheyMatter: with alerts live and no silence, a tick
// that notifies nothing reads the silences only every silenceEvery; a new
// silence is seen within that time; while a silence is in force every tick
// reads them (it may end or be expired through the API at any time).
func TestSilencesReadWhenTheyMatter(t *testing.T) {
	cs := &counting{Store: store.NewMemory(), n: map[string]int{}}
	c := &clock{t: time.Date(2026, 12, 6, 10, 0, 0, 0, time.UTC)}
	p := hubPipeline(t, cs, c, "a", &channel{})
	ingestLogs(t, p, "logs/0", // d1 goes offline and stays away: its alert stays live
		logRecord(c.t.Add(-30*time.Minute), "Connections", "deviceConnect", "", "d1"),
		logRecord(c.t.Add(-20*time.Second), "Connections", "deviceDisconnect", "404104", "d1"))
	quiet := func(n int) (ticks, reads int) {
		t.Helper()
		for range n {
			before := cs.n["ListSilences"]
			c.t = c.t.Add(time.Minute)
			r, err := p.Tick(context.Background())
			if err != nil {
				t.Fatal(err)
			}
			if r.Notifications == 0 {
				ticks++
				reads += cs.n["ListSilences"] - before
			}
		}
		return ticks, reads
	}
	for i := 0; p.res == nil || p.res.alerts.Len() == 0; i++ {
		if i == 60 {
			t.Fatal("setup: no live alert within an hour")
		}
		quiet(1)
	}
	if ticks, reads := quiet(10); ticks < 8 || reads > 2 {
		t.Errorf("no silence: %d reads in %d quiet ticks, want at most 2", reads, ticks)
	}
	s := store.Silence{ID: "maint", Device: "d1", StartsAt: c.t, EndsAt: c.t.Add(time.Hour), CreatedBy: "test"}
	if _, err := cs.PutSilence(context.Background(), s); err != nil {
		t.Fatal(err)
	}
	quiet(int(silenceEvery / time.Minute))
	recs := p.res.alerts.Records()
	if len(recs) == 0 || recs[0].SilencedBy != "maint" {
		t.Fatalf("live alerts %+v: not silenced by the new silence within %s", recs, silenceEvery)
	}
	if ticks, reads := quiet(4); reads != ticks {
		t.Errorf("a silence in force: %d reads in %d quiet ticks, want one each", reads, ticks)
	}
}
