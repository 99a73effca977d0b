package classify

import (
	"fmt"
	"slices"
	"testing"
	"time"

	"github.com/disconnect-doctor/disconnect-doctor/event"
)

func TestDelayStats(t *testing.T) {
	const m = 60
	cases := []struct {
		name  string
		pairs [][2]int64
		want  bool
	}{
		{"delays held per device", repeatPairs(60, [2]int64{67*m + 10, 67*m + 40}), false},
		{"too few pairs", repeatPairs(40, [2]int64{65 * m, 69*m + 30}), false},
		{"one pair in ten varies", append(repeatPairs(54, [2]int64{67 * m, 67*m + 30}), repeatPairs(6, [2]int64{65 * m, 69*m + 30})...), true},
		{"one pair in twenty varies", append(repeatPairs(57, [2]int64{67 * m, 67*m + 30}), repeatPairs(3, [2]int64{65 * m, 69*m + 30})...), false},
		{"a changed token lifetime is no pair", append(repeatPairs(54, [2]int64{67 * m, 67*m + 30}), repeatPairs(20, [2]int64{27 * m, 67 * m})...), false},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			var s delayStats
			for _, p := range c.pairs {
				s.pair(p[0], p[1])
			}
			if got := s.varies(); got != c.want {
				t.Errorf("varies() = %v after %.0f pairs (%.0f varied), want %v", got, s.pairs, s.varied, c.want)
			}
		})
	}
}

func repeatPairs(n int, p [2]int64) [][2]int64 {
	out := make([][2]int64, n)
	for i := range out {
		out[i] = p
	}
	return out
}

// TestUnpriorOnVaryingDelays: a .NET client's drop at 64m10s, back at once
// with no 401003, is a token expiry on the SDK prior; its first 401003, on
// a 68m session, then shows a default token's period. On a hub whose
// devices' cut-offs keep their delay, 64m10s is off that period and the
// verdict is revised to device-or-network; on one whose 401003-backed
// cut-offs show the delay varying by minutes between cut-offs (delayStats),
// it is within the hub's enforcement span and stands.
func TestUnpriorOnVaryingDelays(t *testing.T) {
	for _, varying := range []bool{false, true} {
		t.Run(fmt.Sprint("varying=", varying), func(t *testing.T) {
			var evs []event.Event
			// 30 devices with three 401003-backed cut-offs each: 60 pairs
			for i := range 30 {
				second := 67 * time.Minute
				if varying && i%3 == 0 {
					second = 62*time.Minute + 30*time.Second // 4.5 min off the first
				}
				evs = append(evs, netSessions(fmt.Sprintf("peer-%02d", i), sdkDotNetV, []netSession{
					{67 * time.Minute, 10 * time.Second, true}, {second, 10 * time.Second, true}, {67 * time.Minute, 10 * time.Second, true}})...)
			}
			const dev = "dotnet-late"
			c := at(3 * time.Hour)
			x := c.Add(64*time.Minute + 10*time.Second)
			y := x.Add(14*time.Second + 68*time.Minute)
			evs = append(evs, sdkConnect(dev, c, sdkDotNetV, "Mqtt"),
				d404(dev, x), sdkConnect(dev, x.Add(14*time.Second), sdkDotNetV, "Mqtt"),
				u401(dev, y), d404(dev, y), sdkConnect(dev, y.Add(9*time.Second), sdkDotNetV, "Mqtt"))
			r := feed(t, testConfig(), sortByTime(evs), 50, time.Hour)
			want := []Cause{DeviceOrNetwork, TokenExpiry}
			if varying {
				want = []Cause{TokenExpiry, TokenExpiry}
			}
			if got := r.verdicts(dev); !slices.Equal(got, want) {
				t.Errorf("verdicts %v, want %v", got, want)
			}
		})
	}
}
