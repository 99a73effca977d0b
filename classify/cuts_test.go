package classify

import (
	"fmt"
	"slices"
	"testing"
	"time"

	"github.com/disconnect-doctor/disconnect-doctor/event"
)

// cutVerdict is a 404104 of a .NET client over MQTT as learn sees it.
func cutVerdict(age int64, backed, back bool) verdict {
	return verdict{cause: ccTokenExpiry, hubCut: true, age: age, backed: backed, reconnect: back}
}

// earlyVerdict is one of a client with no connect on record in the
// records' first HubCutMax.
func earlyVerdict(backed bool) verdict {
	return verdict{cause: ccTokenExpiry, hubCut: true, age: -1, early: true, backed: backed, reconnect: true}
}

// TestCutKindOf: which 404104s the hub's cut-off figures count, and where.
func TestCutKindOf(t *testing.T) {
	for _, c := range []struct {
		name string
		v    verdict
		want cutKind
	}{
		{"67 min into a session, back", cutVerdict(67*60, true, true), cutWindow},
		{"at the window's edges", cutVerdict(HubCutMin, false, true), cutWindow},
		{"just past the window", cutVerdict(HubCutMax+1, false, true), cutNone},
		{"in the span as long before it, no 401003", cutVerdict(58*60, false, true), cutControl},
		{"in that span with a 401003 (its own token evidence)", cutVerdict(58*60, true, true), cutNone},
		{"in that span on its learned period", func() verdict { v := cutVerdict(58*60, false, true); v.onPeriod = true; return v }(), cutNone},
		{"younger than the control span", cutVerdict(20*60, false, true), cutNone},
		{"not back within the grace", cutVerdict(67*60, true, false), cutNone},
		{"inside a hub incident's span", func() verdict { v := cutVerdict(67*60, true, true); v.inSpan = true; return v }(), cutNone},
		{"a client the hub does not cut (AMQP, C, Node, Python)", func() verdict { v := cutVerdict(67*60, true, true); v.hubCut = false; return v }(), cutNone},
		{"no connect on record, early", earlyVerdict(false), cutEarly},
		{"no connect on record, after the first HubCutMax", verdict{hubCut: true, age: -1, reconnect: true}, cutNone},
		{"a token older than the records, past their first HubCutMax", verdict{hubCut: true, age: -1, late: true, reconnect: true}, cutLate},
		{"a token that outlived HubCutMax on record", func() verdict { v := cutVerdict(100*60, false, true); v.late = true; return v }(), cutLate},
	} {
		if got := cutKindOf(&c.v); got != c.want {
			t.Errorf("%s: kind %d, want %d", c.name, got, c.want)
		}
	}
}

// hubFigures builds a hub's figures from counts of 404104s as learn sees
// them: window cut-offs (logged of them), control drops, early drops
// (logged of them).
func hubFigures(window, windowLogged, control, early, earlyLogged int) *cutStats {
	c := &cutStats{}
	for i := range window {
		v := cutVerdict(67*60, i < windowLogged, true)
		c.learn(&v)
	}
	for range control {
		v := cutVerdict(58*60, false, true)
		c.learn(&v)
	}
	for i := range early {
		v := earlyVerdict(i < earlyLogged)
		c.learn(&v)
	}
	return c
}

// TestCutLikelier: the SDK prior for an early drop without a 401003 stands
// unless the hub's own figures make a network drop the likelier cause.
func TestCutLikelier(t *testing.T) {
	for _, c := range []struct {
		name                                              string
		window, windowLogged, control, early, earlyLogged int
		want                                              bool
	}{
		{"a new hub: nothing learned", 0, 0, 0, 0, 0, true},
		{"too few cut-offs at a known age", 60, 60, 0, 3700, 3680, true},
		{"too few early cut-offs", 800, 800, 0, 90, 60, true},
		// the reference's "sometimes with 401003": a fifth of the cut-offs
		// unlogged, so most early drops without one are cut-offs
		{"cut-offs often come without a 401003", 800, 640, 5, 3700, 2900, true},
		// every cut-off logged: the early drops without one are the network's
		{"every cut-off logged, early drops without one", 800, 795, 5, 3700, 3680, false},
		// nearly every one logged, but the early unlogged drops are no more
		// than the cut-offs expected without a 401003
		{"few unlogged cut-offs, as many early drops without one", 800, 790, 2, 3700, 3660, true},
	} {
		f := hubFigures(c.window, c.windowLogged, c.control, c.early, c.earlyLogged)
		if got := f.cutLikelier(); got != c.want {
			t.Errorf("%s: cutLikelier %v (u %.4f, early cut share %.2f), want %v", c.name, got, f.unlogged(), f.earlyCutShare(), c.want)
		}
	}
}

