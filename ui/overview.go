package ui

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"net/http"
	"net/url"
	"slices"
	"strconv"
	"strings"
	"time"

	"github.com/disconnect-doctor/disconnect-doctor/alert"
	"github.com/disconnect-doctor/disconnect-doctor/classify"
	"github.com/disconnect-doctor/disconnect-doctor/rollup"
	"github.com/disconnect-doctor/disconnect-doctor/store"
)

// window is what the overview draws: the last 24 hours in 5-minute bars.
const (
	window     = 24 * time.Hour
	windowStep = 5 * time.Minute
	// maxListed bounds each list of firing devices on the overview, and
	// maxListedHub on a hub's page (a page must stay light on a phone).
	maxListed    = 25
	maxListedHub = 200
)

// counter is one of today's figures.
type counter struct {
	Label string
	Class string
	N     uint64
}

// firingItem is one firing alert or open incident, with its link.
type firingItem struct {
	Label  string
	Detail string
	Href   string
	Since  string
}

// firingGroup is the firing alerts of one kind.
type firingGroup struct {
	Kind     string
	Title    string
	Severity string
	Items    []firingItem
	More     int
	// Before counts the group's devices listed on earlier pages; Next
	// links the page after this one ("" when none is left), First the
	// group's first page (from a later one). A group after a hub incident
	// can hold every device of the hub: each is reachable, a page at a
	// time.
	Before      int
	Next, First string
}

// groupPage is the page of one firing group a hub page shows
// (?kind=&after=): the group of kind, from the record after the cursor
// after (recCursor); the other groups show their first page.
type groupPage struct {
	kind  classify.SignalKind
	after string
}

// recCursor places a firing record in its group's order (newest first,
// then by key): its start in Unix nanoseconds and its key.
func recCursor(r *alert.Record) string {
	return strconv.FormatInt(r.Since.UnixNano(), 10) + "_" + r.Key
}

// afterCursor returns the index in rs (firingAlerts' order) of the first
// record after cursor; 0 for a cursor that does not parse. A record
// resolved since the cursor was written does not shift the page.
func afterCursor(rs []*alert.Record, cursor string) int {
	ns, key, ok := strings.Cut(cursor, "_")
	n, err := strconv.ParseInt(ns, 10, 64)
	if !ok || err != nil {
		return 0
	}
	since := time.Unix(0, n)
	i, _ := slices.BinarySearchFunc(rs, since, func(r *alert.Record, t time.Time) int {
		if c := t.Compare(r.Since); c != 0 {
			return c // newest first
		}
		if r.Key <= key {
			return -1
		}
		return 1
	})
	return i
}

// incidentRow is an incident in a list.
type incidentRow struct {
	ID, Href, Status, Start, End string
	Devices, HubErrors           int
	Metric                       bool
}

// hubSection is one hub on the overview, and the body of a hub page.
type hubSection struct {
	Hub        string
	Href       string
	Chart      stackChart
	Today      []counter
	TodayTotal uint64
	Firing     []firingGroup
	Incidents  []incidentRow
	LastRecord string
	LastAgo    string
}

// health is the pipeline's health line.
type health struct {
	Watermark string
	Lag       string
	PerMinute string
	Writers   int
	Skipped   int64
	Stale     bool
	// Alerts are the pipeline's own firing alerts.
	Alerts []firingItem
}

type overviewData struct {
	Hubs   []hubSection
	Health health
}

// hubs lists the hubs the engine tracks.
func (v *view) hubs(ctx context.Context) ([]string, error) {
	var hs []string
	err := v.p.st.ListBlobs(ctx, store.HubBlobs, func(bs []store.Blob) error {
		for _, b := range bs {
			hs = append(hs, b.Key)
		}
		return nil
	})
	slices.Sort(hs)
	return hs, err
}

func (v *view) overview(ctx context.Context) (int, *Page) {
	hubs, err := v.hubs(ctx)
	if err != nil {
		return v.unavailable(err)
	}
	alerts, err := v.firingAlerts(ctx)
	if err != nil {
		return v.unavailable(err)
	}
	d := overviewData{}
	for _, h := range hubs {
		s, err := v.hubSection(ctx, h, alerts[h], false, groupPage{})
		if err != nil {
			return v.unavailable(err)
		}
		d.Hubs = append(d.Hubs, s)
	}
	if d.Health, err = v.health(ctx, alerts[""]); err != nil {
		return v.unavailable(err)
	}
	return v.render(http.StatusOK, "overview", "disconnect-doctor", "", d)
}

