package classify

import (
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/disconnect-doctor/disconnect-doctor/event"
)

// TestRepeatAcrossIncident is the fixture of repeatsLastCut: a .NET client
// with a custom 20-minute token (cut 29 minutes into each session) is
// dropped by a hub incident and reconnects after it. By the default hour
// its token was not due at that reconnect, so its next cut-off (401003)
// reads 64 minutes into a reused token — on the SDK's default cut-off. The
// session after that cut-off ends, with its 401003 lost, 29 minutes in: as
// long as the cut-off's session lasted from its own connect. The two
// sessions repeat that age, so it is the token's period: that 404104 is a
// token expiry, and so is the next one, on the period now learned. The
// engine before it judged both device-or-network ("off its learned token
// period of 64m").
func TestRepeatAcrossIncident(t *testing.T) {
	const dev = "valve-20"
	cut := at(hms(1, 4, 0))     // 64m into the token of the connect at 0
	x := at(hms(1, 33, 30))     // 29m20s after the reconnect at 1:04:10
	y := at(hms(2, 2, 50))      // 29m10s after the reconnect at 1:33:40
	inc := at(20 * time.Minute) // the incident; the device drops at 20m50s
	evs := append(burst(30, true, inc, "pump"),
		sdkConnect(dev, at(0), sdkDotNetV, "Mqtt"),
		d404(dev, inc.Add(50*time.Second)), connect(dev, inc.Add(70*time.Second), 500001, ""),
		sdkConnect(dev, at(35*time.Minute), sdkDotNetV, "Mqtt"),
		u401(dev, cut), d404(dev, cut), sdkConnect(dev, cut.Add(10*time.Second), sdkDotNetV, "Mqtt"),
		d404(dev, x), sdkConnect(dev, x.Add(10*time.Second), sdkDotNetV, "Mqtt"),
		d404(dev, y), sdkConnect(dev, y.Add(10*time.Second), sdkDotNetV, "Mqtt"),
	)
	evs = sortByTime(evs)
	r := feed(t, testConfig(), evs, len(evs), time.Hour)
	if got, want := r.verdicts(dev), []Cause{HubTransient, TokenExpiry, TokenExpiry, TokenExpiry}; !slices.Equal(got, want) {
		t.Fatalf("verdicts %v, want %v", got, want)
	}
	for _, c := range []struct {
		at   time.Time
		line string
	}{
		{cut, "first connected with this token (its reconnects since reused it) 64m before; no token period learned yet"},
		// re-judged once the cut-off's corrected sample teaches the period
		{x, "connected 29m20s before, matching its learned token period of 29m (±3m)"},
		{y, "connected 29m10s before, matching its learned token period of 29m"},
	} {
		if d := r.diag(dev, c.at); !containsLine(d.Evidence, c.line) {
			t.Errorf("404104 at %s: evidence lacks %q:\n  %s", clock(c.at.Unix(), 0), c.line, strings.Join(d.Evidence, "\n  "))
		}
	}
	// the first verdict on x says where the period comes from
	first := slices.IndexFunc(r.all, func(d Diagnosis) bool { return d.Key.Device == dev && d.Time.Equal(x) && d.Final })
	if want := "connected 29m20s before, as long as its session before lasted from its own connect (29m) to its token expiry at 11:04:00 UTC: its token lives that long, so the reconnect after the hub incident made a new one"; first < 0 || !containsLine(r.all[first].Evidence, want) {
		t.Errorf("first verdict on the 404104 at %s lacks %q", clock(x.Unix(), 0), want)
	}
}

// TestRepeatAcrossIncidentOnPeriod: a default-token client whose cut-offs
// taught it a 67-minute period reuses its token across a hub incident, as
// the SDK does, and is cut on that period 41m20s after its reconnect. A
// network drop 41m20s into the next session repeats that own-session age
// by chance: the cut-off fell on the period known before it, the token was
// reused, and the drop stays the device's or its network's.
func TestRepeatAcrossIncidentOnPeriod(t *testing.T) {
	const dev = "meter-67"
	c1, c2 := at(67*time.Minute), at(hms(2, 14, 10))
	inc := at(hms(2, 30, 0))
	c3 := at(hms(3, 21, 20))  // 67m after the connect at 2:14:20, 41m20s after the one at 2:40
	drop := at(hms(4, 2, 50)) // 41m20s after the reconnect at 3:21:30
	evs := append(burst(30, true, inc, "pump"),
		sdkConnect(dev, at(0), sdkDotNetV, "Mqtt"),
		u401(dev, c1), d404(dev, c1), sdkConnect(dev, c1.Add(10*time.Second), sdkDotNetV, "Mqtt"),
		u401(dev, c2), d404(dev, c2), sdkConnect(dev, c2.Add(10*time.Second), sdkDotNetV, "Mqtt"),
		d404(dev, inc.Add(50*time.Second)), connect(dev, inc.Add(70*time.Second), 500001, ""),
		sdkConnect(dev, at(hms(2, 40, 0)), sdkDotNetV, "Mqtt"),
		u401(dev, c3), d404(dev, c3), sdkConnect(dev, c3.Add(10*time.Second), sdkDotNetV, "Mqtt"),
		d404(dev, drop), sdkConnect(dev, drop.Add(12*time.Second), sdkDotNetV, "Mqtt"),
	)
	evs = sortByTime(evs)
	r := feed(t, testConfig(), evs, len(evs), time.Hour)
	if got, want := r.verdicts(dev), []Cause{TokenExpiry, TokenExpiry, HubTransient, TokenExpiry, DeviceOrNetwork}; !slices.Equal(got, want) {
		t.Fatalf("verdicts %v, want %v", got, want)
	}
}