// TestLateCutLikelier: a late drop without a 401003 (a token older than the
// records, past their first HubCutMax) is judged a cut-off only when the
// hub's figures say so: enough late cut-offs with a 401003 that the ones
// expected without one are at least half of the late drops without one.
func TestLateCutLikelier(t *testing.T) {
	for _, c := range []struct {
		name             string
		late, lateLogged int
		want             bool
	}{
		{"nothing learned", 0, 0, false},
		{"too few late cut-offs with a 401003", 100, 90, false},
		// u = 0.2: 400 logged stand for 100 unlogged cut-offs, among 110
		{"most late drops without one are cut-offs", 510, 400, true},
		// the same 100 expected among 600 without one: the network's
		{"most late drops without one are the network's", 1000, 400, false},
	} {
		f := hubFigures(800, 640, 0, 0, 0)
		for i := range c.late {
			v := verdict{cause: ccTokenExpiry, hubCut: true, age: -1, late: true, backed: i < c.lateLogged, reconnect: true}
			f.learn(&v)
		}
		if got := f.lateCutLikelier(); got != c.want {
			t.Errorf("%s: lateCutLikelier %v (u %.3f, late cut share %.2f), want %v", c.name, got, f.unlogged(), f.lateCutShare(), c.want)
		}
	}
}

// TestCutRelog: a 401003 arriving after the verdict moves its 404104 to
// the logged ones; learn counts nothing it should not.
func TestCutRelog(t *testing.T) {
	c := &cutStats{}
	v := cutVerdict(67*60, false, true)
	if !c.learn(&v) {
		t.Fatal("an unlogged window cut-off is not reported unlogged")
	}
	v.backed = true
	c.relog(&v)
	if c.window != 1 || c.windowLogged != 1 {
		t.Fatalf("after relog: %+v, want one logged window cut-off", *c)
	}
	ctl := cutVerdict(58*60, false, true)
	if c.learn(&ctl) {
		t.Error("a control drop is reported unlogged: a 401003 would move it to the window")
	}
}

// TestCutStatsBounded: the figures halve past cutsCap instead of growing.
func TestCutStatsBounded(t *testing.T) {
	c := &cutStats{window: cutsCap, windowLogged: cutsCap, control: 10, early: 100, earlyLogged: 90, late: 40, lateLogged: 30}
	v := cutVerdict(67*60, true, true)
	c.learn(&v)
	if c.window > cutsCap || c.control != 5 || c.early != 50 || c.late != 20 {
		t.Fatalf("figures %+v: not halved past the cap", *c)
	}
}

// cutFleet is a hub's first hours with n .NET clients over MQTT connected
// before the records began: each cut off once in the records' first
// hour, then again 67 minutes after its reconnect (each time with a 401003
// beside, unless unlogged(its index)), and net .NET clients whose network drops
// once, with no 401003, 55 minutes into the records, each back 10 s later.
func cutFleet(n int, unlogged func(i int) bool, net int) []event.Event {
	var evs []event.Event
	for i := range n {
		dev := fmt.Sprintf("cut-%03d", i)
		t1 := at(time.Duration(i) * 20 * time.Second)
		if !unlogged(i) {
			evs = append(evs, u401(dev, t1))
		}
		evs = append(evs, d404(dev, t1), sdkConnect(dev, t1.Add(10*time.Second), sdkDotNetV, "Mqtt"))
		t2 := t1.Add(10*time.Second + 67*time.Minute)
		if !unlogged(i) {
			evs = append(evs, u401(dev, t2))
		}
		evs = append(evs, d404(dev, t2), sdkConnect(dev, t2.Add(10*time.Second), sdkDotNetV, "Mqtt"))
	}
	for k := range net {
		dev := fmt.Sprintf("net-%d", k)
		t1 := at(55*time.Minute + time.Duration(k)*time.Minute)
		evs = append(evs, d404(dev, t1), sdkConnect(dev, t1.Add(10*time.Second), sdkDotNetV, "Mqtt"))
	}
	return sortByTime(evs)
}

