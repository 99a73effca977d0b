package classify

import (
	"fmt"
	"slices"
	"testing"
	"time"

	"github.com/disconnect-doctor/disconnect-doctor/event"
)

// Each classification rule of decide (rules.go) has its own fixtures here:
// records built from the reference facts, fed through the engine, then the
// one rule asked about one 404104. A rule's fixtures say when it applies
// and when it must not, whatever the other rules would say; TestRuleOrder
// and TestDecideFirstRuleWins pin the precedence.

// ruleCase is one fixture of one rule: the records, the 404104 asked about
// (dev at at), whether the rule applies, and a line its evidence holds
// when it does.
type ruleCase struct {
	name  string
	evs   []event.Event
	dev   string
	at    time.Time
	apply bool
	line  string
}

// factsFor feeds evs through an engine (in time order, then ten minutes of
// watermark) and gathers the facts of dev's 404104 at at.
func factsFor(t *testing.T, evs []event.Event, dev string, at time.Time) (*Engine, facts) {
	t.Helper()
	r := feed(t, testConfig(), sortByTime(evs), len(evs), 10*time.Minute)
	d := r.st.devices[event.Key{Hub: testHub, Device: dev}]
	if d == nil {
		t.Fatalf("%s is not tracked", dev)
	}
	i := d.find(at.Unix())
	if i < 0 {
		t.Fatalf("%s has no 404104 at %s", dev, at)
	}
	e := New(testConfig())
	return e, e.gather(d, r.st.hub(testHub), i, at.Unix())
}

// checkRule runs one rule over its fixtures: when it applies, the verdict
// has cause want and the fixture's evidence line.
func checkRule(t *testing.T, apply func(*Engine, *facts) (verdict, bool), want causeCode, cases []ruleCase) {
	t.Helper()
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			e, f := factsFor(t, c.evs, c.dev, c.at)
			v, ok := apply(e, &f)
			if ok != c.apply {
				t.Fatalf("applies = %v, want %v (verdict %s, evidence %q)", ok, c.apply, v.cause.cause(), v.evidence)
			}
			if !ok {
				return
			}
			if v.cause != want {
				t.Errorf("cause %s, want %s", v.cause.cause(), want.cause())
			}
			if c.line != "" && !containsLine(v.evidence, c.line) {
				t.Errorf("evidence %q lacks %q", v.evidence, c.line)
			}
			if v.confidence <= 0 || v.confidence >= 1 {
				t.Errorf("confidence %.2f outside (0,1)", v.confidence)
			}
		})
	}
}

func TestRuleOrder(t *testing.T) {
	var got []string
	for _, r := range New(testConfig()).rules {
		got = append(got, r.name)
	}
	want := []string{"tokenRenewalFailed", "tokenBy401003", "tokenByLearnedPeriod", "duplicateIdentity", "hubBurst", "tokenBySDKPrior", "deviceOrNetwork"}
	if !slices.Equal(got, want) {
		t.Fatalf("rule order %v, want %v", got, want)
	}
}

const drift = "Token not valid yet: device clock skew is more than 5 minutes"

func TestRuleTokenRenewalFailed(t *testing.T) {
	x := at(hms(1, 5, 0))
	refused := []event.Event{connect("d", at(0), 0, ""), u401("d", x), d404("d", x)}
	for i := range 3 {
		refused = append(refused, connect("d", x.Add(time.Duration(10+i*15)*time.Second), event.CodeUnauthorized, drift))
	}
	checkRule(t, (*Engine).tokenRenewalFailed, ccRenewalFailed, []ruleCase{
		{name: "401003 beside, refused connects, not back", evs: refused, dev: "d", at: x, apply: true, line: "401003 continues: 3 refused connect(s)"},
		{name: "401003 says the identity is gone, not back", dev: "d", at: x, apply: true, line: "(device deleted or disabled)",
			evs: []event.Event{connect("d", at(0), 0, ""), disconnect("d", x, event.CodeUnauthorized, "IotHub 'contoso-prod-hub' does not contain the specified device 'd'"), d404("d", x)}},
		{name: "401003 beside and back within the grace", dev: "d", at: x, apply: false,
			evs: append([]event.Event{connect("d", at(0), 0, "")}, expiry("d", x, 17*time.Second)...)},
		{name: "refused connects without token evidence of its own", dev: "d", at: x, apply: false,
			evs: []event.Event{connect("d", at(0), 0, ""), d404("d", x), connect("d", x.Add(20*time.Second), event.CodeUnauthorized, drift)}},
	})
}

