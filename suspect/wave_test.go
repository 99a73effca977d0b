package suspect

import (
	"fmt"
	"testing"
	"time"

	"github.com/disconnect-doctor/disconnect-doctor/event"
)

func TestAtTokenPeriod(t *testing.T) {
	m := func(min float64) int64 { return int64(min * 60) }
	for _, tc := range []struct {
		name      string
		age, prev int64
		want      period
	}{
		{"Python renews 2 min before the hour", m(58), 0, sharpPeriod},
		{"C renews at 80% of the hour", m(48) + 60, 0, sharpPeriod},
		{"Node renews 15 min before the hour", m(45) - 60, 0, sharpPeriod},
		{".NET cut 5 min after expiry", m(65), 0, widePeriod},
		{".NET cut 10 min after expiry", m(70), 0, widePeriod},
		{"the hub's window, device clock behind", m(63), 0, widePeriod},
		{"just past the hub's window", m(72) + 30, 0, offPeriod},
		{"an hour, no enforcement delay", m(60), 0, offPeriod},
		{"a custom 20-min token, cut like the last session", m(29), m(28.5), widePeriod},
		{"a custom 20-min token, first cut known", m(29), 0, offPeriod},
		{"a previous session too short to be a token's", m(6), m(6), offPeriod},
		{"a random age", m(37), m(12), offPeriod},
	} {
		if got := atTokenPeriod(tc.age, tc.prev); got != tc.want {
			t.Errorf("%s: atTokenPeriod(%d, %d) = %d, want %d", tc.name, tc.age, tc.prev, got, tc.want)
		}
	}
}

// TestTokenWave judges burst shapes by their counts. The first is the burst
// `handler run --devices 20000 --hours 3` suspected and withdrew 67 min
// after its incident: 10 sampled devices, 5 of them Python renewals at
// 58 min, 2 .NET cuts at 66.5 min, 2 custom 20-min tokens cut at 29 min
// like their previous session, 1 with no previous session known.
func TestTokenWave(t *testing.T) {
	for _, tc := range []struct {
		name string
		c    waveCount
		want bool
	}{
		{"the token wave 67 min after the 20 000-device run's incident", waveCount{n: 10, k: 9, ks: 5, m: 1214, j: 378, js: 321}, true},
		{"the .NET cuts of that wave, minutes later", waveCount{n: 54, k: 53, m: 1132, j: 618, js: 26}, true},
		{"the incident itself: every session age", waveCount{n: 253, k: 36, ks: 36, m: 1656, j: 183, js: 182}, false},
		{"an outage an hour after another: the fleet at its period too", waveCount{n: 40, k: 27, ks: 3, m: 1200, j: 800, js: 90}, false},
		{"a small outage while the fleet waits for its cut", waveCount{n: 10, k: 7, ks: 1, m: 1200, j: 780, js: 60}, false},
		{"a third of the burst off any period", waveCount{n: 30, k: 19, ks: 10, m: 1200, j: 200, js: 50}, false},
		{"no fleet known: a draw of unknown odds", waveCount{n: 6, k: 6, ks: 6}, false},
	} {
		wave, odds := tokenWave(tc.c)
		if wave != tc.want {
			t.Errorf("%s: wave %v (odds %.3g), want %v", tc.name, wave, odds, tc.want)
		}
	}
}

// kinds of device in afterOutage's fleet, by i%10: four .NET (cut by the
// hub at 60 min + its enforcement delay), two Python (renew at 58 min), a C
// (48 min), a Node (45 min), an AMQP (refreshes in its connection) and a
// .NET with a custom 20-min token.
type kind int

const (
	kDotNet kind = iota
	kPython
	kC
	kNode
	kAMQP
	kCustom
)

var kinds = [10]kind{kDotNet, kDotNet, kDotNet, kDotNet, kPython, kPython, kC, kNode, kAMQP, kCustom}

// period is the session length of device i: its token's period, its
// enforcement delay 5–10 min fixed per device.
func (k kind) period(i int) time.Duration {
	grace := 5*time.Minute + time.Duration(i*2654435761%300)*time.Second
	switch k {
	case kPython:
		return 58 * time.Minute
	case kC:
		return 48 * time.Minute
	case kNode:
		return 45 * time.Minute
	case kCustom:
		return 20*time.Minute + grace
	case kAMQP:
		return 0
	}
	return time.Hour + grace
}