// TestHubFiguresOverruleEarlyPrior: on a hub that logs a 401003 with every
// token cut-off, the early drops without one of clients whose connect is
// not on record — first judged cut-offs on the SDK prior, before the hub
// had shown anything — are re-judged device-or-network once its figures
// show it, while its cut-offs stay token expiries; on a hub that logs
// none for a fifth of its cut-offs the prior stands.
func TestHubFiguresOverruleEarlyPrior(t *testing.T) {
	const n, net = 160, 5
	all := cutFleet(n, func(int) bool { return false }, net)
	r := feed(t, testConfig(), all, 50, 2*time.Hour)
	for k := range net {
		dev := fmt.Sprintf("net-%d", k)
		if got := r.verdicts(dev); !slices.Equal(got, []Cause{DeviceOrNetwork}) {
			t.Errorf("%s verdicts %v, want device-or-network", dev, got)
			continue
		}
		d := r.diag(dev, at(55*time.Minute+time.Duration(k)*time.Minute))
		if !containsLine(d.Evidence, "a network drop is likelier") || d.Revisions != 1 {
			t.Errorf("%s: evidence %q, %d revisions: want the hub's figures and one revision", dev, d.Evidence, d.Revisions)
		}
	}
	for i := range n {
		dev := fmt.Sprintf("cut-%03d", i)
		if got := r.verdicts(dev); !slices.Equal(got, []Cause{TokenExpiry, TokenExpiry}) {
			t.Fatalf("%s verdicts %v, want two token expiries", dev, got)
		}
	}
	if !r.st.hubs[testHub].cuts.rejudged {
		t.Error("the hub's early verdicts were not re-judged")
	}

	// a fifth of the cut-offs without a 401003: the prior stands
	some := cutFleet(n, func(i int) bool { return i%5 == 0 }, net)
	r = feed(t, testConfig(), some, 50, 2*time.Hour)
	for k := range net {
		dev := fmt.Sprintf("net-%d", k)
		if got := r.verdicts(dev); !slices.Equal(got, []Cause{TokenExpiry}) {
			t.Errorf("with unlogged cut-offs, %s verdicts %v, want token-expiry (the prior)", dev, got)
		}
	}
	if r.st.hubs[testHub].cuts.rejudged {
		t.Error("re-judged although the prior stands")
	}
}

// TestHubFiguresRoundTrip: the figures (cutStats, delayStats) survive the
// hub blob.
func TestHubFiguresRoundTrip(t *testing.T) {
	st := NewState()
	h := st.hub(testHub)
	h.cuts = *hubFigures(800, 795, 5, 3700, 3680)
	h.cuts.late, h.cuts.lateLogged = 310, 262
	h.cuts.rejudged = true
	h.delays = delayStats{pairs: 120, varied: 19}
	b, err := st.MarshalHub(testHub)
	if err != nil {
		t.Fatal(err)
	}
	ns := NewState()
	if err := ns.UnmarshalHub(testHub, b); err != nil {
		t.Fatal(err)
	}
	if got := ns.hubs[testHub].cuts; got != h.cuts {
		t.Fatalf("figures %+v after a round trip, want %+v", got, h.cuts)
	}
	if got := ns.hubs[testHub].delays; got != h.delays {
		t.Fatalf("delay figures %+v after a round trip, want %+v", got, h.delays)
	}
}

// lateFleet is a hub whose 160 .NET clients connected at 10:00 are cut off
// 67 minutes in, four in five with a 401003 beside (the hub's window
// figures: a fifth of its cut-offs unlogged); late clients, connected before
// the records began and still on in their second hour, each disconnect once
// between 11:15 and 11:55, with a 401003 when logged(i); and the probe,
// connected before the records too, drops at 12:20 with none, back 10 s
// later.
func lateFleet(late int, logged func(i int) bool) []event.Event {
	var evs []event.Event
	for i := range 160 {
		dev := fmt.Sprintf("win-%03d", i)
		c := at(time.Duration(i) * 10 * time.Second)
		x := c.Add(67 * time.Minute)
		evs = append(evs, sdkConnect(dev, c, sdkDotNetV, "Mqtt"))
		if i%5 != 0 {
			evs = append(evs, u401(dev, x))
		}
		evs = append(evs, d404(dev, x), sdkConnect(dev, x.Add(10*time.Second), sdkDotNetV, "Mqtt"))
	}
	for i := range late {
		dev := fmt.Sprintf("long-%03d", i)
		x := at(75*time.Minute + time.Duration(i)*(40*time.Minute)/time.Duration(late))
		if logged(i) {
			evs = append(evs, u401(dev, x))
		}
		evs = append(evs, d404(dev, x), sdkConnect(dev, x.Add(10*time.Second), sdkDotNetV, "Mqtt"))
	}
	x := at(140 * time.Minute)
	evs = append(evs, d404("probe", x), sdkConnect("probe", x.Add(10*time.Second), sdkDotNetV, "Mqtt"))
	return sortByTime(evs)
}

