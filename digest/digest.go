// Package digest summarises one hub's previous 24 hours for the daily
// digest: disconnects by cause, the token periods seen per SDK family, the
// devices whose disconnects left their usual period, the most flapping
// devices, incidents (and site outages), the alerts sent and the silences
// active. It is pure — data and a time in, a Digest out; no clock, no I/O —
// so the pipeline gathers (pipeline/digest.go) and the channels render
// (notify/teams, notify/email, notify/graph), each on its own.
//
// A Builder takes the data one item at a time, so a 100 000-device hub's
// day of diagnoses is never held in memory at once; every list in the
// Digest is bounded (MaxListed, with the count of the rest), so the value
// stored in the outbox and the card rendered from it stay small whatever
// the hub's size.
package digest

import (
	"cmp"
	"crypto/sha256"
	"encoding/hex"
	"fmt"
	"slices"
	"strconv"
	"strings"
	"time"

	"github.com/disconnect-doctor/disconnect-doctor/classify"
	"github.com/disconnect-doctor/disconnect-doctor/event"
)

// Window is how far back a digest looks.
const Window = 24 * time.Hour

// MaxListed bounds each list of devices, incidents and silences in a
// Digest; the rest is counted (…and N more).
const MaxListed = 10

// maxPeriods bounds the distinct periods listed per SDK family.
const maxPeriods = 5

// Digest is one hub's daily summary. Its JSON encoding is what the outbox
// stores; the channels render it.
type Digest struct {
	Hub string `json:"hub"`
	// From and To bound the window [From, To); To is the digest hour.
	From time.Time `json:"from"`
	To   time.Time `json:"to"`
	// Disconnects is the number of 404104 disconnects in the window, and
	// ByCause splits them, largest first ("pending" for those not yet
	// decided).
	Disconnects int          `json:"disconnects"`
	ByCause     []CauseCount `json:"byCause,omitempty"`
	// Periods are the learned token periods per SDK family, by family.
	Periods []FamilyPeriods `json:"periods,omitempty"`
	// OffPeriod are the devices whose disconnects left their learned
	// period, most off first; OffPeriodMore counts those not listed.
	OffPeriod     []OffDevice `json:"offPeriod,omitempty"`
	OffPeriodMore int         `json:"offPeriodMore,omitempty"`
	// Flapping are the devices with the most device-or-network disconnects
	// (at least two), most first; FlappingMore counts those not listed.
	Flapping     []FlapDevice `json:"flapping,omitempty"`
	FlappingMore int          `json:"flappingMore,omitempty"`
	// Incidents are the hub incidents open at any time in the window,
	// newest first.
	Incidents     []Incident `json:"incidents,omitempty"`
	IncidentsMore int        `json:"incidentsMore,omitempty"`
	// Outages are site outages (several devices behind one network location
	// lost at once), newest first. Nothing produces them yet: the kind is
	// issue 14 item 3; the gatherer feeds them through Builder.Outage.
	Outages     []Outage `json:"outages,omitempty"`
	OutagesMore int      `json:"outagesMore,omitempty"`
	// Alerts counts the notifications of the window per alert kind.
	Alerts []AlertCount `json:"alerts,omitempty"`
	// Silences are the silences active at To.
	Silences     []Silence `json:"silences,omitempty"`
	SilencesMore int       `json:"silencesMore,omitempty"`
}

// CauseCount is the number of disconnects with one cause.
type CauseCount struct {
	Cause classify.Cause `json:"cause"`
	Count int            `json:"count"`
}

// FamilyPeriods are the token periods learned for one SDK family's devices.
type FamilyPeriods struct {
	// Family is ".NET", "Java", "C", "Node.js", "Python" or "unknown",
	// with " (AMQP)" for AMQP connects.
	Family string `json:"family"`
	// Devices is the family's tracked devices; Learned how many of them
	// have a learned period.
	Devices int `json:"devices"`
	Learned int `json:"learned"`
	// Periods are the most common periods (rounded to the minute), most
	// devices first; PeriodsMore counts the devices on other periods.
	Periods     []PeriodCount `json:"periods,omitempty"`
	PeriodsMore int           `json:"periodsMore,omitempty"`
}

