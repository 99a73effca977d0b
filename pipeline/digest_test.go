package pipeline

import (
	"context"
	"io"
	"net/http"
	"net/http/httptest"
	"sort"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/rs/zerolog"

	"github.com/disconnect-doctor/disconnect-doctor/config"
	"github.com/disconnect-doctor/disconnect-doctor/ingest"
	"github.com/disconnect-doctor/disconnect-doctor/notify/email/smtptest"
	"github.com/disconnect-doctor/disconnect-doctor/sim"
	"github.com/disconnect-doctor/disconnect-doctor/store"
)

// bodySink is a local HTTP receiver keeping every body it was posted.
type bodySink struct {
	*httptest.Server
	mu     sync.Mutex
	bodies []string
}

func newBodySink(t *testing.T) *bodySink {
	r := &bodySink{}
	r.Server = httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, req *http.Request) {
		b, _ := io.ReadAll(req.Body)
		r.mu.Lock()
		r.bodies = append(r.bodies, string(b))
		r.mu.Unlock()
		w.WriteHeader(http.StatusAccepted)
	}))
	t.Cleanup(r.Close)
	return r
}

// count returns how many bodies contain marker, and how many in all.
func (r *bodySink) count(marker string) (n, all int) {
	r.mu.Lock()
	defer r.mu.Unlock()
	for _, b := range r.bodies {
		if strings.Contains(b, marker) {
			n++
		}
	}
	return n, len(r.bodies)
}

// twoHubFleet is two small simulated hubs' resource logs in arrival order.
func twoHubFleet() (time.Time, []sim.Message) {
	var msgs []sim.Message
	var start time.Time
	for i, hub := range []string{"hub-a", "hub-b"} {
		c := sim.DefaultConfig(int64(7 + i))
		c.Hub, c.Devices, c.Duration = hub, 40, 3*time.Hour
		msgs = append(msgs, sim.Generate(c).Diagnostics...)
		start = c.Start
	}
	sort.SliceStable(msgs, func(i, j int) bool { return msgs[i].Enqueued.Before(msgs[j].Enqueued) })
	return start, msgs
}

// runMinutes ingests the messages due and ticks p once per minute from
// *next message on, for the minutes [from, to].
func runMinutes(t *testing.T, p *Pipeline, c *clock, msgs []sim.Message, next *int, from, to time.Time) {
	t.Helper()
	ctx := context.Background()
	for now := from; !now.After(to); now = now.Add(time.Minute) {
		c.t = now
		for ; *next < len(msgs) && !msgs[*next].Enqueued.After(now); *next++ {
			res := &ingest.Result{}
			ingest.ResourceLogs(msgs[*next].Body, res)
			if err := p.Ingest(ctx, "eh/"+msgs[*next].Partition, res); err != nil {
				t.Fatal(err)
			}
		}
		if _, err := p.Tick(ctx); err != nil {
			t.Fatal(err)
		}
	}
}

// digestPipeline builds a pipeline with the channels the settings enable.
func digestPipeline(t *testing.T, st store.Store, c *clock, holder string, settings map[string]string) *Pipeline {
	t.Helper()
	cfg, err := config.Load(func(k string) string { return settings[k] })
	if err != nil {
		t.Fatal(err)
	}
	chans, err := Channels(cfg)
	if err != nil {
		t.Fatal(err)
	}
	p, err := New(Options{Config: cfg, Store: st, Channels: chans, Now: c.Now, Instance: holder, Log: zerolog.Nop(), ReadSafety: -1})
	if err != nil {
		t.Fatal(err)
	}
	return p
}