type hubData struct {
	Section hubSection
	Health  health
}

func (v *view) hub(ctx context.Context, hub string, pg groupPage) (int, *Page) {
	if _, err := v.p.st.GetBlob(ctx, store.HubBlobs, hub); errors.Is(err, store.ErrNotFound) {
		return v.notFound("Unknown hub", "No hub named "+quote(hub)+" has sent any record.")
	} else if err != nil {
		return v.unavailable(err)
	}
	alerts, err := v.firingAlerts(ctx)
	if err != nil {
		return v.unavailable(err)
	}
	s, err := v.hubSection(ctx, hub, alerts[hub], true, pg)
	if err != nil {
		return v.unavailable(err)
	}
	h, err := v.health(ctx, alerts[""])
	if err != nil {
		return v.unavailable(err)
	}
	return v.render(http.StatusOK, "hub", hub, hub, hubData{Section: s, Health: h})
}

// hubSection gathers one hub's chart, today's counters, what is firing and
// its incidents. all lists every incident and up to maxListedHub firing
// devices per kind (the hub page); otherwise the incidents of the window and
// the first maxListed devices.
func (v *view) hubSection(ctx context.Context, hub string, recs []*alert.Record, all bool, pg groupPage) (hubSection, error) {
	s := hubSection{Hub: hub, Href: v.hubLink(hub)}
	end := v.now.Truncate(windowStep).Add(windowStep)
	start := end.Add(-window)
	midnight := v.now.Truncate(24 * time.Hour)
	from := start
	if midnight.Before(from) {
		from = midnight
	}
	sr, err := rollup.Read(ctx, v.p.st, hub, from, end)
	if err != nil {
		return s, err
	}
	off := int(start.Sub(sr.Start) / time.Minute)
	incs, err := v.p.st.ListIncidents(ctx, hub, nil)
	if err != nil {
		return s, err
	}
	var bands []band
	for _, in := range incs {
		to := in.End
		if in.Open {
			to = v.now
		}
		if x, w, ok := bandAt(in.Start, to, start, end); ok {
			bands = append(bands, band{X: x, W: w, Label: "incident " + in.ID, Href: v.incidentLink(in.ID)})
		}
		if all || in.Open || !to.Before(start) {
			s.Incidents = append(s.Incidents, v.incidentRow(in))
		}
	}
	s.Chart = buildStack(sr.Minutes[off:], start, windowStep, bands, false)
	// Today's counters: since midnight UTC.
	var today rollup.Counts
	for i := int(midnight.Sub(sr.Start) / time.Minute); i >= 0 && i < len(sr.Minutes); i++ {
		for j := range today {
			today[j] += sr.Minutes[i][j]
		}
	}
	for i, c := range rollup.Causes {
		s.Today = append(s.Today, counter{Label: causeLabel(c), Class: causeClass(c), N: uint64(today[i])})
		s.TodayTotal += uint64(today[i])
	}
	s.Today = append(s.Today, counter{Label: "hub-side errors", Class: "c-huberrors", N: uint64(today[rollup.HubErrors])})
	if !sr.LastRecord.IsZero() {
		s.LastRecord = sr.LastRecord.Format("2006-01-02 15:04:05 UTC")
		s.LastAgo = ago(v.now.Sub(sr.LastRecord))
	}
	s.Firing = v.firingGroups(hub, incs, recs, all, pg)
	return s, nil
}

func (v *view) incidentRow(in classify.Incident) incidentRow {
	r := incidentRow{ID: in.ID, Href: v.incidentLink(in.ID), Status: "open", Start: in.Start.UTC().Format("2006-01-02 15:04 UTC"),
		Devices: in.Devices, HubErrors: in.HubErrors, Metric: in.MetricCorroborated}
	if !in.Open {
		r.Status, r.End = "resolved", in.End.UTC().Format("2006-01-02 15:04 UTC")
	}
	return r
}

