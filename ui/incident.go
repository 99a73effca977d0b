package ui

import (
	"context"
	"errors"
	"net/http"
	"net/url"
	"slices"
	"strings"
	"time"

	"github.com/disconnect-doctor/disconnect-doctor/alert"
	"github.com/disconnect-doctor/disconnect-doctor/classify"
	"github.com/disconnect-doctor/disconnect-doctor/rollup"
	"github.com/disconnect-doctor/disconnect-doctor/store"
)

// Incident page bounds.
const (
	// incidentMargin is drawn before and after an incident.
	incidentMargin = 30 * time.Minute
	// caughtPage is how many of an incident's disconnects one incident
	// page lists: one page of the store's diagnoses, filtered to the
	// incident, whatever the incident's size; the rest are reached
	// through the page's next link (the store's cursor, as the API's
	// disconnects?incident= pages them).
	caughtPage = 500
	// caughtMargin widens the incident's span for its disconnects, as the
	// API does (api.incidentMargin): a burst member may fall seconds
	// before the incident's first minute.
	caughtMargin = time.Minute
)

type caughtDevice struct {
	ID, Href, Time, Cause, Class string
}

type noteRow struct {
	Created, Status, Channel, State, ID string
	Attempts                            int
	LastError                           string
}

type incidentData struct {
	incidentRow
	Hub, HubHref string
	Duration     string
	Evidence     []string
	Chart        stackChart
	Caught       []caughtDevice
	// CaughtNext links the next page of the incident's disconnects (""
	// on the last); CaughtFirst the first page, from a later one.
	CaughtNext, CaughtFirst string
	Notifications           []noteRow
}

func (v *view) incident(ctx context.Context, id, cursor string) (int, *Page) {
	in, ok, err := store.FindIncident(ctx, v.p.st, id)
	if err != nil {
		return v.unavailable(err)
	}
	if !ok {
		return v.notFound("Unknown incident", "No hub incident has the id "+quote(id)+" (incidents are kept for the retention period).")
	}
	return v.incidentPage(ctx, in, cursor)
}

// incidentAt opens the incident of hub that time at (RFC 3339) falls in, or
// the nearest one starting after it: the link alerts carry, since a
// notification knows the incident's start but not its id.
func (v *view) incidentAt(ctx context.Context, hub, at string) (int, *Page) {
	t, err := time.Parse(time.RFC3339, at)
	if hub == "" || err != nil {
		return v.badRequest("An incident is opened by its id (ui/incidents/{id}) or by ?hub=<hub>&at=<RFC 3339 time>.")
	}
	incs, err := v.p.st.ListIncidents(ctx, hub, nil)
	if err != nil {
		return v.unavailable(err)
	}
	var best *classify.Incident
	for i := range incs {
		in := &incs[i]
		if (in.Open || !in.End.Before(t)) && (best == nil || absDur(in.Start.Sub(t)) < absDur(best.Start.Sub(t))) {
			best = in
		}
	}
	if best == nil {
		return v.notFound("Unknown incident", "Hub "+quote(hub)+" has no incident at "+t.UTC().Format(time.RFC3339)+".")
	}
	return v.incidentPage(ctx, *best, "")
}

func absDur(d time.Duration) time.Duration {
	if d < 0 {
		return -d
	}
	return d
}

