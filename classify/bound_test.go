package classify

import (
	"encoding/binary"
	"math"
	"strconv"
	"testing"
	"time"

	"github.com/disconnect-doctor/disconnect-doctor/event"
)

// blobBound is the most any state blob may hold whatever an incident's size
// (issue 9): well under Table storage's entity limit.
const blobBound = 64 << 10

// TestHubBlobBoundedByIncident: one hub minute in which 1 000 000 distinct
// devices drop unexplained and 10 000 000 hub-side error records arrive
// (plus a redelivery of a million of them) leaves the hub blob under
// blobBound, while the counts stay right: the devices exactly, the error
// records within the sketch's error, the redelivery counted once.
//
// The error records go through Ingest. The devices go through syncBuckets,
// the one path by which a device's 404104 reaches the hub, one device value
// at a time, not held in a State: a million resident devices would cost the
// test a gigabyte, and the hub never sees them anyway: it keeps counts, and
// each device keeps what it added (its own blob, checked here too).
func TestHubBlobBoundedByIncident(t *testing.T) {
	const (
		nDev  = 1_000_000
		nErr  = 10_000_000
		nDup  = 1_000_000
		batch = 100_000
	)
	e := New(DefaultConfig())
	st := NewState()
	const hubName = "big-hub"
	m0 := time.Date(2024, 5, 14, 6, 43, 0, 0, time.UTC)
	t0 := m0.Unix()

	// a quiet hour first, so the hub has a baseline and the minute is open
	quiet := []event.Event{{ID: idOf(1 << 62), Source: event.ResourceLog, Kind: event.Operation, Category: "DeviceTelemetry",
		Code: 500001, Hub: hubName, Device: "d", Time: m0.Add(-time.Hour)}}
	e.Ingest(st, quiet)
	e.Tick(st, m0.Add(-55*time.Minute))
	h := st.hubs[hubName]

	evs := make([]event.Event, batch)
	ingest := func(from, n int) {
		for i := from; i < from+n; i += batch {
			k := min(batch, from+n-i)
			for j := range k {
				x := i + j
				evs[j] = event.Event{ID: idOf(uint64(x)), Source: event.ResourceLog, Kind: event.Operation,
					Category: "DeviceTelemetry", Code: 500001, Hub: hubName,
					Time: time.Unix(t0+int64(x%60), 0).UTC()}
			}
			e.Ingest(st, evs[:k])
		}
	}
	ingest(0, nErr)
	before := h.buckets[t0/60].errs
	ingest(0, nDup) // redelivered
	if got := h.buckets[t0/60].errs; got != before {
		t.Errorf("redelivering %d records moved the count from %d to %d", nDup, before, got)
	}
	if rel := math.Abs(float64(before)-nErr) / nErr; rel > 0.05 {
		t.Errorf("hub-side errors counted %d, want %d within 5%%", before, nErr)
	}

	var largestDev int
	for i := range nDev {
		d := &device{key: event.Key{Hub: hubName, Device: "dev-" + strconv.Itoa(i)}, contribKnown: true}
		d.entries = []entry{{id: idOf(uint64(nErr + i)), t: t0 + int64(i%60), code: event.CodeConnectionClosedRemotely,
			kind: event.Disconnect, src: event.ResourceLog}}
		e.syncBuckets(st, h, d)
		if i%batch == 0 {
			largestDev = max(largestDev, len(encodeDevice(d)))
			st.ClearDirty() // what the pipeline does once it saved them
		}
	}
	if largestDev > blobBound {
		t.Errorf("a device blob holds %d bytes", largestDev)
	}
	if b := h.buckets[t0/60]; b.nDev != nDev {
		t.Fatalf("minute counts %d unexplained devices, want %d", b.nDev, nDev)
	}

	check := func(when string) *hub {
		t.Helper()
		blob, err := st.MarshalHub(hubName)
		if err != nil {
			t.Fatal(err)
		}
		if len(blob) > blobBound {
			t.Errorf("%s: hub blob is %d bytes, over %d", when, len(blob), blobBound)
		}
		back, err := decodeHub(hubName, blob)
		if err != nil {
			t.Fatalf("%s: %v", when, err)
		}
		t.Logf("%s: hub blob %d bytes", when, len(blob))
		return back
	}
	// the minute still open (within lateness): its sketch and second counts
	out := e.Tick(st, m0.Add(2*time.Minute))
	back := check("open minute")
	if b := back.buckets[t0/60]; b.nDev != nDev || b.errs != before || b.seen == nil || b.seen.count() != before {
		t.Errorf("decoded open minute: %d devices, %d errors; want %d, %d", b.nDev, b.errs, nDev, before)
	}
	if len(out.Incidents) != 1 || out.Incidents[0].Devices != nDev {
		t.Fatalf("incidents %+v, want one of %d devices", out.Incidents, nDev)
	}
	// past lateness: counts only
	e.Tick(st, m0.Add(20*time.Minute))
	back = check("closed minute")
	if b := back.buckets[t0/60]; b == nil || !b.compact || b.nDev != nDev {
		t.Errorf("decoded closed minute %+v", b)
	}
}

