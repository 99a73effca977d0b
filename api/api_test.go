package api

import (
	"context"
	"encoding/json"
	"net/http"
	"net/url"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/disconnect-doctor/disconnect-doctor/classify"
	"github.com/disconnect-doctor/disconnect-doctor/event"
	"github.com/disconnect-doctor/disconnect-doctor/store"
)

var t0 = time.Date(2024, 5, 14, 10, 0, 0, 0, time.UTC)

// fixture fills a memory store the way Evaluate does: engine state for a
// device built by the real engine, 250 diagnoses, two incidents.
func fixture(t *testing.T) (*API, store.Store) {
	t.Helper()
	ctx := context.Background()
	st := store.NewMemory()
	eng := classify.New(classify.DefaultConfig())
	state := classify.NewState()
	dev := event.Key{Hub: "hub-a", Device: "pump 'x'"}
	mk := func(kind event.Kind, at time.Time, code int) event.Event {
		e := event.Event{Source: event.ResourceLog, Kind: kind, Hub: dev.Hub, Device: dev.Device, Time: at,
			Category: "Connections", Code: code}
		e.ID = event.NewID(&e, "")
		return e
	}
	eng.Ingest(state, []event.Event{
		mk(event.Connect, t0, 0),
		mk(event.Disconnect, t0.Add(65*time.Minute), event.CodeUnauthorized),
		mk(event.Disconnect, t0.Add(65*time.Minute), event.CodeConnectionClosedRemotely),
		mk(event.Connect, t0.Add(65*time.Minute+20*time.Second), 0),
	})
	eng.Tick(state, t0.Add(2*time.Hour))
	data, err := state.MarshalDevice(dev)
	if err != nil || data == nil {
		t.Fatalf("marshal device: %v", err)
	}
	hub, err := state.MarshalHub(dev.Hub)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := st.PutBlobs(ctx, store.DeviceBlobs, []store.Blob{{Key: dev.Path(), Data: data}}); err != nil {
		t.Fatal(err)
	}
	if _, err := st.PutBlobs(ctx, store.HubBlobs, []store.Blob{{Key: dev.Hub, Data: hub}}); err != nil {
		t.Fatal(err)
	}
	var ds []classify.Diagnosis
	causes := []classify.Cause{classify.TokenExpiry, classify.DeviceOrNetwork, classify.HubTransient, classify.Pending}
	for i := range 250 {
		d := classify.Diagnosis{Key: event.Key{Hub: "hub-a", Device: "dev-" + string(rune('a'+i%5))},
			Time: t0.Add(time.Duration(i) * time.Minute), Cause: causes[i%4], Final: causes[i%4] != classify.Pending,
			Confidence: 0.9, Evidence: []string{"e"}, Recommendation: "r"}
		d.EventID = event.NewID(&event.Event{Hub: "hub-a", Device: d.Key.Device, Time: d.Time}, "")
		ds = append(ds, d)
	}
	if err := st.PutDiagnoses(ctx, ds); err != nil {
		t.Fatal(err)
	}
	if err := st.PutIncidents(ctx, []classify.Incident{
		{ID: "hub-a-1", Hub: "hub-a", Open: false, Start: t0, End: t0.Add(10 * time.Minute), Devices: 40, HubErrors: 300},
		{ID: "hub-a-2", Hub: "hub-a", Open: true, Start: t0.Add(3 * time.Hour), Devices: 12, HubErrors: 50},
	}); err != nil {
		t.Fatal(err)
	}
	if err := st.PutProgress(ctx, store.Progress{Writer: "eh/0", Newest: t0, Updated: t0, Read: 100, Kept: 60, Ignored: 30, Skipped: 10}); err != nil {
		t.Fatal(err)
	}
	wm := func(context.Context) (time.Time, error) { return t0.Add(time.Hour), nil }
	return New(st, nil, wm), st
}

// get runs a query and round-trips the body through JSON, as the wire does.
func get(t *testing.T, a *API, path, query string, out any) int {
	t.Helper()
	q, err := url.ParseQuery(query)
	if err != nil {
		t.Fatal(err)
	}
	status, body := a.Query(context.Background(), path, q)
	b, err := MarshalBody(body)
	if err != nil {
		t.Fatal(err)
	}
	if err := json.Unmarshal(b, out); err != nil {
		t.Fatalf("%s?%s: %v in %s", path, query, err, b)
	}
	return status
}

