package main

import (
	"context"
	"encoding/json"
	"flag"
	"fmt"
	"io"
	"maps"
	"net"
	"os"
	"path/filepath"
	"runtime/debug"
	"slices"
	"sort"
	"strconv"
	"strings"
	"sync"
	"time"

	"github.com/disconnect-doctor/disconnect-doctor/alert"
	"github.com/disconnect-doctor/disconnect-doctor/api"
	"github.com/disconnect-doctor/disconnect-doctor/classify"
	"github.com/disconnect-doctor/disconnect-doctor/config"
	"github.com/disconnect-doctor/disconnect-doctor/handlers"
	"github.com/disconnect-doctor/disconnect-doctor/internal/funchost"
	"github.com/disconnect-doctor/disconnect-doctor/internal/sink"
	"github.com/disconnect-doctor/disconnect-doctor/notify"
	"github.com/disconnect-doctor/disconnect-doctor/notify/email"
	"github.com/disconnect-doctor/disconnect-doctor/notify/teams"
	"github.com/disconnect-doctor/disconnect-doctor/notify/webhook"
	"github.com/disconnect-doctor/disconnect-doctor/pipeline"
	"github.com/disconnect-doctor/disconnect-doctor/sim"
	"github.com/disconnect-doctor/disconnect-doctor/site"
	"github.com/disconnect-doctor/disconnect-doctor/store"
)

// simClock is the simulated wall clock of a run: the pipeline, the host
// emulator's payloads and the e-mail Date headers all read it.
type simClock struct {
	mu sync.Mutex
	t  time.Time
}

func (c *simClock) Now() time.Time {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.t
}

func (c *simClock) Set(t time.Time) {
	c.mu.Lock()
	c.t = t
	c.mu.Unlock()
}

// arrival is one input of the simulated fleet, at the time it reaches the
// app.
type arrival struct {
	at        time.Time
	kind      int // arriveDiag, arriveGrid, arriveMetric
	partition string
	body      []byte
}

const (
	arriveDiag = iota
	arriveGrid
	arriveMetric
)

// runReadKeep is how long the run's store keeps events its pipeline has
// read: the pipeline re-reads at most from its last commit, made every 5
// ticks (5 simulated minutes here), so 10 minutes is twice that, and a
// 100 000-device run no longer holds an hour or two of events (the
// incident's million hub-side errors among them) nobody reads again.
const runReadKeep = 10 * time.Minute

// runMemoryLimit is the soft memory limit a run gives the Go runtime
// unless GOMEMLIMIT is set: a 100 000-device run's live heap peaks at
// about 1.5 GiB during the incident, and with the default GOGC the heap
// would grow to twice that before collecting; near the limit the collector
// runs more often instead.
const runMemoryLimit = 2560 << 20

// RunResult is what a run produced, for the printed report and tests.
type RunResult struct {
	Fleet     *sim.Output
	Store     store.Store
	Diagnoses []classify.Diagnosis
	Incidents []classify.Incident
	// Sites are the site outages found (package site; run_sites.go).
	Sites []site.Outage
	// Score is the accuracy of the diagnoses against the fleet's truth.
	Score sim.Score
	// Settled scores the same 404104s from SettledFrom on: the records'
	// first classify.HubCutMax, when the token age of a client that
	// connected before the records began is not yet known, left out.
	Settled       sim.Score
	SettledFrom   time.Time
	Notifications []alert.Notification
	// Digests are the daily digests delivered (the run ends just past the
	// digest hour: one per hub); Teams, Emails and Graph count them too.
	Digests       []alert.Notification
	Teams, Emails int
	// Graph and PagerDuty count the sendMail and Events API requests.
	Graph, PagerDuty int
	Invocations      int
	Failed           int
	// App and Backend are the app and the pipeline the run drove, for the
	// dashboard's snapshots and --serve (dashboard.go).
	App     *funchost.App
	Backend handlers.Backend
}

