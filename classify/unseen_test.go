package classify

import (
	"testing"
	"time"

	"github.com/disconnect-doctor/disconnect-doctor/event"
)

// A device is disconnected again only after it has connected: a disconnect
// record with no connect on record before it shows a reconnect whose record
// was lost in delivery (returnedUnseen). These fixtures lose that record on
// purpose and check both what the verdict makes of it and that no
// device-offline alert fires for a device that was back.

func TestReturnedUnseen(t *testing.T) {
	age := hms(1, 7, 12) // inside the .NET/Java MQTT cut-off window
	cut := at(age)
	later := cut.Add(40 * time.Minute)
	cases := []struct {
		name string
		evs  []event.Event
		want Cause
		line string // a line the verdict's evidence holds
		// offline: the device-offline signals of the cut-off: 0 none,
		// 2 fired (OfflineAfter passed with no sign of it) and resolved
		offline int
	}{
		{
			name: "cut-off whose reconnect record was lost, shown by a later 404104",
			evs: []event.Event{sdkConnect("d", at(0), sdkDotNetV, "Mqtt"), d404("d", cut),
				d404("d", later), sdkConnect("d", later.Add(8*time.Second), sdkDotNetV, "Mqtt")},
			// on the SDK's prior alone: the alert keeps OFFLINE_AFTER
			// (offlineAt), and the later disconnect resolves it
			want: TokenExpiry, line: "it disconnected again at 11:47:12 UTC: it came back, and the record of its reconnect was lost in delivery",
			offline: 2,
		},
		{
			name: "shown within OfflineAfter: no device-offline alert",
			evs: []event.Event{sdkConnect("d", at(0), sdkDotNetV, "Mqtt"), d404("d", cut),
				d404("d", cut.Add(10*time.Minute)), sdkConnect("d", cut.Add(10*time.Minute+8*time.Second), sdkDotNetV, "Mqtt")},
			want: TokenExpiry, line: "it came back, and the record of its reconnect was lost in delivery",
		},
		{
			// a 401003-backed cut-off: its alert waits for its next
			// cut-off (offlineAt), and the later disconnect comes first
			name: "401003-backed, shown by a later clean disconnect",
			evs: []event.Event{sdkConnect("d", at(0), sdkDotNetV, "Mqtt"), u401("d", cut), d404("d", cut),
				disconnect("d", later, 0, "")},
			want: TokenExpiry, line: "it came back, and the record of its reconnect was lost in delivery",
		},
		{
			// the control: a reconnect on record 20 minutes later says the
			// device really was away, whatever follows
			name: "back on record 20 minutes later, then disconnected",
			evs: []event.Event{sdkConnect("d", at(0), sdkDotNetV, "Mqtt"), d404("d", cut),
				sdkConnect("d", cut.Add(20*time.Minute), sdkDotNetV, "Mqtt"), d404("d", later)},
			want: DeviceOrNetwork, line: "no successful connect within 1m", offline: 2,
		},
		{
			// a client the hub never cuts: nothing but the device explains
			// the drop; the lost reconnect only means it was not offline
			name: "C client, back unseen",
			evs: []event.Event{sdkConnect("d", at(0), "azure-iot-sdk-c/1.12.0 (native; Linux; x86_64)", "Mqtt"), d404("d", cut),
				d404("d", later)},
			want: DeviceOrNetwork, line: "it came back, and the record of its reconnect was lost in delivery", offline: 2,
		},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			r := feed(t, testConfig(), sortByTime(c.evs), 1, 30*time.Minute)
			d := r.diag("d", cut)
			if d.Cause != c.want || !containsLine(d.Evidence, c.line) {
				t.Errorf("verdict %s %q, want %s with %q", d.Cause, d.Evidence, c.want, c.line)
			}
			var got int
			for _, s := range r.signalsOf(DeviceOffline, "d") {
				if s.Since.Equal(cut) {
					got++
				}
			}
			if got != c.offline {
				t.Errorf("%d device-offline signals for the cut-off, want %d: %+v", got, c.offline, r.signalsOf(DeviceOffline, "d"))
			}
		})
	}
}