// PeriodCount is how many devices share one learned period.
type PeriodCount struct {
	Period  time.Duration `json:"period"`
	Devices int           `json:"devices"`
}

// OffDevice is a device whose disconnects left its learned token period.
type OffDevice struct {
	Device string `json:"device"`
	// Off of Disconnects sessions ended off the period; Session is the
	// newest such session's length, Period the period it left.
	Off         int           `json:"off"`
	Disconnects int           `json:"disconnects"`
	Session     time.Duration `json:"session"`
	Period      time.Duration `json:"period"`
}

// FlapDevice is a device with repeated device-or-network disconnects.
type FlapDevice struct {
	Device string `json:"device"`
	// Flaps counts its device-or-network (and duplicate-identity)
	// disconnects, Disconnects all of them.
	Flaps       int `json:"flaps"`
	Disconnects int `json:"disconnects"`
}

// Incident is a hub incident as the digest shows it.
type Incident struct {
	ID    string    `json:"id"`
	Start time.Time `json:"start"`
	// End is zero while open.
	End     time.Time `json:"end"`
	Open    bool      `json:"open"`
	Devices int       `json:"devices"`
}

// Outage is a site outage as the digest shows it (see Digest.Outages).
type Outage struct {
	Site    string    `json:"site"`
	Start   time.Time `json:"start"`
	End     time.Time `json:"end"`
	Devices int       `json:"devices"`
}

// AlertCount is what the outbox holds for one alert kind over the window.
type AlertCount struct {
	Kind string `json:"kind"`
	// Notifications are the distinct notifications, Suppressed those of
	// them recorded but never sent (stale, STALE_AFTER); Delivered and
	// Failed count deliveries, one per channel (Failed: dead-lettered).
	Notifications int `json:"notifications"`
	Delivered     int `json:"delivered"`
	Failed        int `json:"failed"`
	Suppressed    int `json:"suppressed"`
}

// Silence is a silence active at the digest hour.
type Silence struct {
	// Matchers says what it silences, e.g. "hub=prod-* device=pump-* kind=device-offline".
	Matchers  string    `json:"matchers"`
	EndsAt    time.Time `json:"endsAt"`
	CreatedBy string    `json:"createdBy,omitempty"`
	Comment   string    `json:"comment,omitempty"`
}

// Delivery is one outbox item, as the digest counts it.
type Delivery struct {
	Kind           string
	NotificationID string
	// At is when the notification fell due, on the digest's clock (its
	// Due in event time; its creation on the wall clock).
	At time.Time
	// State is "delivered", "dead", "pending" or "suppressed".
	State string
}

// Due returns the latest digest hour at or before clock (hour in 0..23,
// UTC): the To of the digest that is due.
func Due(hour int, clock time.Time) time.Time {
	clock = clock.UTC()
	t := time.Date(clock.Year(), clock.Month(), clock.Day(), hour, 0, 0, 0, time.UTC)
	if t.After(clock) {
		t = t.AddDate(0, 0, -1)
	}
	return t
}

// Day names the digest ending at to: its date, "2024-05-14".
func Day(to time.Time) string { return to.UTC().Format("2006-01-02") }

// NotificationID is the stable id of hub's digest ending at to: the same
// on every instance and after any restart, so the outbox never holds it
// twice and receivers can deduplicate.
func NotificationID(hub string, to time.Time) string {
	h := sha256.Sum256([]byte("daily-digest\x00" + hub + "\x00" + to.UTC().Format(time.RFC3339)))
	return hex.EncodeToString(h[:16])
}

// Builder accumulates one hub's data for a Digest. Feed it the window's
// items in any order; items outside the window or of another hub are
// ignored, so a gatherer can pass what its queries return unfiltered.
type Builder struct {
	d       Digest
	causes  map[classify.Cause]int
	devices map[string]*devCount
	periods map[string]*familyAcc
	off     []OffDevice
	inc     []Incident
	out     []Outage
	alerts  map[string]*alertAcc
	sil     []Silence
}