// runOptions configure a simulated run.
type runOptions struct {
	sim    sim.Config
	cfg    config.Config
	out    string // folder for notifications and reports ("" = none)
	appDir string // folder holding host.json and functions/
	// progress, when set, gets a line per simulated hour.
	progress io.Writer
	// routes is an ALERT_ROUTES document, applied to the run's channels.
	routes string
	// profile, when set, samples the heap once a simulated minute.
	profile *runProfile
}

// run is `handler run` (make run): a realistic simulated fleet through the
// same handlers as production, on the embedded store, with the real
// notification channels pointed at local receivers.
func run(ctx context.Context, args []string, w io.Writer) error {
	fs := flag.NewFlagSet("run", flag.ContinueOnError)
	var f simFlags
	f.register(fs, 400, 10)
	out := fs.String("out", "out", "folder for the notifications, diagnoses and report")
	appDir := fs.String("app", ".", "folder holding host.json and functions/ (the repository root)")
	serveAddr := fs.String("serve", "", "after the run, serve the dashboard live on this address (e.g. 127.0.0.1:8080) until Ctrl-C")
	prof := &runProfile{}
	fs.StringVar(&prof.cpu, "cpuprofile", "", "write a CPU profile of the run to this file (go tool pprof)")
	fs.StringVar(&prof.mem, "memprofile", "", "write a heap profile taken at the run's largest live heap to this file")
	if err := fs.Parse(args); err != nil {
		return err
	}
	sc, err := f.config(time.Time{})
	if err != nil {
		return fmt.Errorf("run: %w", err)
	}
	// ALERT_ROUTES is checked against the run's own local channels, not
	// against the channel settings of the environment (see runRoutes).
	cfg, err := config.Load(func(k string) string {
		if k == "ALERT_ROUTES" {
			return ""
		}
		return os.Getenv(k)
	})
	if err != nil {
		return err
	}
	if os.Getenv("GOMEMLIMIT") == "" {
		debug.SetMemoryLimit(runMemoryLimit)
	}
	if err := prof.start(); err != nil {
		return fmt.Errorf("run: %w", err)
	}
	defer prof.stop()
	begin := time.Now()
	fmt.Fprintf(w, "disconnect-doctor: simulating hub %q, %d devices, %s, %d incident(s), seed %d\n",
		sc.Hub, sc.Devices, sc.Duration, sc.Incidents, sc.Seed)
	res, err := simulateRun(ctx, runOptions{sim: sc, cfg: cfg, out: *out, appDir: *appDir, progress: w, routes: os.Getenv("ALERT_ROUTES"), profile: prof})
	if err != nil {
		return fmt.Errorf("run: %w", err)
	}
	var b strings.Builder
	printRun(&b, res)
	fmt.Fprintf(&b, "\nfinished in %s (wall clock)\n", time.Since(begin).Round(time.Millisecond))
	io.WriteString(w, b.String())
	if *out != "" {
		if err := os.WriteFile(filepath.Join(*out, "report.txt"), []byte(b.String()), 0o644); err != nil {
			return fmt.Errorf("run: %w", err)
		}
		fmt.Fprintf(w, "wrote %s: teams/, webhook/, email/, graph/, pagerduty/, dashboard/, diagnoses.json, mismatches.json, report.txt\n", *out)
		index, err := writeDashboard(ctx, res, filepath.Join(*out, "dashboard"))
		if err != nil {
			return fmt.Errorf("run: %w", err)
		}
		io.WriteString(w, dashboardNote(index))
	}
	if res.Failed > 0 {
		return fmt.Errorf("run: %d of %d invocations failed", res.Failed, res.Invocations)
	}
	if *serveAddr != "" {
		return serveDashboard(ctx, res, *serveAddr, *out, w)
	}
	return nil
}