// firingAlerts returns the firing device alert records by hub, and the
// pipeline's own firing alerts (pipeline-silent, pipeline-lagging …) under
// the hub "".
func (v *view) firingAlerts(ctx context.Context) (map[string][]*alert.Record, error) {
	out := map[string][]*alert.Record{}
	err := v.p.st.ListBlobs(ctx, store.AlertBlobs, func(bs []store.Blob) error {
		for _, b := range bs {
			var r alert.Record
			if json.Unmarshal(b.Data, &r) != nil || !r.Firing || r.Kind == classify.HubIncident {
				continue // unreadable records are the alert side's business
			}
			if !r.Kind.AboutDevice() && r.Kind != classify.SiteOutage {
				out[""] = append(out[""], &r)
				continue
			}
			out[r.Hub] = append(out[r.Hub], &r)
		}
		return nil
	})
	for _, rs := range out {
		slices.SortFunc(rs, func(a, b *alert.Record) int {
			if c := b.Since.Compare(a.Since); c != 0 {
				return c
			}
			return strings.Compare(a.Key, b.Key)
		})
	}
	return out, err
}

// firingGroups lists what is firing on a hub now: open incidents, then
// renewal failing, offline and flapping devices, each kind a page of at
// most maxListed (overview) or maxListedHub (hub page) devices with a link
// to the next page (pg: which group and where its page starts).
func (v *view) firingGroups(hub string, incs []classify.Incident, recs []*alert.Record, all bool, pg groupPage) []firingGroup {
	var gs []firingGroup
	g := firingGroup{Kind: string(classify.HubIncident), Title: "Hub incidents", Severity: "critical"}
	for _, in := range incs {
		if in.Open {
			g.Items = append(g.Items, firingItem{Label: in.ID, Href: v.incidentLink(in.ID),
				Detail: fmt.Sprintf("%d devices, %d hub-side errors", in.Devices, in.HubErrors), Since: ago(v.now.Sub(in.Start))})
		}
	}
	gs = append(gs, g)
	limit := maxListed
	if all {
		limit = maxListedHub
	}
	for _, kind := range []classify.SignalKind{classify.TokenRenewalFailing, classify.DeviceOffline, classify.DeviceFlapping} {
		var ofKind []*alert.Record
		for _, r := range recs {
			if r.Kind == kind {
				ofKind = append(ofKind, r)
			}
		}
		g := firingGroup{Kind: string(kind), Title: kindTitle(kind), Severity: kind.Severity()}
		if pg.kind == kind && pg.after != "" {
			g.Before = afterCursor(ofKind, pg.after)
			g.First = v.link("ui/hubs/"+url.PathEscape(hub), url.Values{"kind": {string(kind)}})
		}
		page := ofKind[g.Before:min(len(ofKind), g.Before+limit)]
		for _, r := range page {
			g.Items = append(g.Items, v.firingItem(hub, r))
		}
		if g.More = len(ofKind) - g.Before - len(page); g.More > 0 {
			g.Next = v.link("ui/hubs/"+url.PathEscape(hub), url.Values{"kind": {string(kind)}, "after": {recCursor(page[len(page)-1])}})
		}
		gs = append(gs, g)
	}
	if sg := v.siteGroup(recs); len(sg.Items) > 0 {
		gs = append(gs, sg)
	}
	return gs
}

// firingItem is a firing device alert as a group lists it.
func (v *view) firingItem(hub string, r *alert.Record) firingItem {
	label := r.Device
	if r.Module != "" {
		label += " / " + r.Module
	}
	detail := r.Summary
	switch {
	case r.Held && r.Site != "":
		detail = "held back by the open site outage behind " + r.Site + ".x. " + detail
	case r.Held:
		detail = "held back by the open hub incident. " + detail
	}
	return firingItem{Label: label, Href: v.deviceLink(hub, r.Device, r.Module), Detail: detail, Since: ago(v.now.Sub(r.Since))}
}

// siteGroup lists the hub's firing site outages (package site), by network.
func (v *view) siteGroup(recs []*alert.Record) firingGroup {
	g := firingGroup{Kind: string(classify.SiteOutage), Title: "Site outages", Severity: classify.SiteOutage.Severity()}
	for _, r := range recs {
		if r.Kind == classify.SiteOutage {
			g.Items = append(g.Items, firingItem{Label: r.Device + ".x", Detail: r.Summary, Since: ago(v.now.Sub(r.Since))})
		}
	}
	return g
}