// TestRepeatAcrossDrops is the fixture of repeatsDrop: a .NET client with
// a custom token cut 25m30s into each session, whose first cut-off lost its
// 401003. By the default hour its token was not due at the reconnect after
// it, so the second cut-off (401003) reads 51m10s into a reused token: no
// cut-off fits that age. Its session repeats the first one's (25m30s): the
// device's token lives that long, the reconnect made a new token, and the
// first 404104 was its cut-off too. The engine before it learned a 51-minute
// period from the second cut-off and judged the first and third
// device-or-network.
func TestRepeatAcrossDrops(t *testing.T) {
	const dev = "press-25"
	age := 25*time.Minute + 30*time.Second
	c := at(0)
	evs := []event.Event{sdkConnect(dev, c, sdkDotNetV, "Mqtt")}
	var cuts []time.Time
	for i := range 3 {
		x := c.Add(age)
		if i == 1 {
			evs = append(evs, u401(dev, x))
		}
		c = x.Add(10 * time.Second)
		evs = append(evs, d404(dev, x), sdkConnect(dev, c, sdkDotNetV, "Mqtt"))
		cuts = append(cuts, x)
	}
	r := feed(t, testConfig(), evs, 1, time.Hour)
	if got, want := r.verdicts(dev), []Cause{TokenExpiry, TokenExpiry, TokenExpiry}; !slices.Equal(got, want) {
		t.Fatalf("verdicts %v, want %v", got, want)
	}
	for _, c := range []struct {
		at   time.Time
		line string
	}{
		{cuts[0], "connected 25m30s before, matching its token period of 25m30s (±3m)"},
		{cuts[1], "connected 25m30s before; no token period learned yet"},
		{cuts[2], "connected 25m30s before, matching its learned token period of 25m30s"},
	} {
		if d := r.diag(dev, c.at); !containsLine(d.Evidence, c.line) {
			t.Errorf("404104 at %s: evidence lacks %q:\n  %s", clock(c.at.Unix(), 0), c.line, strings.Join(d.Evidence, "\n  "))
		}
	}
}

// TestReviseOnOwnAge: a .NET client with a custom token cut 29 minutes into
// each session reconnects after a hub incident, and its next cut-off, with
// its 401003 lost, reads 54m20s into the token it had before the incident
// (not due by the default hour): off every cut-off, device-or-network. Its
// next cut-off (401003) 29m10s into its session teaches the period, on
// which reviseEarlier revises the earlier verdict: its session's own age,
// 29m20s, is on it — on this shorter period the token was due at the
// reconnect after the incident. Re-judging it cannot: a verdict looks only
// at periods learned before it.
func TestReviseOnOwnAge(t *testing.T) {
	const dev = "valve-29"
	inc := at(10 * time.Minute)
	s := at(hms(0, 54, 20)) // 29m20s after the reconnect at 25m
	c := at(hms(1, 23, 40)) // 29m10s after the reconnect at 54m30s
	evs := append(burst(30, true, inc, "pump"),
		sdkConnect(dev, at(0), sdkDotNetV, "Mqtt"),
		d404(dev, inc.Add(50*time.Second)), connect(dev, inc.Add(70*time.Second), 500001, ""),
		sdkConnect(dev, at(25*time.Minute), sdkDotNetV, "Mqtt"),
		d404(dev, s), sdkConnect(dev, s.Add(10*time.Second), sdkDotNetV, "Mqtt"),
		u401(dev, c), d404(dev, c), sdkConnect(dev, c.Add(10*time.Second), sdkDotNetV, "Mqtt"),
	)
	evs = sortByTime(evs)
	r := feed(t, testConfig(), evs, len(evs), time.Hour)
	if got, want := r.verdicts(dev), []Cause{HubTransient, TokenExpiry, TokenExpiry}; !slices.Equal(got, want) {
		t.Fatalf("verdicts %v, want %v", got, want)
	}
	if d, want := r.diag(dev, s), "connected 29m20s before, matching its token period of 29m10s (±3m)"; !containsLine(d.Evidence, want) {
		t.Errorf("evidence lacks %q:\n  %s", want, strings.Join(d.Evidence, "\n  "))
	}
}

// TestRepeatNotAcrossDrop: repeatsLastCut is for a reconnect after a hub
// incident. A default-token client drops at 30m, reuses its token and is cut
// 67m into it (401003), 36m50s after its reconnect; a network drop 36m50s
// into the next session repeats that by chance. Across a drop of the
// device's own the walk's reading stands (a cut-off whose age across it
// fits no cut-off is repeatsDrop's, decided at the cut-off), and the drop
// stays the device's or its network's.
func TestRepeatNotAcrossDrop(t *testing.T) {
	const dev = "meter-37"
	cut := at(67 * time.Minute)
	drop := cut.Add(10*time.Second + 36*time.Minute + 50*time.Second)
	evs := []event.Event{
		sdkConnect(dev, at(0), sdkDotNetV, "Mqtt"),
		d404(dev, at(30*time.Minute)), sdkConnect(dev, at(hms(0, 30, 10)), sdkDotNetV, "Mqtt"),
		u401(dev, cut), d404(dev, cut), sdkConnect(dev, cut.Add(10*time.Second), sdkDotNetV, "Mqtt"),
		d404(dev, drop), sdkConnect(dev, drop.Add(12*time.Second), sdkDotNetV, "Mqtt"),
	}
	r := feed(t, testConfig(), evs, len(evs), time.Hour)
	if got, want := r.verdicts(dev), []Cause{DeviceOrNetwork, TokenExpiry, DeviceOrNetwork}; !slices.Equal(got, want) {
		t.Fatalf("verdicts %v, want %v", got, want)
	}
}
