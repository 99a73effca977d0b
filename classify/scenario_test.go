package classify

import (
	"fmt"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/disconnect-doctor/disconnect-doctor/event"
)

// burst builds n devices that connected at staggered times long before and
// are disconnected by the hub between 13:22 and 13:24 (reference §6.4
// "Hub-side"), reconnecting ~3 minutes later. With hubErrors, every device
// also gets a 500001 on a failed connect and on a twin update (reference
// §1.4 / §1.5 composed records).
func burst(n int, hubErrors bool, start time.Time, prefix string) []event.Event {
	var evs []event.Event
	for i := range n {
		dev := fmt.Sprintf("%s-%03d", prefix, i)
		evs = append(evs, connect(dev, start.Add(-time.Duration(20+i*3)*time.Minute-time.Duration(i)*time.Second), 0, ""))
		dt := start.Add(time.Duration(i*150/n) * time.Second)
		evs = append(evs, d404(dev, dt))
		if hubErrors {
			evs = append(evs, connect(dev, dt.Add(20*time.Second), 500001, ""))
			evs = append(evs, opErr(dev, dt.Add(5*time.Second), "D2CTwinOperations", 500001))
		}
		evs = append(evs, connect(dev, dt.Add(3*time.Minute), 0, ""))
	}
	return evs
}