// afterOutage is a fleet of n devices on nets networks that connected 70
// min before an earlier outage at e, all disconnected at e and reconnected
// over the next 7 minutes (SDK backoff), each then disconnecting at its
// token period and reconnecting seconds later — events up to until.
func afterOutage(n, nets int, e, until time.Time) []event.Event {
	f := fleet{n: n, nets: nets}
	var evs []event.Event
	for i := range n {
		c := e.Add(-70*time.Minute + time.Duration(i*7919%600)*time.Second)
		evs = append(evs, grid(event.StateConnected, f.dev(i), c), connectLog(f.dev(i), f.ip(i), c))
		evs = append(evs, grid(event.StateDisconnected, f.dev(i), e.Add(time.Duration(i%30)*time.Second)))
		c = e.Add(20*time.Second + time.Duration(i*104729%420)*time.Second)
		p := kinds[i%10].period(i)
		for c.Before(until) {
			evs = append(evs, grid(event.StateConnected, f.dev(i), c))
			if p == 0 || !c.Add(p).Before(until) {
				break
			}
			evs = append(evs, grid(event.StateDisconnected, f.dev(i), c.Add(p)))
			c = c.Add(p + 3*time.Second + time.Duration(i%17)*time.Second)
		}
	}
	return evs
}

// measuredWave is the burst of the 20 000-device run (TestTokenWave), three
// times over on devices of its own: session ages (s) and previous session
// ages (0 unknown), disconnecting at `at` and within 13 s after.
func measuredWave(at time.Time) []event.Event {
	shape := [][2]int64{{3481, 969}, {3483, 2463}, {3483, 1286}, {3482, 0}, {3510, 2231}, // Python renewals
		{3996, 0}, {3991, 0}, // .NET cuts
		{1786, 1769}, {1719, 1716}, {1733, 0}} // custom 20-min tokens
	var evs []event.Event
	for r := range 3 {
		for i, s := range shape {
			dev, d := fmt.Sprintf("wave-%d-%d", r, i), at.Add(time.Duration(i+r)*time.Second)
			c := d.Add(-time.Duration(s[0]) * time.Second)
			if s[1] > 0 {
				evs = append(evs, grid(event.StateConnected, dev, c.Add(-time.Duration(s[1]+4)*time.Second)),
					grid(event.StateDisconnected, dev, c.Add(-4*time.Second)))
			}
			evs = append(evs, connectLog(dev, fmt.Sprintf("10.9.%d.XXX", r*10+i), c), grid(event.StateConnected, dev, c),
				grid(event.StateDisconnected, dev, d))
		}
	}
	return evs
}

// TestTokenWaveAfterOutage: a fleet that reconnected together after an
// outage an hour ago. Its token expiries, coming together, are a wave (not
// suspected); a hub outage striking then — the fleet's sessions near their
// period — or just after the wave is suspected. The measured wave failed on
// the rule this one replaced (60% of the ages within 3 min of their
// median): it mixes Python renewals at 58 min, .NET cuts at 66 min and
// custom 20-min tokens at 29 min.
func TestTokenWaveAfterOutage(t *testing.T) {
	const n, nets = 2000, 300
	e := t0.Add(-66 * time.Minute)
	f := fleet{n: n, nets: nets}
	outage := func(at time.Time) []event.Event { return f.burst(at, fifth) }
	cases := []struct {
		name   string
		until  time.Time
		extra  []event.Event
		judged time.Time
		want   string
	}{
		{"the token wave an hour after the outage", t0, nil, t0, rejectWave},
		{"the wave measured in the 20 000-device run", t0.Add(-3 * time.Minute), measuredWave(t0.Add(-20 * time.Second)), t0, rejectWave},
		{"a hub outage an hour after the earlier one", t0, outage(t0.Add(-10 * time.Second)), t0, rejectNone},
		{"a hub outage just after the token wave", t0.Add(14 * time.Minute), outage(t0.Add(14 * time.Minute)), t0.Add(14*time.Minute + 10*time.Second), rejectNone},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			st := NewState()
			Observe(Config{}, st, afterOutage(n, nets, e, tc.until))
			Observe(Config{}, st, tc.extra)
			h := st.Hub(hub)
			b := burstOf(h, Defaults())
			why, reject := suspicious(Defaults(), h, b)
			c := countWave(h, b)
			t.Logf("burst of %d sampled devices from %s, counts %+v: %q %q", len(b.devs), hhmmss(b.since), c, reject, why)
			if reject != tc.want {
				t.Fatalf("rejected for %q, want %q", reject, tc.want)
			}
			if got := fmt.Sprint(len(tick(st, tc.judged.Add(30*time.Second), tc.judged.Add(-5*time.Minute), never))); got != map[bool]string{true: "1", false: "0"}[tc.want == rejectNone] {
				t.Fatalf("%s signals at the tick", got)
			}
		})
	}
}
