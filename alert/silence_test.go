package alert_test

import (
	"errors"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/disconnect-doctor/disconnect-doctor/alert"
	"github.com/disconnect-doctor/disconnect-doctor/classify"
	"github.com/disconnect-doctor/disconnect-doctor/event"
	"github.com/disconnect-doctor/disconnect-doctor/store"
)

func silence(id, hubGlob, devGlob, kind string, from, to time.Duration) store.Silence {
	return store.Silence{ID: id, Hub: hubGlob, Device: devGlob, Kind: kind, StartsAt: at(from), EndsAt: at(to),
		CreatedBy: "oncall", Comment: "maintenance"}
}

// silStep is one Evaluate: signals through Apply, then the silence stage
// with the silences of that moment.
type silStep struct {
	sigs []classify.Signal
	sils []store.Silence
	now  time.Duration
	want []string
	// silencedBy is key → expected SilencedBy of the live records named.
	silencedBy map[string]string
}

// TestSilenceStage: the rules at the top of silence.go, step by step
// through Apply and the stage, with the state saved and reloaded between
// steps as Evaluate does.
func TestSilenceStage(t *testing.T) {
	const (
		off = classify.DeviceOffline
		inc = classify.HubIncident
		tok = classify.TokenRenewalFailing
	)
	window := silence("s1", "contoso-*", "", "", 0, time.Hour)
	cases := []struct {
		name  string
		steps []silStep
	}{
		{"silenced firing is muted, then sent when the silence ends with the alert still firing", []silStep{
			{[]classify.Signal{fire(off, "d1", time.Minute, "")}, []store.Silence{window}, 2 * time.Minute, nil,
				map[string]string{"device-offline/contoso-hub/d1": "s1"}},
			{nil, []store.Silence{window}, 30 * time.Minute, nil, map[string]string{"device-offline/contoso-hub/d1": "s1"}},
			{nil, []store.Silence{window}, time.Hour, []string{"device-offline/contoso-hub firing : /d1=firing#0"},
				map[string]string{"device-offline/contoso-hub/d1": ""}},
			{nil, []store.Silence{window}, time.Hour + time.Minute, nil, nil},
			// reminders count from the moment it was sent
			{nil, nil, 5*time.Hour - time.Minute, nil, nil},
			{nil, nil, 5 * time.Hour, []string{"device-offline/contoso-hub firing : /d1=firing#1"}, nil},
		}},
		{"resolved during the silence: nothing at all is sent", []silStep{
			{[]classify.Signal{fire(off, "d1", time.Minute, "")}, []store.Silence{window}, 2 * time.Minute, nil, nil},
			{[]classify.Signal{clear(off, "d1", time.Minute, 20*time.Minute)}, []store.Silence{window}, 20 * time.Minute, nil, nil},
			{nil, []store.Silence{window}, 40 * time.Minute, nil, nil}, // the hysteresis hold ends: no resolved
			{nil, nil, 2 * time.Hour, nil, nil},
		}},
		{"hub incident firing and resolving inside one Evaluate under a silence", []silStep{
			{[]classify.Signal{fire(inc, "", time.Minute, "I1"), clear(inc, "", time.Minute, 3*time.Minute)},
				[]store.Silence{window}, 4 * time.Minute, nil, nil},
			{nil, nil, 2 * time.Hour, nil, nil},
		}},
		{"announced before the silence: reminders muted, resolved sent", []silStep{
			{[]classify.Signal{fire(tok, "d1", -time.Hour, "")}, nil, -time.Hour, []string{"token-renewal-failed/contoso-hub firing : /d1=firing#0"}, nil},
			{nil, []store.Silence{silence("s2", "", "d1", "", 0, 8*time.Hour)}, 3 * time.Hour, []string(nil),
				map[string]string{"token-renewal-failed/contoso-hub/d1": "s2"}}, // the 4h reminder is muted
			{[]classify.Signal{clear(tok, "d1", -time.Hour, 4*time.Hour)}, []store.Silence{silence("s2", "", "d1", "", 0, 8*time.Hour)}, 4 * time.Hour, nil, nil},
			{nil, []store.Silence{silence("s2", "", "d1", "", 0, 8*time.Hour)}, 4*time.Hour + 10*time.Minute,
				[]string{"token-renewal-failed/contoso-hub resolved : /d1=resolved#1"}, nil},
		}},
		{"silence ended (DELETE) while the alert still fires: sent at the next Evaluate", []silStep{
			{[]classify.Signal{fire(inc, "", time.Minute, "I1")}, []store.Silence{window}, 2 * time.Minute, nil,
				map[string]string{"hub-incident/contoso-hub": "s1"}},
			{nil, []store.Silence{silence("s1", "contoso-*", "", "", 0, 10*time.Minute)}, 10 * time.Minute,
				[]string{"hub-incident/contoso-hub firing : =firing#0"}, map[string]string{"hub-incident/contoso-hub": ""}},
			{[]classify.Signal{clear(inc, "", time.Minute, 30*time.Minute)}, nil, 30 * time.Minute,
				[]string{"hub-incident/contoso-hub resolved : =resolved#0"}, nil},
		}},
		{"an older announced episode's resolved goes out beside the muted firing of the next", []silStep{
			{[]classify.Signal{fire(off, "d1", -50*time.Minute, "")}, nil, -50 * time.Minute, []string{"device-offline/contoso-hub firing : /d1=firing#0"}, nil},
			{[]classify.Signal{clear(off, "d1", -50*time.Minute, -30*time.Minute)}, nil, -25 * time.Minute, nil, nil},
			{[]classify.Signal{fire(off, "d1", 5*time.Minute, "")}, []store.Silence{window}, 6 * time.Minute,
				[]string{"device-offline/contoso-hub resolved : /d1=resolved#0"}, map[string]string{"device-offline/contoso-hub/d1": "s1"}},
		}},
		{"matchers: another kind, another hub, a device glob never silence a hub-wide alert", []silStep{
			{[]classify.Signal{fire(off, "d1", time.Minute, ""), fire(inc, "", time.Minute, "I1"), fire(tok, "d2", time.Minute, "")},
				[]store.Silence{silence("k", "", "", string(off), 0, time.Hour), silence("other", "fabrikam-*", "", "", 0, time.Hour),
					silence("dev", "contoso-hub", "d*", string(tok), 0, time.Hour)},
				2 * time.Minute, []string{"hub-incident/contoso-hub firing : =firing#0"},
				map[string]string{"device-offline/contoso-hub/d1": "k", "token-renewal-failed/contoso-hub/d2": "dev", "hub-incident/contoso-hub": ""}},
		}},
		{"a device glob never silences the app's own alerts about a channel", []silStep{
			{[]classify.Signal{{Kind: classify.NotificationsFailing, Key: event.Key{Hub: hub, Device: "email"}, Firing: true, Since: at(time.Minute), At: at(time.Minute), Summary: "e-mail failing"}},
				[]store.Silence{silence("dev", "", "*", "", 0, time.Hour)}, 2 * time.Minute,
				[]string{"notifications-failing/contoso-hub firing : /email=firing#0"}, nil},
		}},
		{"a pending silence does not silence yet; an expired one no longer", []silStep{
			{[]classify.Signal{fire(off, "d1", time.Minute, "")}, []store.Silence{silence("later", "contoso-hub", "", "", time.Hour, 2*time.Hour),
				silence("past", "contoso-hub", "", "", -2*time.Hour, -time.Hour)}, 2 * time.Minute,
				[]string{"device-offline/contoso-hub firing : /d1=firing#0"}, map[string]string{"device-offline/contoso-hub/d1": ""}},
		}},
		{"one alert of a group muted: the rest goes out under its own identity", []silStep{
			{[]classify.Signal{fire(off, "d1", time.Minute, ""), fire(off, "d2", time.Minute, "")},
				[]store.Silence{silence("s", "contoso-hub", "d2", "", 0, time.Hour)}, 2 * time.Minute,
				[]string{"device-offline/contoso-hub firing : /d1=firing#0"}, nil},
		}},
		{"of two silences the one ending last is named", []silStep{
			{[]classify.Signal{fire(off, "d1", time.Minute, "")}, []store.Silence{silence("short", "contoso-hub", "", "", 0, time.Hour),
				silence("long", "contoso-*", "", "", 0, 3*time.Hour)}, 2 * time.Minute, nil,
				map[string]string{"device-offline/contoso-hub/d1": "long"}},
			{nil, []store.Silence{silence("long", "contoso-*", "", "", 0, 3*time.Hour)}, time.Hour, nil,
				map[string]string{"device-offline/contoso-hub/d1": "long"}},
		}},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			m := alert.New(alert.Config{})
			st := alert.NewState()
			blobs := map[string][]byte{}
			for i, s := range c.steps {
				now := at(s.now)
				ns := m.Silence(st, m.Apply(st, s.sigs, now), s.sils, now)
				if got := render(ns); !slices.Equal(got, s.want) {
					t.Fatalf("step %d: notifications\n got %q\nwant %q", i, got, s.want)
				}
				for _, n := range ns {
					if len(n.Alerts) == 0 || n.NotificationID == "" {
						t.Fatalf("step %d: empty or unidentified notification %+v", i, n)
					}
				}
				for key, want := range s.silencedBy {
					r, ok := st.Get(key)
					if !ok || r.SilencedBy != want {
						t.Errorf("step %d: %s silencedBy = %q (live %v), want %q", i, key, r.SilencedBy, ok, want)
					}
				}
				st = roundTrip(t, st, blobs)
			}
		})
	}
}

