// Package api serves disconnect-doctor's query API (PRODUCT.md §6): the
// diagnoses, a device's timeline, the incidents and the app's health, read
// from the store. It returns a status and a JSON-able body; the Api function
// (package handlers) wraps them in the host's HTTP output binding.
package api

import (
	"context"
	"encoding/json"
	"errors"
	"net/http"
	"net/url"
	"strconv"
	"strings"
	"time"

	"github.com/disconnect-doctor/disconnect-doctor/classify"
	"github.com/disconnect-doctor/disconnect-doctor/event"
	"github.com/disconnect-doctor/disconnect-doctor/store"
)

// MaxLimit bounds one page of disconnects so a response stays small.
const MaxLimit = 1000

// DefaultLimit is the page size when the caller gives none.
const DefaultLimit = 100

// API answers queries from a store.
type API struct {
	st store.Store
	// alertsOf returns the alert states of a device (set by the pipeline,
	// which knows the alert package's encoding).
	alertsOf func(ctx context.Context, k event.Key) ([]any, error)
	// watermark returns the last watermark Evaluate used.
	watermark func(ctx context.Context) (time.Time, error)
	// Now is the wall clock for silences (time.Now when nil).
	Now func() time.Time
	// pipeline returns the pipeline's own alerts for health (WithPipeline).
	pipeline func(ctx context.Context) (any, error)
}

// WithPipeline makes health show f's answer as "pipeline": the pipeline's
// own open alerts (pipeline-silent, pipeline-lagging,
// notifications-failing …) and its channels' delivery records.
func (a *API) WithPipeline(f func(ctx context.Context) (any, error)) *API {
	a.pipeline = f
	return a
}

// New returns an API over st. alertsOf and watermark may be nil.
func New(st store.Store, alertsOf func(context.Context, event.Key) ([]any, error), watermark func(context.Context) (time.Time, error)) *API {
	return &API{st: st, alertsOf: alertsOf, watermark: watermark}
}

// Error is the JSON body of every 4xx/5xx answer.
type Error struct {
	Error     string `json:"error"`
	Parameter string `json:"parameter,omitempty"`
}

// Diagnosis is the wire form of a classify.Diagnosis (PRODUCT.md §6).
type Diagnosis struct {
	Hub            string   `json:"hub"`
	DeviceID       string   `json:"deviceId"`
	ModuleID       string   `json:"moduleId"`
	Time           string   `json:"time"`
	Code           string   `json:"code"`
	Cause          string   `json:"cause"`
	SeedCause      int      `json:"seedCause"`
	Final          bool     `json:"final"`
	Confidence     float64  `json:"confidence"`
	Evidence       []string `json:"evidence"`
	Recommendation string   `json:"recommendation"`
	Revisions      int      `json:"revisions"`
	Incident       string   `json:"incident,omitempty"`
}

// FromDiagnosis converts the engine's verdict to its wire form.
func FromDiagnosis(d classify.Diagnosis) Diagnosis {
	ev := d.Evidence
	if ev == nil {
		ev = []string{}
	}
	return Diagnosis{
		Hub: d.Key.Hub, DeviceID: d.Key.Device, ModuleID: d.Key.Module,
		Time: d.Time.UTC().Format(time.RFC3339), Code: strconv.Itoa(event.CodeConnectionClosedRemotely),
		Cause: string(d.Cause), SeedCause: d.Cause.SeedCause(), Final: d.Final, Confidence: d.Confidence,
		Evidence: ev, Recommendation: d.Recommendation, Revisions: d.Revisions, Incident: d.Incident,
	}
}

// Incident is the wire form of a classify.Incident.
type Incident struct {
	ID        string   `json:"id"`
	Hub       string   `json:"hub"`
	Status    string   `json:"status"`
	StartsAt  string   `json:"startsAt"`
	EndsAt    string   `json:"endsAt"`
	Devices   int      `json:"devices"`
	HubErrors int      `json:"hubErrors"`
	Metric    bool     `json:"metricCorroborated"`
	Evidence  []string `json:"evidence"`
}