func kindTitle(k classify.SignalKind) string {
	switch k {
	case classify.TokenRenewalFailing:
		return "Token renewal failing"
	case classify.DeviceOffline:
		return "Offline"
	case classify.DeviceFlapping:
		return "Flapping"
	}
	return string(k)
}

// health reads the watermark, the ingest rate and the writers' counters;
// recs are the pipeline's own firing alerts.
func (v *view) health(ctx context.Context, recs []*alert.Record) (health, error) {
	var h health
	for _, r := range recs {
		label := string(r.Kind)
		if r.Hub != "" {
			label += " (" + r.Hub + ")"
		}
		h.Alerts = append(h.Alerts, firingItem{Label: label, Detail: r.Summary, Since: ago(v.now.Sub(r.Since))})
	}
	if v.p.watermark != nil {
		wm, err := v.p.watermark(ctx)
		if err != nil {
			return h, err
		}
		if !wm.IsZero() {
			h.Watermark = wm.UTC().Format("2006-01-02 15:04:05 UTC")
			h.Lag = ago(v.now.Sub(wm))
			h.Stale = v.now.Sub(wm) > 15*time.Minute
		}
	}
	ss, err := rollup.ReadSamples(ctx, v.p.st)
	if err != nil {
		return h, err
	}
	if r, ok := rollup.PerMinute(ss, 20*time.Minute); ok {
		h.PerMinute = fmt.Sprintf("%.0f", r)
	}
	ps, err := v.p.st.ListProgress(ctx)
	if err != nil {
		return h, err
	}
	h.Writers = len(ps)
	for _, p := range ps {
		h.Skipped += p.Skipped
	}
	return h, nil
}

// ago says how long ago in a few characters: "now", "45s", "12m", "3h 5m",
// "2d 4h".
func ago(d time.Duration) string {
	switch {
	case d < time.Second:
		return "now"
	case d < time.Minute:
		return fmt.Sprintf("%ds", int(d.Seconds()))
	case d < time.Hour:
		return fmt.Sprintf("%dm", int(d.Minutes()))
	case d < 24*time.Hour:
		return fmt.Sprintf("%dh %dm", int(d.Hours()), int(d.Minutes())%60)
	}
	return fmt.Sprintf("%dd %dh", int(d.Hours())/24, int(d.Hours())%24)
}

func quote(s string) string { return "\u201c" + s + "\u201d" }

// search finds a device by its exact id, in one hub or in every hub: one
// match opens its page; several are listed.
func (v *view) search(ctx context.Context, hub, id string) (int, *Page) {
	if id == "" {
		return v.badRequest("Type a device id to search for.")
	}
	hubs := []string{hub}
	if hub == "" {
		var err error
		if hubs, err = v.hubs(ctx); err != nil {
			return v.unavailable(err)
		}
	}
	type match struct{ Hub, Href string }
	var found []match
	for _, h := range hubs {
		_, err := v.p.st.GetBlob(ctx, store.DeviceBlobs, deviceKey(h, id, ""))
		if errors.Is(err, store.ErrNotFound) {
			continue
		}
		if err != nil {
			return v.unavailable(err)
		}
		found = append(found, match{h, v.deviceLink(h, id, "")})
	}
	if len(found) == 1 {
		return v.device(ctx, found[0].Hub, id, "")
	}
	if len(found) == 0 {
		where := "in any hub"
		if hub != "" {
			where = "in hub " + quote(hub)
		}
		return v.notFound("Unknown device", "No device with the id "+quote(id)+" "+where+". Device ids are matched exactly (they are case-sensitive).")
	}
	return v.render(http.StatusOK, "search", "Search: "+id, hub, struct {
		ID      string
		Matches []match
	}{id, found})
}

// queryOf is a small helper for links built from pairs.
func queryOf(kv ...string) url.Values {
	q := url.Values{}
	for i := 0; i+1 < len(kv); i += 2 {
		q.Set(kv[i], kv[i+1])
	}
	return q
}
