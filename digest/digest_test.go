package digest

import (
	"fmt"
	"reflect"
	"strings"
	"testing"
	"time"

	"github.com/disconnect-doctor/disconnect-doctor/classify"
	"github.com/disconnect-doctor/disconnect-doctor/event"
)

var to = time.Date(2024, 5, 14, 8, 0, 0, 0, time.UTC)

func diag(hub, dev string, at time.Time, c classify.Cause) classify.Diagnosis {
	return classify.Diagnosis{Key: event.Key{Hub: hub, Device: dev}, Time: at, Cause: c, Final: c != classify.Pending}
}

func TestDue(t *testing.T) {
	cases := []struct {
		hour  int
		clock time.Time
		want  time.Time
	}{
		{8, time.Date(2024, 5, 14, 8, 0, 0, 0, time.UTC), time.Date(2024, 5, 14, 8, 0, 0, 0, time.UTC)},
		{8, time.Date(2024, 5, 14, 7, 59, 59, 0, time.UTC), time.Date(2024, 5, 13, 8, 0, 0, 0, time.UTC)},
		{8, time.Date(2024, 5, 14, 23, 0, 0, 0, time.UTC), time.Date(2024, 5, 14, 8, 0, 0, 0, time.UTC)},
		{0, time.Date(2024, 3, 1, 0, 30, 0, 0, time.UTC), time.Date(2024, 3, 1, 0, 0, 0, 0, time.UTC)},
		{23, time.Date(2024, 3, 1, 0, 30, 0, 0, time.UTC), time.Date(2024, 2, 29, 23, 0, 0, 0, time.UTC)},
		// a clock in another zone is read in UTC
		{8, time.Date(2024, 5, 14, 10, 0, 0, 0, time.FixedZone("CEST", 2*3600)), time.Date(2024, 5, 14, 8, 0, 0, 0, time.UTC)},
	}
	for _, c := range cases {
		if got := Due(c.hour, c.clock); !got.Equal(c.want) {
			t.Errorf("Due(%d, %s) = %s, want %s", c.hour, c.clock, got, c.want)
		}
	}
}

func TestNotificationIDStablePerHubAndDay(t *testing.T) {
	a := NotificationID("hub-a", to)
	if a != NotificationID("hub-a", to.In(time.FixedZone("X", 3600))) {
		t.Error("the id depends on the time zone")
	}
	for _, other := range []string{NotificationID("hub-b", to), NotificationID("hub-a", to.AddDate(0, 0, 1))} {
		if other == a {
			t.Error("two digests share an id")
		}
	}
}

