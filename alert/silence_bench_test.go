package alert_test

import (
	"fmt"
	"testing"
	"time"

	"github.com/disconnect-doctor/disconnect-doctor/alert"
	"github.com/disconnect-doctor/disconnect-doctor/classify"
	"github.com/disconnect-doctor/disconnect-doctor/event"
	"github.com/disconnect-doctor/disconnect-doctor/store"
)

// BenchmarkSilenceStage measures one Evaluate's silence stage on a large
// fleet in trouble: 10 000 live device alerts over 20 hubs, 50 silences
// (some active, some over), and 500 alerts falling due in the tick. It runs
// every minute whenever an alert is live, so this is its steady cost.
func BenchmarkSilenceStage(b *testing.B) {
	const (
		hubs    = 20
		live    = 10000
		fresh   = 500
		windows = 50
	)
	now := time.Date(2026, 12, 6, 5, 0, 0, 0, time.UTC)
	m := alert.New(alert.Config{})
	sig := func(i int) classify.Signal {
		k := event.Key{Hub: fmt.Sprintf("contoso-%02d-prod", i%hubs), Device: fmt.Sprintf("pump-%05d", i)}
		return classify.Signal{Kind: classify.DeviceOffline, Key: k, Firing: true, Since: now.Add(-time.Hour), At: now.Add(-time.Hour),
			Summary: "offline", Devices: 1}
	}
	var sils []store.Silence
	for i := range windows {
		s := store.Silence{ID: fmt.Sprintf("s%02d", i), Hub: fmt.Sprintf("contoso-%02d-*", i%hubs), Device: fmt.Sprintf("pump-%d*", i%10),
			StartsAt: now.Add(-2 * time.Hour), EndsAt: now.Add(time.Duration(i%3-1) * time.Hour)}
		if i%5 == 0 {
			s.Device, s.Kind = "", string(classify.DeviceOffline)
		}
		sils = append(sils, s)
	}
	base := alert.NewState()
	var old []classify.Signal
	for i := range live {
		old = append(old, sig(i))
	}
	m.Silence(base, m.Apply(base, old, now.Add(-time.Hour)), sils, now.Add(-time.Hour))
	blobs := map[string][]byte{}
	for _, k := range base.Dirty() {
		data, _, _ := base.Marshal(k)
		blobs[k] = data
	}
	var news []classify.Signal
	for i := live; i < live+fresh; i++ {
		s := sig(i)
		s.Since, s.At = now.Add(-time.Minute), now.Add(-time.Minute)
		news = append(news, s)
	}
	b.ReportAllocs()
	for b.Loop() {
		b.StopTimer()
		st := alert.NewState()
		for k, data := range blobs {
			_ = st.Unmarshal(k, data)
		}
		notes := m.Apply(st, news, now)
		b.StartTimer()
		m.Silence(st, notes, sils, now)
	}
}