// TestSilenceRegroupedIdentity: a notification losing a muted member gets
// the identity of what it now holds, so it cannot be mistaken (by the
// outbox or a receiver) for the full group's notification.
func TestSilenceRegroupedIdentity(t *testing.T) {
	m := alert.New(alert.Config{PublicBaseURL: "https://app.example.net"})
	sigs := []classify.Signal{fire(classify.DeviceOffline, "d1", 0, ""), fire(classify.DeviceOffline, "d2", 0, "")}
	full := m.Apply(alert.NewState(), sigs, at(time.Minute))
	part := m.Silence(alert.NewState(), nil, nil, at(time.Minute)) // nothing live: nothing to say
	if len(part) != 0 {
		t.Fatalf("stage on an empty state returned %v", render(part))
	}
	st := alert.NewState()
	got := m.Silence(st, m.Apply(st, sigs, at(time.Minute)), []store.Silence{silence("s", "", "d2", "", 0, time.Hour)}, at(time.Minute))
	if len(full) != 1 || len(got) != 1 {
		t.Fatalf("full %v, silenced %v", render(full), render(got))
	}
	if got[0].NotificationID == full[0].NotificationID {
		t.Error("the notification without d2 kept the ID of the one with it")
	}
	if !strings.Contains(got[0].Link, "id=d1") || strings.Contains(got[0].Link, "d2") {
		t.Errorf("link %q should point at the one device left", got[0].Link)
	}
}