// FromIncident converts an incident to its wire form.
func FromIncident(in classify.Incident) Incident {
	out := Incident{ID: in.ID, Hub: in.Hub, Status: "open", StartsAt: in.Start.UTC().Format(time.RFC3339),
		Devices: in.Devices, HubErrors: in.HubErrors, Metric: in.MetricCorroborated, Evidence: in.Evidence}
	if !in.Open {
		out.Status = "resolved"
		out.EndsAt = in.End.UTC().Format(time.RFC3339)
	}
	if out.Evidence == nil {
		out.Evidence = []string{}
	}
	return out
}

func bad(param, msg string) (int, any) {
	return http.StatusBadRequest, Error{Error: msg, Parameter: param}
}

func notFound(msg string) (int, any) { return http.StatusNotFound, Error{Error: msg} }

// unavailable answers a store failure; the message names no secret (store
// errors never carry connection strings).
func unavailable(err error) (int, any) {
	return http.StatusServiceUnavailable, Error{Error: "state store unavailable: " + err.Error()}
}

// Query serves GET /api/v1/<path>?<q>. path is the route value as the host
// hands it over: already percent-decoded, so it is never decoded again.
func (a *API) Query(ctx context.Context, path string, q url.Values) (int, any) {
	path = strings.Trim(path, "/")
	switch {
	case path == "disconnects":
		return a.disconnects(ctx, q)
	case path == "incidents":
		return a.incidents(ctx, q)
	case path == "health":
		return a.health(ctx)
	case path == "deadletters":
		return a.deadLetters(ctx, q) // deadletters.go
	case path == "sites":
		return a.sites(ctx, q) // sites.go
	case path == "silences":
		return a.listSilences(ctx, q)
	case strings.HasPrefix(path, "silences/"):
		return a.getSilence(ctx, path)
	case strings.HasPrefix(path, "devices/"):
		// The host hands route values over decoded (reference
		// functions-host.md §2.5): decoding again would turn a device id
		// holding '%' into another id, or into an error.
		id := strings.TrimPrefix(path, "devices/")
		if id == "" {
			return bad("deviceId", "device id missing")
		}
		return a.device(ctx, id, q)
	}
	return notFound("no such endpoint: " + path + " (try disconnects, devices/{deviceId}, incidents, sites, health, silences, deadletters)")
}

func parseTime(q url.Values, name string) (time.Time, bool) {
	v := q.Get(name)
	if v == "" {
		return time.Time{}, true
	}
	t, err := time.Parse(time.RFC3339Nano, v)
	if err != nil {
		return time.Time{}, false
	}
	return t.UTC(), true
}

// knownHub reports whether the engine has ever tracked hub.
func (a *API) knownHub(ctx context.Context, hub string) (bool, error) {
	_, err := a.st.GetBlob(ctx, store.HubBlobs, hub)
	if errors.Is(err, store.ErrNotFound) {
		return false, nil
	}
	return err == nil, err
}

func (a *API) disconnects(ctx context.Context, q url.Values) (int, any) {
	dq := store.DiagnosisQuery{Hub: strings.ToLower(q.Get("hub")), Device: q.Get("deviceId"), Cursor: q.Get("cursor")}
	if q.Has("moduleId") {
		// moduleId= (empty) asks for the device identity alone; absent, a
		// device's query covers the device and its modules.
		dq.Module, dq.ByModule = q.Get("moduleId"), true
	}
	var ok bool
	if dq.From, ok = parseTime(q, "from"); !ok {
		return bad("from", "from must be an RFC 3339 time, e.g. 2026-11-29T10:00:00Z")
	}
	if dq.To, ok = parseTime(q, "to"); !ok {
		return bad("to", "to must be an RFC 3339 time, e.g. 2026-11-29T11:00:00Z")
	}
	if !dq.From.IsZero() && !dq.To.IsZero() && !dq.From.Before(dq.To) {
		return bad("to", "to must be after from")
	}
	if c := q.Get("cause"); c != "" {
		dq.Cause = classify.Cause(c)
		if !dq.Cause.Valid() {
			return bad("cause", "unknown cause "+strconv.Quote(c))
		}
	}
	if id := q.Get("incident"); id != "" {
		if code, body := a.incidentSpan(ctx, id, &dq); code != http.StatusOK {
			return code, body
		}
	}
	dq.Limit = DefaultLimit
	if l := q.Get("limit"); l != "" {
		n, err := strconv.Atoi(l)
		if err != nil || n < 1 || n > MaxLimit {
			return bad("limit", "limit must be a whole number from 1 to "+strconv.Itoa(MaxLimit))
		}
		dq.Limit = n
	}
	if dq.Hub != "" {
		known, err := a.knownHub(ctx, dq.Hub)
		if err != nil {
			return unavailable(err)
		}
		if !known {
			return notFound("unknown hub " + strconv.Quote(dq.Hub))
		}
		if dq.Device != "" {
			if _, err := a.st.GetBlob(ctx, store.DeviceBlobs, event.Key{Hub: dq.Hub, Device: dq.Device, Module: q.Get("moduleId")}.Path()); errors.Is(err, store.ErrNotFound) {
				return notFound("unknown device " + strconv.Quote(dq.Device) + " in hub " + strconv.Quote(dq.Hub))
			} else if err != nil {
				return unavailable(err)
			}
		}
	}
	ds, next, err := a.st.ListDiagnoses(ctx, dq)
	if err != nil {
		if errors.Is(err, store.ErrUnavailable) {
			return unavailable(err)
		}
		return bad("cursor", "bad cursor")
	}
	items := make([]Diagnosis, len(ds))
	for i, d := range ds {
		items[i] = FromDiagnosis(d)
	}
	return http.StatusOK, struct {
		Items []Diagnosis `json:"items"`
		Next  string      `json:"next"`
	}{items, next}
}

