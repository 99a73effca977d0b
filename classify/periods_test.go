package classify

import (
	"testing"
	"time"

	"github.com/disconnect-doctor/disconnect-doctor/event"
)

// TestEachPeriod: a .NET device whose hub cuts it every 60 minutes (401003
// beside each 404104) and then drops after 17 minutes shows a 1h period and
// one session off it; a Node device (clean renewals) learns no period.
func TestEachPeriod(t *testing.T) {
	var evs []event.Event
	evs = append(evs, sdkConnect("net-1", at(0), sdkDotNetV, "Mqtt"))
	s := at(0)
	for range 4 {
		s = s.Add(time.Hour)
		evs = append(evs, u401("net-1", s), d404("net-1", s), sdkConnect("net-1", s.Add(10*time.Second), sdkDotNetV, "Mqtt"))
		s = s.Add(10 * time.Second)
	}
	off := s.Add(17 * time.Minute)
	evs = append(evs, d404("net-1", off), sdkConnect("net-1", off.Add(20*time.Second), sdkDotNetV, "Mqtt"))
	evs = append(evs, sdkConnect("node-1", at(0), "azure-iot-device/1.18.0 (node v18.0.0; Linux; x64)", "Mqtt"),
		d404("node-1", at(hms(2, 0, 0))), sdkConnect("node-1", at(hms(2, 0, 30)), "azure-iot-device/1.18.0 (node v18.0.0; Linux; x64)", "Mqtt"))
	r := feed(t, testConfig(), sortByTime(evs), 10, time.Hour)

	if hs := r.st.Hubs(); len(hs) != 1 || hs[0].Name != testHub || !hs[0].First.Equal(at(0)) {
		t.Errorf("hubs %+v", hs)
	}
	views := map[string]PeriodView{}
	r.st.EachPeriod(at(0), off.Add(time.Hour), func(v PeriodView) { views[v.Key.Device] = v })
	n := views["net-1"]
	if n.SDK != ".NET" || n.AMQP || n.Period < 59*time.Minute || n.Period > 61*time.Minute {
		t.Errorf("net-1 %+v", n)
	}
	if n.Disconnects != 5 || n.Off != 1 || n.OffSession != 17*time.Minute || !n.OffAt.Equal(off) {
		t.Errorf("net-1 off-period facts %+v", n)
	}
	if v := views["node-1"]; v.SDK != "Node.js" || v.Period != 0 || v.Off != 0 {
		t.Errorf("node-1 %+v", v)
	}
	// A window that ends before the off-period drop holds only on-period ones.
	r.st.EachPeriod(at(0), off, func(v PeriodView) {
		if v.Key.Device == "net-1" && (v.Off != 0 || v.Disconnects != 4) {
			t.Errorf("window before the drop: %+v", v)
		}
	})
}

// BenchmarkEachPeriod100k measures the daily digest's pass over the engine:
// 100 000 devices after 12 hours of token renewals every ~65 minutes
// (samples are capped at maxSamples per device, so a longer history costs
// no more), one EachPeriod over the day.
func BenchmarkEachPeriod100k(b *testing.B) {
	const n = 100_000
	e := New(testConfig())
	st := NewState()
	evs := steadyStream(n, 12)
	for i := 0; i < len(evs); i += 100_000 {
		e.Ingest(st, evs[i:min(i+100_000, len(evs))])
	}
	e.Tick(st, at(13*time.Hour))
	evs = nil
	samples := 0
	st.EachPeriod(at(0), at(24*time.Hour), func(v PeriodView) { samples += v.Disconnects })
	b.ReportAllocs()
	for b.Loop() {
		views := 0
		st.EachPeriod(at(0), at(24*time.Hour), func(PeriodView) { views++ })
	}
	b.ReportMetric(float64(samples)/n, "samples/device")
}