func TestParseSilence(t *testing.T) {
	now := time.Date(2026, 12, 6, 5, 0, 0, 0, time.UTC)
	ok := `{"matchers":{"hub":"Contoso-Prod-*","deviceId":"sensor-1*","kind":"device-offline"},` +
		`"startsAt":"2026-12-06T05:30:00Z","endsAt":"2026-12-06T07:00:00+01:00","createdBy":"alice@contoso.com","comment":"firmware update, line 3"}`
	s, err := alert.ParseSilence([]byte(ok), now)
	if err != nil {
		t.Fatal(err)
	}
	if s.Hub != "contoso-prod-*" || s.Device != "sensor-1*" || s.Kind != "device-offline" || !s.StartsAt.Equal(now.Add(30*time.Minute)) ||
		!s.EndsAt.Equal(now.Add(time.Hour)) || s.CreatedBy != "alice@contoso.com" || len(s.ID) != 36 || !s.UpdatedAt.Equal(now) {
		t.Errorf("parsed %+v", s)
	}
	if s2, _ := alert.ParseSilence([]byte(ok), now); s2.ID == s.ID {
		t.Error("two silences got one ID")
	}
	def, err := alert.ParseSilence([]byte(`{"matchers":{"hub":"h"},"endsAt":"2026-12-06T06:00:00Z","createdBy":"a","comment":"c"}`), now)
	if err != nil || !def.StartsAt.Equal(now) {
		t.Errorf("startsAt defaults to now: %+v %v", def, err)
	}
	forced, err := alert.ParseSilence([]byte(`{"matchers":{"hub":"*","kind":"device-flapping"},"force":true,"endsAt":"2026-12-06T06:00:00Z","createdBy":"a","comment":"c"}`), now)
	if err != nil || forced.Hub != "*" {
		t.Errorf("forced wide silence: %+v %v", forced, err)
	}
	bad := []struct{ name, body, field string }{
		{"unknown kind", `{"matchers":{"hub":"h","kind":"device-exploded"},"endsAt":"2026-12-06T06:00:00Z","createdBy":"a","comment":"c"}`, "matchers.kind"},
		{"end before start", `{"matchers":{"hub":"h"},"startsAt":"2026-12-06T06:00:00Z","endsAt":"2026-12-06T05:30:00Z","createdBy":"a","comment":"c"}`, "endsAt"},
		{"end in the past", `{"matchers":{"hub":"h"},"startsAt":"2026-12-06T03:00:00Z","endsAt":"2026-12-06T04:00:00Z","createdBy":"a","comment":"c"}`, "endsAt"},
		{"no end", `{"matchers":{"hub":"h"},"createdBy":"a","comment":"c"}`, "endsAt"},
		{"bad time", `{"matchers":{"hub":"h"},"endsAt":"tomorrow","createdBy":"a","comment":"c"}`, "endsAt"},
		{"malformed hub glob", `{"matchers":{"hub":"contoso-[prod"},"endsAt":"2026-12-06T06:00:00Z","createdBy":"a","comment":"c"}`, "matchers.hub"},
		{"malformed device glob", `{"matchers":{"hub":"h","deviceId":"x\\"},"endsAt":"2026-12-06T06:00:00Z","createdBy":"a","comment":"c"}`, "matchers.deviceId"},
		{"star on every hub", `{"matchers":{"hub":"*"},"endsAt":"2026-12-06T06:00:00Z","createdBy":"a","comment":"c"}`, "matchers.hub"},
		{"no hub at all", `{"matchers":{"deviceId":"d1"},"endsAt":"2026-12-06T06:00:00Z","createdBy":"a","comment":"c"}`, "matchers.hub"},
		{"no matchers", `{"endsAt":"2026-12-06T06:00:00Z","createdBy":"a","comment":"c"}`, "matchers.hub"},
		{"over-long comment", `{"matchers":{"hub":"h"},"endsAt":"2026-12-06T06:00:00Z","createdBy":"a","comment":"` + strings.Repeat("é", alert.MaxSilenceComment+1) + `"}`, "comment"},
		{"no comment", `{"matchers":{"hub":"h"},"endsAt":"2026-12-06T06:00:00Z","createdBy":"a","comment":"  "}`, "comment"},
		{"no author", `{"matchers":{"hub":"h"},"endsAt":"2026-12-06T06:00:00Z","comment":"c"}`, "createdBy"},
		{"typo in a field name", `{"matchers":{"hub":"h"},"endAt":"2026-12-06T06:00:00Z","createdBy":"a","comment":"c"}`, "endAt"},
		{"wrong type", `{"matchers":{"hub":"h"},"endsAt":"2026-12-06T06:00:00Z","createdBy":"a","comment":"c","force":"yes"}`, "force"},
		{"not JSON", `matchers=h`, "body"},
		{"two objects", `{"matchers":{"hub":"h"},"endsAt":"2026-12-06T06:00:00Z","createdBy":"a","comment":"c"} {}`, "body"},
		{"too large", `{"comment":"` + strings.Repeat("x", alert.MaxSilenceBody) + `"}`, "body"},
		{"over-long glob", `{"matchers":{"hub":"h","deviceId":"` + strings.Repeat("d", alert.MaxGlob+1) + `"},"endsAt":"2026-12-06T06:00:00Z","createdBy":"a","comment":"c"}`, "matchers.deviceId"},
	}
	for _, b := range bad {
		_, err := alert.ParseSilence([]byte(b.body), now)
		var fe *alert.FieldError
		if !errors.As(err, &fe) || fe.Field != b.field {
			t.Errorf("%s: error %v, want one naming %s", b.name, err, b.field)
		}
	}
}

