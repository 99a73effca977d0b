// Package e2e holds the end-to-end acceptance test of issue 6: simulated
// traffic goes in through the real handler binary under the Functions host
// emulator, and what comes out — the query API's diagnoses and incidents,
// and the notifications a local Teams webhook, generic webhook and SMTP
// server receive — is compared with the simulator's truth.
//
// It is test-only: nothing here is linked into a binary.
package e2e

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"net/http"
	"net/mail"
	"net/url"
	"path/filepath"
	"slices"
	"sort"
	"strings"
	"testing"
	"time"

	"github.com/disconnect-doctor/disconnect-doctor/classify"
	"github.com/disconnect-doctor/disconnect-doctor/event"
	"github.com/disconnect-doctor/disconnect-doctor/internal/funchost"
	"github.com/disconnect-doctor/disconnect-doctor/internal/funchost/emulator"
	"github.com/disconnect-doctor/disconnect-doctor/internal/sink"
	"github.com/disconnect-doctor/disconnect-doctor/sim"
)

// Fleet and engine settings of the run. The lateness and grace are set
// explicitly because the comparison excludes the tail they leave pending.
const (
	seed            = 1
	fleetHours      = 8
	allowedLateness = 5 * time.Minute
	reconnectGrace  = 60 * time.Second
	// settleEvaluations are the Evaluate runs after the last arrival: more
	// than the pipeline's commit cadence (it commits the engine's state every
	// 5 ticks), so the API reads the final state.
	settleEvaluations = 6
)

// Secrets the handler is given; none may reach its stdout or stderr.
const (
	webhookSecret = "c2lnLXdlYmhvb2stZTJlLXNlY3JldA"
	teamsSecret   = "dGVhbXMtd29ya2Zsb3ctZTJlLXNpZw"
	smtpPassword  = "e2e-smtp-p4ssw0rd-never-logged"
	functionKey   = "e2e-function-key-never-logged"
)

// wireDiagnosis is the Diagnosis of PRODUCT.md §6, decoded independently
// of the api package so that the test checks the contract, not the code.
type wireDiagnosis struct {
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
}

// wireIncident is an item of the incidents answer (PRODUCT.md §6).
type wireIncident struct {
	ID        string   `json:"id"`
	Hub       string   `json:"hub"`
	Status    string   `json:"status"`
	StartsAt  string   `json:"startsAt"`
	EndsAt    string   `json:"endsAt"`
	Devices   int      `json:"devices"`
	HubErrors int      `json:"hubErrors"`
	Evidence  []string `json:"evidence"`
}

// webhookBody is the generic webhook body (PRODUCT.md §7).
type webhookBody struct {
	Version        string `json:"version"`
	NotificationID string `json:"notificationId"`
	GroupKey       string `json:"groupKey"`
	Status         string `json:"status"`
	Repeat         int    `json:"repeat"`
	Alerts         []struct {
		Key    string `json:"key"`
		Kind   string `json:"kind"`
		Status string `json:"status"`
	} `json:"alerts"`
}

// arrival is one sim message to deliver, tagged with its channel.
type arrival struct {
	msg  sim.Message
	kind int
}

const (
	arriveDiag = iota
	arriveGrid
	arriveMetric
)