func TestScenarios(t *testing.T) {
	type check func(t *testing.T, r *run)
	cases := []struct {
		name string
		rule string
		evs  func() []event.Event
		tail time.Duration
		step int
		chk  check
	}{
		{
			name: "401003 beside 404104 and reconnect",
			rule: "§5 token seed 1: own 401003 beside the 404104, reconnect within grace → token-expiry",
			evs: func() []event.Event {
				return append([]event.Event{connect("pump-0042", at(0), 0, "")}, expiry("pump-0042", at(hms(1, 5, 14)), 17*time.Second)...)
			},
			tail: time.Hour,
			chk: func(t *testing.T, r *run) {
				d := r.diag("pump-0042", at(hms(1, 5, 14)))
				if d.Cause != TokenExpiry || !d.Final {
					t.Fatalf("verdict %s final=%v, want final token-expiry", d.Cause, d.Final)
				}
				for _, want := range []string{"401003 IoTHubUnauthorized at 11:05:14 UTC, 0s before the disconnect", "reconnected 17s later"} {
					if !containsLine(d.Evidence, want) {
						t.Errorf("evidence %q lacks %q", d.Evidence, want)
					}
				}
				if d.Confidence < 0.85 || !strings.Contains(d.Recommendation, "No action needed") {
					t.Errorf("confidence %.2f recommendation %q", d.Confidence, d.Recommendation)
				}
				if len(r.signals) != 0 {
					t.Errorf("a healthy renewal signalled %+v", r.signals)
				}
			},
		},
		{
			name: "lost 401003 on a learned 48-minute period",
			rule: "§5 learned, not hard-coded periods: three 401003-backed 48 min expiries, the 4th without 401003 → token-expiry",
			evs: func() []event.Event {
				return periodic("c-sdk-7", 48*time.Minute, 5, 4, 8*time.Second)
			},
			tail: time.Hour,
			chk: func(t *testing.T, r *run) {
				want := []Cause{TokenExpiry, TokenExpiry, TokenExpiry, TokenExpiry, TokenExpiry}
				if got := r.verdicts("c-sdk-7"); !slices.Equal(got, want) {
					t.Fatalf("verdicts %v, want %v", got, want)
				}
				d := r.diag("c-sdk-7", periodTime(48*time.Minute, 8*time.Second, 5).Add(-8*time.Second))
				if !containsLine(d.Evidence, "matching its learned token period of 48m") || !containsLine(d.Evidence, "no 401003 within 30s") {
					t.Errorf("evidence %q", d.Evidence)
				}
			},
		},
		{
			name: "lost 401003 on a learned 3-hour period",
			rule: "§5 learned periods: any period (3 h), with jitter",
			evs: func() []event.Event {
				return periodic("long-ttl", 3*time.Hour+90*time.Second, 4, 3, 12*time.Second)
			},
			tail: time.Hour,
			chk: func(t *testing.T, r *run) {
				if got := r.verdicts("long-ttl"); !slices.Equal(got, []Cause{TokenExpiry, TokenExpiry, TokenExpiry, TokenExpiry}) {
					t.Fatalf("verdicts %v", got)
				}
			},
		},
		{
			name: "repeating durations without any 401003 teach the period",
			rule: "§5 learned periods (learnedPeriod): three connect→404104 durations agreeing within regularTolerance, none longer, teach a period without 401003; reviseEarlier: once the 4th falls on it, the first three are revised to token-expiry",
			evs: func() []event.Event {
				return periodic("quiet-sdk", 70*time.Minute, 5, 0, 9*time.Second)
			},
			tail: time.Hour,
			chk: func(t *testing.T, r *run) {
				got := r.verdicts("quiet-sdk")
				want := []Cause{TokenExpiry, TokenExpiry, TokenExpiry, TokenExpiry, TokenExpiry}
				if !slices.Equal(got, want) {
					t.Fatalf("verdicts %v, want %v", got, want)
				}
				for i := 1; i <= 5; i++ {
					d := r.diag("quiet-sdk", periodTime(70*time.Minute, 9*time.Second, i).Add(-9*time.Second))
					wantRev := 0
					if i <= 3 {
						wantRev = 1
					}
					if d.Revisions != wantRev {
						t.Errorf("expiry %d: revisions %d, want %d", i, d.Revisions, wantRev)
					}
					if i <= 3 && !containsLine(d.Evidence, "fell on a 70m token period repeated by 3 sessions") {
						t.Errorf("expiry %d evidence %q", i, d.Evidence)
					}
				}
			},
		},
		{
			name: "quick reconnect without token evidence",
			rule: "§5 a quick reconnect alone is not a token expiry",
			evs: func() []event.Event {
				return []event.Event{connect("blip", at(0), 0, ""), d404("blip", at(hms(0, 23, 10))), connect("blip", at(hms(0, 23, 14)), 0, "")}
			},
			tail: time.Hour,
			chk: func(t *testing.T, r *run) {
				d := r.diag("blip", at(hms(0, 23, 10)))
				if d.Cause != DeviceOrNetwork {
					t.Fatalf("verdict %s, want device-or-network", d.Cause)
				}
				if !containsLine(d.Evidence, "no 401003 within 30s") || !containsLine(d.Evidence, "reconnected 4s later") {
					t.Errorf("evidence %q", d.Evidence)
				}
			},
		},
		{
			name: "renewal failing with a clock-drift message",
			rule: "§5 token evidence + no successful connect + 401003 continuing → token-renewal-failed; §1 clock drift → NTP",
			evs: func() []event.Event {
				drift := "Token not valid yet: device clock skew is more than 5 minutes"
				evs := []event.Event{connect("drifter", at(0), 0, ""), u401("drifter", at(hms(1, 5, 0))), d404("drifter", at(hms(1, 5, 0)))}
				for i := range 6 {
					evs = append(evs, connect("drifter", at(hms(1, 5, 10+i*15)), event.CodeUnauthorized, drift))
				}
				return append(evs, connect("drifter", at(hms(1, 40, 0)), 0, ""))
			},
			tail: time.Hour,
			chk: func(t *testing.T, r *run) {
				d := r.diag("drifter", at(hms(1, 5, 0)))
				if d.Cause != TokenRenewalFailed || !strings.Contains(d.Recommendation, "NTP") {
					t.Fatalf("verdict %s rec %q, want token-renewal-failed with NTP", d.Cause, d.Recommendation)
				}
				if !containsLine(d.Evidence, "401003 continues") {
					t.Errorf("evidence %q", d.Evidence)
				}
				s := r.signalsOf(TokenRenewalFailing, "drifter")
				if len(s) != 2 || !s[0].Firing || s[1].Firing || !s[1].At.Equal(at(hms(1, 40, 0))) {
					t.Fatalf("renewal signals %+v, want firing then resolved at the connect", s)
				}
				if len(r.signalsOf(DeviceOffline, "drifter")) != 0 {
					t.Errorf("renewal failure also raised device-offline")
				}
			},
		},
		{
			name: "hub incident with 500001 errors across 30 devices",
			rule: "§5 seed 3: burst of unexplained devices + hub-side errors above baseline → hub-transient, one incident",
			evs: func() []event.Event {
				evs := burst(30, true, at(hms(3, 22, 0)), "pump")
				return append(evs, metricAlert(at(hms(3, 26, 0)), true), metricAlert(at(hms(3, 40, 0)), false))
			},
			tail: time.Hour,
			chk: func(t *testing.T, r *run) {
				for i := range 30 {
					dev := fmt.Sprintf("pump-%03d", i)
					if got := r.verdicts(dev); !slices.Equal(got, []Cause{HubTransient}) {
						t.Fatalf("%s verdicts %v, want hub-transient", dev, got)
					}
				}
				if len(r.incs) != 1 {
					t.Fatalf("incidents %+v, want 1", r.incs)
				}
				for _, in := range r.incs {
					if in.Open || in.Devices != 30 || in.HubErrors != 60 || !in.MetricCorroborated {
						t.Errorf("incident %+v", in)
					}
					if !in.Start.Equal(at(hms(3, 22, 0))) {
						t.Errorf("incident start %s", in.Start)
					}
				}
				hs := r.signalsOf(HubIncident, "")
				if len(hs) != 2 || !hs[0].Firing || hs[1].Firing || hs[0].Devices < 10 {
					t.Fatalf("hub signals %+v, want one firing and one resolved", hs)
				}
				d := r.diag("pump-000", at(hms(3, 22, 0)))
				if !containsLine(d.Evidence, "devices disconnected in this hub between 13:22:00 UTC and 13:24:00 UTC") || d.Incident == "" {
					t.Errorf("evidence %q incident %q", d.Evidence, d.Incident)
				}
				for _, s := range r.signals {
					if s.Kind != HubIncident {
						t.Errorf("device signal during a recovered incident: %+v", s)
					}
				}
			},
		},
		{
			name: "same burst without hub errors",
			rule: "§5 a hub incident means hub-side evidence, not merely many disconnects",
			evs:  func() []event.Event { return burst(30, false, at(hms(3, 22, 0)), "pump") },
			tail: time.Hour,
			chk: func(t *testing.T, r *run) {
				for i := range 30 {
					dev := fmt.Sprintf("pump-%03d", i)
					if got := r.verdicts(dev); !slices.Equal(got, []Cause{DeviceOrNetwork}) {
						t.Fatalf("%s verdicts %v, want device-or-network", dev, got)
					}
				}
				if len(r.incs) != 0 {
					t.Fatalf("incidents %+v, want none", r.incs)
				}
			},
		},
		{
			name: "synchronized token burst after an incident",
			rule: "§5 trap: devices that reconnected together expire together ~65 min later (401003, no hub errors) → token-expiry, no incident",
			evs: func() []event.Event {
				evs := burst(30, true, at(hms(3, 22, 0)), "pump")
				for i := range 30 {
					dev := fmt.Sprintf("pump-%03d", i)
					back := at(hms(3, 22, 0)).Add(time.Duration(i*150/30)*time.Second + 3*time.Minute)
					evs = append(evs, expiry(dev, back.Add(65*time.Minute+2*time.Second), 11*time.Second)...)
				}
				return evs
			},
			tail: time.Hour,
			chk: func(t *testing.T, r *run) {
				for i := range 30 {
					dev := fmt.Sprintf("pump-%03d", i)
					if got := r.verdicts(dev); !slices.Equal(got, []Cause{HubTransient, TokenExpiry}) {
						t.Fatalf("%s verdicts %v", dev, got)
					}
				}
				if len(r.incs) != 1 {
					t.Fatalf("incidents %d, want only the first", len(r.incs))
				}
			},
		},
		{
			name: "token device inside an incident stays token-expiry",
			rule: "§5 per-device evidence first",
			evs: func() []event.Event {
				evs := burst(30, true, at(hms(3, 22, 0)), "pump")
				evs = append(evs, connect("renewer", at(hms(2, 18, 0)), 0, ""))
				return append(evs, expiry("renewer", at(hms(3, 23, 2)), 9*time.Second)...)
			},
			tail: time.Hour,
			chk: func(t *testing.T, r *run) {
				d := r.diag("renewer", at(hms(3, 23, 2)))
				if d.Cause != TokenExpiry {
					t.Fatalf("verdict %s, want token-expiry", d.Cause)
				}
				if d.Incident == "" || !containsLine(d.Evidence, "own evidence decides") {
					t.Errorf("incident %q evidence %q", d.Incident, d.Evidence)
				}
			},
		},
		{
			name: "late 401003 within lateness gives the in-order verdict",
			rule: "§5 event time: evidence within ALLOWED_LATENESS gives exactly the in-order verdict",
			step: 1,
			evs: func() []event.Event {
				e := expiry("late", at(hms(1, 5, 14)), 17*time.Second)
				evs := []event.Event{connect("late", at(0), 0, ""), e[1], e[2]}
				// the clock moves on by 4m50s on another device before the 401003 arrives
				evs = append(evs, connect("other", at(hms(1, 10, 4)), 0, ""), e[0])
				return evs
			},
			tail: time.Hour,
			chk: func(t *testing.T, r *run) {
				d := r.diag("late", at(hms(1, 5, 14)))
				if d.Cause != TokenExpiry || d.Revisions != 0 {
					t.Fatalf("verdict %s revisions %d, want token-expiry without revision", d.Cause, d.Revisions)
				}
				for _, x := range r.all {
					if x.Key.Device == "late" && x.Final && x.Cause != TokenExpiry {
						t.Fatalf("an interim final verdict %s was emitted", x.Cause)
					}
				}
			},
		},
		{
			name: "401003 after the verdict revises it",
			rule: "§5 evidence later than lateness revises the verdict (recorded), never dropped",
			step: 1,
			evs: func() []event.Event {
				e := expiry("very-late", at(hms(1, 5, 14)), 17*time.Second)
				return []event.Event{connect("very-late", at(0), 0, ""), e[1], e[2],
					connect("other", at(hms(1, 20, 0)), 0, ""), e[0]}
			},
			tail: time.Hour,
			chk: func(t *testing.T, r *run) {
				d := r.diag("very-late", at(hms(1, 5, 14)))
				if d.Cause != TokenExpiry || d.Revisions != 1 || !d.Final {
					t.Fatalf("verdict %s revisions %d final %v, want token-expiry revised once", d.Cause, d.Revisions, d.Final)
				}
				var causes []Cause
				for _, x := range r.all {
					if x.Key.Device == "very-late" {
						causes = append(causes, x.Cause)
					}
				}
				if !slices.Equal(causes, []Cause{Pending, DeviceOrNetwork, TokenExpiry}) {
					t.Errorf("diagnosis history %v", causes)
				}
			},
		},
		{
			name: "duplicates change nothing",
			rule: "§5 idempotent: the same record twice changes nothing",
			evs: func() []event.Event {
				evs := append([]event.Event{connect("dup", at(0), 0, "")}, expiry("dup", at(hms(1, 5, 14)), 17*time.Second)...)
				evs = append(evs, d404("dup2", at(hms(1, 6, 0))), connect("dup2", at(hms(1, 9, 0)), 0, ""))
				return append(evs, evs...)
			},
			tail: time.Hour,
			chk: func(t *testing.T, r *run) {
				if r.stats.Duplicate != 6 || r.stats.New != 6 {
					t.Fatalf("stats %+v, want 6 new 6 duplicate", r.stats)
				}
				if len(r.all) != 4 { // pending + final for each 404104
					t.Fatalf("diagnoses %d, want 4: %+v", len(r.all), r.all)
				}
			},
		},
		{
			name: "offline after a device-or-network disconnect",
			rule: "§7 device-offline: not back OFFLINE_AFTER after a final device-or-network 404104; resolved on connect",
			evs: func() []event.Event {
				return []event.Event{connect("gone", at(0), 0, ""), d404("gone", at(hms(0, 30, 0))),
					connect("gone", at(hms(0, 52, 0)), 0, "")}
			},
			tail: time.Hour,
			chk: func(t *testing.T, r *run) {
				s := r.signalsOf(DeviceOffline, "gone")
				if len(s) != 2 || !s[0].Firing || !s[0].At.Equal(at(hms(0, 45, 0))) || s[1].Firing || !s[1].At.Equal(at(hms(0, 52, 0))) {
					t.Fatalf("offline signals %+v", s)
				}
			},
		},
		{
			name: "flapping fires and resets",
			rule: "§7 device-flapping: FLAP_COUNT device-or-network disconnects within FLAP_WINDOW; resolved after FLAP_RESET connected",
			evs: func() []event.Event {
				evs := []event.Event{connect("flappy", at(0), 0, "")}
				for i, m := range []int{10, 25, 41} {
					evs = append(evs, d404("flappy", at(hms(0, m, i))), connect("flappy", at(hms(0, m+2, 0)), 0, ""))
				}
				return append(evs, connect("other", at(hms(2, 0, 0)), 0, ""))
			},
			tail: 10 * time.Minute,
			chk: func(t *testing.T, r *run) {
				s := r.signalsOf(DeviceFlapping, "flappy")
				if len(s) != 2 || !s[0].Firing || !s[0].At.Equal(at(hms(0, 41, 2))) {
					t.Fatalf("flapping signals %+v", s)
				}
				if s[1].Firing || !s[1].At.Equal(at(hms(1, 43, 0))) {
					t.Fatalf("flapping reset %+v, want at 11:43 (connected 10:43 + 1h)", s[1])
				}
			},
		},
		{
			name: "duplicate identity",
			rule: "§5 seed 2: 400027 around the 404104 → duplicate-identity",
			evs: func() []event.Event {
				return []event.Event{connect("twin", at(0), 0, ""),
					disconnect("twin", at(hms(0, 10, 0)), event.CodeClosedOnNewConnection, ""),
					d404("twin", at(hms(0, 10, 1))), connect("twin", at(hms(0, 10, 3)), 0, "")}
			},
			tail: time.Hour,
			chk: func(t *testing.T, r *run) {
				d := r.diag("twin", at(hms(0, 10, 1)))
				if d.Cause != DuplicateIdentity || d.Cause.SeedCause() != 2 || !strings.Contains(d.Recommendation, "own device or module identity") {
					t.Fatalf("verdict %+v", d)
				}
			},
		},
		{
			name: "device deleted stops tracking",
			rule: "§5 DeviceDeleted stops tracking; 'does not contain the specified device' → deleted/disabled recommendation",
			evs: func() []event.Event {
				gone := "IotHub 'contoso-prod-hub' does not contain the specified device 'retired'"
				return []event.Event{connect("retired", at(0), 0, ""),
					disconnect("retired", at(hms(0, 10, 0)), event.CodeUnauthorized, gone), d404("retired", at(hms(0, 10, 0))),
					connect("retired", at(hms(0, 10, 20)), event.CodeUnauthorized, gone),
					withID(event.Event{Source: event.EventGrid, Kind: event.Deleted, Hub: testHub, Device: "retired", Time: at(hms(0, 12, 0))}),
					connect("other", at(hms(0, 30, 0)), 0, "")}
			},
			tail: time.Hour,
			chk: func(t *testing.T, r *run) {
				d := r.diag("retired", at(hms(0, 10, 0)))
				if d.Cause != TokenRenewalFailed || !strings.Contains(d.Recommendation, "deleted or disabled") {
					t.Fatalf("verdict %s rec %q", d.Cause, d.Recommendation)
				}
				if _, ok := r.st.devices[event.Key{Hub: testHub, Device: "retired"}]; ok {
					t.Fatalf("deleted device still tracked")
				}
				s := r.signalsOf(TokenRenewalFailing, "retired")
				if len(s) != 2 || s[1].Firing {
					t.Fatalf("renewal signals %+v, want firing then resolved by the deletion", s)
				}
			},
		},
		{
			name: "hub-cut SDK prior: .NET first expiry without 401003",
			rule: "sdkPrior (reference §6.1/§6.2/§6.5): a .NET client over MQTT, no period learned, session of 67m12s ending in a 404104 with a quick reconnect → token-expiry at lower confidence",
			evs: func() []event.Event {
				return []event.Event{sdkConnect("dotnet-1", at(0), sdkDotNetV, "Mqtt"), d404("dotnet-1", at(hms(1, 7, 12))),
					sdkConnect("dotnet-1", at(hms(1, 7, 25)), sdkDotNetV, "Mqtt")}
			},
			tail: time.Hour,
			chk: func(t *testing.T, r *run) {
				d := r.diag("dotnet-1", at(hms(1, 7, 12)))
				if d.Cause != TokenExpiry || d.Confidence > 0.7 {
					t.Fatalf("verdict %s confidence %.2f, want low-confidence token-expiry", d.Cause, d.Confidence)
				}
				if !containsLine(d.Evidence, "a .NET client over MQTT") || !containsLine(d.Evidence, "connected 67m12s before; no token period learned yet") {
					t.Errorf("evidence %q", d.Evidence)
				}
			},
		},
		{
			name: "no SDK prior for Node, AMQP, off-window ages or without a reconnect",
			rule: "sdkPrior: C/Node/Python renew cleanly, AMQP refreshes in-connection, 40 min is outside the hub-cut window, and the prior needs the quick reconnect",
			evs: func() []event.Event {
				return []event.Event{
					sdkConnect("node-1", at(0), "azure-iot-device/1.18.3 (node v18.19.0; Linux 5.15.0; x64)", "Mqtt"),
					d404("node-1", at(hms(1, 7, 12))), sdkConnect("node-1", at(hms(1, 7, 20)), "azure-iot-device/1.18.3 (node v18.19.0; Linux 5.15.0; x64)", "Mqtt"),
					sdkConnect("amqp-1", at(0), sdkDotNetV, "Amqp"), d404("amqp-1", at(hms(1, 7, 12))), sdkConnect("amqp-1", at(hms(1, 7, 20)), sdkDotNetV, "Amqp"),
					sdkConnect("early-1", at(0), sdkDotNetV, "Mqtt"), d404("early-1", at(hms(0, 40, 0))), sdkConnect("early-1", at(hms(0, 40, 9)), sdkDotNetV, "Mqtt"),
					sdkConnect("away-1", at(0), sdkJavaV, "Mqtt"), d404("away-1", at(hms(1, 7, 12))), sdkConnect("away-1", at(hms(1, 30, 0)), sdkJavaV, "Mqtt"),
				}
			},
			tail: time.Hour,
			chk: func(t *testing.T, r *run) {
				for _, dev := range []string{"node-1", "amqp-1", "early-1", "away-1"} {
					if got := r.verdicts(dev); !slices.Equal(got, []Cause{DeviceOrNetwork}) {
						t.Errorf("%s verdicts %v, want device-or-network", dev, got)
					}
				}
			},
		},
		{
			name: "hub-cut SDK prior window follows the hub's enforcement delay",
			rule: "sdkPrior window (reference §6.1/§6.2: 60 min token + the hub's 5–10 min enforcement delay, 2 min for device clock skew below and 2 min for record precision above → 63–72 min): a .NET drop at 61m30s with a quick reconnect → device-or-network; 63m10s and 71m40s → token-expiry; 72m30s → device-or-network",
			evs: func() []event.Event {
				var evs []event.Event
				for _, c := range []struct {
					dev string
					age time.Duration
				}{{"win-61", 61*time.Minute + 30*time.Second}, {"win-63", 63*time.Minute + 10*time.Second},
					{"win-71", 71*time.Minute + 40*time.Second}, {"win-72", 72*time.Minute + 30*time.Second}} {
					evs = append(evs, sdkConnect(c.dev, at(0), sdkDotNetV, "Mqtt"), d404(c.dev, at(c.age)),
						sdkConnect(c.dev, at(c.age+12*time.Second), sdkDotNetV, "Mqtt"))
				}
				return evs
			},
			tail: time.Hour,
			chk: func(t *testing.T, r *run) {
				for dev, want := range map[string]Cause{"win-61": DeviceOrNetwork, "win-63": TokenExpiry, "win-71": TokenExpiry, "win-72": DeviceOrNetwork} {
					if got := r.verdicts(dev); !slices.Equal(got, []Cause{want}) {
						t.Errorf("%s verdicts %v, want %s", dev, got, want)
					}
				}
				d := r.diag("win-63", at(63*time.Minute+10*time.Second))
				if !containsLine(d.Evidence, "cuts off at token expiry, 65m–70m after connecting") {
					t.Errorf("evidence %q", d.Evidence)
				}
			},
		},
		{
			name: "SDK prior revised when the device's own 401003 shows a period its session does not fit",
			rule: "reviseEarlier/unprior (§5 later evidence may revise a verdict; the prior is the weakest token evidence): a .NET drop at 64m10s with a quick reconnect is token-expiry on the SDK prior; the device's first 401003, on a 68m session, shows its period is 68m ±3m, which 64m10s is off → revised to device-or-network (Revisions 1); a second .NET device's prior verdict at 66m30s fits that period and stays token-expiry",
			evs: func() []event.Event {
				return append(netSessions("dotnet-off", sdkDotNetV, []netSession{{64*time.Minute + 10*time.Second, 14 * time.Second, false}, {68 * time.Minute, 9 * time.Second, true}}),
					netSessions("dotnet-fit", sdkDotNetV, []netSession{{66*time.Minute + 30*time.Second, 14 * time.Second, false}, {68 * time.Minute, 9 * time.Second, true}})...)
			},
			tail: time.Hour,
			chk: func(t *testing.T, r *run) {
				first := at(64*time.Minute + 10*time.Second)
				if got := r.verdicts("dotnet-off"); !slices.Equal(got, []Cause{DeviceOrNetwork, TokenExpiry}) {
					t.Fatalf("dotnet-off verdicts %v, want device-or-network (revised), token-expiry", got)
				}
				d := r.diag("dotnet-off", first)
				if d.Revisions != 1 || !d.Final || d.EventID != d404("dotnet-off", first).ID {
					t.Errorf("revised verdict %+v", d)
				}
				confirm := first.Add(14*time.Second + 68*time.Minute)
				for _, w := range []string{
					"its token period, learned later from the 401003 at " + clock(confirm.Unix(), first.Unix()) + ", is 68m (±3m); this session ended at 64m10s, off that period",
					"first judged a token expiry on its SDK's usual cut-off alone", "reconnected 14s later"} {
					if !containsLine(d.Evidence, w) {
						t.Errorf("evidence %q lacks %q", d.Evidence, w)
					}
				}
				if !strings.Contains(d.Recommendation, "Device or network side") {
					t.Errorf("recommendation %q", d.Recommendation)
				}
				var hist []Cause
				for _, x := range r.all {
					if x.EventID == d.EventID && x.Final {
						hist = append(hist, x.Cause)
					}
				}
				if !slices.Equal(hist, []Cause{TokenExpiry, DeviceOrNetwork}) {
					t.Errorf("final history %v, want token-expiry, then device-or-network", hist)
				}
				if got := r.verdicts("dotnet-fit"); !slices.Equal(got, []Cause{TokenExpiry, TokenExpiry}) {
					t.Errorf("dotnet-fit verdicts %v, want token-expiry twice", got)
				}
				if d := r.diag("dotnet-fit", at(66*time.Minute+30*time.Second)); d.Revisions != 0 {
					t.Errorf("dotnet-fit revised: %+v", d)
				}
			},
		},
		{
			name: "SDK prior revised when regularity shows a period its session does not fit",
			rule: "reviseEarlier/unprior with the regularity rule: a Java drop at 63m30s (SDK prior → token-expiry), then three 70m sessions (still the prior: fewer than minRegular agree) and a fourth 70m one on the period they teach (70m ±1m45s) → the 63m30s verdict is revised to device-or-network; the three 70m verdicts stay token-expiry",
			evs: func() []event.Event {
				ss := []netSession{{63*time.Minute + 30*time.Second, 11 * time.Second, false}}
				for range 4 {
					ss = append(ss, netSession{70 * time.Minute, 11 * time.Second, false})
				}
				return netSessions("java-reg", sdkJavaV, ss)
			},
			tail: time.Hour,
			chk: func(t *testing.T, r *run) {
				want := []Cause{DeviceOrNetwork, TokenExpiry, TokenExpiry, TokenExpiry, TokenExpiry}
				if got := r.verdicts("java-reg"); !slices.Equal(got, want) {
					t.Fatalf("verdicts %v, want %v", got, want)
				}
				d := r.diag("java-reg", at(63*time.Minute+30*time.Second))
				if d.Revisions != 1 || !containsLine(d.Evidence, "learned later from 4 sessions repeating it") ||
					!containsLine(d.Evidence, "is 70m (±1m45s); this session ended at 63m30s, off that period") {
					t.Errorf("revised verdict %+v", d)
				}
			},
		},
		{
			name: "SDK prior kept when the later period is not one the device has shown consistently",
			rule: "reviseEarlier/unprior guard: a Java prior verdict at 67m22s is not revised by a 401003 expiry whose session is anchored on a disconnect with a lost reconnect record (83m18s only bounds that session from above), nor by a 401003 expiry at 83m18s that is off the 67m period the device already showed with an earlier 401003",
			evs: func() []event.Event {
				evs := netSessions("java-anch", sdkJavaV, []netSession{{67*time.Minute + 22*time.Second, 29 * time.Second, false}})
				c := at(67*time.Minute + 51*time.Second)
				lost := c.Add(40 * time.Minute) // its reconnect record is lost
				x := lost.Add(83*time.Minute + 18*time.Second)
				evs = append(evs, d404("java-anch", lost), u401("java-anch", x), d404("java-anch", x), sdkConnect("java-anch", x.Add(3*time.Second), sdkJavaV, "Mqtt"))
				return append(evs, netSessions("java-odd", sdkJavaV, []netSession{{67*time.Minute + 22*time.Second, 29 * time.Second, false},
					{66*time.Minute + 49*time.Second, 19 * time.Second, true}, {83*time.Minute + 18*time.Second, 3 * time.Second, true}})...)
			},
			tail: time.Hour,
			chk: func(t *testing.T, r *run) {
				if got := r.verdicts("java-anch"); !slices.Equal(got, []Cause{TokenExpiry, DeviceOrNetwork, TokenExpiry}) {
					t.Errorf("java-anch verdicts %v, want token-expiry (prior kept), device-or-network, token-expiry", got)
				}
				if got := r.verdicts("java-odd"); !slices.Equal(got, []Cause{TokenExpiry, TokenExpiry, TokenExpiry}) {
					t.Errorf("java-odd verdicts %v, want token-expiry ×3", got)
				}
				for _, dev := range []string{"java-anch", "java-odd"} {
					if d := r.diag(dev, at(67*time.Minute+22*time.Second)); d.Revisions != 0 {
						t.Errorf("%s: prior verdict revised: %+v", dev, d)
					}
				}
			},
		},
		{
			name: "a prior verdict revised to device-or-network counts for flapping only from its revision",
			rule: "unprior + flapping (batch independence): a .NET drop at 64m (prior token-expiry), a 401003 expiry after a 20m session revises it, then drops after 6m and 5m: the window ending at the last drop holds three device-or-network verdicts within an hour → device-flapping; windows judged before the revision never count it; the same signals whether the records come one by one or all at once",
			evs: func() []event.Event {
				return netSessions("flap-prior", sdkDotNetV, []netSession{{64 * time.Minute, 10 * time.Second, false}, {20 * time.Minute, 10 * time.Second, true},
					{6 * time.Minute, 10 * time.Second, false}, {5 * time.Minute, 10 * time.Second, false}})
			},
			tail: 3 * time.Hour,
			chk: func(t *testing.T, r *run) {
				want := []Cause{DeviceOrNetwork, TokenExpiry, DeviceOrNetwork, DeviceOrNetwork}
				if got := r.verdicts("flap-prior"); !slices.Equal(got, want) {
					t.Fatalf("verdicts %v, want %v", got, want)
				}
				s := r.signalsOf(DeviceFlapping, "flap-prior")
				if len(s) != 2 || !s[0].Firing || s[1].Firing || !containsLine(s[0].Evidence, "device-or-network 404104 at "+clock(at(64*time.Minute).Unix(), 0)) {
					t.Fatalf("flapping signals %+v, want one firing that counts the revised verdict, and its reset", s)
				}
				all := sortByTime(r.input)
				big := feed(t, testConfig(), all, len(all), 3*time.Hour)
				if got, want := signalSet(big.signals), signalSet(r.signals); !slices.Equal(got, want) {
					t.Errorf("one batch gives signals %v, one by one %v", got, want)
				}
				if got := big.verdicts("flap-prior"); !slices.Equal(got, want) {
					t.Errorf("one batch gives verdicts %v", got)
				}
			},
		},
		{
			name: "hub-cut SDK prior: session older than the records",
			rule: "sdkPrior unknownAge: a Java client's first 404104 24 min after the hub's records began, no connect on record, quick reconnect → token-expiry; the same 3 h after the records began → device-or-network",
			evs: func() []event.Event {
				return []event.Event{connect("other", at(0), 0, ""),
					d404("java-1", at(hms(0, 24, 0))), sdkConnect("java-1", at(hms(0, 24, 20)), sdkJavaV, "Mqtt"),
					d404("java-2", at(hms(3, 0, 0))), sdkConnect("java-2", at(hms(3, 0, 20)), sdkJavaV, "Mqtt")}
			},
			tail: time.Hour,
			chk: func(t *testing.T, r *run) {
				d := r.diag("java-1", at(hms(0, 24, 0)))
				if d.Cause != TokenExpiry || !containsLine(d.Evidence, "its connect is not on record (records began at 10:00:00 UTC, 24m before)") {
					t.Fatalf("java-1 verdict %s evidence %q", d.Cause, d.Evidence)
				}
				if !containsLine(d.Evidence, "its session's age cannot be checked") || d.Confidence > 0.5 {
					t.Errorf("java-1 evidence %q confidence %.2f: the unknown age must be said and weigh", d.Evidence, d.Confidence)
				}
				if got := r.verdicts("java-2"); !slices.Equal(got, []Cause{DeviceOrNetwork}) {
					t.Errorf("java-2 verdicts %v, want device-or-network", got)
				}
			},
		},
		{
			name: "session anchored on the previous disconnect when its reconnect record is lost",
			rule: "sessionStart: a lost reconnect record makes connect→404104 span two sessions; the age runs from the previous disconnect → on the learned 30-min period",
			evs: func() []event.Event {
				evs := periodic("lossy", 30*time.Minute, 3, 3, 10*time.Second)
				next := periodTime(30*time.Minute, 10*time.Second, 3)
				// the 4th expiry's reconnect record is lost; the 5th has no 401003
				evs = append(evs, u401("lossy", next.Add(30*time.Minute)), d404("lossy", next.Add(30*time.Minute)),
					d404("lossy", next.Add(60*time.Minute+10*time.Second)), connect("lossy", next.Add(60*time.Minute+20*time.Second), 0, ""))
				return evs
			},
			tail: time.Hour,
			chk: func(t *testing.T, r *run) {
				if got := r.verdicts("lossy"); !slices.Equal(got, []Cause{TokenExpiry, TokenExpiry, TokenExpiry, TokenExpiry, TokenExpiry}) {
					t.Fatalf("verdicts %v", got)
				}
				d := r.diag("lossy", periodTime(30*time.Minute, 10*time.Second, 3).Add(60*time.Minute+10*time.Second))
				if !containsLine(d.Evidence, "disconnected (its reconnect record is missing) 30m10s before, matching its learned token period") {
					t.Errorf("evidence %q", d.Evidence)
				}
			},
		},
		{
			name: "session anchored on the last refused connect when the reconnect after it is lost",
			rule: "sessionStart: a connect the hub refused (500001 while it recovers) shows the device was not connected yet, so a session whose successful reconnect record is lost began after the last refusal, not at the disconnect before it → a .NET session of 68 min is its SDK's token cut-off",
			evs: func() []event.Event {
				evs := []event.Event{sdkConnect("kept-out", at(0), sdkDotNetV, "Mqtt"), d404("kept-out", at(hms(1, 0, 0)))}
				for _, m := range []int{0, 3, 8} {
					evs = append(evs, connect("kept-out", at(hms(1, m, 20)), 500001, ""))
				}
				// the successful reconnect at 01:09:00 is lost in delivery;
				// the hub cuts the session 67 min after it
				return append(evs, d404("kept-out", at(hms(2, 16, 0))), sdkConnect("kept-out", at(hms(2, 16, 20)), sdkDotNetV, "Mqtt"))
			},
			tail: time.Hour,
			chk: func(t *testing.T, r *run) {
				d := r.diag("kept-out", at(hms(2, 16, 0)))
				if d.Cause != TokenExpiry {
					t.Fatalf("verdict %s, want token-expiry; evidence %q", d.Cause, d.Evidence)
				}
				if !containsLine(d.Evidence, "refused a connect (its successful reconnect record is missing) 67m40s before") {
					t.Errorf("evidence %q", d.Evidence)
				}
			},
		},
		{
			name: "irregular keep-alive drops teach no period",
			rule: "learnedPeriod: without 401003, durations of 9m50s/12m20s/10m40s/14m10s/10m05s agree within ±3 min but not within regularTolerance, and longer sessions contradict a ~10 min period → device-or-network",
			evs: func() []event.Event {
				evs := []event.Event{connect("flaky", at(0), 0, "")}
				c := at(0)
				for _, gap := range []time.Duration{9*time.Minute + 50*time.Second, 12*time.Minute + 20*time.Second, 10*time.Minute + 40*time.Second,
					14*time.Minute + 10*time.Second, 10*time.Minute + 5*time.Second, 10*time.Minute + 30*time.Second} {
					x := c.Add(gap)
					c = x.Add(20 * time.Second)
					evs = append(evs, d404("flaky", x), connect("flaky", c, 0, ""))
				}
				return evs
			},
			tail: time.Hour,
			chk: func(t *testing.T, r *run) {
				for _, c := range r.verdicts("flaky") {
					if c != DeviceOrNetwork {
						t.Fatalf("verdicts %v, want all device-or-network", r.verdicts("flaky"))
					}
				}
			},
		},
		{
			name: "clean-renewing SDK learns no period without 401003",
			rule: "learnedPeriod: a Python client (renews before expiry with a clean disconnect, reference §6.1/§6.4) with perfectly regular 404104s every 30 min learns no unbacked period",
			evs: func() []event.Event {
				py := "azure-iot-device-iothub-py/2.12.0 (Python 3.10.12; Linux 5.15.0; x86_64)"
				evs := []event.Event{sdkConnect("py-1", at(0), py, "Mqtt")}
				for i := 1; i <= 5; i++ {
					x := at(time.Duration(i) * (30*time.Minute + 10*time.Second)).Add(-10 * time.Second)
					evs = append(evs, d404("py-1", x), sdkConnect("py-1", x.Add(10*time.Second), py, "Mqtt"))
				}
				return evs
			},
			tail: time.Hour,
			chk: func(t *testing.T, r *run) {
				for _, c := range r.verdicts("py-1") {
					if c != DeviceOrNetwork {
						t.Fatalf("verdicts %v, want all device-or-network", r.verdicts("py-1"))
					}
				}
			},
		},
		{
			name: "period match alone does not outrank a hub incident unless close",
			rule: "decide closeMatch: during an incident, no 401003 and no reconnect, 2m10s off the learned 65-min period (within its ±3 min) → hub-transient; 20s off → token-expiry",
			evs: func() []event.Event {
				evs := burst(30, true, at(hms(3, 22, 0)), "pump")
				// two 401003-backed sessions of 63m50s and 66m10s teach a
				// 65-min period with ±3 min tolerance (their spread + 1 min)
				for _, d := range []struct {
					dev string
					off time.Duration
				}{{"near", 20 * time.Second}, {"far", -130 * time.Second}} {
					hit := at(hms(3, 22, 30))
					c2 := hit.Add(-65*time.Minute - d.off)
					c1 := c2.Add(-66*time.Minute - 10*time.Second - 10*time.Second)
					c0 := c1.Add(-63*time.Minute - 50*time.Second - 10*time.Second)
					evs = append(evs, connect(d.dev, c0, 0, ""))
					evs = append(evs, expiry(d.dev, c1.Add(-10*time.Second), 10*time.Second)...)
					evs = append(evs, expiry(d.dev, c2.Add(-10*time.Second), 10*time.Second)...)
					evs = append(evs, d404(d.dev, hit), connect(d.dev, hit.Add(5*time.Minute), 0, ""))
				}
				return evs
			},
			tail: time.Hour,
			chk: func(t *testing.T, r *run) {
				if got := r.verdicts("near"); !slices.Equal(got, []Cause{TokenExpiry, TokenExpiry, TokenExpiry}) {
					t.Errorf("near verdicts %v", got)
				}
				if got := r.verdicts("far"); !slices.Equal(got, []Cause{TokenExpiry, TokenExpiry, HubTransient}) {
					t.Errorf("far verdicts %v", got)
				}
			},
		},
		{
			name: "401003 before the session's connect is not beside its 404104",
			rule: "tokenEvidence: a 401003 that precedes the session's connect refused the previous token; a hub incident 7 s after the reconnect is hub-transient",
			evs: func() []event.Event {
				evs := burst(30, true, at(hms(3, 22, 0)), "pump")
				return append(evs, connect("chiller", at(hms(2, 13, 0)), 0, ""),
					u401("chiller", at(hms(3, 21, 40))), d404("chiller", at(hms(3, 21, 42))), connect("chiller", at(hms(3, 22, 3)), 0, ""),
					d404("chiller", at(hms(3, 22, 10))), connect("chiller", at(hms(3, 26, 0)), 0, ""))
			},
			tail: time.Hour,
			chk: func(t *testing.T, r *run) {
				if got := r.verdicts("chiller"); !slices.Equal(got, []Cause{TokenExpiry, HubTransient}) {
					t.Fatalf("verdicts %v, want token-expiry then hub-transient", got)
				}
			},
		},
		{
			name: "custom 25-minute token: the first 401003 revises the earlier verdicts its period explains",
			rule: "reviseEarlier (§5 later evidence may revise a verdict; learned periods): two 401003-less 404104s at 25m41s and 25m32s were device-or-network; the 401003-backed expiry at 25m37s teaches the period and revises both; a 13m21s drop and a 25m-old session without reconnect 75 s off the period stay device-or-network",
			evs: func() []event.Event {
				c := at(0)
				var evs []event.Event
				evs = append(evs, connect("custom-ttl", c, 0, ""))
				step := func(age, back time.Duration, with401 bool) {
					x := c.Add(age)
					if with401 {
						evs = append(evs, u401("custom-ttl", x))
					}
					evs = append(evs, d404("custom-ttl", x))
					c = x.Add(back)
					evs = append(evs, connect("custom-ttl", c, 0, ""))
				}
				step(25*time.Minute+41*time.Second, 5*time.Second, false)
				step(25*time.Minute+32*time.Second, 33*time.Second, false)
				step(13*time.Minute+21*time.Second, 20*time.Second, false)
				step(24*time.Minute+20*time.Second, 4*time.Minute, false)
				step(25*time.Minute+37*time.Second, 19*time.Second, true)
				return evs
			},
			tail: time.Hour,
			chk: func(t *testing.T, r *run) {
				want := []Cause{TokenExpiry, TokenExpiry, DeviceOrNetwork, DeviceOrNetwork, TokenExpiry}
				if got := r.verdicts("custom-ttl"); !slices.Equal(got, want) {
					t.Fatalf("verdicts %v, want %v", got, want)
				}
				first := r.diag("custom-ttl", at(25*time.Minute+41*time.Second))
				if first.Revisions != 1 || !first.Final {
					t.Errorf("first: revisions %d final %v, want a final verdict revised once", first.Revisions, first.Final)
				}
				for _, w := range []string{"connected 25m41s before, matching its token period of 25m", "the period was learned later: its expiry at 11:59:29 UTC (401003) showed a 25m", "reconnected 5s later"} {
					if !containsLine(first.Evidence, w) {
						t.Errorf("evidence %q lacks %q", first.Evidence, w)
					}
				}
				var hist []Cause
				for _, x := range r.all {
					if x.EventID == first.EventID && x.Final {
						hist = append(hist, x.Cause)
					}
				}
				if !slices.Equal(hist, []Cause{DeviceOrNetwork, TokenExpiry}) {
					t.Errorf("final history %v, want device-or-network, then token-expiry", hist)
				}
			},
		},
		{
			name: "3-hour token: revised hours later, after its timeline entry was pruned",
			rule: "reviseEarlier works from the samples, which outlive the bounded timeline: a 3h06m19s session ending in a 401003-less 404104 is revised when the next expiry (401003, 3h06m15s) shows the period 3 h later; the revision names the original 404104",
			evs: func() []event.Event {
				c := at(0)
				x1 := c.Add(3*time.Hour + 6*time.Minute + 19*time.Second)
				c1 := x1.Add(3 * time.Second)
				x2 := c1.Add(3*time.Hour + 6*time.Minute + 15*time.Second)
				evs := []event.Event{connect("long-ttl-3h", c, 0, ""), d404("long-ttl-3h", x1), connect("long-ttl-3h", c1, 0, "")}
				evs = append(evs, expiry("long-ttl-3h", x2, 22*time.Second)...)
				// other devices keep the watermark moving in between
				for m := 10; m < 7*60; m += 10 {
					evs = append(evs, connect("ticker", at(time.Duration(m)*time.Minute), 0, ""))
				}
				return evs
			},
			tail: time.Hour,
			chk: func(t *testing.T, r *run) {
				if got := r.verdicts("long-ttl-3h"); !slices.Equal(got, []Cause{TokenExpiry, TokenExpiry}) {
					t.Fatalf("verdicts %v, want two token-expiry", got)
				}
				x1 := at(3*time.Hour + 6*time.Minute + 19*time.Second)
				d := r.diag("long-ttl-3h", x1)
				if d.Revisions != 1 || d.EventID != d404("long-ttl-3h", x1).ID {
					t.Errorf("revision %+v", d)
				}
				if !containsLine(d.Evidence, "connected 3h06m19s before, matching its token period of 3h06m") {
					t.Errorf("evidence %q", d.Evidence)
				}
				dev := r.st.devices[event.Key{Hub: testHub, Device: "long-ttl-3h"}]
				if dev.find(x1.Unix()) >= 0 {
					t.Errorf("the first 404104 is still on the timeline: the fixture does not exercise pruning")
				}
			},
		},
		{
			name: "flapping judged with what was known when its window closed",
			rule: "reviseEarlier + flapping: three device-or-network verdicts within an hour fire device-flapping; a 401003 expiry 40 min later revises two of them, which does not withdraw the alert, and the same happens whether the records come one by one or all at once",
			evs: func() []event.Event {
				c := at(0)
				var evs []event.Event
				evs = append(evs, connect("flap-ttl", c, 0, ""))
				for _, st := range []struct {
					age time.Duration
					tok bool
				}{{25*time.Minute + 40*time.Second, false}, {25*time.Minute + 30*time.Second, false}, {6 * time.Minute, false}, {25*time.Minute + 35*time.Second, true}} {
					x := c.Add(st.age)
					if st.tok {
						evs = append(evs, u401("flap-ttl", x))
					}
					evs = append(evs, d404("flap-ttl", x))
					c = x.Add(10 * time.Second)
					evs = append(evs, connect("flap-ttl", c, 0, ""))
				}
				return evs
			},
			tail: 3 * time.Hour,
			chk: func(t *testing.T, r *run) {
				want := []Cause{TokenExpiry, TokenExpiry, DeviceOrNetwork, TokenExpiry}
				if got := r.verdicts("flap-ttl"); !slices.Equal(got, want) {
					t.Fatalf("verdicts %v, want %v", got, want)
				}
				s := r.signalsOf(DeviceFlapping, "flap-ttl")
				if len(s) != 2 || !s[0].Firing || s[1].Firing {
					t.Fatalf("flapping signals %+v, want one firing and its reset", s)
				}
				all := sortByTime(r.input)
				big := feed(t, testConfig(), all, len(all), 3*time.Hour)
				if got, want := signalSet(big.signals), signalSet(r.signals); !slices.Equal(got, want) {
					t.Errorf("one batch gives signals %v, one by one %v", got, want)
				}
				if got := big.verdicts("flap-ttl"); !slices.Equal(got, want) {
					t.Errorf("one batch gives verdicts %v", got)
				}
			},
		},
		{
			name: "only the burst is hub-transient: a crash just before it and a token expiry in its error tail are judged on their own",
			rule: "burstAt/caughtIn (§1 cause 3 'many devices disconnect at once'; §5 per-device evidence first): a 404104 is hub-transient only with ≥ ceil(INCIDENT_MIN_DEVICES/3)-1 other unexplained devices within ±30 s; 40 s before the burst → device-or-network and its device-offline is not held; a .NET expiry at 65m10s 11 min into the incident, while only hub errors stay high → token-expiry (SDK prior); a crash inside the burst → hub-transient, its device-offline tied to the incident",
			evs: func() []event.Event {
				start := at(hms(3, 22, 0))
				evs := burst(30, true, start, "pump")
				// the hub keeps failing operations for 18 minutes after the burst
				for x := start.Add(3 * time.Minute); x.Before(start.Add(18 * time.Minute)); x = x.Add(10 * time.Second) {
					evs = append(evs, opErr(fmt.Sprintf("pump-%03d", x.Second()), x, "D2CTwinOperations", 500001))
				}
				evs = append(evs, connect("crash-early", at(hms(2, 0, 0)), 0, ""), d404("crash-early", start.Add(-40*time.Second)),
					connect("crash-early", start.Add(40*time.Minute), 0, ""))
				evs = append(evs, connect("crash-burst", at(hms(2, 0, 0)), 0, ""), d404("crash-burst", start.Add(40*time.Second)),
					connect("crash-burst", start.Add(40*time.Minute), 0, ""))
				evs = append(evs, connect("crash-tail", at(hms(2, 0, 0)), 0, ""), d404("crash-tail", start.Add(12*time.Minute)),
					connect("crash-tail", start.Add(50*time.Minute), 0, ""))
				tok := start.Add(11*time.Minute + 10*time.Second)
				evs = append(evs, sdkConnect("tail-dotnet", tok.Add(-65*time.Minute-10*time.Second), sdkDotNetV, "Mqtt"), d404("tail-dotnet", tok),
					sdkConnect("tail-dotnet", tok.Add(15*time.Second), sdkDotNetV, "Mqtt"))
				return evs
			},
			tail: time.Hour,
			chk: func(t *testing.T, r *run) {
				if len(r.incs) != 1 {
					t.Fatalf("incidents %+v, want 1", r.incs)
				}
				var inc Incident
				for _, in := range r.incs {
					inc = in
				}
				if !inc.Start.Equal(at(hms(3, 22, 0))) || inc.Open || !inc.End.After(at(hms(3, 38, 0))) {
					t.Errorf("incident %s–%s open=%v, want from 13:22 to after 13:38", inc.Start, inc.End, inc.Open)
				}
				early := r.diag("crash-early", at(hms(3, 21, 20)))
				if early.Cause != DeviceOrNetwork || early.Incident != "" {
					t.Errorf("crash-early %s incident %q", early.Cause, early.Incident)
				}
				late := r.diag("crash-tail", at(hms(3, 34, 0)))
				if late.Cause != DeviceOrNetwork || late.Incident != "" || !containsLine(late.Evidence, "not part of its burst: fewer than 3 other devices") {
					t.Errorf("crash-tail %s incident %q evidence %q", late.Cause, late.Incident, late.Evidence)
				}
				if got := r.verdicts("tail-dotnet"); !slices.Equal(got, []Cause{TokenExpiry}) {
					t.Errorf("tail-dotnet verdicts %v, want token-expiry", got)
				}
				if got := r.verdicts("crash-burst"); !slices.Equal(got, []Cause{HubTransient}) {
					t.Errorf("crash-burst verdicts %v, want hub-transient", got)
				}
				for _, c := range []struct {
					dev, inc string
				}{{"crash-early", ""}, {"crash-tail", ""}, {"crash-burst", inc.ID}} {
					s := r.signalsOf(DeviceOffline, c.dev)
					if len(s) != 2 || !s[0].Firing || s[0].Incident != c.inc {
						t.Errorf("%s offline signals %+v, want firing then resolved, incident %q", c.dev, s, c.inc)
					}
				}
			},
		},
		{
			name: "on a hub whose usual minute holds unexplained disconnects, an incident's burst is what stands above them",
			rule: "hubBurstPeers (§1 cause 3 'many devices disconnect at once'; §5 learned, not hard-coded): a hub-transient 404104 needs at least 4× the hub's baseline of unexplained disconnects per minute among its ±30 s peers (never fewer than burstPeers); a crash 10 min into an incident with only the hub's usual six others around it → device-or-network; a crash inside the burst → hub-transient. And the SDK prior inside an incident's span: a .NET disconnect 65m10s after its connect whose reconnect the hub refuses for minutes → token-expiry (the missing reconnect is the hub's doing); the same outside any incident → device-or-network",
			evs: func() []event.Event {
				var evs []event.Event
				// 3h10m of usual traffic: six crashes a minute over 700
				// devices at irregular gaps (no period to learn), each back
				// 20 s later
				x := uint32(1)
				for m := range 190 {
					for j := range 6 {
						x = x*1664525 + 1013904223
						dev := fmt.Sprintf("bg-%03d", x>>8%700)
						tt := at(time.Duration(m)*time.Minute + time.Duration(j*10+int(x>>20%7))*time.Second)
						evs = append(evs, d404(dev, tt), connect(dev, tt.Add(20*time.Second), 0, ""))
					}
				}
				start := at(hms(2, 30, 0))
				evs = append(evs, burst(300, true, start, "pump")...)
				// the hub keeps failing operations for 18 minutes after the burst
				for y := start.Add(3 * time.Minute); y.Before(start.Add(18 * time.Minute)); y = y.Add(10 * time.Second) {
					evs = append(evs, opErr(fmt.Sprintf("pump-%03d", y.Second()), y, "D2CTwinOperations", 500001))
				}
				evs = append(evs, connect("crash-burst", at(hms(2, 0, 0)), 0, ""), d404("crash-burst", start.Add(40*time.Second)),
					connect("crash-burst", start.Add(40*time.Minute), 0, ""))
				evs = append(evs, connect("crash-tail", at(hms(2, 0, 0)), 0, ""), d404("crash-tail", start.Add(10*time.Minute+5*time.Second)),
					connect("crash-tail", start.Add(50*time.Minute), 0, ""))
				for dev, tok := range map[string]time.Time{"dotnet-refused": start.Add(11*time.Minute + 10*time.Second), "dotnet-away": at(hms(1, 30, 0))} {
					evs = append(evs, sdkConnect(dev, tok.Add(-65*time.Minute-10*time.Second), sdkDotNetV, "Mqtt"), d404(dev, tok),
						connect(dev, tok.Add(20*time.Second), 500001, ""), sdkConnect(dev, tok.Add(4*time.Minute), sdkDotNetV, "Mqtt"))
				}
				return sortByTime(evs)
			},
			step: 200,
			tail: time.Hour,
			chk: func(t *testing.T, r *run) {
				if len(r.incs) != 1 {
					t.Fatalf("incidents %+v, want 1", r.incs)
				}
				if got := r.verdicts("crash-burst"); !slices.Equal(got, []Cause{HubTransient}) {
					t.Errorf("crash-burst verdicts %v, want hub-transient", got)
				}
				tail := r.diag("crash-tail", at(hms(2, 40, 5)))
				if tail.Cause != DeviceOrNetwork || tail.Incident != "" || !containsLine(tail.Evidence, "not part of its burst") {
					t.Errorf("crash-tail %s incident %q evidence %q, want device-or-network, not part of the burst", tail.Cause, tail.Incident, tail.Evidence)
				}
				if got := r.verdicts("dotnet-refused"); !slices.Equal(got, []Cause{TokenExpiry}) {
					t.Errorf("dotnet-refused verdicts %v, want token-expiry", got)
				}
				if got := r.verdicts("dotnet-away"); !slices.Equal(got, []Cause{DeviceOrNetwork}) {
					t.Errorf("dotnet-away verdicts %v, want device-or-network", got)
				}
			},
		},
		{
			name: "a device flapping just before an incident that catches it is held with the incident",
			rule: "flapHold/flapIncident (§7 inhibition): three device-or-network 404104s within an hour, the third 1m30s before a burst that catches the device → device-flapping tied to the incident (the incident notifies from ingested data, device alerts trail by ALLOWED_LATENESS); the same device without the incident → not tied",
			evs: func() []event.Event {
				start := at(hms(3, 22, 0))
				evs := burst(30, true, start, "pump")
				for _, dev := range []string{"flappy-caught", "flappy-alone"} {
					evs = append(evs, connect(dev, at(hms(2, 40, 0)), 0, ""))
					for _, m := range []time.Duration{hms(2, 55, 0), hms(3, 5, 0), hms(3, 20, 30)} {
						evs = append(evs, d404(dev, at(m)), connect(dev, at(m).Add(20*time.Second), 0, ""))
					}
				}
				return append(evs, d404("flappy-caught", start.Add(30*time.Second)), connect("flappy-caught", start.Add(4*time.Minute), 0, ""))
			},
			tail: 3 * time.Hour,
			chk: func(t *testing.T, r *run) {
				var id string
				for _, in := range r.incs {
					id = in.ID
				}
				for _, c := range []struct{ dev, inc string }{{"flappy-caught", id}, {"flappy-alone", ""}} {
					s := r.signalsOf(DeviceFlapping, c.dev)
					if len(s) == 0 || !s[0].Firing || !s[0].At.Equal(at(hms(3, 20, 30))) || s[0].Incident != c.inc {
						t.Errorf("%s flapping %+v, want firing at 13:20:30 with incident %q", c.dev, s, c.inc)
					}
				}
			},
		},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			t.Log("rule:", c.rule)
			step := c.step
			if step == 0 {
				step = 7
			}
			evs := c.evs()
			if c.step == 0 {
				evs = sortByTime(evs)
			}
			r := feed(t, testConfig(), evs, step, c.tail)
			c.chk(t, r)
		})
	}
}