// incidentMargin widens an incident's span for its disconnects: a burst
// member may fall seconds before the incident's first minute, and the
// incident's end is when the hub was back at its baseline.
const incidentMargin = time.Minute

// incidentSpan narrows dq to the disconnects caught in incident id: its
// hub, its span (with a margin either side, intersected with from/to) and
// its ID, so that each page reads the incident's span from the cursor on,
// not the hub's history. A hub given must be the incident's.
func (a *API) incidentSpan(ctx context.Context, id string, dq *store.DiagnosisQuery) (int, any) {
	in, ok, err := store.FindIncident(ctx, a.st, id)
	if err != nil {
		return unavailable(err)
	}
	if !ok || (dq.Hub != "" && dq.Hub != in.Hub) {
		return notFound("unknown incident " + strconv.Quote(id))
	}
	dq.Hub, dq.Incident = in.Hub, in.ID
	if from := in.Start.Add(-incidentMargin); dq.From.Before(from) {
		dq.From = from
	}
	if !in.Open {
		if to := in.End.Add(incidentMargin); dq.To.IsZero() || dq.To.After(to) {
			dq.To = to
		}
	}
	if !dq.To.IsZero() && !dq.From.Before(dq.To) {
		return bad("to", "from and to leave nothing of the incident's span")
	}
	return http.StatusOK, nil
}

func (a *API) incidents(ctx context.Context, q url.Values) (int, any) {
	hub := strings.ToLower(q.Get("hub"))
	var open *bool
	switch s := q.Get("status"); s {
	case "":
	case "open", "resolved":
		v := s == "open"
		open = &v
	default:
		return bad("status", "status must be open or resolved")
	}
	if hub != "" {
		known, err := a.knownHub(ctx, hub)
		if err != nil {
			return unavailable(err)
		}
		if !known {
			return notFound("unknown hub " + strconv.Quote(hub))
		}
	}
	is, err := a.st.ListIncidents(ctx, hub, open)
	if err != nil {
		return unavailable(err)
	}
	items := make([]Incident, len(is))
	for i, in := range is {
		items[i] = FromIncident(in)
	}
	return http.StatusOK, struct {
		Items []Incident `json:"items"`
	}{items}
}

// Device is the answer of devices/{deviceId}.
type Device struct {
	Hub         string          `json:"hub"`
	DeviceID    string          `json:"deviceId"`
	ModuleID    string          `json:"moduleId"`
	Connected   bool            `json:"connected"`
	LastSeen    string          `json:"lastSeen,omitempty"`
	TokenPeriod string          `json:"tokenPeriod,omitempty"`
	Timeline    []TimelineEntry `json:"timeline"`
	Alerts      []any           `json:"alerts"`
}

// TimelineEntry is one connect, disconnect or error of a device.
type TimelineEntry struct {
	Time   string `json:"time"`
	Kind   string `json:"kind"`
	Code   string `json:"code,omitempty"`
	Detail string `json:"detail,omitempty"`
}