// TestEndToEnd is the issue 6 acceptance test: simulated traffic in →
// diagnoses from the API and notifications received by a local Teams
// webhook, generic webhook and SMTP server match the simulator's truth.
func TestEndToEnd(t *testing.T) {
	ctx := context.Background()
	out := t.TempDir()
	teams := startHTTPSink(t, filepath.Join(out, "teams"))
	hook := startHTTPSink(t, filepath.Join(out, "webhook"))
	smtpSink, err := sink.NewSMTP(filepath.Join(out, "email"))
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() {
		if err := smtpSink.Close(); err != nil {
			t.Errorf("close smtp sink: %v", err)
		}
	})
	smtpHost, smtpPort, ok := strings.Cut(smtpSink.Addr, ":")
	if !ok {
		t.Fatalf("smtp sink address %q", smtpSink.Addr)
	}

	h := emulator.Start(t, emulator.Options{
		Env: funchost.WithLocalSettings(map[string]string{
			"STATE_STORAGE":     "memory",
			"WATERMARK":         "eventtime",
			"ALLOWED_LATENESS":  allowedLateness.String(),
			"RECONNECT_GRACE":   reconnectGrace.String(),
			"TEAMS_WEBHOOK_URL": teams.URL + "?api-version=2016-06-01&sp=%2Ftriggers%2Fmanual%2Frun&sig=" + teamsSecret,
			"ALERT_WEBHOOK_URL": hook.URL + "?sig=" + webhookSecret,
			"SMTP_HOST":         smtpHost,
			"SMTP_PORT":         smtpPort,
			"SMTP_TLS":          "none",
			"SMTP_PASSWORD":     smtpPassword,
			"SMTP_FROM":         "doctor@contoso.example",
			"ALERT_EMAIL_TO":    "iot-oncall@contoso.example",
		}),
		FunctionTimeout: time.Minute,
		MaxAttempts:     1, // every invocation must succeed on its first attempt
	})

	cfg := sim.DefaultConfig(seed)
	cfg.Duration = fleetHours * time.Hour
	fleet := sim.Generate(cfg)
	hub := strings.ToLower(cfg.Hub)
	sum := summarise(t, fleet)

	// Deliver in arrival order, one simulated minute at a time.
	started := time.Now()
	calls := deliver(ctx, t, h, fleet, cfg.Start)
	for range settleEvaluations {
		mustInvoke(ctx, t, h, h.Timer("Evaluate"))
		calls++
	}
	t.Logf("delivered %d Event Hubs bodies, %d Event Grid deliveries, %d metric alerts in %d invocations (%v)",
		len(fleet.Diagnostics), len(fleet.EventGrid), len(fleet.MetricAlerts), calls, time.Since(started).Round(time.Millisecond))
	if t.Failed() {
		t.FailNow()
	}

	// In eventtime mode the watermark stays at newest − ALLOWED_LATENESS,
	// so the disconnects of the last ALLOWED_LATENESS + RECONNECT_GRACE stay
	// pending: they are left out of the comparison. The newest connection
	// event is the reference: the watermark is at least that − lateness.
	cutoff := sum.newestConn.Add(-allowedLateness - reconnectGrace)
	inScope := func(tm time.Time) bool { return tm.UTC().Truncate(time.Second).Before(cutoff) }

	t.Run("diagnoses", func(t *testing.T) {
		all := listDisconnects(ctx, t, h, hub)
		var ds []classify.Diagnosis
		for _, d := range all {
			if inScope(d.Time) {
				ds = append(ds, d)
			}
		}
		var truth []sim.Truth
		for _, tr := range fleet.Truth {
			if inScope(tr.Time) {
				truth = append(truth, tr)
			}
		}
		s := sim.ScoreDiagnoses(truth, ds)
		var b bytes.Buffer
		s.Print(&b)
		t.Logf("%d diagnoses from the API (%d before the cutoff %s), %d true 404104s before it:\n%s",
			len(all), len(ds), cutoff.Format(time.RFC3339), len(truth), b.String())
		if s.Spurious != 0 {
			t.Errorf("%d diagnoses without a true 404104", s.Spurious)
		}
		if unseen := s.Unseen - s.LostRecords; unseen != 0 {
			t.Errorf("%d delivered 404104s never diagnosed", unseen)
		}
		if s.Pending != 0 {
			t.Errorf("%d diagnoses before the cutoff still pending", s.Pending)
		}
		if s.Matched == 0 {
			t.Fatal("no diagnosis matched the truth")
		}
		agree := float64(s.Matched-len(s.Wrong)) / float64(s.Matched)
		t.Logf("agreement %.4f (%d of %d matched with the true cause)", agree, s.Matched-len(s.Wrong), s.Matched)
		if agree < 0.95 {
			t.Errorf("agreement %.4f < 0.95", agree)
			for i, m := range s.Wrong {
				if i == 10 {
					break
				}
				t.Logf("wrong: %s %s truth %s, verdict %s (%v)", m.Truth.Device, m.Truth.Time.Format(time.RFC3339), m.Truth.Cause, m.Diagnosis.Cause, m.Diagnosis.Evidence)
			}
		}
	})

	t.Run("incidents", func(t *testing.T) {
		if len(fleet.Incidents) == 0 {
			t.Fatal("the fleet has no injected incident")
		}
		var got struct{ Items []wireIncident }
		if st := apiGet(ctx, t, h, "incidents", url.Values{"hub": {hub}}, &got); st != http.StatusOK {
			t.Fatalf("incidents = %d", st)
		}
		for _, want := range fleet.Incidents {
			found := false
			for _, in := range got.Items {
				start := parseTime(t, in.StartsAt)
				end := time.Date(9999, 1, 1, 0, 0, 0, 0, time.UTC)
				if in.EndsAt != "" {
					end = parseTime(t, in.EndsAt)
				}
				if in.Hub == hub && !start.After(want.End) && !end.Before(want.Start) {
					found = true
					t.Logf("injected incident %s..%s (%d devices) found as %s %s %s..%s (%d devices, %d hub errors)",
						want.Start.Format(time.RFC3339), want.End.Format(time.RFC3339), want.Devices,
						in.ID, in.Status, in.StartsAt, in.EndsAt, in.Devices, in.HubErrors)
					if in.Status != "resolved" {
						t.Errorf("incident %s is %s after the hub recovered", in.ID, in.Status)
					}
					if len(in.Evidence) == 0 {
						t.Errorf("incident %s carries no evidence", in.ID)
					}
				}
			}
			if !found {
				t.Errorf("no incident overlaps the injected one %s..%s; got %+v", want.Start, want.End, got.Items)
			}
		}
	})

	t.Run("health", func(t *testing.T) {
		var got struct {
			Store     string `json:"store"`
			Watermark string `json:"watermark"`
			Processed int64  `json:"recordsProcessed"`
			Kept      int64  `json:"recordsKept"`
		}
		if st := apiGet(ctx, t, h, "health", nil, &got); st != http.StatusOK {
			t.Fatalf("health = %d", st)
		}
		delivered := sum.records + sum.events
		t.Logf("health: %+v; delivered %d resource-log records and %d Event Grid events", got, sum.records, sum.events)
		if got.Store != "ok" {
			t.Errorf("store = %q, want ok", got.Store)
		}
		if got.Processed < delivered || got.Kept <= 0 || got.Kept > got.Processed {
			t.Errorf("records processed %d (delivered %d), kept %d", got.Processed, delivered, got.Kept)
		}
		// watermark = newest event seen − ALLOWED_LATENESS, where "seen" is
		// at least every connection event and at most every record.
		lo, hi := sum.newestConn.Add(-allowedLateness), sum.newestAny.Add(-allowedLateness)
		if wm := parseTime(t, got.Watermark); wm.Before(lo.Truncate(time.Second)) || wm.After(hi) {
			t.Errorf("watermark = %s, want between %s and %s (newest connection event / newest record − ALLOWED_LATENESS)",
				got.Watermark, lo.Format(time.RFC3339), hi.Format(time.RFC3339))
		}
	})

	t.Run("devices", func(t *testing.T) {
		known := ""
		for _, tr := range fleet.Truth {
			if tr.Module == "" && !tr.Lost {
				known = tr.Device
				break
			}
		}
		tests := []struct {
			name, device string
			want         int
		}{
			{"known device", known, http.StatusOK},
			{"unknown device", "no-such-device-e2e", http.StatusNotFound},
		}
		for _, tt := range tests {
			t.Run(tt.name, func(t *testing.T) {
				var got struct {
					DeviceID string            `json:"deviceId"`
					Timeline []json.RawMessage `json:"timeline"`
					Error    string            `json:"error"`
				}
				st := apiGet(ctx, t, h, "devices/"+url.PathEscape(tt.device), url.Values{"hub": {hub}}, &got)
				if st != tt.want {
					t.Fatalf("devices/%s = %d, want %d", tt.device, st, tt.want)
				}
				switch st {
				case http.StatusOK:
					if got.DeviceID != tt.device || len(got.Timeline) == 0 {
						t.Errorf("device %q with %d timeline entries", got.DeviceID, len(got.Timeline))
					}
				default:
					if got.Error == "" {
						t.Error("404 without a JSON error")
					}
				}
			})
		}
	})

	t.Run("notifications", func(t *testing.T) {
		checkNotifications(t, hook.Received(), teams.Received(), smtpSink.Received())
	})

	t.Run("no secrets in logs", func(t *testing.T) {
		lines := append(h.Stdout(), h.Stderr()...)
		if len(lines) == 0 {
			t.Fatal("the handler wrote no log lines at all")
		}
		for _, secret := range []string{webhookSecret, teamsSecret, smtpPassword, functionKey} {
			for _, l := range lines {
				if strings.Contains(l, secret) {
					t.Errorf("a handler log line holds a secret: %.200s", l)
					break
				}
			}
		}
	})
}

