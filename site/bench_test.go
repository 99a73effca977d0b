package site

import (
	"fmt"
	"testing"
	"time"

	"github.com/disconnect-doctor/disconnect-doctor/classify"
	"github.com/disconnect-doctor/disconnect-doctor/event"
)

// BenchmarkTickOutage10000 measures one tick of a hub with a 10 000-device
// site outage open (every row scanned for its count, and 2 000 token
// expiries elsewhere waiting for Keep): the per-tick cost while a large
// site is down.
func BenchmarkTickOutage10000(b *testing.B) {
	st := NewState()
	var evs []event.Event
	var ds []classify.Diagnosis
	for i := range 12000 {
		d := drop{id: fmt.Sprintf("dev-%05d", i), at: time.Duration(i) * 5 * time.Millisecond, ip: "203.0.113.XXX", cause: classify.DeviceOrNetwork}
		if i >= 10000 {
			d.ip, d.cause = fmt.Sprintf("10.%d.%d.XXX", i/256%256, i%256), classify.TokenExpiry
		}
		evs = append(evs, disconnect(d))
		ds = append(ds, diagnosis(d))
	}
	Observe(st, evs)
	Tick(Config{}, st, Input{Watermark: t0.Add(2 * time.Minute), Diagnoses: ds})
	st.Changes()
	if o := st.Hub(hub).Outages; len(o) != 1 || o[0].Devices != 10000 {
		b.Fatalf("outages %+v", o)
	}
	b.ReportAllocs()
	b.ResetTimer()
	for i := 0; b.Loop(); i++ {
		Tick(Config{}, st, Input{Watermark: t0.Add(5 * time.Minute)})
		st.Changes()
	}
}