// TestHubFiguresJudgeLateDrops: a drop without a 401003 of a client whose
// token predates the records by more than HubCutMax — a longer token than
// the default, for which no documented prior exists — is its cut-off when
// the hub's figures on such clients say most of those drops are (their
// disconnects mostly come with a 401003), and the device's or its
// network's when they say otherwise.
func TestHubFiguresJudgeLateDrops(t *testing.T) {
	probe := at(140 * time.Minute)
	// known: a client whose connect is on record 100 minutes before its
	// drop: its token, too, outlived the default one
	known := []event.Event{sdkConnect("known", at(40*time.Minute), sdkDotNetV, "Mqtt"), d404("known", probe),
		sdkConnect("known", probe.Add(10*time.Second), sdkDotNetV, "Mqtt")}
	r := feed(t, testConfig(), sortByTime(append(lateFleet(150, func(i int) bool { return i%5 != 0 }), known...)), 50, time.Hour)
	d := r.diag("probe", probe)
	if d.Cause != TokenExpiry || !containsLine(d.Evidence, "of clients whose token outlived 72m did, so about") {
		t.Errorf("mostly logged late cut-offs: probe %s, evidence %q; want token-expiry on the hub's figures", d.Cause, d.Evidence)
	}
	if d := r.diag("known", probe); d.Cause != TokenExpiry || !containsLine(d.Evidence, "whose token has lived 100m, longer than a default token lives") {
		t.Errorf("mostly logged late cut-offs: known-age probe %s, evidence %q; want token-expiry on the hub's figures", d.Cause, d.Evidence)
	}
	// a client that has shown a default token's period (two cut-offs 66
	// minutes apart, each with its 401003) and then drops 100 minutes into
	// a session is off that period, not a long token
	c1, c2 := at(71*time.Minute), at(137*time.Minute+10*time.Second)
	drop := c2.Add(10*time.Second + 100*time.Minute)
	periodic := []event.Event{sdkConnect("periodic", at(5*time.Minute), sdkDotNetV, "Mqtt"),
		u401("periodic", c1), d404("periodic", c1), sdkConnect("periodic", c1.Add(10*time.Second), sdkDotNetV, "Mqtt"),
		u401("periodic", c2), d404("periodic", c2), sdkConnect("periodic", c2.Add(10*time.Second), sdkDotNetV, "Mqtt"),
		d404("periodic", drop), sdkConnect("periodic", drop.Add(10*time.Second), sdkDotNetV, "Mqtt")}
	r = feed(t, testConfig(), sortByTime(append(lateFleet(150, func(i int) bool { return i%5 != 0 }), periodic...)), 50, time.Hour)
	if d := r.diag("periodic", drop); d.Cause != DeviceOrNetwork || !containsLine(d.Evidence, "off its learned token period") {
		t.Errorf("mostly logged late cut-offs: a default token's drop 100m into a session %s, evidence %q; want device-or-network off its period", d.Cause, d.Evidence)
	}
	// 120 with a 401003 stand for 30 cut-offs without one, among 480
	r = feed(t, testConfig(), sortByTime(append(lateFleet(600, func(i int) bool { return i%5 == 0 }), known...)), 50, time.Hour)
	if d := r.diag("probe", probe); d.Cause != DeviceOrNetwork {
		t.Errorf("mostly unlogged late disconnects: probe %s, evidence %q; want device-or-network", d.Cause, d.Evidence)
	}
	if d := r.diag("known", probe); d.Cause != DeviceOrNetwork {
		t.Errorf("mostly unlogged late disconnects: known-age probe %s, evidence %q; want device-or-network", d.Cause, d.Evidence)
	}
	if c := r.st.hubs[testHub].cuts; c.lateLogged < minCutCount {
		t.Errorf("late figures %v of %v: too few to weigh, the case tests nothing", c.lateLogged, c.late)
	}
}