type page struct {
	Items []Diagnosis `json:"items"`
	Next  string      `json:"next"`
}

func TestDisconnectsPagesNewestFirst(t *testing.T) {
	a, _ := fixture(t)
	var all []Diagnosis
	cursor := ""
	for range 10 {
		var p page
		if s := get(t, a, "disconnects", "hub=HUB-A&limit=100&cursor="+url.QueryEscape(cursor), &p); s != http.StatusOK {
			t.Fatalf("status %d", s)
		}
		all = append(all, p.Items...)
		if p.Next == "" {
			break
		}
		cursor = p.Next
	}
	if len(all) != 250 {
		t.Fatalf("%d items over all pages, want 250", len(all))
	}
	for i := 1; i < len(all); i++ {
		if all[i].Time > all[i-1].Time {
			t.Fatalf("not newest first at %d: %s after %s", i, all[i].Time, all[i-1].Time)
		}
	}
	d := all[0]
	if d.Code != "404104" || d.Hub != "hub-a" || d.SeedCause != classify.Cause(d.Cause).SeedCause() || d.Evidence == nil {
		t.Errorf("wire diagnosis %+v", d)
	}
}

func TestDisconnectsFilters(t *testing.T) {
	a, _ := fixture(t)
	var p page
	get(t, a, "disconnects", "cause=hub-transient&limit=1000", &p)
	if len(p.Items) != 62 {
		t.Errorf("cause filter: %d items, want 62", len(p.Items))
	}
	for _, d := range p.Items {
		if d.Cause != "hub-transient" || d.SeedCause != 3 {
			t.Fatalf("cause filter let through %+v", d)
		}
	}
	p = page{}
	from, to := t0.Add(10*time.Minute).Format(time.RFC3339), t0.Add(20*time.Minute).Format(time.RFC3339)
	get(t, a, "disconnects", "from="+from+"&to="+to, &p)
	if len(p.Items) != 10 {
		t.Errorf("time window: %d items, want 10", len(p.Items))
	}
	p = page{}
	get(t, a, "disconnects", "deviceId=dev-c&limit=1000", &p)
	if len(p.Items) != 50 {
		t.Errorf("device filter: %d items, want 50", len(p.Items))
	}
	p = page{}
	get(t, a, "disconnects", "cause=pending&limit=1000", &p)
	for _, d := range p.Items {
		if d.Final || d.SeedCause != 0 {
			t.Fatalf("pending diagnosis %+v", d)
		}
	}
}

func TestBadParametersAndUnknowns(t *testing.T) {
	a, _ := fixture(t)
	cases := []struct {
		path, query string
		status      int
		param       string
	}{
		{"disconnects", "limit=0", 400, "limit"},
		{"disconnects", "limit=1001", 400, "limit"},
		{"disconnects", "limit=ten", 400, "limit"},
		{"disconnects", "from=yesterday", 400, "from"},
		{"disconnects", "from=2024-05-14T11:00:00Z&to=2024-05-14T10:00:00Z", 400, "to"},
		{"disconnects", "cause=gremlins", 400, "cause"},
		{"disconnects", "cursor=not-a-cursor!", 400, "cursor"},
		{"disconnects", "hub=nope", 404, ""},
		{"disconnects", "hub=hub-a&deviceId=ghost", 404, ""},
		{"incidents", "status=maybe", 400, "status"},
		{"incidents", "hub=nope", 404, ""},
		{"devices/ghost", "hub=hub-a", 404, ""},
		{"devices/pump", "", 400, "hub"},
		{"nothing-here", "", 404, ""},
	}
	for _, c := range cases {
		var e Error
		s := get(t, a, c.path, c.query, &e)
		if s != c.status || e.Error == "" || e.Parameter != c.param {
			t.Errorf("%s?%s: %d %+v, want %d naming %q", c.path, c.query, s, e, c.status, c.param)
		}
	}
}

func TestDeviceTimeline(t *testing.T) {
	a, _ := fixture(t)
	var d Device
	if s := get(t, a, "devices/pump 'x'", "hub=hub-a", &d); s != http.StatusOK {
		t.Fatalf("status %d", s)
	}
	if d.DeviceID != "pump 'x'" || !d.Connected || len(d.Timeline) == 0 {
		t.Fatalf("device %+v", d)
	}
	var saw404104 bool
	for _, e := range d.Timeline {
		saw404104 = saw404104 || e.Code == "404104"
	}
	if !saw404104 {
		t.Errorf("timeline lacks the 404104: %+v", d.Timeline)
	}
}