type devCount struct{ flaps, total int }

type familyAcc struct {
	devices, learned int
	byPeriod         map[time.Duration]int
}

type alertAcc struct {
	AlertCount
	ids, suppressed map[string]bool
}

// NewBuilder starts hub's digest for the window ending at to.
func NewBuilder(hub string, to time.Time) *Builder {
	to = to.UTC()
	return &Builder{d: Digest{Hub: hub, From: to.Add(-Window), To: to},
		causes: map[classify.Cause]int{}, devices: map[string]*devCount{}, periods: map[string]*familyAcc{},
		alerts: map[string]*alertAcc{}}
}

func (b *Builder) in(t time.Time) bool { return !t.Before(b.d.From) && t.Before(b.d.To) }

// Diagnosis counts one disconnect (the newest version of its diagnosis).
func (b *Builder) Diagnosis(d classify.Diagnosis) {
	if d.Key.Hub != b.d.Hub || !b.in(d.Time) {
		return
	}
	b.d.Disconnects++
	c := d.Cause
	if c == "" {
		c = classify.Pending
	}
	b.causes[c]++
	id := identity(d.Key)
	dc := b.devices[id]
	if dc == nil {
		dc = &devCount{}
		b.devices[id] = dc
	}
	dc.total++
	if c.SeedCause() == 2 {
		dc.flaps++
	}
}

// Period takes one identity's token-period view over the window.
func (b *Builder) Period(v classify.PeriodView) {
	if v.Key.Hub != b.d.Hub {
		return
	}
	fam := v.SDK
	if fam == "" {
		fam = "unknown"
	}
	if v.AMQP {
		fam += " (AMQP)"
	}
	f := b.periods[fam]
	if f == nil {
		f = &familyAcc{byPeriod: map[time.Duration]int{}}
		b.periods[fam] = f
	}
	f.devices++
	if v.Period > 0 {
		f.learned++
		f.byPeriod[v.Period.Round(time.Minute)]++
	}
	if v.Off > 0 {
		b.off = append(b.off, OffDevice{Device: identity(v.Key), Off: v.Off, Disconnects: v.Disconnects,
			Session: v.OffSession, Period: v.OffPeriod})
		if len(b.off) > 4*MaxListed {
			b.trimOff()
		}
	}
}

// trimOff keeps the top MaxListed off-period devices, counting the rest.
func (b *Builder) trimOff() {
	sortOff(b.off)
	b.d.OffPeriodMore += len(b.off) - MaxListed
	b.off = b.off[:MaxListed]
}

func sortOff(xs []OffDevice) {
	slices.SortFunc(xs, func(a, c OffDevice) int {
		return cmp.Or(cmp.Compare(c.Off, a.Off), cmp.Compare(a.Device, c.Device))
	})
}

// Incident takes a hub incident; it is listed when it was open at any time
// in the window.
func (b *Builder) Incident(in classify.Incident) {
	if in.Hub != b.d.Hub || !in.Start.Before(b.d.To) || (!in.Open && in.End.Before(b.d.From)) {
		return
	}
	b.inc = append(b.inc, Incident{ID: in.ID, Start: in.Start, End: in.End, Open: in.Open, Devices: in.Devices})
}

// Outage takes a site outage of the hub in the window (see Digest.Outages).
func (b *Builder) Outage(o Outage) {
	if !o.Start.Before(b.d.To) || (!o.End.IsZero() && o.End.Before(b.d.From)) {
		return
	}
	b.out = append(b.out, o)
}

// Alert counts one outbox item of the hub that fell due in the window.
// Digests themselves are not counted.
func (b *Builder) Alert(it Delivery) {
	if it.Kind == Kind || !b.in(it.At) {
		return
	}
	a := b.alerts[it.Kind]
	if a == nil {
		a = &alertAcc{AlertCount: AlertCount{Kind: it.Kind}, ids: map[string]bool{}, suppressed: map[string]bool{}}
		b.alerts[it.Kind] = a
	}
	if !a.ids[it.NotificationID] {
		a.ids[it.NotificationID] = true
		a.Notifications++
	}
	switch it.State {
	case "delivered":
		a.Delivered++
	case "dead":
		a.Failed++
	case "suppressed":
		if !a.suppressed[it.NotificationID] {
			a.suppressed[it.NotificationID] = true
			a.Suppressed++
		}
	}
}