func idOf(x uint64) event.ID {
	var id event.ID
	binary.LittleEndian.PutUint64(id[:], x)
	binary.LittleEndian.PutUint64(id[8:], ^x)
	return id
}

// TestWindowCountsExact: as records arrive in random order and late 401003s
// turn devices' 404104s from unexplained to explained, the hub's counts
// (devices per minute, per second, and their overlaps) give exactly the
// distinct unexplained devices of every window of up to burstWindow
// minutes that the member sets of the previous layout gave.
func TestWindowCountsExact(t *testing.T) {
	rng := uint64(7)
	next := func(n int) int {
		rng = rng*6364136223846793005 + 1442695040888963407
		return int(rng>>33) % n
	}
	base := at(hms(2, 0, 0))
	var evs []event.Event
	for i := range 300 {
		dev := "dev-" + strconv.Itoa(i)
		for range 1 + next(4) {
			x := base.Add(time.Duration(next(6*60)) * time.Second)
			evs = append(evs, d404(dev, x))
			if next(4) == 0 {
				evs = append(evs, u401(dev, x)) // explains it
			}
		}
	}
	// shuffle: arrival order is not event order
	for i := len(evs) - 1; i > 0; i-- {
		j := next(i + 1)
		evs[i], evs[j] = evs[j], evs[i]
	}
	e := New(testConfig())
	st := NewState()
	for i := 0; i < len(evs); i += 37 {
		e.Ingest(st, evs[i:min(i+37, len(evs))])
		e.Tick(st, base.Add(-time.Hour)) // nothing final, every minute open
		h := st.hubs[testHub]
		m0 := base.Unix() / 60
		for from := m0 - 1; from <= m0+6; from++ {
			for to := from; to < from+burstWindow; to++ {
				want := map[event.Key]bool{}
				secs := map[int64]int32{}
				for k, d := range st.devices {
					seen := map[int64]bool{}
					for j := range d.entries {
						x := &d.entries[j]
						m := floorDiv(x.t, 60)
						if !x.is404104() || seen[m] {
							continue
						}
						if te := d.tokenEvidence(x.t, 0, closeMatch); te.beside < 0 && !te.close {
							seen[m] = true
							if m >= from && m <= to {
								want[k] = true
							}
							if from == to && m == from {
								secs[x.t-m*60]++
							}
						}
					}
				}
				if u, _, _ := h.windowStats(from, to); u != len(want) {
					t.Fatalf("after %d records, minutes %d..%d: %d devices counted, want %d", i, from-m0, to-m0, u, len(want))
				}
				if b := h.buckets[from]; from == to && b != nil {
					for s := range int64(60) {
						if b.secs[s] != secs[s] {
							t.Fatalf("minute %d second %d: %d devices, want %d", from-m0, s, b.secs[s], secs[s])
						}
					}
				}
			}
		}
	}
}