func TestIncidentsAndHealth(t *testing.T) {
	a, _ := fixture(t)
	var is struct {
		Items []Incident `json:"items"`
	}
	get(t, a, "incidents", "hub=hub-a", &is)
	if len(is.Items) != 2 {
		t.Fatalf("%d incidents", len(is.Items))
	}
	is.Items = nil
	get(t, a, "incidents", "status=open", &is)
	if len(is.Items) != 1 || is.Items[0].ID != "hub-a-2" || is.Items[0].Status != "open" || is.Items[0].EndsAt != "" {
		t.Errorf("open incidents %+v", is.Items)
	}
	is.Items = nil
	get(t, a, "incidents", "status=resolved", &is)
	if len(is.Items) != 1 || is.Items[0].EndsAt == "" {
		t.Errorf("resolved incidents %+v", is.Items)
	}
	var h Health
	if s := get(t, a, "health", "", &h); s != http.StatusOK {
		t.Fatalf("health status %d", s)
	}
	if h.Store != "ok" || h.Processed != 100 || h.Skipped != 10 || h.Writers != 1 || !strings.HasPrefix(h.Watermark, "2024-05-14T11:00") {
		t.Errorf("health %+v", h)
	}
}

// TestDeviceIDCharacters: every character IoT Hub allows in a device id
// round-trips through devices/{id} and disconnects?deviceId=, given the
// path as the host hands it over (decoded once, never again here).
func TestDeviceIDCharacters(t *testing.T) {
	ctx := context.Background()
	for _, c := range "-.+%_#*?!(),:=@$'" {
		id := "dev" + string(c) + "7" + string(c) + "25"
		t.Run(id, func(t *testing.T) {
			st := store.NewMemory()
			eng := classify.New(classify.DefaultConfig())
			state := classify.NewState()
			k := event.Key{Hub: "hub-a", Device: id}
			mk := func(kind event.Kind, at time.Time, code int) event.Event {
				e := event.Event{Source: event.ResourceLog, Kind: kind, Hub: k.Hub, Device: id, Time: at, Category: "Connections", Code: code}
				e.ID = event.NewID(&e, "")
				return e
			}
			eng.Ingest(state, []event.Event{mk(event.Connect, t0, 0),
				mk(event.Disconnect, t0.Add(time.Hour), event.CodeConnectionClosedRemotely), mk(event.Connect, t0.Add(time.Hour+time.Minute), 0)})
			out := eng.Tick(state, t0.Add(2*time.Hour))
			data, err := state.MarshalDevice(k)
			if err != nil || len(out.Diagnoses) == 0 {
				t.Fatalf("engine: %v, %d diagnoses", err, len(out.Diagnoses))
			}
			hub, _ := state.MarshalHub(k.Hub)
			if _, err := st.PutBlobs(ctx, store.DeviceBlobs, []store.Blob{{Key: k.Path(), Data: data}}); err != nil {
				t.Fatal(err)
			}
			if _, err := st.PutBlobs(ctx, store.HubBlobs, []store.Blob{{Key: k.Hub, Data: hub}}); err != nil {
				t.Fatal(err)
			}
			if err := st.PutDiagnoses(ctx, out.Diagnoses); err != nil {
				t.Fatal(err)
			}
			a := New(st, nil, func(context.Context) (time.Time, error) { return t0.Add(2 * time.Hour), nil })
			var d Device
			if s := get(t, a, "devices/"+id, "hub=hub-a", &d); s != http.StatusOK || d.DeviceID != id {
				t.Errorf("devices/%s: %d %q", id, s, d.DeviceID)
			}
			var ds struct {
				Items []Diagnosis `json:"items"`
			}
			if s := get(t, a, "disconnects", url.Values{"hub": {"hub-a"}, "deviceId": {id}}.Encode(), &ds); s != http.StatusOK || len(ds.Items) == 0 || ds.Items[0].DeviceID != id {
				t.Errorf("disconnects?deviceId=%s: %d %+v", id, s, ds.Items)
			}
		})
	}
}