func TestRuleTokenBy401003(t *testing.T) {
	x := at(hms(1, 5, 14))
	checkRule(t, (*Engine).tokenBy401003, ccTokenExpiry, []ruleCase{
		{name: "401003 beside and back", dev: "d", at: x, apply: true, line: "401003 IoTHubUnauthorized at 11:05:14 UTC, 0s before the disconnect",
			evs: append([]event.Event{connect("d", at(0), 0, "")}, expiry("d", x, 17*time.Second)...)},
		{name: "401003 up to 30 s before", dev: "d", at: x, apply: true, line: "28s before the disconnect",
			evs: []event.Event{connect("d", at(0), 0, ""), u401("d", x.Add(-28*time.Second)), d404("d", x), connect("d", x.Add(5*time.Second), 0, "")}},
		{name: "no 401003", dev: "d", at: x, apply: false,
			evs: []event.Event{connect("d", at(0), 0, ""), d404("d", x), connect("d", x.Add(5*time.Second), 0, "")}},
		{name: "401003 before the session's connect refused the previous token", dev: "d", at: x, apply: false,
			evs: []event.Event{connect("d", at(0), 0, ""), u401("d", x.Add(-20*time.Second)), connect("d", x.Add(-10*time.Second), 0, ""),
				d404("d", x), connect("d", x.Add(5*time.Second), 0, "")}},
	})
}

func TestRuleTokenByLearnedPeriod(t *testing.T) {
	// four 401003-backed 48-minute expiries teach the period; the fifth
	// lost its 401003
	p, back := 48*time.Minute, 8*time.Second
	fifth := periodTime(p, back, 5).Add(-back)
	onPeriod := periodic("d", p, 5, 4, back)
	offPeriod := append(periodic("d", p, 4, 4, back), d404("d", periodTime(p, back, 4).Add(20*time.Minute)),
		connect("d", periodTime(p, back, 4).Add(20*time.Minute+5*time.Second), 0, ""))
	// on the period within its tolerance but 2 minutes off, and not back:
	// not close enough when the period is all that is left
	loose := append(periodic("d", p, 4, 4, back), d404("d", periodTime(p, back, 4).Add(p+2*time.Minute)))
	checkRule(t, (*Engine).tokenByLearnedPeriod, ccTokenExpiry, []ruleCase{
		{name: "session ends on its learned period", evs: onPeriod, dev: "d", at: fifth, apply: true, line: "matching its learned token period of 48m"},
		{name: "session ends off its period", evs: offPeriod, dev: "d", at: periodTime(p, back, 4).Add(20 * time.Minute), apply: false},
		{name: "within tolerance but not close, and not back", evs: loose, dev: "d", at: periodTime(p, back, 4).Add(p + 2*time.Minute), apply: false},
	})
}