// TestOfflineResolvedUnseen: a device judged offline whose next record is a
// disconnect, with no connect on record, was back: the alert resolves then,
// saying so, rather than staying open until a connect is on record.
func TestOfflineResolvedUnseen(t *testing.T) {
	drop := at(hms(0, 30, 0))
	again := drop.Add(50 * time.Minute)
	evs := []event.Event{sdkConnect("d", at(0), "azure-iot-sdk-c/1.12.0 (native; Linux; x86_64)", "Mqtt"), d404("d", drop),
		d404("d", again), sdkConnect("d", again.Add(30*time.Minute), "azure-iot-sdk-c/1.12.0 (native; Linux; x86_64)", "Mqtt")}
	r := feed(t, testConfig(), evs, 1, 30*time.Minute)
	var ss []Signal
	for _, s := range r.signalsOf(DeviceOffline, "d") {
		if s.Since.Equal(drop) {
			ss = append(ss, s)
		}
	}
	if len(ss) != 2 || !ss[0].Firing || ss[1].Firing {
		t.Fatalf("offline signals of the drop %+v, want firing then resolved", ss)
	}
	if !ss[1].At.Equal(again) || !containsLine([]string{ss[1].Summary}, "is back: it disconnected again at 2024-05-14 11:20:00 UTC") {
		t.Errorf("resolved at %s %q, want at %s by the later disconnect", ss[1].At, ss[1].Summary, again)
	}
}

// TestOfflineResolvedByEarliestReturn: the unseen return resolves the alert
// at its own time even when a connect is on record after it.
func TestOfflineResolvedByEarliestReturn(t *testing.T) {
	drop := at(hms(0, 30, 0))
	again := drop.Add(50 * time.Minute)
	c := "azure-iot-sdk-c/1.12.0 (native; Linux; x86_64)"
	evs := []event.Event{sdkConnect("d", at(0), c, "Mqtt"), d404("d", drop), d404("d", again), sdkConnect("d", again.Add(5*time.Second), c, "Mqtt")}
	r := feed(t, testConfig(), evs, 1, 30*time.Minute)
	var resolved []Signal
	for _, s := range r.signalsOf(DeviceOffline, "d") {
		if s.Since.Equal(drop) && !s.Firing {
			resolved = append(resolved, s)
		}
	}
	if len(resolved) != 1 || !resolved[0].At.Equal(again) {
		t.Fatalf("resolved signals of the drop %+v, want one at %s", resolved, again)
	}
}

// TestReturnedUnseenNotOwn401003: a 401003 logged a second after the
// 404104 is the cut-off's own record, not a sign that the device came back.
func TestReturnedUnseenNotOwn401003(t *testing.T) {
	c := "azure-iot-sdk-c/1.12.0 (native; Linux; x86_64)"
	cut := at(hms(0, 30, 0))
	r := feed(t, testConfig(), []event.Event{sdkConnect("d", at(0), c, "Mqtt"), d404("d", cut), u401("d", cut.Add(2*time.Second))}, 1, 90*time.Minute)
	if d := r.diag("d", cut); containsLine(d.Evidence, "it came back") {
		t.Errorf("evidence %q takes the 401003 beside the cut-off for a later disconnect", d.Evidence)
	}
	if s := r.signalsOf(DeviceOffline, "d"); len(s) != 1 || !s[0].Firing {
		t.Errorf("offline signals %+v, want one firing (the device never came back)", s)
	}
}