// Kind is the digest's own kind name (its group key's kind), never an
// alert kind: nothing fires or resolves.
const Kind = "daily-digest"

// Silence takes a silence; it is listed when active at the digest hour.
// The caller has matched it to the hub.
func (b *Builder) Silence(s Silence, startsAt time.Time) {
	if startsAt.After(b.d.To) || !s.EndsAt.After(b.d.To) {
		return
	}
	b.sil = append(b.sil, s)
}

// Digest returns the summary. The Builder may not be used afterwards.
func (b *Builder) Digest() Digest {
	d := b.d
	for c, n := range b.causes {
		d.ByCause = append(d.ByCause, CauseCount{Cause: c, Count: n})
	}
	slices.SortFunc(d.ByCause, func(a, c CauseCount) int {
		return cmp.Or(cmp.Compare(c.Count, a.Count), cmp.Compare(a.Cause, c.Cause))
	})
	d.Periods = b.families()
	sortOff(b.off)
	d.OffPeriod, d.OffPeriodMore = top(b.off, &d.OffPeriodMore)
	d.Flapping, d.FlappingMore = b.flapping()
	slices.SortFunc(b.inc, func(a, c Incident) int { return cmp.Or(c.Start.Compare(a.Start), cmp.Compare(a.ID, c.ID)) })
	d.Incidents, d.IncidentsMore = top(b.inc, &d.IncidentsMore)
	slices.SortFunc(b.out, func(a, c Outage) int { return cmp.Or(c.Start.Compare(a.Start), cmp.Compare(a.Site, c.Site)) })
	d.Outages, d.OutagesMore = top(b.out, &d.OutagesMore)
	for _, a := range b.alerts {
		d.Alerts = append(d.Alerts, a.AlertCount)
	}
	slices.SortFunc(d.Alerts, func(a, c AlertCount) int { return cmp.Compare(a.Kind, c.Kind) })
	slices.SortFunc(b.sil, func(a, c Silence) int { return cmp.Or(a.EndsAt.Compare(c.EndsAt), cmp.Compare(a.Matchers, c.Matchers)) })
	d.Silences, d.SilencesMore = top(b.sil, &d.SilencesMore)
	return d
}

// top keeps the first MaxListed of xs and adds the rest to *more.
func top[T any](xs []T, more *int) ([]T, int) {
	if len(xs) > MaxListed {
		*more += len(xs) - MaxListed
		xs = xs[:MaxListed]
	}
	return xs, *more
}

func (b *Builder) families() []FamilyPeriods {
	var out []FamilyPeriods
	for fam, f := range b.periods {
		fp := FamilyPeriods{Family: fam, Devices: f.devices, Learned: f.learned}
		for p, n := range f.byPeriod {
			fp.Periods = append(fp.Periods, PeriodCount{Period: p, Devices: n})
		}
		slices.SortFunc(fp.Periods, func(a, c PeriodCount) int {
			return cmp.Or(cmp.Compare(c.Devices, a.Devices), cmp.Compare(a.Period, c.Period))
		})
		if len(fp.Periods) > maxPeriods {
			for _, p := range fp.Periods[maxPeriods:] {
				fp.PeriodsMore += p.Devices
			}
			fp.Periods = fp.Periods[:maxPeriods]
		}
		out = append(out, fp)
	}
	slices.SortFunc(out, func(a, c FamilyPeriods) int { return cmp.Compare(a.Family, c.Family) })
	return out
}

