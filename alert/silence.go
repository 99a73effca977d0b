package alert

import (
	"bytes"
	"crypto/rand"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"path"
	"strings"
	"time"
	"unicode/utf8"

	"github.com/disconnect-doctor/disconnect-doctor/classify"
	"github.com/disconnect-doctor/disconnect-doctor/store"
)

// Silences (maintenance windows) follow Alertmanager's model: a silence has
// matchers (hub glob, device id glob, alert kind), a start, an end, an
// author and a comment; while it is active the alerts it matches go through
// their state machine as usual (recorded, visible in the API with the
// silence's ID in silencedBy) but their firing notifications are not sent.
//
// The silence stage runs between Manager.Apply and Dispatcher.Enqueue, and
// decides with one rule what people are told about a silenced alert: a
// resolved notification goes out only for an episode whose firing went out.
//
//   - Firing while silenced: muted (not sent, not in the outbox).
//   - The silence ends (expires or is deleted) with the alert still firing:
//     the firing is sent then, at the next Evaluate, and reminders follow
//     every REPEAT_INTERVAL from there.
//   - The alert resolves while silenced, its firing never sent: nothing is
//     sent (telling people an alert they never received is over is noise).
//   - The alert's firing went out before the silence began: its reminders
//     are muted while the silence lasts, and its resolved notification is
//     sent (people who were told it fired learn it is over).

// Limits of a silence document (POST v1/silences).
const (
	// MaxSilenceBody bounds the request body.
	MaxSilenceBody = 16 << 10
	// MaxSilenceComment bounds the comment, in characters.
	MaxSilenceComment = 1000
	// MaxSilenceAuthor bounds createdBy, in characters.
	MaxSilenceAuthor = 200
	// MaxGlob bounds a hub or device glob, in bytes (device ids have at
	// most 128 characters).
	MaxGlob = 256
)

// Silence statuses, from the time of the question.
const (
	SilencePending = "pending"
	SilenceActive  = "active"
	SilenceExpired = "expired"
)

// FieldError is bad input in a request body or setting: Field names the
// JSON field (e.g. "matchers.hub", "endsAt"), so the API can answer 400
// with the parameter.
type FieldError struct {
	Field string
	Msg   string
}

func (e *FieldError) Error() string { return e.Field + ": " + e.Msg }

func fieldErr(field, format string, args ...any) *FieldError {
	return &FieldError{Field: field, Msg: fmt.Sprintf(format, args...)}
}

// silenceDoc is the body of POST v1/silences.
type silenceDoc struct {
	Matchers *struct {
		Hub      string `json:"hub"`
		DeviceID string `json:"deviceId"`
		Kind     string `json:"kind"`
	} `json:"matchers"`
	StartsAt  *string `json:"startsAt"`
	EndsAt    *string `json:"endsAt"`
	CreatedBy string  `json:"createdBy"`
	Comment   string  `json:"comment"`
	// Force allows a hub matcher that matches every hub.
	Force bool `json:"force"`
}

// ParseSilence reads and checks a POST v1/silences body at now: the
// returned silence has a new random ID and UpdatedAt now. Every problem is
// a *FieldError naming the field.
func ParseSilence(body []byte, now time.Time) (store.Silence, error) {
	if len(body) > MaxSilenceBody {
		return store.Silence{}, fieldErr("body", "larger than %d bytes", MaxSilenceBody)
	}
	var doc silenceDoc
	dec := json.NewDecoder(bytes.NewReader(body))
	dec.DisallowUnknownFields()
	if err := dec.Decode(&doc); err != nil {
		return store.Silence{}, decodeErr(err)
	}
	if _, err := dec.Token(); !errors.Is(err, io.EOF) {
		return store.Silence{}, fieldErr("body", "must be one JSON object")
	}
	s := store.Silence{CreatedBy: strings.TrimSpace(doc.CreatedBy), Comment: strings.TrimSpace(doc.Comment), UpdatedAt: now}
	if m := doc.Matchers; m != nil {
		s.Hub, s.Device, s.Kind = strings.ToLower(strings.TrimSpace(m.Hub)), strings.TrimSpace(m.DeviceID), strings.TrimSpace(m.Kind)
	}
	if err := checkGlob("matchers.hub", s.Hub); err != nil {
		return store.Silence{}, err
	}
	if err := checkGlob("matchers.deviceId", s.Device); err != nil {
		return store.Silence{}, err
	}
	if s.Kind != "" && !classify.SignalKind(s.Kind).Valid() {
		return store.Silence{}, fieldErr("matchers.kind", "unknown alert kind %q (one of %s)", s.Kind, kindList())
	}
	if MatchesEveryHub(s.Hub) && !doc.Force {
		return store.Silence{}, fieldErr("matchers.hub", "matches every hub; name the hubs (a glob such as \"contoso-prod-*\") or set \"force\": true")
	}
	var err error
	s.StartsAt = now
	if doc.StartsAt != nil {
		if s.StartsAt, err = parseTime("startsAt", *doc.StartsAt); err != nil {
			return store.Silence{}, err
		}
	}
	if doc.EndsAt == nil {
		return store.Silence{}, fieldErr("endsAt", "is required (RFC 3339, e.g. 2026-12-06T08:00:00Z)")
	}
	if s.EndsAt, err = parseTime("endsAt", *doc.EndsAt); err != nil {
		return store.Silence{}, err
	}
	switch {
	case !s.EndsAt.After(s.StartsAt):
		return store.Silence{}, fieldErr("endsAt", "must be after startsAt")
	case !s.EndsAt.After(now):
		return store.Silence{}, fieldErr("endsAt", "is in the past")
	}
	if err := checkText("createdBy", s.CreatedBy, MaxSilenceAuthor); err != nil {
		return store.Silence{}, err
	}
	if err := checkText("comment", s.Comment, MaxSilenceComment); err != nil {
		return store.Silence{}, err
	}
	s.ID = newSilenceID()
	return s, nil
}