func TestSummarise(t *testing.T) {
	in := func(m int) time.Time { return to.Add(-time.Duration(m) * time.Minute) }
	cases := []struct {
		name  string
		data  Data
		check func(t *testing.T, d Digest)
	}{
		{"empty day", Data{}, func(t *testing.T, d Digest) {
			if d.Disconnects != 0 || d.ByCause != nil || !d.From.Equal(to.Add(-24*time.Hour)) || !d.To.Equal(to) {
				t.Errorf("%+v", d)
			}
			if h := d.Headline(); h != "0 disconnects; 0 incidents; 0 alert notifications sent." {
				t.Errorf("headline %q", h)
			}
		}},
		{"causes counted in the window only, other hubs ignored", Data{Diagnoses: []classify.Diagnosis{
			diag("hub", "a", in(1), classify.TokenExpiry),
			diag("hub", "b", in(2), classify.TokenExpiry),
			diag("hub", "c", in(3), classify.DeviceOrNetwork),
			diag("hub", "d", in(4), classify.Pending),
			diag("hub", "e", to.Add(-24*time.Hour), classify.HubTransient), // From is inclusive
			diag("hub", "f", to, classify.TokenExpiry),                     // To is exclusive
			diag("hub", "g", in(24*60+1), classify.TokenExpiry),            // before the window
			diag("other", "h", in(1), classify.TokenExpiry),
		}}, func(t *testing.T, d Digest) {
			want := []CauseCount{{classify.TokenExpiry, 2}, {classify.DeviceOrNetwork, 1}, {classify.HubTransient, 1}, {classify.Pending, 1}}
			if d.Disconnects != 5 || !reflect.DeepEqual(d.ByCause, want) {
				t.Errorf("disconnects %d by cause %+v", d.Disconnects, d.ByCause)
			}
		}},
		{"flapping: seed-2 disconnects, at least two, most first, bounded", Data{Diagnoses: flappers()}, func(t *testing.T, d Digest) {
			if len(d.Flapping) != MaxListed || d.FlappingMore != 2 { // dev-1 … dev-12
				t.Fatalf("%d listed, %d more", len(d.Flapping), d.FlappingMore)
			}
			if f := d.Flapping[0]; f.Device != "dev-12" || f.Flaps != 13 || f.Disconnects != 14 {
				t.Errorf("top flapper %+v", f)
			}
			for _, f := range d.Flapping {
				if f.Device == "once" || f.Device == "token" {
					t.Errorf("listed %s", f.Device)
				}
			}
		}},
		{"periods per family and off-period devices", Data{Periods: []classify.PeriodView{
			{Key: event.Key{Hub: "hub", Device: "n1"}, SDK: ".NET", Period: 66*time.Minute + 20*time.Second},
			{Key: event.Key{Hub: "hub", Device: "n2"}, SDK: ".NET", Period: 66 * time.Minute},
			{Key: event.Key{Hub: "hub", Device: "n3"}, SDK: ".NET", Period: 2 * time.Hour, Disconnects: 4, Off: 2,
				OffSession: 17 * time.Minute, OffPeriod: 2 * time.Hour},
			{Key: event.Key{Hub: "hub", Device: "n4"}, SDK: ".NET", AMQP: true},
			{Key: event.Key{Hub: "hub", Device: "c1"}, SDK: "C"},
			{Key: event.Key{Hub: "hub", Device: "u1"}},
			{Key: event.Key{Hub: "other", Device: "x"}, SDK: "Java", Period: time.Hour},
		}}, func(t *testing.T, d Digest) {
			want := []FamilyPeriods{
				{Family: ".NET", Devices: 3, Learned: 3, Periods: []PeriodCount{{66 * time.Minute, 2}, {2 * time.Hour, 1}}},
				{Family: ".NET (AMQP)", Devices: 1},
				{Family: "C", Devices: 1},
				{Family: "unknown", Devices: 1},
			}
			if !reflect.DeepEqual(d.Periods, want) {
				t.Errorf("periods\n%+v\nwant\n%+v", d.Periods, want)
			}
			if len(d.OffPeriod) != 1 || d.OffPeriod[0] != (OffDevice{Device: "n3", Off: 2, Disconnects: 4, Session: 17 * time.Minute, Period: 2 * time.Hour}) {
				t.Errorf("off period %+v", d.OffPeriod)
			}
		}},
		{"many off-period devices keep the worst", Data{Periods: offMany(100)}, func(t *testing.T, d Digest) {
			if len(d.OffPeriod) != MaxListed || d.OffPeriodMore != 90 || d.OffPeriod[0].Device != "dev-099" || d.OffPeriod[0].Off != 100 {
				t.Errorf("%d listed, %d more, first %+v", len(d.OffPeriod), d.OffPeriodMore, d.OffPeriod)
			}
			for i := 1; i < len(d.OffPeriod); i++ {
				if d.OffPeriod[i].Off > d.OffPeriod[i-1].Off {
					t.Errorf("not most off first: %+v", d.OffPeriod)
				}
			}
		}},
		{"incidents overlapping the window", Data{Incidents: []classify.Incident{
			{ID: "open-old", Hub: "hub", Open: true, Start: in(30 * 60), Devices: 40},
			{ID: "ended-in", Hub: "hub", Start: in(25 * 60), End: in(23 * 60), Devices: 12},
			{ID: "ended-before", Hub: "hub", Start: in(50 * 60), End: in(49 * 60)},
			{ID: "after", Hub: "hub", Open: true, Start: to},
			{ID: "other-hub", Hub: "other", Open: true, Start: in(5)},
		}}, func(t *testing.T, d Digest) {
			var ids []string
			for _, in := range d.Incidents {
				ids = append(ids, in.ID)
			}
			if strings.Join(ids, ",") != "ended-in,open-old" {
				t.Errorf("incidents %v", ids)
			}
		}},
		{"alerts counted per kind, digests not", Data{Deliveries: []Delivery{
			{Kind: "device-offline", NotificationID: "n1", State: "delivered", At: in(5)},
			{Kind: "device-offline", NotificationID: "n1", State: "delivered", At: in(5)},
			{Kind: "device-offline", NotificationID: "n1", State: "dead", At: in(5)},
			{Kind: "device-offline", NotificationID: "n2", State: "suppressed", At: in(5)},
			{Kind: "device-offline", NotificationID: "n2", State: "suppressed", At: in(5)},
			{Kind: "hub-incident", NotificationID: "n3", State: "pending", At: in(5)},
			{Kind: Kind, NotificationID: "d1", State: "delivered", At: in(5)},
			{Kind: "device-offline", NotificationID: "old", State: "delivered", At: in(24*60 + 1)},
		}}, func(t *testing.T, d Digest) {
			want := []AlertCount{{Kind: "device-offline", Notifications: 2, Delivered: 2, Failed: 1, Suppressed: 1},
				{Kind: "hub-incident", Notifications: 1}}
			if !reflect.DeepEqual(d.Alerts, want) {
				t.Errorf("alerts %+v", d.Alerts)
			}
			if d.AlertsSent() != 2 {
				t.Errorf("sent %d", d.AlertsSent())
			}
		}},
		{"silences active at the digest hour", Data{Silences: []ActiveSilence{
			{Silence{Matchers: "hub=hub", EndsAt: to.Add(time.Hour)}, in(60)},
			{Silence{Matchers: "ended", EndsAt: to}, in(60)},
			{Silence{Matchers: "later", EndsAt: to.Add(2 * time.Hour)}, to.Add(time.Minute)},
		}}, func(t *testing.T, d Digest) {
			if len(d.Silences) != 1 || d.Silences[0].Matchers != "hub=hub" {
				t.Errorf("silences %+v", d.Silences)
			}
		}},
		{"site outages seam", Data{Outages: []Outage{{Site: "203.0.113.x", Start: in(10), End: in(5), Devices: 12},
			{Site: "old", Start: in(30 * 60), End: in(29 * 60)}}}, func(t *testing.T, d Digest) {
			if len(d.Outages) != 1 || d.Outages[0].Site != "203.0.113.x" {
				t.Errorf("outages %+v", d.Outages)
			}
			if !strings.Contains(d.Headline(), "1 site outage;") {
				t.Errorf("headline %q", d.Headline())
			}
		}},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) { c.check(t, Summarise("hub", to, c.data)) })
	}
}