// TestDeadLettersRoute: GET v1/deadletters lists what ingest set aside,
// newest first, and names a bad parameter.
func TestDeadLettersRoute(t *testing.T) {
	st := store.NewMemory()
	t0 := time.Date(2026, 12, 1, 10, 0, 0, 0, time.UTC)
	if err := st.PutDeadLetters(context.Background(), []store.DeadLetter{
		{ID: "a", At: t0, Writer: "insights-logs-connections/0", Hub: "h", Device: "d1", Reason: "refused"},
		{ID: "b", At: t0.Add(time.Minute), Writer: "eventgrid", Reason: "refused too"},
	}); err != nil {
		t.Fatal(err)
	}
	a := New(st, nil, nil)
	tests := []struct {
		query  string
		status int
		ids    []string
		param  string
	}{
		{"", 200, []string{"b", "a"}, ""},
		{"limit=1", 200, []string{"b"}, ""},
		{"to=2026-12-01T10:00:30Z", 200, []string{"a"}, ""},
		{"from=yesterday", 400, nil, "from"},
		{"limit=0", 400, nil, "limit"},
		{"from=2026-12-01T11:00:00Z&to=2026-12-01T10:00:00Z", 400, nil, "to"},
	}
	for _, tt := range tests {
		q, _ := url.ParseQuery(tt.query)
		status, body := a.Query(context.Background(), "deadletters", q)
		b, _ := json.Marshal(body)
		if status != tt.status {
			t.Errorf("%q: %d %s", tt.query, status, b)
			continue
		}
		if tt.param != "" {
			if !strings.Contains(string(b), `"parameter":"`+tt.param+`"`) {
				t.Errorf("%q: %s does not name %s", tt.query, b, tt.param)
			}
			continue
		}
		var got struct{ Items []DeadLetter }
		_ = json.Unmarshal(b, &got)
		var ids []string
		for _, d := range got.Items {
			ids = append(ids, d.ID)
		}
		if strings.Join(ids, ",") != strings.Join(tt.ids, ",") {
			t.Errorf("%q: ids %v, want %v", tt.query, ids, tt.ids)
		}
	}
	status, body := a.Query(context.Background(), "health", nil)
	if b, _ := json.Marshal(body); status != 200 || !strings.Contains(string(b), `"deadLetters":2`) {
		t.Errorf("health %d %s", status, b)
	}
}

// TestDisconnectsByIncident: incident= lists the disconnects caught in that
// incident, page by page, and nothing else of its hub or span.
func TestDisconnectsByIncident(t *testing.T) {
	a, st := fixture(t)
	var ds []classify.Diagnosis
	for i := range 30 {
		d := classify.Diagnosis{Key: event.Key{Hub: "hub-a", Device: "caught-" + strconv.Itoa(i)}, Time: t0.Add(time.Duration(i) * 20 * time.Second),
			Cause: classify.HubTransient, Final: true, Confidence: 0.9, Incident: "hub-a-1"}
		d.EventID = event.NewID(&event.Event{Hub: "hub-a", Device: d.Key.Device, Time: d.Time}, "")
		ds = append(ds, d)
	}
	if err := st.PutDiagnoses(context.Background(), ds); err != nil {
		t.Fatal(err)
	}
	seen := map[string]bool{}
	cursor := ""
	for pages := 0; ; pages++ {
		var p page
		if s := get(t, a, "disconnects", "incident=hub-a-1&limit=7&cursor="+url.QueryEscape(cursor), &p); s != http.StatusOK {
			t.Fatalf("status %d", s)
		}
		if len(p.Items) > 7 || pages > 10 {
			t.Fatalf("page %d: %d items", pages, len(p.Items))
		}
		for _, d := range p.Items {
			if d.Incident != "hub-a-1" || seen[d.DeviceID] {
				t.Errorf("item %s of incident %q (seen before: %v)", d.DeviceID, d.Incident, seen[d.DeviceID])
			}
			seen[d.DeviceID] = true
		}
		if cursor = p.Next; cursor == "" {
			break
		}
	}
	if len(seen) != 30 {
		t.Errorf("%d devices listed, want the 30 caught", len(seen))
	}
	var e Error
	for _, q := range []string{"incident=hub-a-9", "incident=nohyphen", "incident=hub-a-1&hub=hub-b"} {
		if s := get(t, a, "disconnects", q, &e); s != http.StatusNotFound {
			t.Errorf("%s: status %d, want 404", q, s)
		}
	}
}
