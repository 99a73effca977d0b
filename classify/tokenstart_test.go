package classify

import (
	"fmt"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/disconnect-doctor/disconnect-doctor/event"
)

// TestTokenStart is the fixture of tokenStartIdx, fittingStart and the
// prune rule that keeps what they rest on: a .NET or Java client over MQTT
// presents the token it holds again when it reconnects after a drop that
// was not its token's, so its cut-off comes on that token's schedule.
func TestTokenStart(t *testing.T) {
	const dev = "pump-7"
	type want struct {
		at    time.Duration // the 404104
		cause Cause
		line  string // a line of its evidence, "" none checked
	}
	cases := []struct {
		name  string
		rule  string
		evs   func() []event.Event
		step  int
		wants []want
	}{
		{
			name: "network drop, then the reused token's cut-off",
			rule: "tokenStartIdx: the reconnect at 25m20s presents the token of the connect at 0, so the drop at 67m (no 401003, back at once) is 67m into its token: the hub-cut SDK prior",
			evs: func() []event.Event {
				return []event.Event{
					sdkConnect(dev, at(0), sdkDotNetV, "Mqtt"),
					d404(dev, at(25*time.Minute)), sdkConnect(dev, at(hms(0, 25, 20)), sdkDotNetV, "Mqtt"),
					d404(dev, at(67*time.Minute)), sdkConnect(dev, at(hms(1, 7, 15)), sdkDotNetV, "Mqtt"),
				}
			},
			wants: []want{
				{25 * time.Minute, DeviceOrNetwork, "connected 25m before; no token period learned yet"},
				{67 * time.Minute, TokenExpiry, "first connected with this token (its reconnects since reused it) 67m before; no token period learned yet"},
			},
		},
		{
			name: "a reconnect once the token was due makes a new one",
			rule: "tokenDue: 55m into a default token (past 85% of its hour) the reconnect makes a new token; the drop 66m after that reconnect is its cut-off, and the age runs from it",
			evs: func() []event.Event {
				return []event.Event{
					sdkConnect(dev, at(0), sdkJavaV, "Mqtt"),
					d404(dev, at(50*time.Minute)), sdkConnect(dev, at(55*time.Minute), sdkJavaV, "Mqtt"),
					d404(dev, at(121*time.Minute)), sdkConnect(dev, at(hms(2, 1, 9)), sdkJavaV, "Mqtt"),
				}
			},
			wants: []want{
				{50 * time.Minute, DeviceOrNetwork, ""},
				{121 * time.Minute, TokenExpiry, "connected 66m before; no token period learned yet"},
			},
		},
		{
			name: "a client that makes a new token on every reconnect",
			rule: "fittingStart: 86m10s into the reused token fits no cut-off, 66m into the session does — the client made a new token at its reconnect (an app that creates its client anew)",
			evs: func() []event.Event {
				return []event.Event{
					sdkConnect(dev, at(0), sdkDotNetV, "Mqtt"),
					d404(dev, at(20*time.Minute)), sdkConnect(dev, at(hms(0, 20, 10)), sdkDotNetV, "Mqtt"),
					d404(dev, at(hms(1, 26, 10))), sdkConnect(dev, at(hms(1, 26, 20)), sdkDotNetV, "Mqtt"),
				}
			},
			wants: []want{
				{20 * time.Minute, DeviceOrNetwork, ""},
				{hms(1, 26, 10), TokenExpiry, "connected 66m before; no token period learned yet"},
			},
		},
		{
			name: "a drop whose record was lost",
			rule: "tokenStartIdx: two connects with no disconnect between (its record lost in delivery): the walk steps back over the first, whose token was not due",
			evs: func() []event.Event {
				return []event.Event{
					sdkConnect(dev, at(0), sdkDotNetV, "Mqtt"),
					sdkConnect(dev, at(hms(0, 25, 20)), sdkDotNetV, "Mqtt"),
					d404(dev, at(67*time.Minute)), sdkConnect(dev, at(hms(1, 7, 15)), sdkDotNetV, "Mqtt"),
				}
			},
			wants: []want{
				{67 * time.Minute, TokenExpiry, "first connected with this token (its reconnects since reused it) 67m before; no token period learned yet"},
			},
		},
		{
			name: "refused connects while the hub recovers",
			rule: "tokenStartIdx: a session anchored on a refused connect (its successful reconnect record lost) is followed back like a connect",
			evs: func() []event.Event {
				return []event.Event{
					sdkConnect(dev, at(0), sdkDotNetV, "Mqtt"),
					d404(dev, at(30*time.Minute)),
					connect(dev, at(hms(0, 30, 5)), 500001, ""), connect(dev, at(hms(0, 30, 30)), 500001, ""),
					d404(dev, at(68*time.Minute)), sdkConnect(dev, at(hms(1, 8, 20)), sdkDotNetV, "Mqtt"),
				}
			},
			wants: []want{
				{68 * time.Minute, TokenExpiry, "first connected with this token (its reconnects since reused it) 68m before; no token period learned yet"},
			},
		},
		{
			name: "prune keeps the connect a late 404104's token dates from",
			rule: "prune: the cut-off's 404104 arrives 40m late, after its reconnect; the connect at 0 is older than the revision horizon by then and is kept because the reconnect's token walk rests on it",
			evs: func() []event.Event {
				evs := []event.Event{
					sdkConnect(dev, at(0), sdkDotNetV, "Mqtt"),
					d404(dev, at(30*time.Minute)), sdkConnect(dev, at(hms(0, 30, 10)), sdkDotNetV, "Mqtt"),
					sdkConnect(dev, at(hms(1, 8, 20)), sdkDotNetV, "Mqtt"),
				}
				// another device's records move the watermark on, and an
				// Event Grid event of this one has it evaluated (and pruned)
				// before its late 404104 comes
				for m := 70; m <= 108; m += 2 {
					evs = append(evs, sdkConnect("clock-1", at(time.Duration(m)*time.Minute), sdkNodeV, "Mqtt"))
					if m == 108 {
						evs = append(evs, stateEv(dev, at(108*time.Minute), true, 7))
					}
				}
				return append(evs, d404(dev, at(68*time.Minute)))
			},
			step: 1,
			wants: []want{
				{68 * time.Minute, TokenExpiry, "first connected with this token (its reconnects since reused it) 68m before; no token period learned yet"},
			},
		},
		{
			name: "prune keeps the cut-off a lost reconnect anchors the walk on",
			rule: "prune: the walk from the cut-off at 66m20s steps back over the drop at 5m to its session, anchored on the cut-off at 0 whose reconnect record was lost; when the watermark passes the revision horizon of 0, that cut-off is kept, so the verdict re-judged then still reads 66m20s, not 54m20s from the connect at 12m",
			evs: func() []event.Event {
				x := at(hms(1, 6, 20))
				evs := []event.Event{
					sdkConnect("clock-1", at(-time.Hour), sdkNodeV, "Mqtt"), // the hub's records began an hour before
					u401(dev, at(0)), d404(dev, at(0)),
					d404(dev, at(5*time.Minute)), sdkConnect(dev, at(12*time.Minute), sdkDotNetV, "Mqtt"),
					d404(dev, x), sdkConnect(dev, x.Add(9*time.Second), sdkDotNetV, "Mqtt"),
				}
				// another device's records move the watermark past the
				// horizon of the cut-off at 0, and Event Grid events of
				// this one have it evaluated (and pruned), then evaluated
				// again
				for m := 70; m <= 110; m += 2 {
					evs = append(evs, sdkConnect("clock-1", at(time.Duration(m)*time.Minute), sdkNodeV, "Mqtt"))
					if m == 104 || m == 110 {
						evs = append(evs, stateEv(dev, at(time.Duration(m)*time.Minute), true, uint64(m)))
					}
				}
				return evs
			},
			step: 1,
			wants: []want{
				{hms(1, 6, 20), TokenExpiry, "disconnected (its reconnect record is missing) 66m20s before; no token period learned yet"},
			},
		},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			t.Log("rule:", c.rule)
			evs := c.evs()
			step := c.step
			if step == 0 {
				step = len(evs) // all at once
			}
			r := feed(t, testConfig(), evs, step, time.Hour)
			for _, w := range c.wants {
				d := r.diag(dev, at(w.at))
				if d.Cause != w.cause {
					t.Errorf("404104 at %s: %s, want %s; evidence:\n  %s", clock(at(w.at).Unix(), 0), d.Cause, w.cause, strings.Join(d.Evidence, "\n  "))
					continue
				}
				if w.line != "" && !containsLine(d.Evidence, w.line) {
					t.Errorf("404104 at %s: evidence lacks %q:\n  %s", clock(at(w.at).Unix(), 0), w.line, strings.Join(d.Evidence, "\n  "))
				}
			}
		})
	}
}