// startHTTPSink starts a local webhook receiver stopped in t.Cleanup.
func startHTTPSink(t *testing.T, dir string) *sink.HTTP {
	t.Helper()
	s, err := sink.NewHTTP(dir)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() {
		if err := s.Close(); err != nil {
			t.Errorf("close http sink: %v", err)
		}
	})
	return s
}

// deliver sends the fleet's messages in arrival order as the host would:
// Event Grid deliveries and metric alerts as they arrive (one invocation per
// Event Grid event), Event Hubs bodies per partition in batches of at most
// maxEventBatchSize with their enqueued times, and an Evaluate timer run
// after each simulated minute. It returns the number of invocations.
func deliver(ctx context.Context, t *testing.T, h *emulator.Host, fleet *sim.Output, start time.Time) int {
	t.Helper()
	arrivals := make([]arrival, 0, len(fleet.Diagnostics)+len(fleet.EventGrid)+len(fleet.MetricAlerts))
	for _, m := range fleet.Diagnostics {
		arrivals = append(arrivals, arrival{m, arriveDiag})
	}
	for _, m := range fleet.EventGrid {
		arrivals = append(arrivals, arrival{m, arriveGrid})
	}
	for _, m := range fleet.MetricAlerts {
		arrivals = append(arrivals, arrival{m, arriveMetric})
	}
	sort.SliceStable(arrivals, func(i, j int) bool { return arrivals[i].msg.Enqueued.Before(arrivals[j].msg.Enqueued) })
	batchSize := h.Host.Extensions.EventHubs.MaxEventBatchSize
	if batchSize <= 0 || batchSize > 100 {
		batchSize = 100
	}
	calls, next := 0, 0
	for now := start; next < len(arrivals); now = now.Add(time.Minute) {
		h.Clock = func() time.Time { return now }
		var parts []string
		batches := map[string][]sim.Message{}
		for ; next < len(arrivals) && !arrivals[next].msg.Enqueued.After(now); next++ {
			a := arrivals[next]
			switch a.kind {
			case arriveDiag:
				if batches[a.msg.Partition] == nil {
					parts = append(parts, a.msg.Partition)
				}
				batches[a.msg.Partition] = append(batches[a.msg.Partition], a.msg)
			case arriveGrid:
				for _, inv := range h.EventGridDelivery("ConnectionEvents", a.msg.Body, funchost.EventGridText) {
					mustInvoke(ctx, t, h, inv)
					calls++
				}
			case arriveMetric:
				mustInvoke(ctx, t, h, h.HTTP("MetricAlert", "POST", "api/hooks/metric-alert", url.Values{"code": {functionKey}},
					http.Header{"Content-Type": {"application/json"}}, a.msg.Body))
				calls++
			}
		}
		for _, p := range parts {
			var bs []emulator.Batch
			for ms := batches[p]; len(ms) > 0; {
				n := min(len(ms), batchSize)
				b := emulator.Batch{Bodies: make([][]byte, n)}
				times := make([]time.Time, n)
				for i := range n {
					b.Bodies[i], times[i] = ms[i].Body, ms[i].Enqueued
				}
				b.Opts = []funchost.EventOption{funchost.Enqueued(times...)}
				bs = append(bs, b)
				ms = ms[n:]
			}
			for _, o := range h.DeliverPartition(ctx, "DiagnosticLogs", p, bs) {
				calls++
				if !o.Succeeded() || len(o.Results) != 1 {
					t.Errorf("DiagnosticLogs partition %s at %s: %d attempts, %v %s", p, now.Format(time.RFC3339), len(o.Results), o.Last().Err, o.Last().Body)
				}
			}
		}
		mustInvoke(ctx, t, h, h.Timer("Evaluate"))
		calls++
		if t.Failed() {
			return calls
		}
	}
	return calls
}

