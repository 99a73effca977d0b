package ui

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"net/http"
	"strconv"
	"strings"
	"time"

	"github.com/disconnect-doctor/disconnect-doctor/alert"
	"github.com/disconnect-doctor/disconnect-doctor/classify"
	"github.com/disconnect-doctor/disconnect-doctor/event"
	"github.com/disconnect-doctor/disconnect-doctor/store"
)

// maxVerdicts bounds the verdicts a device page lists (newest first).
const maxVerdicts = 200

func deviceKey(hub, id, module string) string {
	return event.Key{Hub: hub, Device: id, Module: module}.Path()
}

// mark is one record on a timeline lane.
type mark struct {
	X, Y, W, H float64
	Class      string
	Title      string
}

// lane is one row of a timeline.
type lane struct {
	Y     float64
	Mid   float64
	Label string
}

// timeline draws a device's records over a time range, one lane per kind:
// connects, disconnects (coloured by verdict), 401003s and the expected
// token expiries of its learned period.
type timeline struct {
	W, H   float64
	PlotX  float64
	PlotR  float64
	PlotB  float64
	Title  string
	Lanes  []lane
	Marks  []mark
	XTicks []tick
}

const (
	laneH   = 30.0
	laneGap = 8.0
)

// buildTimeline lays out a device's records in [start, end). The device's
// state keeps only its recent records, the diagnoses the whole retention:
// disconnects come from both, and before the oldest kept record the
// expected expiries are counted from each token-expiry disconnect (a
// renewing device is back within seconds) rather than from a connect no
// longer kept.
func buildTimeline(title string, v classify.DeviceView, ds []classify.Diagnosis, start, end time.Time) timeline {
	names := []string{"connects", "disconnects", "401003", "expected expiry"}
	tl := timeline{W: chartW, Title: title, PlotX: padL + 70, PlotR: chartW - padR}
	w := tl.PlotR - tl.PlotX
	for i, n := range names {
		y := padT + float64(i)*(laneH+laneGap)
		tl.Lanes = append(tl.Lanes, lane{Y: y, Mid: y + laneH/2 + 4, Label: n})
	}
	tl.PlotB = padT + float64(len(names))*(laneH+laneGap)
	tl.H = tl.PlotB + padB
	span := end.Sub(start).Seconds()
	if span <= 0 {
		return tl
	}
	xOf := func(t time.Time) float64 { return tl.PlotX + t.Sub(start).Seconds()/span*w }
	var expected []time.Time
	add := func(laneIdx int, t time.Time, class, title string) {
		if t.Before(start) || !t.Before(end) {
			return
		}
		if laneIdx == 3 { // one tick per expected expiry, however it was found
			for _, x := range expected {
				if absDur(x.Sub(t)) < 2*time.Minute {
					return
				}
			}
			expected = append(expected, t)
		}
		l := tl.Lanes[laneIdx]
		tl.Marks = append(tl.Marks, mark{X: xOf(t) - 1, Y: l.Y, W: 2.5, H: laneH, Class: class, Title: title})
	}
	stamp := func(t time.Time) string { return t.UTC().Format("2006-01-02 15:04:05") }
	period := v.TokenPeriod.Round(time.Second).String()
	var kept time.Time // the oldest record the device's state still holds
	if len(v.Timeline) > 0 {
		kept = v.Timeline[0].Time
	}
	drawn := map[int64]bool{}
	for _, d := range ds {
		drawn[d.Time.Unix()] = true
		add(1, d.Time, causeClass(d.Cause), stamp(d.Time)+" 404104 "+causeLabel(d.Cause))
		// Only after a token expiry is the device known to be back within
		// seconds; after other disconnects the reconnect may take minutes.
		if v.TokenPeriod > 0 && d.Cause == classify.TokenExpiry && (kept.IsZero() || d.Time.Before(kept)) {
			exp := d.Time.Add(v.TokenPeriod)
			add(3, exp, "m-expect", stamp(exp)+" expected token expiry (≈ "+period+" after the disconnect at "+d.Time.UTC().Format("15:04:05")+")")
		}
	}
	for _, e := range v.Timeline {
		ts := stamp(e.Time)
		switch {
		case e.Kind == event.Connect.String() && e.Code == 0, e.Kind == event.StateConnected.String():
			add(0, e.Time, "m-connect", ts+" connected"+suffix(e.Detail))
		case e.Code == event.CodeUnauthorized:
			add(2, e.Time, "m-unauth", ts+" 401003 IoTHubUnauthorized"+suffix(e.Detail))
		case e.Code == event.CodeConnectionClosedRemotely:
			if !drawn[e.Time.Unix()] {
				cause := classify.Cause(strings.Fields(e.Detail + " pending")[0])
				add(1, e.Time, causeClass(cause), ts+" 404104 "+causeLabel(cause))
			}
		case e.Kind == event.Disconnect.String(), e.Kind == event.StateDisconnected.String():
			label := "disconnected"
			if e.Code != 0 {
				label += " " + strconv.Itoa(e.Code)
			}
			add(1, e.Time, "m-other", ts+" "+label+suffix(e.Detail))
		case e.Code != 0:
			add(1, e.Time, "m-other", ts+" "+e.Kind+" "+strconv.Itoa(e.Code))
		}
		if v.TokenPeriod > 0 && e.Kind == event.Connect.String() && e.Code == 0 {
			exp := e.Time.Add(v.TokenPeriod)
			add(3, exp, "m-expect", stamp(exp)+" expected token expiry ("+period+" after the connect at "+e.Time.UTC().Format("15:04:05")+")")
		}
	}
	tl.XTicks = timeTicks(start, end, tl.PlotX, w)
	return tl
}