func (a *API) device(ctx context.Context, id string, q url.Values) (int, any) {
	hub := strings.ToLower(q.Get("hub"))
	if hub == "" {
		return bad("hub", "hub is required")
	}
	k := event.Key{Hub: hub, Device: id, Module: q.Get("moduleId")}
	b, err := a.st.GetBlob(ctx, store.DeviceBlobs, k.Path())
	if errors.Is(err, store.ErrNotFound) {
		return notFound("unknown device " + strconv.Quote(id) + " in hub " + strconv.Quote(hub))
	}
	if err != nil {
		return unavailable(err)
	}
	v, err := classify.DecodeDeviceView(k, b.Data)
	if err != nil {
		return http.StatusInternalServerError, Error{Error: "device state unreadable: " + err.Error()}
	}
	out := Device{Hub: k.Hub, DeviceID: k.Device, ModuleID: k.Module, Connected: v.Connected,
		Timeline: make([]TimelineEntry, 0, len(v.Timeline)), Alerts: []any{}}
	if !v.LastSeen.IsZero() {
		out.LastSeen = v.LastSeen.UTC().Format(time.RFC3339)
	}
	if v.TokenPeriod > 0 {
		out.TokenPeriod = v.TokenPeriod.Round(time.Second).String()
	}
	for _, e := range v.Timeline {
		te := TimelineEntry{Time: e.Time.UTC().Format(time.RFC3339), Kind: e.Kind, Detail: e.Detail}
		if e.Code != 0 {
			te.Code = strconv.Itoa(e.Code)
		}
		out.Timeline = append(out.Timeline, te)
	}
	if a.alertsOf != nil {
		as, err := a.alertsOf(ctx, k)
		if err != nil {
			return unavailable(err)
		}
		out.Alerts = append(out.Alerts, as...)
	}
	return http.StatusOK, out
}

// Health is the answer of health.
type Health struct {
	Store     string `json:"store"`
	Watermark string `json:"watermark,omitempty"`
	Processed int64  `json:"recordsProcessed"`
	Kept      int64  `json:"recordsKept"`
	Ignored   int64  `json:"recordsIgnored"`
	Skipped   int64  `json:"recordsSkipped"`
	Writers   int    `json:"writers"`
	// DeadLetters counts the records the store refused for good and ingest
	// set aside (GET v1/deadletters; counted up to 1000), LastDeadLetter is
	// when the newest was.
	DeadLetters    int    `json:"deadLetters"`
	LastDeadLetter string `json:"lastDeadLetter,omitempty"`
	// Pipeline: the pipeline's own alerts (see WithPipeline).
	Pipeline any `json:"pipeline,omitempty"`
}

func (a *API) health(ctx context.Context) (int, any) {
	h := Health{Store: "ok"}
	if err := a.st.Ping(ctx); err != nil {
		h.Store = "unreachable: " + err.Error()
		return http.StatusServiceUnavailable, h
	}
	ps, err := a.st.ListProgress(ctx)
	if err != nil {
		return unavailable(err)
	}
	for _, p := range ps {
		h.Processed += p.Read
		h.Kept += p.Kept
		h.Ignored += p.Ignored
		h.Skipped += p.Skipped
	}
	h.Writers = len(ps)
	if h.DeadLetters, h.LastDeadLetter, err = a.deadLetterCount(ctx); err != nil {
		return unavailable(err)
	}
	if a.watermark != nil {
		wm, err := a.watermark(ctx)
		if err != nil {
			return unavailable(err)
		}
		if !wm.IsZero() {
			h.Watermark = wm.UTC().Format(time.RFC3339)
		}
	}
	if a.pipeline != nil {
		pl, err := a.pipeline(ctx)
		if err != nil {
			return unavailable(err)
		}
		h.Pipeline = pl
	}
	return http.StatusOK, h
}

// MarshalBody encodes an answer; it exists so handlers and tests agree on
// the encoding (no HTML escaping: evidence quotes device ids verbatim).
func MarshalBody(v any) ([]byte, error) {
	var b strings.Builder
	enc := json.NewEncoder(&b)
	enc.SetEscapeHTML(false)
	if err := enc.Encode(v); err != nil {
		return nil, err
	}
	return []byte(strings.TrimSuffix(b.String(), "\n")), nil
}