// simulateRun drives the fleet through the handlers minute by minute on a
// simulated clock, as the Functions host would: Event Hubs batches per
// partition, one Event Grid invocation per event, metric alerts over HTTP,
// and the Evaluate timer every minute.
func simulateRun(ctx context.Context, o runOptions) (*RunResult, error) {
	clock := &simClock{t: o.sim.Start}
	st := store.NewMemory(store.ForgetReadEvents(runReadKeep))
	res := &RunResult{Store: st}

	channels := map[string]alert.Notifier{}
	var webhookSink, teamsSink *sink.HTTP
	var mailSink *sink.SMTP
	var reqSinks *requestSinks
	if o.out != "" {
		for _, d := range []string{"teams", "webhook", "email"} {
			if err := os.RemoveAll(filepath.Join(o.out, d)); err != nil {
				return nil, err
			}
		}
		var err error
		if teamsSink, err = sink.NewHTTP(filepath.Join(o.out, "teams")); err != nil {
			return nil, err
		}
		defer teamsSink.Close()
		if webhookSink, err = sink.NewHTTP(filepath.Join(o.out, "webhook")); err != nil {
			return nil, err
		}
		defer webhookSink.Close()
		if mailSink, err = sink.NewSMTP(filepath.Join(o.out, "email")); err != nil {
			return nil, err
		}
		defer mailSink.Close()
		host, port, _ := net.SplitHostPort(mailSink.Addr)
		pn, _ := strconv.Atoi(port)
		mail, err := email.New(email.Config{Host: host, Port: pn, TLS: email.TLSNone, From: "disconnect-doctor@localhost",
			To: []string{"oncall@localhost"}, Now: clock.Now})
		if err != nil {
			return nil, err
		}
		channels["teams"] = teams.New(teams.Config{URL: notify.Secret(teamsSink.URL)})
		channels["webhook"] = webhook.New(webhook.Config{URL: notify.Secret(webhookSink.URL)})
		channels["email"] = mail
		if reqSinks, err = startRequestSinks(o.out, channels); err != nil {
			return nil, err
		}
		defer reqSinks.Close()
	}

	logf, err := logFile(o.out)
	if err != nil {
		return nil, err
	}
	defer logf.Close()
	log := newLogger(logf, logf)
	// The simulated fleet stops at its end while the run ticks on to let
	// verdicts settle: that silence, and the last late records holding the
	// watermark, are the simulation ending, not the pipeline failing. The
	// pipeline's own wall-clock alerts wait past the tail.
	cfg := o.cfg
	if cfg.Routes, err = runRoutes(o.routes, channels); err != nil {
		return nil, err
	}
	tail := cfg.Engine.AllowedLateness + cfg.Engine.ReconnectGrace + cfg.Engine.OfflineAfter + cfg.Engine.FlapReset + 10*time.Minute
	fleetEnd := o.sim.Start.Add(o.sim.Duration)
	end := runDigestHour(&cfg, fleetEnd.Add(tail))
	tail = end.Sub(fleetEnd)
	// The fleet is simulated minute by minute as the run reads it: a big
	// fleet's records never all exist at once. Its devices away at its end
	// come back during the tail (sim.Config.Settle), as they would on a hub
	// whose records go on; nothing else happens after the end. The
	// reconnects stop early enough for their last records, however late
	// they arrive, to leave every partition idle, and so the watermark
	// free to pass the digest hour, before the run ends.
	o.sim.Settle = max(tail-cfg.Engine.AllowedLateness-max(o.sim.TailMax, o.sim.DelayMax)-2*time.Minute, 0)
	fleet := sim.NewStream(o.sim)
	cfg.Watch.SilentAfter = max(cfg.Watch.SilentAfter, tail+time.Minute)
	cfg.Watch.LagAfter = max(cfg.Watch.LagAfter, tail+time.Minute)
	p, err := pipeline.New(pipeline.Options{Config: cfg, Store: st, Channels: channels, Now: clock.Now,
		Log: log, ReadSafety: -1})
	if err != nil {
		return nil, err
	}
	h := handlers.New(p, log, handlers.Options{})
	app, err := funchost.LoadApp(o.appDir, filepath.Join(o.appDir, "functions"), funchost.LocalSettings())
	if err != nil {
		return nil, fmt.Errorf("load the app's function.json files (run from the repository root, or pass --app): %w", err)
	}
	app.Clock = clock.Now
	res.App, res.Backend = app, p

	invoke := func(inv *funchost.Invocation) error {
		res.Invocations++
		r := app.Call(ctx, h, inv, 0)
		if r.Failed() {
			res.Failed++
			return fmt.Errorf("%s: %w", inv.Function, r.Err)
		}
		return nil
	}
	// The run goes on past the fleet's end until every verdict and alert
	// has had time to settle (lateness, grace, offline, flapping reset).
	batchSize := app.Host.BatchRule().Max // host.json's, or the extension's default
	for t := o.sim.Start; !t.After(end); t = t.Add(time.Minute) {
		if err := ctx.Err(); err != nil {
			return nil, err
		}
		clock.Set(t)
		// Everything that arrived in the past minute, as the host delivers
		// it: Event Hubs batches of at most maxEventBatchSize per partition.
		batches := map[string][]arrival{}
		var parts []string
		for _, a := range minuteArrivals(fleet.Next(t)) {
			switch a.kind {
			case arriveDiag:
				if batches[a.partition] == nil {
					parts = append(parts, a.partition)
				}
				batches[a.partition] = append(batches[a.partition], a)
			case arriveGrid:
				for _, inv := range app.EventGridDelivery("ConnectionEvents", a.body, funchost.EventGridText) {
					if err := invoke(inv); err != nil {
						log.Error().Err(err).Msg("run: invocation failed")
					}
				}
			case arriveMetric:
				inv := app.HTTP("MetricAlert", "POST", "hooks/metric-alert", nil,
					map[string][]string{"Content-Type": {"application/json"}}, a.body)
				if err := invoke(inv); err != nil {
					log.Error().Err(err).Msg("run: invocation failed")
				}
			}
		}
		for _, part := range parts {
			as := batches[part]
			for len(as) > 0 {
				n := min(len(as), batchSize)
				bodies := make([][]byte, n)
				times := make([]time.Time, n)
				for i := range n {
					bodies[i], times[i] = as[i].body, as[i].at
				}
				if err := invoke(app.EventHubBatch("DiagnosticLogs", part, bodies, nil, funchost.Enqueued(times...))); err != nil {
					log.Error().Err(err).Msg("run: invocation failed")
				}
				as = as[n:]
			}
		}
		if err := invoke(app.Timer("Evaluate")); err != nil {
			log.Error().Err(err).Msg("run: evaluate failed")
		}
		if err := o.profile.sample(); err != nil {
			return nil, err
		}
		if o.progress != nil && t.Sub(o.sim.Start)%(2*time.Hour) == 0 && t != o.sim.Start {
			fmt.Fprintf(o.progress, "  … simulated %s of %s\n", t.Sub(o.sim.Start), end.Sub(o.sim.Start).Round(time.Minute))
		}
	}

	res.Fleet = fleet.Result()
	if res.Digests, err = runDigests(ctx, st); err != nil {
		return nil, err
	}
	if res.Diagnoses, err = allDiagnoses(ctx, st); err != nil {
		return nil, err
	}
	if res.Incidents, err = st.ListIncidents(ctx, "", nil); err != nil {
		return nil, err
	}
	if res.Sites, err = runSites(ctx, st); err != nil {
		return nil, err
	}
	res.Score = sim.ScoreDiagnoses(res.Fleet.Truth, res.Diagnoses)
	res.SettledFrom = o.sim.Start.Add(classify.HubCutMax * time.Second)
	res.Settled = sim.ScoreDiagnoses(from(res.Fleet.Truth, res.Diagnoses, res.SettledFrom))
	if webhookSink != nil {
		for _, s := range webhookSink.Received() {
			var n alert.Notification
			if err := json.Unmarshal(s.Body, &n); err != nil {
				return nil, fmt.Errorf("webhook body %s: %w", s.Path, err)
			}
			res.Notifications = append(res.Notifications, n)
		}
		res.Teams = len(teamsSink.Received())
		res.Emails = len(mailSink.Received())
		res.Graph, res.PagerDuty = len(reqSinks.graph.Received()), len(reqSinks.pagerduty.Received())
	}
	if o.out != "" {
		wire := make([]api.Diagnosis, len(res.Diagnoses))
		for i, d := range res.Diagnoses {
			wire[i] = api.FromDiagnosis(d)
		}
		b, err := json.MarshalIndent(wire, "", "  ")
		if err != nil {
			return nil, err
		}
		if err := os.WriteFile(filepath.Join(o.out, "diagnoses.json"), b, 0o644); err != nil {
			return nil, err
		}
		type wrong struct {
			Truth     sim.Truth     `json:"truth"`
			Diagnosis api.Diagnosis `json:"diagnosis"`
		}
		ws := make([]wrong, len(res.Score.Wrong))
		for i, m := range res.Score.Wrong {
			ws[i] = wrong{m.Truth, api.FromDiagnosis(m.Diagnosis)}
		}
		if b, err = json.MarshalIndent(ws, "", "  "); err != nil {
			return nil, err
		}
		if err := os.WriteFile(filepath.Join(o.out, "mismatches.json"), b, 0o644); err != nil {
			return nil, err
		}
	}
	return res, nil
}