// TestDefaultTokenWindow is the fixture of period.defaultToken: a .NET
// client whose first cut-off (401003, 69m56s) taught it a default token's
// period is cut next at 65m15s with its 401003 lost and back at once. The
// hub cuts a default token 5–10 minutes after expiry, when within that span
// undocumented and free to differ between cut-offs (reference §6.2, §9), so
// 65m15s is no sign that the token was not the cause: the SDK's cut-off
// window stands beside the period. A drop at 40m, off both, stays the
// device's or its network's.
func TestDefaultTokenWindow(t *testing.T) {
	const dev = "pump-9"
	evs := netSessions(dev, sdkDotNetV, []netSession{
		{69*time.Minute + 56*time.Second, 10 * time.Second, true},
		{65*time.Minute + 15*time.Second, 12 * time.Second, false},
		{40 * time.Minute, 9 * time.Second, false},
	})
	r := feed(t, testConfig(), evs, len(evs), time.Hour)
	if got, want := r.verdicts(dev), []Cause{TokenExpiry, TokenExpiry, DeviceOrNetwork}; !slices.Equal(got, want) {
		t.Fatalf("verdicts %v, want %v", got, want)
	}
	d := r.diag(dev, at(hms(2, 15, 21)))
	for _, w := range []string{"connected 65m15s before, off its learned token period of 69m56s (±3m)",
		"a .NET client over MQTT (sdkVersion of its connect), which IoT Hub cuts off at token expiry, 65m–70m after connecting with default tokens"} {
		if !containsLine(d.Evidence, w) {
			t.Errorf("evidence %q lacks %q", d.Evidence, w)
		}
	}
}