// mustInvoke sends one invocation; a failure fails the test.
func mustInvoke(ctx context.Context, t *testing.T, h *emulator.Host, inv *funchost.Invocation) *funchost.Result {
	t.Helper()
	r := h.Invoke(ctx, inv, 0, nil)
	if r.Failed() {
		t.Errorf("%s failed: %v %s", inv.Function, r.Err, r.Body)
		return r
	}
	for _, b := range h.Function(inv.Function).Bindings {
		if strings.EqualFold(b.Type, "http") && strings.EqualFold(b.Direction, "out") {
			res, err := r.HTTPResponse(b.Name)
			if err != nil || res.StatusCode/100 != 2 {
				t.Errorf("%s answered %d %s (%v)", inv.Function, res.StatusCode, res.Body, err)
			}
		}
	}
	return r
}

// deliveries summarises what the fleet delivers: the newest event time of
// any record or Event Grid event, the newest of the connection evidence
// alone (Connections records and Event Grid events: successful twin or
// telemetry operations are read but ignored, so whether they move the
// eventtime watermark is the handler's choice), and the number of resource-
// log records and Event Grid events.
type deliveries struct {
	newestAny, newestConn time.Time
	records, events       int64
}

func summarise(t *testing.T, fleet *sim.Output) deliveries {
	t.Helper()
	var d deliveries
	see := func(s string, conn bool) {
		tm, err := time.Parse(time.RFC3339Nano, s)
		if err != nil {
			t.Fatalf("event time %q: %v", s, err)
		}
		tm = tm.UTC()
		if tm.After(d.newestAny) {
			d.newestAny = tm
		}
		if conn && tm.After(d.newestConn) {
			d.newestConn = tm
		}
	}
	for _, m := range fleet.Diagnostics {
		var body struct {
			Records []struct {
				Time     string `json:"time"`
				Category string `json:"category"`
			} `json:"records"`
		}
		if err := json.Unmarshal(m.Body, &body); err != nil {
			t.Fatalf("sim body: %v", err)
		}
		for _, r := range body.Records {
			d.records++
			see(r.Time, r.Category == "Connections")
		}
	}
	for _, m := range fleet.EventGrid {
		for _, ev := range funchost.SplitEventGrid(m.Body) {
			var e struct {
				EventTime string `json:"eventTime"`
				Time      string `json:"time"`
			}
			if err := json.Unmarshal(ev, &e); err != nil {
				t.Fatalf("sim event: %v", err)
			}
			d.events++
			see(e.EventTime+e.Time, true) // one of them is set
		}
	}
	if d.newestConn.IsZero() {
		t.Fatal("the fleet has no connection events")
	}
	return d
}