// minuteArrivals lists one minute's messages in arrival order, as the
// host sees them: on a tie, resource logs before Event Grid before metric
// alerts.
func minuteArrivals(in sim.Arrivals) []arrival {
	out := make([]arrival, 0, len(in.Diagnostics)+len(in.EventGrid)+len(in.MetricAlerts))
	for _, m := range in.Diagnostics {
		out = append(out, arrival{at: m.Enqueued, kind: arriveDiag, partition: m.Partition, body: m.Body})
	}
	for _, m := range in.EventGrid {
		out = append(out, arrival{at: m.Enqueued, kind: arriveGrid, body: m.Body})
	}
	for _, m := range in.MetricAlerts {
		out = append(out, arrival{at: m.Enqueued, kind: arriveMetric, body: m.Body})
	}
	sort.SliceStable(out, func(i, j int) bool { return out[i].at.Before(out[j].at) })
	return out
}

// runDigests returns the daily digests the run's outbox delivered, once each.
func runDigests(ctx context.Context, st store.Store) ([]alert.Notification, error) {
	items, err := st.ListItems(ctx, time.Time{}, time.Date(9999, 1, 1, 0, 0, 0, 0, time.UTC))
	if err != nil {
		return nil, err
	}
	var out []alert.Notification
	seen := map[string]bool{}
	for _, it := range items {
		if it.State != store.OutboxDelivered || seen[it.NotificationID] {
			continue
		}
		n, err := alert.DecodePayload(it.Payload)
		if err != nil || n.Digest == nil {
			continue
		}
		seen[it.NotificationID] = true
		out = append(out, *n)
	}
	return out, nil
}