func TestExpireSilence(t *testing.T) {
	now := at(time.Hour)
	active, pending, expired := silence("a", "h", "", "", 0, 2*time.Hour), silence("p", "h", "", "", 2*time.Hour, 3*time.Hour), silence("e", "h", "", "", 0, 30*time.Minute)
	if !alert.ExpireSilence(&active, now) || !active.EndsAt.Equal(now) || alert.SilenceStatus(&active, now) != alert.SilenceExpired {
		t.Errorf("active: %+v", active)
	}
	if !alert.ExpireSilence(&pending, now) || !pending.StartsAt.Equal(now) || !pending.EndsAt.Equal(now) {
		t.Errorf("pending: %+v", pending)
	}
	before := expired
	if alert.ExpireSilence(&expired, now) || expired != before {
		t.Errorf("expired changed: %+v", expired)
	}
}

// FuzzParseSilence: any body gives a valid silence or a FieldError naming
// a field, never a panic; a valid silence always satisfies the rules.
func FuzzParseSilence(f *testing.F) {
	f.Add([]byte(`{"matchers":{"hub":"contoso-*","deviceId":"sensor-1*","kind":"device-offline"},"endsAt":"2026-12-06T07:00:00Z","createdBy":"a","comment":"c"}`))
	f.Add([]byte(`{"matchers":{"hub":"*"},"force":true,"startsAt":"2026-12-06T05:00:00Z","endsAt":"2026-12-06T07:00:00Z","createdBy":"a","comment":"c"}`))
	f.Add([]byte(`{"matchers":{"hub":"[a-"},"endsAt":1}`))
	f.Add([]byte(`[]`))
	now := time.Date(2026, 12, 6, 5, 0, 0, 0, time.UTC)
	f.Fuzz(func(t *testing.T, body []byte) {
		s, err := alert.ParseSilence(body, now)
		if err != nil {
			var fe *alert.FieldError
			if !errors.As(err, &fe) || fe.Field == "" {
				t.Fatalf("error %v names no field", err)
			}
			return
		}
		if s.ID == "" || !s.EndsAt.After(s.StartsAt) || !s.EndsAt.After(now) || s.CreatedBy == "" || s.Comment == "" {
			t.Fatalf("accepted an invalid silence %+v", s)
		}
		if s.Kind != "" && !classify.SignalKind(s.Kind).Valid() {
			t.Fatalf("accepted kind %q", s.Kind)
		}
		_ = alert.SilenceMatches(&s, classify.DeviceOffline, "contoso-hub", "d1")
	})
}