// flappers: dev-i has i+1 device-or-network disconnects (and one token
// expiry); "once" one, "token" only token expiries.
func flappers() []classify.Diagnosis {
	var ds []classify.Diagnosis
	at := to.Add(-time.Hour)
	for i := range 13 {
		dev := fmt.Sprintf("dev-%d", i)
		for range i + 1 {
			ds = append(ds, diag("hub", dev, at, classify.DeviceOrNetwork))
		}
		ds = append(ds, diag("hub", dev, at, classify.TokenExpiry))
	}
	ds = append(ds, diag("hub", "once", at, classify.DeviceOrNetwork),
		diag("hub", "token", at, classify.TokenExpiry), diag("hub", "token", at, classify.TokenExpiry))
	return ds
}

func offMany(n int) []classify.PeriodView {
	vs := make([]classify.PeriodView, n)
	for i := range vs {
		vs[i] = classify.PeriodView{Key: event.Key{Hub: "hub", Device: fmt.Sprintf("dev-%03d", i)}, SDK: "Java",
			Period: time.Hour, Disconnects: i + 1, Off: i + 1, OffSession: time.Minute, OffPeriod: time.Hour}
	}
	return vs
}

func TestSectionsSayNoneAndMore(t *testing.T) {
	d := Summarise("hub", to, Data{Periods: offMany(12)})
	ss := d.Sections()
	titles := make([]string, len(ss))
	for i, s := range ss {
		titles[i] = s.Title
	}
	want := "Disconnects by cause (0)|Token periods per SDK family|Devices off their usual token period|Most flapping devices|Incidents|Alerts sent|Silences active"
	if strings.Join(titles, "|") != want {
		t.Errorf("sections %q", titles)
	}
	if ss[0].Lines[0] != "none" || ss[2].More != 2 || len(ss[2].Lines) != MaxListed {
		t.Errorf("sections %+v", ss)
	}
	if ss[1].Lines[0] != "Java: learned for 12 of 12 devices — 1h × 12" {
		t.Errorf("periods line %q", ss[1].Lines[0])
	}
	if ss[2].Lines[0] != "dev-011: 12 of 12 sessions off its 1h token period (the last lasted 1m)" {
		t.Errorf("off line %q", ss[2].Lines[0])
	}
}

func TestDuration(t *testing.T) {
	for d, want := range map[time.Duration]string{
		0: "0", 90 * time.Second: "1m30s", 45 * time.Minute: "45m", time.Hour: "1h",
		66*time.Minute + 20*time.Second: "1h6m", 24 * time.Hour: "24h", 9*time.Minute + 59*time.Second: "9m59s",
	} {
		if got := Duration(d); got != want {
			t.Errorf("Duration(%s) = %q, want %q", d, got, want)
		}
	}
}

// BenchmarkBuilder100k measures a day of a 100 000-device hub: three
// disconnects and one period view per device.
func BenchmarkBuilder100k(b *testing.B) {
	const devices = 100_000
	ds := make([]classify.Diagnosis, 0, 3*devices)
	vs := make([]classify.PeriodView, devices)
	causes := []classify.Cause{classify.TokenExpiry, classify.DeviceOrNetwork, classify.HubTransient}
	for i := range devices {
		k := event.Key{Hub: "hub", Device: fmt.Sprintf("device-%06d", i)}
		for j, c := range causes {
			ds = append(ds, classify.Diagnosis{Key: k, Time: to.Add(-time.Duration(i%1440+j) * time.Minute), Cause: c})
		}
		vs[i] = classify.PeriodView{Key: k, SDK: ".NET", Period: time.Hour, Disconnects: 3, Off: i % 3, OffSession: time.Minute, OffPeriod: time.Hour}
	}
	b.ReportAllocs()
	for b.Loop() {
		Summarise("hub", to, Data{Diagnoses: ds, Periods: vs})
	}
}