// runDigestHour makes the run end with each hub's daily digest covering
// the whole simulated fleet: unless DIGEST_HOUR is set, the digest hour is
// the first full hour after end, and the run goes on until the watermark
// has passed it. It returns the run's new end.
func runDigestHour(cfg *config.Config, end time.Time) time.Time {
	if os.Getenv("DIGEST_HOUR") != "" {
		return end
	}
	at := end.Truncate(time.Hour).Add(time.Hour)
	cfg.DigestHour = at.Hour()
	return at.Add(cfg.Engine.AllowedLateness + 2*time.Minute)
}

// logFile is where the handler's own log lines go during a run: out/handler.log,
// or nowhere without an output folder.
func logFile(out string) (io.WriteCloser, error) {
	if out == "" {
		return nopCloser{io.Discard}, nil
	}
	if err := os.MkdirAll(out, 0o755); err != nil {
		return nil, err
	}
	return os.Create(filepath.Join(out, "handler.log"))
}

type nopCloser struct{ io.Writer }

func (nopCloser) Close() error { return nil }

// from keeps the true 404104s and the diagnoses at or after t (to the
// second, as ScoreDiagnoses pairs them).
func from(truth []sim.Truth, ds []classify.Diagnosis, t time.Time) ([]sim.Truth, []classify.Diagnosis) {
	in := func(x time.Time) bool { return !x.UTC().Truncate(time.Second).Before(t) }
	var ts []sim.Truth
	for _, x := range truth {
		if in(x.Time) {
			ts = append(ts, x)
		}
	}
	var out []classify.Diagnosis
	for _, d := range ds {
		if in(d.Time) {
			out = append(out, d)
		}
	}
	return ts, out
}