// apiGet calls the Api function as the host does for GET
// /api/v1/<path>?<q>&code=<key> and decodes the answer's body into v.
func apiGet(ctx context.Context, t *testing.T, h *emulator.Host, path string, q url.Values, v any) int {
	t.Helper()
	q2 := url.Values{"code": {functionKey}}
	for k, vs := range q {
		q2[k] = vs
	}
	r := h.Invoke(ctx, h.HTTP("Api", "GET", "api/v1/"+path, q2, nil, nil), 0, nil)
	if r.Failed() {
		t.Fatalf("Api %s: %v %s", path, r.Err, r.Body)
	}
	res, err := r.HTTPResponse("res")
	if err != nil {
		t.Fatalf("Api %s: %v", path, err)
	}
	if ct, _ := lookup(res.Headers, "Content-Type"); !strings.HasPrefix(ct, "application/json") {
		t.Errorf("Api %s: Content-Type %q", path, ct)
	}
	if err := json.Unmarshal([]byte(res.Body), v); err != nil {
		t.Fatalf("Api %s: %d %s: %v", path, res.StatusCode, res.Body, err)
	}
	return res.StatusCode
}

func lookup(h map[string]string, name string) (string, bool) {
	for k, v := range h {
		if strings.EqualFold(k, name) {
			return v, true
		}
	}
	return "", false
}