// TestSilenceSeesWholeRelease: the silence stage sees every alert of a
// release, not only the MaxListed the outbox keeps: a silence on the
// devices sensor-000* (1 000 of the 1 234 released) leaves a notification
// of the other 234, listing 20 of them.
func TestSilenceSeesWholeRelease(t *testing.T) {
	m := alert.New(alert.Config{})
	sigs, end := heldBack(1234)
	st := alert.NewState()
	m.Apply(st, sigs, at(2*time.Minute))
	sils := []store.Silence{silence("s1", "*", "sensor-000*", "", 0, 2*time.Hour)}
	ns := m.Silence(st, m.Apply(st, end, at(time.Hour)), sils, at(time.Hour))
	if len(ns) != 2 {
		t.Fatalf("%d notifications, want the incident's resolved and the release", len(ns))
	}
	p, err := alert.EncodePayload(&ns[1])
	if err != nil {
		t.Fatal(err)
	}
	n, err := alert.DecodePayload(p)
	if err != nil {
		t.Fatal(err)
	}
	if n.AlertCount() != 234 || len(n.Alerts) != alert.MaxListed || strings.HasPrefix(n.Alerts[0].DeviceID, "sensor-000") {
		t.Errorf("release after the silence: %d alerts, %d listed, first %s", n.AlertCount(), len(n.Alerts), n.Alerts[0].DeviceID)
	}
}