func TestRuleDuplicateIdentity(t *testing.T) {
	x := at(hms(0, 10, 1))
	inBurst := burst(30, true, at(hms(2, 0, 0)), "b")
	bt := at(hms(2, 0, 0)).Add(time.Duration(5*150/30) * time.Second) // b-005's 404104
	inBurst = append(inBurst, disconnect("b-005", bt.Add(-2*time.Second), event.CodeLinkCreationConflict, ""))
	// b-005 again, its two clients knocking each other off: a kick 30 s
	// before the burst took it, and one at the disconnect itself
	kickBefore := append(burst(30, true, at(hms(2, 0, 0)), "b"), disconnect("b-005", bt.Add(-30*time.Second), event.CodeClosedOnNewConnection, ""))
	kickAt := append(burst(30, true, at(hms(2, 0, 0)), "b"), disconnect("b-005", bt.Add(-time.Second), event.CodeClosedOnNewConnection, ""))
	checkRule(t, (*Engine).duplicateIdentity, ccDuplicateIdentity, []ruleCase{
		{name: "400027 around the disconnect", dev: "d", at: x, apply: true, line: "400027 ConnectionForcefullyClosedOnNewConnection ×1",
			evs: []event.Event{connect("d", at(0), 0, ""), disconnect("d", x.Add(-time.Second), event.CodeClosedOnNewConnection, ""),
				d404("d", x), connect("d", x.Add(2*time.Second), 0, "")}},
		{name: "409002 outside a hub incident", dev: "d", at: x, apply: true, line: "409002 LinkCreationConflict ×1",
			evs: []event.Event{connect("d", at(0), 0, ""), disconnect("d", x.Add(-time.Second), event.CodeLinkCreationConflict, ""),
				d404("d", x), connect("d", x.Add(2*time.Second), 0, "")}},
		{name: "409002 of a device caught in a hub incident's burst", evs: inBurst, dev: "b-005", at: bt, apply: false},
		{name: "a 400027 of an earlier kick, and a hub incident's burst caught the disconnect", evs: kickBefore, dev: "b-005", at: bt, apply: false},
		{name: "a 400027 at the disconnect, inside a hub incident's burst", evs: kickAt, dev: "b-005", at: bt, apply: true,
			line: "400027 ConnectionForcefullyClosedOnNewConnection ×1 around the disconnect (first at 12:00:24 UTC)"},
		{name: "a 400027 30 s before, outside any incident", dev: "d", at: x, apply: true, line: "400027 ConnectionForcefullyClosedOnNewConnection ×1",
			evs: []event.Event{connect("d", at(0), 0, ""), disconnect("d", x.Add(-30*time.Second), event.CodeClosedOnNewConnection, ""),
				d404("d", x), connect("d", x.Add(2*time.Second), 0, "")}},
		{name: "no duplicate-identity code", dev: "d", at: x, apply: false,
			evs: []event.Event{connect("d", at(0), 0, ""), d404("d", x), connect("d", x.Add(2*time.Second), 0, "")}},
	})
}

// errorTail adds to a burst starting at start the hub-side errors that keep
// its incident open until minute 9: twin updates failing with 500001 on
// the burst's devices, ten a minute.
func errorTail(evs []event.Event, start time.Time) []event.Event {
	for m := 3; m < 9; m++ {
		for i := range 10 {
			evs = append(evs, opErr(fmt.Sprintf("b-%03d", i), start.Add(time.Duration(m)*time.Minute+time.Duration(i)*time.Second), "D2CTwinOperations", 500001))
		}
	}
	return evs
}

func TestRuleHubBurst(t *testing.T) {
	start := at(hms(2, 0, 0))
	bt := start.Add(time.Duration(7*150/30) * time.Second) // b-007's 404104
	after := append(errorTail(burst(30, true, start, "b"), start), connect("late", at(0), 0, ""), d404("late", start.Add(6*time.Minute)),
		connect("late", start.Add(6*time.Minute+5*time.Second), 0, ""))
	checkRule(t, (*Engine).hubBurst, ccHubTransient, []ruleCase{
		{name: "part of a burst with hub-side errors", evs: burst(30, true, start, "b"), dev: "b-007", at: bt, apply: true,
			line: "devices disconnected in this hub between"},
		{name: "the same burst without hub-side errors", evs: burst(30, false, start, "b"), dev: "b-007", at: bt, apply: false},
		{name: "inside the incident's span but minutes after its burst", evs: after, dev: "late", at: start.Add(6 * time.Minute), apply: false},
	})
}

func TestRuleTokenBySDKPrior(t *testing.T) {
	age := hms(1, 7, 12)
	session := func(sdk, protocol string, age time.Duration, back bool) []event.Event {
		evs := []event.Event{sdkConnect("d", at(0), sdk, protocol), d404("d", at(age))}
		if back {
			evs = append(evs, sdkConnect("d", at(age+13*time.Second), sdk, protocol))
		}
		return evs
	}
	checkRule(t, (*Engine).tokenBySDKPrior, ccTokenExpiry, []ruleCase{
		{name: ".NET over MQTT at 67 min, back", evs: session(sdkDotNetV, "Mqtt", age, true), dev: "d", at: at(age), apply: true,
			line: "a .NET client over MQTT (sdkVersion of its connect)"},
		{name: ".NET over MQTT at 67 min, not back", evs: session(sdkDotNetV, "Mqtt", age, false), dev: "d", at: at(age), apply: false},
		{name: ".NET over MQTT at 40 min", evs: session(sdkDotNetV, "Mqtt", 40*time.Minute, true), dev: "d", at: at(40 * time.Minute), apply: false},
		{name: ".NET over AMQP refreshes in the connection", evs: session(sdkDotNetV, "Amqp", age, true), dev: "d", at: at(age), apply: false},
		{name: "Node renews with a clean disconnect", evs: session("azure-iot-device/1.18.3 (node v18.19.0; Linux 5.15.0; x64)", "Mqtt", age, true), dev: "d", at: at(age), apply: false},
		// connect not on record, early in the records (cutStats): the hub's
		// own figures weigh the prior
		{name: "early drop, a hub that logs a fifth of its cut-offs without a 401003", evs: cutFleet(160, func(i int) bool { return i%5 == 0 }, 5),
			dev: "net-0", at: at(55 * time.Minute), apply: true, line: "its session began before the records did"},
		{name: "early drop, a hub that logs a 401003 with every cut-off", evs: cutFleet(160, func(int) bool { return false }, 5),
			dev: "net-0", at: at(55 * time.Minute), apply: false},
	})
}