func (b *Builder) flapping() ([]FlapDevice, int) {
	var fs []FlapDevice
	for id, c := range b.devices {
		if c.flaps >= 2 {
			fs = append(fs, FlapDevice{Device: id, Flaps: c.flaps, Disconnects: c.total})
		}
	}
	slices.SortFunc(fs, func(a, c FlapDevice) int {
		return cmp.Or(cmp.Compare(c.Flaps, a.Flaps), cmp.Compare(a.Device, c.Device))
	})
	more := 0
	return top(fs, &more)
}

// identity names a device or module identity for people: "pump-1",
// "gw-7/$edgeHub".
func identity(k event.Key) string {
	if k.Module != "" {
		return k.Device + "/" + k.Module
	}
	return k.Device
}

// Data is everything Summarise needs at once; the pipeline feeds a Builder
// instead, item by item.
type Data struct {
	Diagnoses  []classify.Diagnosis
	Periods    []classify.PeriodView
	Incidents  []classify.Incident
	Outages    []Outage
	Deliveries []Delivery
	Silences   []ActiveSilence
}

// ActiveSilence is a Silence with its start, for Summarise.
type ActiveSilence struct {
	Silence
	StartsAt time.Time
}

// Summarise builds hub's digest for the window ending at to from data.
func Summarise(hub string, to time.Time, data Data) Digest {
	b := NewBuilder(hub, to)
	for _, d := range data.Diagnoses {
		b.Diagnosis(d)
	}
	for _, v := range data.Periods {
		b.Period(v)
	}
	for _, in := range data.Incidents {
		b.Incident(in)
	}
	for _, o := range data.Outages {
		b.Outage(o)
	}
	for _, it := range data.Deliveries {
		b.Alert(it)
	}
	for _, s := range data.Silences {
		b.Silence(s.Silence, s.StartsAt)
	}
	return b.Digest()
}

// Title is the digest's headline: "Daily digest for contoso-hub, 2024-05-14".
func (d *Digest) Title() string { return "Daily digest for " + d.Hub + ", " + Day(d.To) }

// Span says which window the digest covers, in words.
func (d *Digest) Span() string {
	return "The 24 hours from " + d.From.Format("2006-01-02 15:04") + " to " + d.To.Format("2006-01-02 15:04") + " UTC"
}

// Headline sums the day up in one sentence, e.g. "412 disconnects: 300
// token-expiry, 100 device-or-network, 12 hub-transient; 1 incident; 9
// alerts sent."
func (d *Digest) Headline() string {
	var b strings.Builder
	b.WriteString(plural(d.Disconnects, "disconnect"))
	for i, c := range d.ByCause {
		if i == 0 {
			b.WriteString(": ")
		} else {
			b.WriteString(", ")
		}
		fmt.Fprintf(&b, "%d %s", c.Count, c.Cause)
	}
	fmt.Fprintf(&b, "; %s", plural(len(d.Incidents)+d.IncidentsMore, "incident"))
	if n := len(d.Outages) + d.OutagesMore; n > 0 {
		fmt.Fprintf(&b, ", %s", plural(n, "site outage"))
	}
	fmt.Fprintf(&b, "; %s sent.", plural(d.AlertsSent(), "alert notification"))
	return b.String()
}

// AlertsSent counts the window's alert notifications that were not
// suppressed as stale.
func (d *Digest) AlertsSent() int {
	n := 0
	for _, a := range d.Alerts {
		n += a.Notifications - a.Suppressed
	}
	return n
}

func plural(n int, word string) string {
	if n == 1 {
		return "1 " + word
	}
	return strconv.Itoa(n) + " " + word + "s"
}

// Duration renders a period for people: "1h", "1h30m", "45m", "90s";
// durations of ten minutes or more are rounded to the minute.
func Duration(d time.Duration) string {
	if d >= 10*time.Minute {
		d = d.Round(time.Minute)
	}
	switch {
	case d <= 0:
		return "0"
	case d%time.Hour == 0:
		return strconv.Itoa(int(d/time.Hour)) + "h"
	case d%time.Minute == 0 && d > time.Hour:
		return strconv.Itoa(int(d/time.Hour)) + "h" + strconv.Itoa(int(d%time.Hour/time.Minute)) + "m"
	case d%time.Minute == 0:
		return strconv.Itoa(int(d/time.Minute)) + "m"
	}
	return d.Round(time.Second).String()
}