func suffix(s string) string {
	if s == "" {
		return ""
	}
	return " (" + s + ")"
}

// verdictRow is one diagnosis on a device page.
type verdictRow struct {
	Time, Cause, Label, Class string
	Final                     bool
	Confidence                string
	Revisions                 int
	Evidence                  []string
	Recommendation            string
	Incident, IncidentHref    string
	Open                      bool
}

// alertRow is an alert record or a notification about the device.
type alertRow struct {
	Kind, Status, Since, Ended, Summary string
	Channel, State, Created, ID         string
}

type deviceData struct {
	Hub, ID, Module string
	HubHref         string
	Connected       bool
	LastSeen        string
	TokenPeriod     string
	Flags           []string
	Full, Recent    timeline
	Counts          []counter
	Verdicts        []verdictRow
	MoreVerdicts    bool
	Alerts          []alertRow
	Notifications   []alertRow
}

func (v *view) device(ctx context.Context, hub, id, module string) (int, *Page) {
	if hub == "" {
		return v.badRequest("The device page needs the hub: add ?hub=<hub name>, or use the search box.")
	}
	if id == "" {
		return v.badRequest("The device page needs a device id (?id=).")
	}
	k := event.Key{Hub: hub, Device: id, Module: module}
	b, err := v.p.st.GetBlob(ctx, store.DeviceBlobs, k.Path())
	if errors.Is(err, store.ErrNotFound) {
		return v.notFound("Unknown device", "No device with the id "+quote(id)+" in hub "+quote(hub)+".")
	}
	if err != nil {
		return v.unavailable(err)
	}
	dv, err := classify.DecodeDeviceView(k, b.Data)
	if err != nil {
		return v.render(http.StatusInternalServerError, "error", "Device state unreadable", hub,
			errorPage{"Device state unreadable", "The stored state of " + quote(id) + " could not be read: " + err.Error()})
	}
	ds, next, err := v.p.st.ListDiagnoses(ctx, store.DiagnosisQuery{Hub: hub, Device: id, Limit: maxVerdicts})
	if err != nil {
		return v.unavailable(err)
	}
	d := deviceData{Hub: hub, ID: id, Module: module, HubHref: v.hubLink(hub), Connected: dv.Connected, MoreVerdicts: next != ""}
	if !dv.LastSeen.IsZero() {
		d.LastSeen = dv.LastSeen.UTC().Format("2006-01-02 15:04:05 UTC") + " (" + ago(v.now.Sub(dv.LastSeen)) + " ago)"
	}
	if dv.TokenPeriod > 0 {
		d.TokenPeriod = dv.TokenPeriod.Round(time.Second).String()
	}
	for _, f := range []struct {
		on   bool
		name string
	}{{dv.RenewalFailing, "token renewal failing"}, {dv.Offline, "offline"}, {dv.Flapping, "flapping"}} {
		if f.on {
			d.Flags = append(d.Flags, f.name)
		}
	}
	var mine []classify.Diagnosis
	counts := map[classify.Cause]uint64{}
	for i, x := range ds {
		if x.Key.Module != module {
			continue
		}
		mine = append(mine, x)
		counts[x.Cause]++
		row := verdictRow{Time: x.Time.UTC().Format("2006-01-02 15:04:05 UTC"), Cause: string(x.Cause), Label: causeLabel(x.Cause),
			Class: causeClass(x.Cause), Final: x.Final, Confidence: fmt.Sprintf("%.0f%%", x.Confidence*100), Revisions: x.Revisions,
			Evidence: x.Evidence, Recommendation: x.Recommendation, Incident: x.Incident, Open: i < 3}
		if x.Incident != "" {
			row.IncidentHref = v.incidentLink(x.Incident)
		}
		d.Verdicts = append(d.Verdicts, row)
	}
	for _, c := range []classify.Cause{classify.TokenExpiry, classify.TokenRenewalFailed, classify.DeviceOrNetwork,
		classify.DuplicateIdentity, classify.HubTransient, classify.Pending} {
		if counts[c] > 0 {
			d.Counts = append(d.Counts, counter{Label: causeLabel(c), Class: causeClass(c), N: counts[c]})
		}
	}
	end := v.now
	start := end.Add(-6 * time.Hour)
	var first time.Time
	if len(dv.Timeline) > 0 {
		first = dv.Timeline[0].Time
		if last := dv.Timeline[len(dv.Timeline)-1].Time; last.After(end) {
			end = last.Add(time.Minute)
		}
	}
	if n := len(mine); n > 0 && (first.IsZero() || mine[n-1].Time.Before(first)) {
		first = mine[n-1].Time // newest first: the oldest verdict
	}
	if !first.IsZero() {
		d.Full = buildTimeline("Retained window (since "+first.UTC().Format("2006-01-02 15:04")+" UTC)", dv, mine, first.Add(-time.Minute), end)
	}
	d.Recent = buildTimeline("Last 6 hours", dv, mine, start, end)
	if d.Alerts, d.Notifications, err = v.deviceAlerts(ctx, k); err != nil {
		return v.unavailable(err)
	}
	return v.render(http.StatusOK, "device", id, hub, d)
}