// TestDailyDigestOncePerHubPerDay drives two hubs through Evaluate with
// real local receivers for Teams, the webhook and PagerDuty and an SMTP
// server: once the watermark passes DIGEST_HOUR each hub's digest reaches
// Teams and e-mail exactly once — not again on later ticks, nor from a
// second instance taking the lease over — and never the webhook or
// PagerDuty, which still get the alerts.
func TestDailyDigestOncePerHubPerDay(t *testing.T) {
	teamsSrv, hookSrv, pdSrv := newBodySink(t), newBodySink(t), newBodySink(t)
	smtpSrv := smtptest.Start(t, smtptest.Options{NoTLS: true})
	settings := map[string]string{
		"TEAMS_WEBHOOK_URL": teamsSrv.URL, "ALERT_WEBHOOK_URL": hookSrv.URL,
		"PAGERDUTY_ROUTING_KEY": "R0UTINGKEY", "PAGERDUTY_EVENTS_URL": pdSrv.URL,
		"SMTP_HOST": smtpSrv.Host, "SMTP_PORT": strconv.Itoa(smtpSrv.Port), "SMTP_TLS": "none",
		"SMTP_FROM": "dd@example.com", "ALERT_EMAIL_TO": "ops@example.com", "DIGEST_HOUR": "9",
	}
	start, msgs := twoHubFleet()
	st := store.NewMemory()
	c := &clock{}
	p := digestPipeline(t, st, c, "first", settings)
	next := 0
	hour := time.Date(start.Year(), start.Month(), start.Day(), 9, 0, 0, 0, time.UTC)
	if _, err := st.PutSilence(context.Background(), store.Silence{ID: "s1", Hub: "hub-a", Device: "pump-*",
		StartsAt: start, EndsAt: hour.Add(3 * time.Hour), CreatedBy: "ops@example.com", Comment: "pump maintenance"}); err != nil {
		t.Fatal(err)
	}

	// Up to the digest hour (the watermark is 5 minutes behind): none yet.
	runMinutes(t, p, c, msgs, &next, start, hour.Add(4*time.Minute))
	if n, _ := teamsSrv.count("Daily digest for"); n != 0 {
		t.Fatalf("%d digests before the watermark reached 09:00", n)
	}
	// Past it, and on for a while: one per hub.
	runMinutes(t, p, c, msgs, &next, hour.Add(5*time.Minute), hour.Add(40*time.Minute))
	// A second instance takes over once the first one's lease has run out.
	p2 := digestPipeline(t, st, c, "second", settings)
	runMinutes(t, p2, c, msgs, &next, hour.Add(43*time.Minute), hour.Add(60*time.Minute))

	for _, hub := range []string{"hub-a", "hub-b"} {
		if n, _ := teamsSrv.count("Daily digest for " + hub + ", "); n != 1 {
			t.Errorf("Teams got %d digests for %s, want 1", n, hub)
		}
		mails := 0
		for _, m := range smtpSrv.Messages() {
			if strings.Contains(string(m.Data), "[DIGEST] "+hub+" ") {
				mails++
				if !strings.Contains(string(m.Data), "Disconnects by cause") {
					t.Errorf("the e-mail digest of %s has no disconnects by cause:\n%s", hub, m.Data)
				}
			}
		}
		if mails != 1 {
			t.Errorf("e-mail got %d digests for %s, want 1", mails, hub)
		}
	}
	if n, _ := teamsSrv.count("hub=hub-a device=pump-* until 05-14 12:00 by ops@example.com: pump maintenance"); n != 1 {
		t.Errorf("%d digests name hub-a's silence, want hub-a's alone", n)
	}
	for name, r := range map[string]*bodySink{"webhook": hookSrv, "pagerduty": pdSrv} {
		n, all := r.count("daily-digest")
		if n != 0 {
			t.Errorf("%s got %d digests", name, n)
		}
		if all == 0 {
			t.Errorf("%s got no alert at all: the test does not show it would have been reachable", name)
		}
	}
	items, err := st.ListItems(context.Background(), start, hour.Add(2*time.Hour))
	if err != nil {
		t.Fatal(err)
	}
	var chans []string
	for _, it := range items {
		if strings.Contains(string(it.Payload), `"groupKey":"daily-digest/`) {
			if it.State != store.OutboxDelivered {
				t.Errorf("digest item %s is %s", it.ID, it.State)
			}
			chans = append(chans, it.Channel)
		}
	}
	sort.Strings(chans)
	if got := strings.Join(chans, ","); got != "email,email,teams,teams" {
		t.Errorf("digest outbox items on channels %s, want email and teams for each hub", got)
	}
}

// TestDigestNeverPaged: with only PagerDuty and the webhook configured the
// digest is recorded as done and nothing is enqueued or sent for it.
func TestDigestNeverPaged(t *testing.T) {
	hookSrv, pdSrv := newBodySink(t), newBodySink(t)
	settings := map[string]string{"ALERT_WEBHOOK_URL": hookSrv.URL, "PAGERDUTY_ROUTING_KEY": "K", "PAGERDUTY_EVENTS_URL": pdSrv.URL,
		"DIGEST_HOUR": "7"}
	start, msgs := twoHubFleet()
	st := store.NewMemory()
	c := &clock{}
	p := digestPipeline(t, st, c, "only", settings)
	next := 0
	runMinutes(t, p, c, msgs, &next, start, start.Add(90*time.Minute))
	if !p.digestDone.Equal(start.Add(time.Hour)) {
		t.Errorf("digests done up to %s, want 07:00", p.digestDone)
	}
	items, err := st.ListItems(context.Background(), start, start.Add(2*time.Hour))
	if err != nil {
		t.Fatal(err)
	}
	for _, it := range items {
		if strings.Contains(string(it.Payload), "daily-digest") {
			t.Errorf("digest enqueued on %s", it.Channel)
		}
	}
	for name, r := range map[string]*bodySink{"webhook": hookSrv, "pagerduty": pdSrv} {
		if n, _ := r.count("daily-digest"); n != 0 {
			t.Errorf("%s got %d digests", name, n)
		}
	}
}
