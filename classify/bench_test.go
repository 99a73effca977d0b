package classify

import (
	"fmt"
	"runtime"
	"testing"
	"time"

	"github.com/disconnect-doctor/disconnect-doctor/event"
)

// steadyStream is a fleet of n devices in steady state: each connects,
// expires its token (401003 + 404104) after ~65 minutes and reconnects, with
// occasional network drops; ordered by time, as a partition delivers it.
func steadyStream(n int, hours int) []event.Event {
	evs := make([]event.Event, 0, n*(1+hours*3))
	for i := range n {
		dev := fmt.Sprintf("dev-%06d", i)
		c := at(time.Duration(i%3600) * time.Second)
		evs = append(evs, connect(dev, c, 0, ""))
		for c.Before(at(time.Duration(hours) * time.Hour)) {
			x := c.Add(65*time.Minute + time.Duration(i%7)*time.Second)
			evs = append(evs, expiry(dev, x, 9*time.Second)...)
			c = x.Add(9 * time.Second)
		}
	}
	return sortByTime(evs)
}

// BenchmarkIngest measures Ingest throughput in steady state: devices
// already tracked, a Tick (not timed) every 20k events as Evaluate would do,
// batches of 1000 events in time order. Run with -cpu 1 for one core.
func BenchmarkIngest(b *testing.B) {
	evs := steadyStream(20000, 8)
	e := New(testConfig())
	var st *State
	var pos, warm int
	reset := func() {
		st = NewState()
		warm = 0
		for warm < len(evs) && evs[warm].Time.Before(at(2*time.Hour)) {
			warm++
		}
		for i := 0; i < warm; i += 20000 {
			j := min(i+20000, warm)
			e.Ingest(st, evs[i:j])
			e.Tick(st, evs[j-1].Time.Add(-5*time.Minute))
		}
		pos = warm
	}
	reset()
	b.ReportAllocs()
	done := 0
	for b.Loop() {
		if pos >= len(evs) {
			b.StopTimer()
			reset()
			b.StartTimer()
		}
		j := min(pos+1000, len(evs))
		e.Ingest(st, evs[pos:j])
		done += j - pos
		pos = j
		if (pos-warm)%20000 == 0 {
			b.StopTimer()
			e.Tick(st, evs[pos-1].Time.Add(-5*time.Minute))
			b.StartTimer()
		}
	}
	b.ReportMetric(float64(done)/b.Elapsed().Seconds(), "events/s")
}

// BenchmarkStateBytes reports the serialized bytes per tracked device after
// six hours of steady-state traffic (token renewals with a few network drops).
func BenchmarkStateBytes(b *testing.B) {
	evs := steadyStream(2000, 6)
	e := New(testConfig())
	st := NewState()
	for i := 0; i < len(evs); i += 500 {
		j := min(i+500, len(evs))
		e.Ingest(st, evs[i:j])
		e.Tick(st, evs[j-1].Time.Add(-5*time.Minute))
	}
	var total, worst int
	for b.Loop() {
		total, worst = 0, 0
		for k := range st.devices {
			blob, err := st.MarshalDevice(k)
			if err != nil {
				b.Fatal(err)
			}
			total += len(blob)
			worst = max(worst, len(blob))
		}
	}
	b.ReportMetric(float64(total)/float64(len(st.devices)), "bytes/device")
	b.ReportMetric(float64(worst), "max-bytes/device")
}

// BenchmarkTick100k measures one Tick with 100k tracked devices, 1k of them
// touched since the last Tick (a minute of traffic) and the rest idle.
func BenchmarkTick100k(b *testing.B) {
	e := New(testConfig())
	st := NewState()
	var evs []event.Event
	for i := range 100000 {
		dev := fmt.Sprintf("dev-%06d", i)
		evs = append(evs, connect(dev, at(time.Duration(i%3600)*time.Second), 0, ""))
	}
	e.Ingest(st, evs)
	e.Tick(st, at(2*time.Hour))
	wm := at(2 * time.Hour)
	b.ReportAllocs()
	i := 0
	for b.Loop() {
		b.StopTimer()
		batch := make([]event.Event, 0, 3000)
		for j := range 1000 {
			dev := fmt.Sprintf("dev-%06d", (i*1000+j)%100000)
			batch = append(batch, expiry(dev, wm.Add(4*time.Minute), 9*time.Second)...)
		}
		e.Ingest(st, batch)
		wm = wm.Add(time.Minute)
		i++
		b.StartTimer()
		e.Tick(st, wm)
	}
	b.ReportMetric(float64(st.Devices()), "devices")
}

// BenchmarkResidentPerDevice measures the heap a tracked device keeps
// resident in the State, Go's overhead included (maps, slices, strings,
// the per-device work sets): live heap after a GC with the State built,
// less the live heap before, per device, for 20 000 devices after twelve
// hours of steady traffic (token renewals every ~65 minutes). Twelve hours
// make every device mature: its token-period samples at maxSamples and its
// timeline at the revision horizon, as a device in production is after its
// first day (six hours left the samples short of their bound). Issue 9's
// target is ≤ 1 KiB per device.
func BenchmarkResidentPerDevice(b *testing.B) {
	const n, hours = 20000, 12
	evs := steadyStream(n, hours)
	e := New(testConfig())
	var perDev float64
	for b.Loop() {
		before := liveHeap()
		st := NewState()
		for i := 0; i < len(evs); i += 5000 {
			j := min(i+5000, len(evs))
			e.Ingest(st, evs[i:j])
			e.Tick(st, evs[j-1].Time.Add(-5*time.Minute))
		}
		st.ClearDirty()
		after := liveHeap()
		perDev = float64(after-before) / float64(st.Devices())
		runtime.KeepAlive(st)
	}
	b.ReportMetric(perDev, "resident-B/device")
}

// liveHeap returns the bytes of live heap objects after a full GC.
func liveHeap() uint64 {
	runtime.GC()
	runtime.GC()
	var ms runtime.MemStats
	runtime.ReadMemStats(&ms)
	return ms.HeapAlloc
}