// decodeErr names the field of a JSON decoding error.
func decodeErr(err error) *FieldError {
	var te *json.UnmarshalTypeError
	if errors.As(err, &te) && te.Field != "" {
		return fieldErr(te.Field, "must be a JSON %s", te.Type.Kind())
	}
	if name, ok := strings.CutPrefix(err.Error(), "json: unknown field "); ok {
		if name = strings.Trim(name, `"`); name != "" {
			return fieldErr(name, "unknown field")
		}
		return fieldErr("body", "a field without a name")
	}
	return fieldErr("body", "not a JSON object: %v", err)
}

func parseTime(field, v string) (time.Time, error) {
	t, err := time.Parse(time.RFC3339Nano, strings.TrimSpace(v))
	if err != nil {
		return time.Time{}, fieldErr(field, "%q is not an RFC 3339 time, e.g. 2026-12-06T08:00:00Z", v)
	}
	return t.UTC(), nil
}

func checkText(field, v string, limit int) error {
	switch n := utf8.RuneCountInString(v); {
	case n == 0:
		return fieldErr(field, "is required")
	case n > limit:
		return fieldErr(field, "has %d characters, at most %d allowed", n, limit)
	case !utf8.ValidString(v):
		return fieldErr(field, "is not valid UTF-8")
	}
	return nil
}

// checkGlob checks a hub or device glob (path.Match syntax: *, ?, [a-z],
// \ escapes); "" matches anything.
func checkGlob(field, g string) error {
	if len(g) > MaxGlob {
		return fieldErr(field, "has %d bytes, at most %d allowed", len(g), MaxGlob)
	}
	if _, err := path.Match(g, ""); err != nil {
		return fieldErr(field, "malformed glob %q: %v", g, err)
	}
	return nil
}

// globMatch reports whether s matches glob g ("" matches anything). g was
// checked by checkGlob.
func globMatch(g, s string) bool {
	if g == "" {
		return true
	}
	ok, _ := path.Match(g, s)
	return ok
}

// MatchesEveryHub reports whether a hub glob selects every hub: empty or
// only stars. Such a silence (or route) needs "force": it would mute the
// whole fleet.
func MatchesEveryHub(g string) bool { return strings.Trim(g, "*") == "" }

func kindList() string {
	ks := classify.Kinds()
	names := make([]string, len(ks))
	for i, k := range ks {
		names[i] = string(k)
	}
	return strings.Join(names, ", ")
}

func newSilenceID() string {
	var b [16]byte
	_, _ = rand.Read(b[:])
	b[6] = b[6]&0x0f | 0x40 // a UUID v4, the shape Alertmanager's IDs have
	b[8] = b[8]&0x3f | 0x80
	h := hex.EncodeToString(b[:])
	return h[:8] + "-" + h[8:12] + "-" + h[12:16] + "-" + h[16:20] + "-" + h[20:]
}

// SilenceStatus is the status of s at now: pending before StartsAt, active
// until EndsAt, expired from then on.
func SilenceStatus(s *store.Silence, now time.Time) string {
	switch {
	case now.Before(s.StartsAt):
		return SilencePending
	case now.Before(s.EndsAt):
		return SilenceActive
	}
	return SilenceExpired
}

// ExpireSilence ends s at now (DELETE v1/silences/{id}): an active silence
// ends now, a pending one never starts; an expired one is left as it is
// (changed is false).
func ExpireSilence(s *store.Silence, now time.Time) (changed bool) {
	switch SilenceStatus(s, now) {
	case SilenceExpired:
		return false
	case SilencePending:
		s.StartsAt = now
	}
	s.EndsAt, s.UpdatedAt = now, now
	return true
}

// SilenceMatches reports whether s's matchers select an alert of kind on
// hub and device. A silence naming devices matches device alerts only: not
// a hub-wide alert, nor one of the app's own whose key names another
// subject (a channel).
func SilenceMatches(s *store.Silence, kind classify.SignalKind, hub, device string) bool {
	if s.Kind != "" && s.Kind != string(kind) {
		return false
	}
	if s.Device != "" && (!kind.AboutDevice() || !globMatch(s.Device, device)) {
		return false
	}
	return globMatch(s.Hub, hub)
}