// printRun writes the human report of a run.
func printRun(w io.Writer, r *RunResult) {
	fmt.Fprintf(w, "\n== diagnoses of %d disconnects (404104) ==\n", len(r.Diagnoses))
	printCauses(w, r.Diagnoses)
	fmt.Fprintf(w, "\n== accuracy against the simulator's truth ==\n")
	r.Score.Print(w)
	fmt.Fprintf(w, "\nthe same from %s on, after the records' first %d minutes: until then a .NET or Java client that connected before the records began has a token of unknown age, and a network drop of one without a 401003 cannot be told from its token cut-off; a hub sees that once, in its first %d minutes with the product\n",
		r.SettledFrom.Format(time.RFC3339), classify.HubCutMax/60, classify.HubCutMax/60)
	r.Settled.Print(w)
	fmt.Fprintf(w, "\n== hub incidents (injected: %d) ==\n", len(r.Fleet.Incidents))
	printIncidents(w, r.Incidents)
	fmt.Fprintf(w, "\n== site outages (injected: %d) ==\n", len(r.Fleet.Sites))
	printSites(w, r.Sites)
	fmt.Fprintf(w, "\n== notifications (%d webhook, %d Teams cards, %d e-mails, %d Graph sendMail, %d PagerDuty events) ==\n",
		len(r.Notifications), r.Teams, r.Emails, r.Graph, r.PagerDuty)
	for _, n := range r.Notifications {
		status := n.Status
		switch {
		case n.IsReminder():
			status = "reminder" + strconv.Itoa(n.Repeat)
		case n.Suspected() && n.Status == alert.StatusFiring:
			status = "suspected"
		case n.Suspected():
			status = "withdrawn"
		case n.Confirmed():
			status = "confirmed"
		}
		fmt.Fprintf(w, "%-10s %-40s %d alert(s)", status, n.GroupKey, n.AlertCount())
		if len(n.Alerts) > 0 {
			fmt.Fprintf(w, "  %s", n.Alerts[0].Summary)
		}
		fmt.Fprintln(w)
	}
	fmt.Fprintf(w, "\n== daily digest (Teams card and e-mail in teams/, email/, graph/) ==\n")
	for _, n := range r.Digests {
		fmt.Fprintf(w, "%s — %s\n%s\n", n.Digest.Title(), n.Digest.Span(), n.Digest.Headline())
	}
	if r.Failed > 0 {
		fmt.Fprintf(w, "\n%d of %d invocations FAILED (see handler.log)\n", r.Failed, r.Invocations)
	}
}

// runRoutes parses an ALERT_ROUTES document for the run: its channels are
// the local receivers the run starts, whatever the environment configures.
func runRoutes(doc string, channels map[string]alert.Notifier) (*alert.Routes, error) {
	if strings.TrimSpace(doc) == "" {
		return nil, nil
	}
	rs, err := alert.ParseRoutes(doc, slices.Sorted(maps.Keys(channels)))
	if err != nil {
		return nil, fmt.Errorf("config: ALERT_ROUTES: %w", err)
	}
	return rs, nil
}