// Section is one part of a digest in words, the same for every channel:
// a title, its lines, and how many more items there were than lines.
type Section struct {
	Title string
	Lines []string
	// More is the number of items not listed ("…and N more").
	More int
}

// Sections renders the digest as the sections every channel shows, in
// order. An empty section says so in its one line ("none").
func (d *Digest) Sections() []Section {
	at := func(t time.Time) string {
		if t.IsZero() {
			return "—"
		}
		return t.UTC().Format("01-02 15:04")
	}
	var ss []Section
	add := func(title string, more int, lines ...string) {
		if len(lines) == 0 {
			lines = []string{"none"}
		}
		ss = append(ss, Section{Title: title, Lines: lines, More: more})
	}
	var ls []string
	for _, c := range d.ByCause {
		ls = append(ls, fmt.Sprintf("%s: %d", c.Cause, c.Count))
	}
	add("Disconnects by cause ("+strconv.Itoa(d.Disconnects)+")", 0, ls...)
	ls = nil
	for _, f := range d.Periods {
		var ps []string
		for _, p := range f.Periods {
			ps = append(ps, fmt.Sprintf("%s × %d", Duration(p.Period), p.Devices))
		}
		if f.PeriodsMore > 0 {
			ps = append(ps, fmt.Sprintf("other periods × %d", f.PeriodsMore))
		}
		l := fmt.Sprintf("%s: learned for %d of %s", f.Family, f.Learned, plural(f.Devices, "device"))
		if len(ps) > 0 {
			l += " — " + strings.Join(ps, ", ")
		}
		ls = append(ls, l)
	}
	add("Token periods per SDK family", 0, ls...)
	ls = nil
	for _, o := range d.OffPeriod {
		ls = append(ls, fmt.Sprintf("%s: %d of %d sessions off its %s token period (the last lasted %s)",
			o.Device, o.Off, o.Disconnects, Duration(o.Period), Duration(o.Session)))
	}
	add("Devices off their usual token period", d.OffPeriodMore, ls...)
	ls = nil
	for _, f := range d.Flapping {
		ls = append(ls, fmt.Sprintf("%s: %d device-or-network disconnects (%d in all)", f.Device, f.Flaps, f.Disconnects))
	}
	add("Most flapping devices", d.FlappingMore, ls...)
	ls = nil
	for _, in := range d.Incidents {
		state := "until " + at(in.End)
		if in.Open {
			state = "still open"
		}
		ls = append(ls, fmt.Sprintf("%s: from %s, %s, %s", in.ID, at(in.Start), state, plural(in.Devices, "device")))
	}
	add("Incidents", d.IncidentsMore, ls...)
	if len(d.Outages) > 0 {
		ls = nil
		for _, o := range d.Outages {
			ls = append(ls, fmt.Sprintf("%s: from %s until %s, %s", o.Site, at(o.Start), at(o.End), plural(o.Devices, "device")))
		}
		add("Site outages", d.OutagesMore, ls...)
	}
	ls = nil
	for _, a := range d.Alerts {
		l := fmt.Sprintf("%s: %s", a.Kind, plural(a.Notifications, "notification"))
		if a.Suppressed > 0 {
			l += fmt.Sprintf(" (%d not sent: stale)", a.Suppressed)
		}
		l += fmt.Sprintf(", %d deliveries to channels", a.Delivered)
		if a.Failed > 0 {
			l += fmt.Sprintf(", %d failed", a.Failed)
		}
		ls = append(ls, l)
	}
	add("Alerts sent", 0, ls...)
	ls = nil
	for _, s := range d.Silences {
		l := s.Matchers + " until " + at(s.EndsAt)
		if s.CreatedBy != "" {
			l += " by " + s.CreatedBy
		}
		if s.Comment != "" {
			l += ": " + s.Comment
		}
		ls = append(ls, l)
	}
	add("Silences active", d.SilencesMore, ls...)
	return ss
}