// activeSilences finds the silence of an alert among the active ones. The
// hub globs are matched once per hub (a fleet has few hubs and many
// alerts), so a tick over thousands of live alerts matches only the device
// globs of its hub's silences.
type activeSilences struct {
	all   []store.Silence
	byHub map[string][]*store.Silence
}

func newActiveSilences(sils []store.Silence, now time.Time) *activeSilences {
	a := &activeSilences{byHub: map[string][]*store.Silence{}}
	for _, s := range sils {
		if SilenceStatus(&s, now) == SilenceActive {
			a.all = append(a.all, s)
		}
	}
	return a
}

// silencing returns the ID of the active silence that silences an alert,
// "" when none does; of several, the one ending last (the answer to "until
// when?").
func (a *activeSilences) silencing(kind classify.SignalKind, hub, device string) string {
	if len(a.all) == 0 {
		return ""
	}
	cands, ok := a.byHub[hub]
	if !ok {
		for i := range a.all {
			if globMatch(a.all[i].Hub, hub) {
				cands = append(cands, &a.all[i])
			}
		}
		a.byHub[hub] = cands
	}
	var best *store.Silence
	for _, s := range cands {
		if SilenceMatches(s, kind, hub, device) && (best == nil || s.EndsAt.After(best.EndsAt) ||
			(s.EndsAt.Equal(best.EndsAt) && s.ID < best.ID)) {
			best = s
		}
	}
	if best == nil {
		return ""
	}
	return best.ID
}

// Len returns the number of live alert records; with none, and no
// notification due, the silence stage has nothing to do.
func (s *State) Len() int { return len(s.recs) }

// Silence is the silence stage: it takes the notifications Apply returned
// (with the State Apply left) and the silences, and returns what is to be
// enqueued at now, following the rules at the top of this file. It updates
// each live alert's SilencedBy (for the API), mutes firings, drops the
// resolved of muted episodes, and adds the firing of muted alerts whose
// silence is over. Like Apply it is pure: the caller saves st afterwards.
func (m *Manager) Silence(st *State, notes []Notification, sils []store.Silence, now time.Time) []Notification {
	active := newActiveSilences(sils, now)
	// First the firings, whatever order the notifications come in (a
	// resolved batch precedes a firing one), then the filtering.
	muted := map[string]bool{} // episodes (alert key, start) whose firing is muted in this call
	for _, n := range notes {
		for _, a := range n.Alerts {
			if a.Status == StatusFiring {
				m.silenceFiring(st, n.Kind, &a, active, muted)
			}
		}
	}
	out := make([]Notification, 0, len(notes))
	for _, n := range notes {
		kept := make([]Alert, 0, len(n.Alerts))
		for _, a := range n.Alerts {
			if !muted[episode(a.Key, a.StartsAt)] {
				kept = append(kept, a) // (an older episode's resolved stays)
			}
		}
		if len(kept) == len(n.Alerts) {
			out = append(out, n)
		} else if len(kept) > 0 {
			out = append(out, m.regroup(n, kept))
		}
	}
	var ds []due
	for _, key := range st.sortedKeys() {
		r := st.recs[key]
		if !r.Firing || r.Held {
			continue
		}
		id := active.silencing(r.Kind, r.Hub, r.Device)
		if id != r.SilencedBy {
			r.SilencedBy = id
			st.touch(key)
		}
		if r.Muted && id == "" && !muted[episode(key, formatTime(r.Since))] {
			// The silence ended with the alert still firing: tell people
			// now; reminders count from here.
			r.Muted, r.LastDue = false, now
			st.touch(key)
			ds = append(ds, due{r: r, status: StatusFiring, repeat: r.Repeat, at: now})
		}
	}
	return append(out, m.notifications(st, batches(announce(m.markStale(ds, now))))...)
}

// silenceFiring decides one firing alert: muted (recorded in muted and on
// its record) when an active silence matches it, else delivered — which
// ends its record's muted episode.
func (m *Manager) silenceFiring(st *State, kind classify.SignalKind, a *Alert, active *activeSilences, muted map[string]bool) {
	r := st.recs[a.Key]
	id := active.silencing(kind, a.Hub, a.DeviceID)
	if id == "" {
		if r != nil && r.Muted {
			r.Muted = false // this firing is the one people get
			st.touch(a.Key)
		}
		return
	}
	muted[episode(a.Key, a.StartsAt)] = true
	if r == nil {
		return
	}
	if a.Repeat == 0 || r.Muted {
		// The episode's firing is not delivered: Apply must not send its
		// resolved, nor count it as announced.
		r.Muted, r.Announced = true, false
	}
	r.SilencedBy = id
	st.touch(a.Key)
}

// episode identifies one episode of an alert: its key and start.
func episode(key, startsAt string) string { return key + "\x00" + startsAt }

// regroup rebuilds notification n with only the alerts kept (all of one
// status, as n's were): its identity and link follow its members.
func (m *Manager) regroup(n Notification, kept []Alert) Notification {
	n.Alerts = kept
	m.identify(&n)
	return n
}