const (
	sdkDotNetV = ".NET/1.42.3 (.NET 6.0.25; Linux 5.15.0-1051-azure #59-Ubuntu; X64)"
	sdkJavaV   = "com.microsoft.azure.sdk.iot.iot-device-client/2.4.1 (Java 17.0.9; Linux 5.15.0; amd64)"
)

// sdkConnect is a successful deviceConnect carrying sdkVersion and protocol
// (reference §1.3, §6.5).
func sdkConnect(dev string, t time.Time, sdk, protocol string) event.Event {
	e := event.Event{Source: event.ResourceLog, Kind: event.Connect, Hub: testHub, Device: dev, Time: t,
		Category: "Connections", Operation: "deviceConnect", Protocol: protocol, SDK: sdk}
	return withID(e)
}

// netSession is one session of netSessions: it lasts age from its connect
// and ends in a 404104 (with its 401003 when tok), the device back after
// back.
type netSession struct {
	age, back time.Duration
	tok       bool
}

// netSessions: a device whose client (sdk over MQTT) connects at 10:00 and
// then runs the sessions ss one after another.
func netSessions(dev, sdk string, ss []netSession) []event.Event {
	c := at(0)
	evs := []event.Event{sdkConnect(dev, c, sdk, "Mqtt")}
	for _, s := range ss {
		x := c.Add(s.age)
		if s.tok {
			evs = append(evs, u401(dev, x))
		}
		c = x.Add(s.back)
		evs = append(evs, d404(dev, x), sdkConnect(dev, c, sdk, "Mqtt"))
	}
	return evs
}

// periodTime is the time of the i-th expiry of periodic().
func periodTime(p, back time.Duration, i int) time.Time {
	return at(0).Add(time.Duration(i) * (p + back))
}

// periodic: a device that connects at 10:00 and is cut off every p after
// each connect, reconnecting back later; the first `backed` expiries have
// their 401003 logged, the rest lost it.
func periodic(dev string, p time.Duration, n, backed int, back time.Duration) []event.Event {
	evs := []event.Event{connect(dev, at(0), 0, "")}
	for i := 1; i <= n; i++ {
		ti := periodTime(p, back, i).Add(-back)
		// ti = connect(i-1) + p exactly
		ex := expiry(dev, ti, back)
		if i > backed {
			ex = ex[1:]
		}
		evs = append(evs, ex...)
	}
	return evs
}