// TestRenewalFailedOnSDKPrior: a .NET client cut at 68m18s into its token
// (reused after a hub incident's drop), the 401003 beside it lost, is
// refused with 401003 on every reconnect after: its renewal failed — the
// SDK's cut-off age is the token evidence, the refusals the failure. (Found
// in the 30 000-device run, where it was judged device-or-network.)
func TestRenewalFailedOnSDKPrior(t *testing.T) {
	const dev = "meter-5"
	x := at(68*time.Minute + 18*time.Second)
	evs := []event.Event{
		sdkConnect(dev, at(0), sdkDotNetV, "Mqtt"),
		d404(dev, at(35*time.Minute)), sdkConnect(dev, at(48*time.Minute), sdkDotNetV, "Mqtt"),
		d404(dev, x),
		connect(dev, x.Add(7*time.Second), event.CodeUnauthorized, msgRenew),
		connect(dev, x.Add(8*time.Second), event.CodeUnauthorized, msgRenew),
		connect(dev, x.Add(14*time.Second), event.CodeUnauthorized, msgRenew),
	}
	r := feed(t, testConfig(), evs, len(evs), time.Hour)
	d := r.diag(dev, x)
	if d.Cause != TokenRenewalFailed {
		t.Fatalf("verdict %s, want token-renewal-failed; evidence:\n  %s", d.Cause, strings.Join(d.Evidence, "\n  "))
	}
	for _, w := range []string{"first connected with this token (its reconnects since reused it) 68m18s before; no token period learned yet",
		"401003 continues: 3 refused connect(s) between 11:08:25 UTC and 11:08:32 UTC"} {
		if !containsLine(d.Evidence, w) {
			t.Errorf("evidence %q lacks %q", d.Evidence, w)
		}
	}
}

// TestTokenStartOtherSDKs: the walk back is for the clients the hub cuts;
// a Node client, which the hub never cuts, keeps its session's own age.
func TestTokenStartOtherSDKs(t *testing.T) {
	evs := []event.Event{
		sdkConnect("node-1", at(0), sdkNodeV, "Mqtt"),
		d404("node-1", at(25*time.Minute)), sdkConnect("node-1", at(hms(0, 25, 20)), sdkNodeV, "Mqtt"),
		d404("node-1", at(67*time.Minute)), sdkConnect("node-1", at(hms(1, 7, 15)), sdkNodeV, "Mqtt"),
	}
	r := feed(t, testConfig(), evs, len(evs), time.Hour)
	d := r.diag("node-1", at(67*time.Minute))
	if want := fmt.Sprintf("connected %s before; no token period learned yet", durWords(int64((67*time.Minute-hms(0, 25, 20))/time.Second))); !containsLine(d.Evidence, want) {
		t.Errorf("evidence %q lacks %q", d.Evidence, want)
	}
}

const sdkNodeV = "azure-iot-device/1.18.3 (node v18.19.0; Linux 5.15.0; x64)"