func (v *view) incidentPage(ctx context.Context, in classify.Incident, cursor string) (int, *Page) {
	end := in.End
	if in.Open {
		end = v.now
	}
	d := incidentData{incidentRow: v.incidentRow(in), Hub: in.Hub, HubHref: v.hubLink(in.Hub), Evidence: in.Evidence,
		Duration: end.Sub(in.Start).Round(time.Minute).String()}
	from := in.Start.Add(-incidentMargin).Truncate(time.Minute)
	to := end.Add(incidentMargin).Truncate(time.Minute).Add(time.Minute)
	sr, err := rollup.Read(ctx, v.p.st, in.Hub, from, to)
	if err != nil {
		return v.unavailable(err)
	}
	var bands []band
	if x, w, ok := bandAt(in.Start, end, sr.Start, sr.Start.Add(time.Duration(len(sr.Minutes))*time.Minute)); ok {
		bands = append(bands, band{X: x, W: w, Label: "incident " + in.ID})
	}
	d.Chart = buildStack(sr.Minutes, sr.Start, time.Minute, bands, true)
	var next string
	if d.Caught, next, err = v.caught(ctx, in, end, cursor); err != nil {
		if errors.Is(err, store.ErrUnavailable) {
			return v.unavailable(err)
		}
		return v.badRequest("This page of the incident's devices cannot be read (" + err.Error() + "): open the incident's first page.")
	}
	if next != "" {
		d.CaughtNext = v.link("ui/incidents/"+url.PathEscape(in.ID), url.Values{"cursor": {next}})
	}
	if cursor != "" {
		d.CaughtFirst = v.incidentLink(in.ID)
	}
	if d.Notifications, err = v.incidentNotes(ctx, in, end); err != nil {
		return v.unavailable(err)
	}
	return v.render(http.StatusOK, "incident", "Incident "+in.ID, in.Hub, d)
}

// caught lists one page of the incident's disconnects from cursor on,
// one row per device: a single store page of at most caughtPage diagnoses
// (the store filters them to the incident), and the cursor of the next
// page ("" on the last). A device that disconnected more than once in the
// incident may appear on two pages.
func (v *view) caught(ctx context.Context, in classify.Incident, end time.Time, cursor string) ([]caughtDevice, string, error) {
	q := store.DiagnosisQuery{Hub: in.Hub, From: in.Start.Add(-caughtMargin), To: end.Add(caughtMargin), Incident: in.ID,
		Limit: caughtPage, Cursor: cursor}
	ds, next, err := v.p.st.ListDiagnoses(ctx, q)
	if err != nil {
		return nil, "", err
	}
	seen := make(map[string]bool, len(ds))
	out := make([]caughtDevice, 0, len(ds))
	for _, x := range ds {
		if x.Incident != in.ID || seen[x.Key.Path()] {
			continue
		}
		seen[x.Key.Path()] = true
		id := x.Key.Device
		if x.Key.Module != "" {
			id += " / " + x.Key.Module
		}
		out = append(out, caughtDevice{ID: id, Href: v.deviceLink(x.Key.Hub, x.Key.Device, x.Key.Module),
			Time: x.Time.UTC().Format("15:04:05"), Cause: causeLabel(x.Cause), Class: causeClass(x.Cause)})
	}
	sortCaught(out)
	return out, next, nil
}

// sortCaught orders caught devices by the time of their disconnect.
func sortCaught(cs []caughtDevice) {
	slices.SortFunc(cs, func(a, b caughtDevice) int { return strings.Compare(a.Time+a.ID, b.Time+b.ID) })
}

// incidentNotes lists the notifications sent about the incident: the
// hub-incident notifications of its hub created from its start until a day
// after its end.
func (v *view) incidentNotes(ctx context.Context, in classify.Incident, end time.Time) ([]noteRow, error) {
	items, err := v.p.st.ListItems(ctx, in.Start.Add(-time.Hour), end.Add(24*time.Hour))
	if err != nil {
		return nil, err
	}
	var out []noteRow
	for _, it := range items {
		n, err := alert.DecodePayload(it.Payload)
		if err != nil || n.Kind != classify.HubIncident || n.Hub != in.Hub {
			continue
		}
		if s := n.Since(); !s.IsZero() && (s.Before(in.Start.Add(-10*time.Minute)) || s.After(end)) {
			continue // another incident of the hub
		}
		out = append(out, noteRow{Created: fmtTime(it.Created), Status: n.Status, Channel: it.Channel, State: string(it.State),
			ID: n.NotificationID, Attempts: it.Attempts, LastError: it.LastError})
	}
	return out, nil
}