// listDisconnects reads every diagnosis of hub through the API, following
// next cursors, and converts each to a classify.Diagnosis, checking the
// wire contract on the way.
func listDisconnects(ctx context.Context, t *testing.T, h *emulator.Host, hub string) []classify.Diagnosis {
	t.Helper()
	var ds []classify.Diagnosis
	cursor := ""
	for page := 0; ; page++ {
		if page > 1000 {
			t.Fatal("more than 1000 pages of disconnects: the cursor does not advance")
		}
		q := url.Values{"hub": {hub}, "limit": {"1000"}}
		if cursor != "" {
			q.Set("cursor", cursor)
		}
		var got struct {
			Items []wireDiagnosis `json:"items"`
			Next  string          `json:"next"`
		}
		if st := apiGet(ctx, t, h, "disconnects", q, &got); st != http.StatusOK {
			t.Fatalf("disconnects page %d = %d", page, st)
		}
		for _, w := range got.Items {
			ds = append(ds, fromWire(t, w))
		}
		if got.Next == "" {
			break
		}
		cursor = got.Next
	}
	for i := 1; i < len(ds); i++ {
		if ds[i].Time.After(ds[i-1].Time) {
			t.Errorf("disconnects not newest first: %s after %s", ds[i].Time, ds[i-1].Time)
			break
		}
	}
	return ds
}

// fromWire converts an API diagnosis and checks the §6 contract.
func fromWire(t *testing.T, w wireDiagnosis) classify.Diagnosis {
	t.Helper()
	tm := parseTime(t, w.Time)
	c := classify.Cause(w.Cause)
	if !c.Valid() || w.SeedCause != c.SeedCause() || w.Code != "404104" || w.Confidence < 0 || w.Confidence > 1 {
		t.Errorf("diagnosis breaks the contract: %+v", w)
	}
	if w.Final && (len(w.Evidence) == 0 || w.Recommendation == "") {
		t.Errorf("final diagnosis without evidence or recommendation: %+v", w)
	}
	return classify.Diagnosis{
		Key:  event.Key{Hub: w.Hub, Device: w.DeviceID, Module: w.ModuleID},
		Time: tm, Cause: c, Final: w.Final, Confidence: w.Confidence, Evidence: w.Evidence,
		Recommendation: w.Recommendation, Revisions: w.Revisions,
	}
}

// parseTime parses an RFC 3339 UTC time of the API.
func parseTime(t *testing.T, s string) time.Time {
	t.Helper()
	tm, err := time.Parse(time.RFC3339, s)
	if err != nil || !strings.HasSuffix(s, "Z") {
		t.Fatalf("time %q is not RFC 3339 UTC: %v", s, err)
	}
	return tm
}

// splitDigests separates the daily digests (whose body contains marker)
// from the alert notifications, and counts them.
func splitDigests(got []sink.Saved, marker string) (alerts []sink.Saved, digests int) {
	for _, s := range got {
		if bytes.Contains(s.Body, []byte(marker)) {
			digests++
			continue
		}
		alerts = append(alerts, s)
	}
	return alerts, digests
}