// TestOfflineAfterTokenExpiry: a token cut-off its own records show (a
// 401003 beside it, a learned period) with no return on record is alerted
// offline only once its next cut-off was due and did not come — a default
// token's HubCutMax, or its learned period — plus the grace; a
// device-or-network drop at OFFLINE_AFTER. (One judged on the SDK's prior
// alone keeps OFFLINE_AFTER too: TestReturnedUnseen's first case.)
func TestOfflineAfterTokenExpiry(t *testing.T) {
	cut := at(hms(1, 7, 12))
	twenty := func() []event.Event { // a .NET client with a learned 25-minute period
		var evs []event.Event
		c := at(0)
		evs = append(evs, sdkConnect("d", c, sdkDotNetV, "Mqtt"))
		for range 3 {
			c = c.Add(25 * time.Minute)
			evs = append(evs, expiry("d", c, 10*time.Second)...)
			c = c.Add(10 * time.Second)
		}
		c = c.Add(25 * time.Minute)
		return append(evs, u401("d", c), d404("d", c)) // the last: no return on record
	}()
	last := twenty[len(twenty)-1].Time
	cases := []struct {
		name     string
		evs      []event.Event
		at       time.Time // the 404104
		min, max time.Duration
	}{
		{"default token: HubCutMax and the grace", []event.Event{sdkConnect("d", at(0), sdkDotNetV, "Mqtt"), u401("d", cut), d404("d", cut)}, cut,
			HubCutMax*time.Second + time.Minute, HubCutMax*time.Second + time.Minute},
		// the period's tolerance is the engine's (period.go): past the
		// period and the grace, within the ±3 minutes a period may have
		{"learned 25-minute period: the period, its tolerance and the grace", twenty, last, 25*time.Minute + time.Minute + time.Second,
			25*time.Minute + 3*time.Minute + time.Minute},
		{"device-or-network: OFFLINE_AFTER", []event.Event{sdkConnect("d", at(0), "azure-iot-sdk-c/1.12.0 (native; Linux; x86_64)", "Mqtt"), d404("d", cut)}, cut,
			15 * time.Minute, 15 * time.Minute},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			r := feed(t, testConfig(), sortByTime(c.evs), 1, 2*time.Hour)
			s := r.signalsOf(DeviceOffline, "d")
			if len(s) != 1 || !s[0].Firing || !s[0].Since.Equal(c.at) {
				t.Fatalf("offline signals %+v, want one firing since %s", s, c.at)
			}
			if got := s[0].At.Sub(c.at); got < c.min || got > c.max {
				t.Errorf("fired %s after the 404104, want %s–%s", got, c.min, c.max)
			}
		})
	}
}

// TestOfflineAfterDropFollowingTokenExpiry: a token expiry the device came
// back from, then a drop it did not: the drop's device-offline fires
// OFFLINE_AFTER after it, although the token expiry before it waits longer
// (offlineAt is not monotonic in the 404104's time).
func TestOfflineAfterDropFollowingTokenExpiry(t *testing.T) {
	cut := at(hms(1, 7, 12))
	drop := cut.Add(20 * time.Minute)
	evs := append([]event.Event{sdkConnect("d", at(0), sdkDotNetV, "Mqtt")}, expiry("d", cut, 10*time.Second)...)
	evs = append(evs, d404("d", drop))
	// the watermark goes 20 minutes past the drop: its alert is due by
	// then, the token expiry's wait is not over
	r := feed(t, testConfig(), sortByTime(evs), 1, 20*time.Minute)
	if d := r.diag("d", drop); d.Cause != DeviceOrNetwork {
		t.Fatalf("the drop is %s %q, want device-or-network", d.Cause, d.Evidence)
	}
	s := r.signalsOf(DeviceOffline, "d")
	if len(s) != 1 || !s[0].Firing || !s[0].Since.Equal(drop) || !s[0].At.Equal(drop.Add(15*time.Minute)) {
		t.Errorf("offline signals %+v, want one firing since %s at %s", s, drop, drop.Add(15*time.Minute))
	}
}

// TestOfflineWaitOutlivesPrune: a token expiry whose 401003 (a second
// before its 404104) makes it wait for its next cut-off keeps waiting after
// prune has dropped that 401003, older than the revision horizon by then
// (the verdict's fBacked, not the timeline, says it was backed).
func TestOfflineWaitOutlivesPrune(t *testing.T) {
	cut := at(hms(1, 7, 12))
	// a Disconnected state event 77 minutes on has the device evaluated
	// after the horizon has passed the 401003 and before the wait is over
	evs := []event.Event{sdkConnect("d", at(0), sdkDotNetV, "Mqtt"), u401("d", cut.Add(-time.Second)), d404("d", cut),
		stateEv("d", cut.Add(77*time.Minute), false, 1)}
	r := feed(t, testConfig(), evs, 1, 2*time.Hour)
	s := r.signalsOf(DeviceOffline, "d")
	if want := cut.Add(HubCutMax*time.Second + time.Minute); len(s) != 1 || !s[0].At.Equal(want) {
		t.Errorf("offline signals %+v, want one at %s", s, want)
	}
}
