package suspect

import (
	"fmt"
	"math"

	"github.com/disconnect-doctor/disconnect-doctor/classify"
)

// Token periods (reference/iothub-telemetry.md §6.1–6.2), in seconds. Every
// SDK's default token lifetime is one hour. .NET and Java over MQTT do not
// renew before expiry: the hub cuts them 5–10 minutes after it (a Java SDK
// maintainer; the docs: "lifespan plus a 10-minute grace period"), in
// package classify's window (classify.HubCutMin–HubCutMax: 63–72 min with a
// device clock behind and second-precision records). C renews at 80% of the
// lifetime, Node 15 minutes and Python 2 minutes before it, each with a
// clean disconnect that Event Grid reports too.
const (
	defaultTTL = 3600
	// enforceMin and enforceDelay: how soon and how late the hub cuts an
	// expired token.
	enforceMin   = 5 * 60
	enforceDelay = 10 * 60
	// periodSlack: Event Grid reports state in 60-second snapshots at both
	// ends of a session.
	periodSlack = 90
	// minPeriod: a previous session shorter than this is no token period.
	minPeriod = 10 * 60
)

// renewalAges are the session ages at which the renewing SDKs reconnect on
// the default lifetime: C, Node, Python.
var renewalAges = [...]int64{defaultTTL * 4 / 5, defaultTTL - 15*60, defaultTTL - 2*60}

// period says whether a session ended on a token, and how sharply.
type period int

const (
	offPeriod period = iota
	// widePeriod: within the hub's cut of the default lifetime
	// (classify.HubCutMin–HubCutMax), or at the device's own previous
	// session age give or take the variation of the enforcement delay (a
	// custom lifetime).
	widePeriod
	// sharpPeriod: within periodSlack of a renewing SDK's age, where few of
	// a fleet's sessions stand at any moment.
	sharpPeriod
)

// atTokenPeriod classifies a session that lasted age seconds, of a device
// whose previous session lasted prev (0 unknown).
func atTokenPeriod(age, prev int64) period {
	for _, r := range renewalAges {
		if abs64(age-r) <= periodSlack {
			return sharpPeriod
		}
	}
	if age >= classify.HubCutMin && age <= classify.HubCutMax {
		return widePeriod
	}
	if prev >= minPeriod && abs64(age-prev) <= enforceDelay-enforceMin+periodSlack {
		return widePeriod
	}
	return offPeriod
}

func abs64(v int64) int64 {
	if v < 0 {
		return -v
	}
	return v
}

// Rule of tokenWave: a burst is a wave of token expiries when at least
// waveShare of its known session ages sit at a token period and a random
// draw of as many devices from the fleet's connected ones would hold that
// many at a token period, or that many at a sharp one, with a probability
// under waveOdds.
const (
	waveShare = 2.0 / 3
	waveOdds  = 0.01
)

// waveCount is the evidence tokenWave weighs: of the burst's devices with a
// known session age (n), those at a token period (k), sharply (ks); of the
// fleet's devices connected before the burst with a known connect (m),
// those whose session age at the burst's start is at a token period (j),
// sharply (js).
type waveCount struct{ n, k, ks, m, j, js int }

// countWave counts b's devices and the fleet's, as waveCount says.
func countWave(h *Hub, b burst) waveCount {
	var c waveCount
	for _, d := range b.devs {
		if d.Age > 0 {
			c.n++
			c.k, c.ks = tally(c.k, c.ks, atTokenPeriod(d.Age, d.Prev))
		}
	}
	for _, d := range h.Devs {
		if d.Disc > b.from || d.Conn == 0 || d.Conn <= d.Disc || d.Conn >= b.since {
			continue
		}
		c.m++
		c.j, c.js = tally(c.j, c.js, atTokenPeriod(b.since-d.Conn, d.Age))
	}
	return c
}

// tally adds a session at period p to the counts of sessions at a token
// period and at a sharp one.
func tally(at, sharp int, p period) (int, int) {
	if p != offPeriod {
		at++
	}
	if p == sharpPeriod {
		sharp++
	}
	return at, sharp
}

// tokenWave judges a burst's counts: whether it is a wave of token
// expiries, and the odds of its shares at a token period in a random draw
// from the fleet. A hub outage strikes devices of every session age: its
// shares are the fleet's (high too when the fleet reconnected together an
// hour before and waits for the hub to cut its expired tokens — then the
// fleet's are as high). A token wave is made of devices cut at their
// period, nearly all of them.
func tokenWave(c waveCount) (wave bool, odds float64) {
	odds = min(drawOdds(c.n, c.k, c.m, c.j), drawOdds(c.n, c.ks, c.m, c.js))
	return float64(c.k) >= waveShare*float64(c.n) && odds < waveOdds, odds
}

// drawOdds is the probability that a random draw of n of the fleet's m
// devices, j of which are marked, holds k or more marked ones (binomial,
// with the fleet's share smoothed so that an empty fleet says nothing).
func drawOdds(n, k, m, j int) float64 {
	return binomTail(n, k, (float64(j)+1)/(float64(m)+2))
}

// binomTail is P(X >= k) for X ~ Binomial(n, q), 0 < q < 1.
func binomTail(n, k int, q float64) float64 {
	p := 0.0
	for i := max(k, 0); i <= n; i++ {
		lg := lchoose(n, i) + float64(i)*math.Log(q) + float64(n-i)*math.Log1p(-q)
		p += math.Exp(lg)
	}
	return min(p, 1)
}

func lchoose(n, k int) float64 {
	a, _ := math.Lgamma(float64(n + 1))
	b, _ := math.Lgamma(float64(k + 1))
	c, _ := math.Lgamma(float64(n - k + 1))
	return a - b - c
}

// notATokenWave applies tokenWave to b: ok when b is not a wave (or too
// few of its session ages are known to tell), with the evidence.
func notATokenWave(h *Hub, b burst) (string, bool) {
	c := countWave(h, b)
	if c.n < 5 {
		return "session ages unknown for most devices", true
	}
	wave, odds := tokenWave(c)
	if wave {
		return "", false
	}
	return fmt.Sprintf("%d of %d session ages at a token period (%d sharply), against %d (%d) of the fleet's %d connected devices, odds %.2g: not a wave of token expiries",
		c.k, c.n, c.ks, c.j, c.js, c.m, odds), true
}