// deviceAlerts returns the device's live alert records and the
// notifications that named it (the outbox over the retained window).
func (v *view) deviceAlerts(ctx context.Context, k event.Key) ([]alertRow, []alertRow, error) {
	var recs []alertRow
	for _, kind := range []classify.SignalKind{classify.TokenRenewalFailing, classify.DeviceOffline, classify.DeviceFlapping} {
		s := classify.Signal{Kind: kind, Key: k}
		b, err := v.p.st.GetBlob(ctx, store.AlertBlobs, s.AlertKey())
		if errors.Is(err, store.ErrNotFound) {
			continue
		}
		if err != nil {
			return nil, nil, err
		}
		var r alert.Record
		if json.Unmarshal(b.Data, &r) != nil {
			continue
		}
		row := alertRow{Kind: kindTitle(kind), Status: "resolved", Since: fmtTime(r.Since), Ended: fmtTime(r.Ended), Summary: r.Summary}
		if r.Firing {
			row.Status = "firing"
		}
		recs = append(recs, row)
	}
	items, err := v.p.st.ListItems(ctx, v.now.Add(-8*24*time.Hour), v.now.Add(time.Hour))
	if err != nil {
		return nil, nil, err
	}
	var notes []alertRow
	for i := len(items) - 1; i >= 0; i-- {
		it := items[i]
		n, err := alert.DecodePayload(it.Payload)
		if err != nil || n.Kind == classify.HubIncident || n.Hub != k.Hub {
			continue
		}
		for _, a := range n.Alerts {
			if a.DeviceID == k.Device && (a.Module == k.Module || a.Module == "") { // older payloads carry no module
				notes = append(notes, alertRow{Kind: kindTitle(n.Kind), Status: n.Status, Summary: a.Summary, Channel: it.Channel,
					State: string(it.State), Created: fmtTime(it.Created), ID: n.NotificationID})
				break
			}
		}
	}
	return recs, notes, nil
}

func fmtTime(t time.Time) string {
	if t.IsZero() {
		return ""
	}
	return t.UTC().Format("2006-01-02 15:04:05 UTC")
}