func TestRuleDeviceOrNetwork(t *testing.T) {
	x := at(hms(0, 40, 0))
	start := at(hms(2, 0, 0))
	during := append(errorTail(burst(30, true, start, "b"), start), connect("late", at(0), 0, ""), d404("late", start.Add(6*time.Minute)))
	checkRule(t, (*Engine).deviceOrNetwork, ccDeviceOrNetwork, []ruleCase{
		{name: "no other evidence, back quickly", dev: "d", at: x, apply: true, line: "no hub incident at the time",
			evs: []event.Event{connect("d", at(0), 0, ""), d404("d", x), connect("d", x.Add(5*time.Second), 0, "")}},
		{name: "inside an incident's span, not part of its burst", evs: during, dev: "late", at: start.Add(6 * time.Minute), apply: true,
			line: "but not part of its burst"},
		{name: "an early drop the hub's own figures take from the SDK prior", evs: cutFleet(160, func(int) bool { return false }, 5),
			dev: "net-0", at: at(55 * time.Minute), apply: true, line: "a network drop is likelier"},
		{name: "applies whatever else holds: it is the last rule", dev: "d", at: x, apply: true, line: "401003 IoTHubUnauthorized",
			evs: append([]event.Event{connect("d", at(0), 0, "")}, expiry("d", x, 5*time.Second)...)},
	})
}

// TestDecideFirstRuleWins: where several rules apply, decide gives the
// verdict of the first in ruleOrder.
func TestDecideFirstRuleWins(t *testing.T) {
	start := at(hms(2, 0, 0))
	bt := start.Add(time.Duration(7*150/30) * time.Second)
	evs := burst(30, true, start, "b")
	evs = append(evs, u401("b-007", bt)) // b-007's token expired in the burst
	e, f := factsFor(t, evs, "b-007", bt)
	var applied []string
	for _, r := range e.rules {
		if _, ok := r.apply(&f); ok {
			applied = append(applied, r.name)
		}
	}
	if !slices.Equal(applied, []string{"tokenBy401003", "hubBurst", "deviceOrNetwork"}) {
		t.Fatalf("rules applying %v, want tokenBy401003, hubBurst, deviceOrNetwork", applied)
	}
	v := e.decide(f.d, f.h, f.i, f.t)
	if v.cause != ccTokenExpiry || v.incident == nil || !containsLine(v.evidence, "but the device's own evidence decides") {
		t.Fatalf("decide: %s incident %v evidence %q, want token-expiry caught in the incident", v.cause.cause(), v.incident != nil, v.evidence)
	}
}

// TestRulePending: a 404104 stays pending until the watermark passes
// t + ReconnectGrace; a final verdict is never pending again.
func TestRulePending(t *testing.T) {
	e := New(testConfig())
	t404 := at(hms(1, 0, 0)).Unix()
	grace := int64(testConfig().ReconnectGrace / time.Second)
	for _, c := range []struct {
		name  string
		w     int64
		flags uint8
		want  bool
	}{
		{"watermark before the disconnect", t404 - 60, 0, true},
		{"watermark inside the grace", t404 + grace - 1, 0, true},
		{"watermark at the grace's end", t404 + grace, 0, false},
		{"watermark past it", t404 + grace + 600, 0, false},
		{"already final, watermark inside the grace", t404 + 1, fFinal, false},
	} {
		ent := entry{t: t404, code: event.CodeConnectionClosedRemotely, kind: event.Disconnect, src: event.ResourceLog, flags: c.flags}
		if got := e.pending(&ent, c.w); got != c.want {
			t.Errorf("%s: pending = %v, want %v", c.name, got, c.want)
		}
	}
}