// checkNotifications compares what the three receivers got: the same
// notifications on each channel, identified by notificationId (webhook body
// = Idempotency-Key header = e-mail Message-ID local part; Teams cards carry
// no id, so they are matched by their title: status, kind and hub), and a
// hub incident that fired and resolved.
func checkNotifications(t *testing.T, hooks, cards, mails []sink.Saved) {
	t.Helper()
	t.Logf("received %d webhook notifications, %d Teams cards, %d e-mails", len(hooks), len(cards), len(mails))
	if len(hooks) == 0 {
		t.Fatal("no notifications at all")
	}
	// The fleet passes DIGEST_HOUR (08:00 UTC by default): the hub's daily
	// digest goes to Teams and e-mail, never the webhook.
	cards, cardDigests := splitDigests(cards, `"Daily digest for `)
	mails, mailDigests := splitDigests(mails, "Subject: [DIGEST] ")
	if cardDigests != 1 || mailDigests != 1 {
		t.Errorf("daily digests: %d Teams, %d e-mail; want 1 each", cardDigests, mailDigests)
	}
	for _, s := range hooks {
		if bytes.Contains(s.Body, []byte(`"groupKey":"daily-digest/`)) {
			t.Errorf("the webhook got a digest: %s", s.Path)
		}
	}
	if len(cards) != len(hooks) || len(mails) != len(hooks) {
		t.Errorf("channels disagree: %d webhook, %d Teams, %d e-mail", len(hooks), len(cards), len(mails))
	}
	var hookIDs, mailIDs, hookTitles, cardTitles []string
	incidentFiring, incidentResolved := -1, -1
	for i, s := range hooks {
		var n webhookBody
		if err := json.Unmarshal(s.Body, &n); err != nil {
			t.Fatalf("webhook body %s: %v", s.Path, err)
		}
		if n.NotificationID == "" || s.Key != n.NotificationID {
			t.Errorf("webhook %d: notificationId %q, Idempotency-Key %q", i, n.NotificationID, s.Key)
		}
		hookIDs = append(hookIDs, n.NotificationID)
		kind, hub, _ := strings.Cut(n.GroupKey, "/")
		title := strings.ToUpper(n.Status)
		if n.Repeat > 0 {
			title += fmt.Sprintf(" (REMINDER %d)", n.Repeat)
		}
		hookTitles = append(hookTitles, title+": "+kind+" on "+hub)
		for _, a := range n.Alerts {
			if a.Status != n.Status {
				t.Errorf("webhook %d: a %s notification carries a %s alert (%s)", i, n.Status, a.Status, a.Key)
			}
		}
		if kind == string(classify.HubIncident) {
			switch n.Status {
			case "firing":
				if incidentFiring < 0 {
					incidentFiring = i
				}
			case "resolved":
				if incidentResolved >= 0 {
					t.Errorf("hub incident resolved twice (notifications %d and %d)", incidentResolved, i)
				}
				incidentResolved = i
			}
		}
	}
	if incidentFiring < 0 || incidentResolved < incidentFiring {
		t.Errorf("hub incident: firing notification %d, resolved %d; want one firing, then one resolved", incidentFiring, incidentResolved)
	}
	for _, s := range cards {
		var env struct {
			Type        string `json:"type"`
			Attachments []struct {
				ContentType string `json:"contentType"`
				Content     struct {
					Body []struct {
						Text string `json:"text"`
					} `json:"body"`
				} `json:"content"`
			} `json:"attachments"`
		}
		if err := json.Unmarshal(s.Body, &env); err != nil || env.Type != "message" || len(env.Attachments) != 1 ||
			env.Attachments[0].ContentType != "application/vnd.microsoft.card.adaptive" || len(env.Attachments[0].Content.Body) == 0 {
			t.Errorf("Teams card %s is not a Workflows envelope (%v): %.300s", s.Path, err, s.Body)
			continue
		}
		if s.Key != "" {
			t.Logf("Teams card %s carries Idempotency-Key %s", s.Path, s.Key)
		}
		cardTitles = append(cardTitles, env.Attachments[0].Content.Body[0].Text)
	}
	for _, s := range mails {
		m, err := mail.ReadMessage(bytes.NewReader(s.Body))
		if err != nil {
			t.Errorf("e-mail %s: %v", s.Path, err)
			continue
		}
		id := strings.TrimSuffix(strings.TrimPrefix(m.Header.Get("Message-ID"), "<"), ">")
		local, _, ok := strings.Cut(id, "@")
		if !ok || local == "" {
			t.Errorf("e-mail %s: Message-ID %q", s.Path, m.Header.Get("Message-ID"))
		}
		mailIDs = append(mailIDs, local)
	}
	if !sameMultiset(hookIDs, mailIDs) {
		t.Errorf("webhook notificationIds %v\n!= e-mail Message-IDs %v", hookIDs, mailIDs)
	}
	if !sameMultiset(hookTitles, cardTitles) {
		t.Errorf("webhook notifications %v\n!= Teams card titles %v", hookTitles, cardTitles)
	}
	t.Logf("notifications: %s", strings.Join(hookTitles, "; "))
}

// sameMultiset reports whether a and b hold the same strings, counting
// repeats, in any order.
func sameMultiset(a, b []string) bool {
	if len(a) != len(b) {
		return false
	}
	a, b = append([]string(nil), a...), append([]string(nil), b...)
	sort.Strings(a)
	sort.Strings(b)
	return slices.Equal(a, b)
}
