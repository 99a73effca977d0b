package alert_test

import (
	"bytes"
	"context"
	"crypto/tls"
	"errors"
	"net/http"
	"net/http/httptest"
	"reflect"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/emersion/go-smtp"
	"github.com/rs/zerolog"

	"github.com/disconnect-doctor/disconnect-doctor/alert"
	"github.com/disconnect-doctor/disconnect-doctor/classify"
	"github.com/disconnect-doctor/disconnect-doctor/notify"
	"github.com/disconnect-doctor/disconnect-doctor/notify/email"
	"github.com/disconnect-doctor/disconnect-doctor/notify/email/smtptest"
	"github.com/disconnect-doctor/disconnect-doctor/notify/webhook"
	"github.com/disconnect-doctor/disconnect-doctor/store"
)

const (
	secretPath = "/hooks/T0KEN-abcdef-SECRET"
	secretSig  = "sig=SIGNATURE-s3cr3t"
	smtpPass   = "smtp-PASSWORD-s3cret"
)

// receiver is an httptest webhook whose answers depend on simulated time.
type receiver struct {
	mu       sync.Mutex
	now      time.Time
	answer   func(now time.Time, nth int) (status int, retryAfter string)
	requests []request
	srv      *httptest.Server
}

type request struct {
	at     time.Time
	key    string
	status int
}

func newReceiver(t *testing.T, answer func(now time.Time, nth int) (int, string)) *receiver {
	r := &receiver{answer: answer}
	r.srv = httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, req *http.Request) {
		r.mu.Lock()
		defer r.mu.Unlock()
		if req.URL.Path != secretPath || req.Header.Get("Content-Type") != "application/json" {
			w.WriteHeader(http.StatusBadRequest)
			return
		}
		status, ra := r.answer(r.now, len(r.requests))
		if ra != "" {
			w.Header().Set("Retry-After", ra)
		}
		r.requests = append(r.requests, request{r.now, req.Header.Get("Idempotency-Key"), status})
		w.WriteHeader(status)
	}))
	t.Cleanup(r.srv.Close)
	return r
}

func (r *receiver) url() notify.Secret {
	return notify.Secret(r.srv.URL + secretPath + "?" + secretSig)
}

func (r *receiver) setNow(t time.Time) {
	r.mu.Lock()
	r.now = t
	r.mu.Unlock()
}

func (r *receiver) log() []request {
	r.mu.Lock()
	defer r.mu.Unlock()
	return append([]request(nil), r.requests...)
}

// notifications makes real notifications: three groups on two hubs.
func notifications(t *testing.T, now time.Time) []alert.Notification {
	m := alert.New(alert.Config{})
	sigs := []classify.Signal{fire(classify.HubIncident, "", 0, "I1"), fire(classify.DeviceOffline, "d1", 0, ""), fire(classify.DeviceFlapping, "d2", 0, "")}
	ns := m.Apply(alert.NewState(), sigs, now)
	if len(ns) != 3 {
		t.Fatalf("want 3 notifications, got %d", len(ns))
	}
	return ns
}

// assertNoSecrets fails if any secret appears in the logs or item errors.
func assertNoSecrets(t *testing.T, logs string, items []store.OutboxItem, errs ...error) {
	t.Helper()
	texts := []string{logs}
	for _, it := range items {
		texts = append(texts, it.LastError)
	}
	for _, err := range errs {
		if err != nil {
			texts = append(texts, err.Error())
		}
	}
	for _, s := range texts {
		for _, secret := range []string{secretPath, secretSig, "T0KEN", smtpPass} {
			if strings.Contains(s, secret) {
				t.Errorf("secret %q leaked into %q", secret, s)
			}
		}
	}
}

func items(t *testing.T, st store.Store) []store.OutboxItem {
	t.Helper()
	its, err := st.ListItems(context.Background(), time.Time{}, t0.Add(1000*time.Hour))
	if err != nil {
		t.Fatal(err)
	}
	return its
}

// TestDeliverThrottledThenFailing: the webhook answers 429 with Retry-After
// and then 500 for ten minutes of simulated time; every notification is
// delivered exactly once per idempotency key and Retry-After is honoured.
func TestDeliverThrottledThenFailing(t *testing.T) {
	rcv := newReceiver(t, func(now time.Time, nth int) (int, string) {
		switch {
		case nth == 0:
			return http.StatusTooManyRequests, "120"
		case now.Before(t0.Add(10 * time.Minute)):
			return http.StatusInternalServerError, ""
		}
		return http.StatusOK, ""
	})
	var logs bytes.Buffer
	mem := store.NewMemory()
	d := &alert.Dispatcher{Store: mem, Channels: map[string]alert.Notifier{"webhook": webhook.New(webhook.Config{URL: rcv.url()})},
		Log: zerolog.New(&logs), MinBackoff: 30 * time.Second, MaxBackoff: 5 * time.Minute}
	ns := notifications(t, t0)
	ctx := context.Background()
	if err := d.Enqueue(ctx, ns, t0); err != nil {
		t.Fatal(err)
	}
	var total alert.Report
	for now := t0; now.Before(t0.Add(40 * time.Minute)); now = now.Add(15 * time.Second) {
		rcv.setNow(now)
		rep, err := d.Deliver(ctx, now)
		if err != nil {
			t.Fatalf("Deliver at %s: %v", now, err)
		}
		total.Delivered += rep.Delivered
		total.Dead += rep.Dead
	}
	reqs := rcv.log()
	ok := map[string]int{}
	for i, r := range reqs {
		if i > 0 && r.at.Before(t0.Add(120*time.Second)) {
			t.Errorf("request at +%s ignores Retry-After: 120", r.at.Sub(t0))
		}
		if r.status == http.StatusOK {
			ok[r.key]++
		}
	}
	for _, n := range ns {
		if ok[n.NotificationID] != 1 {
			t.Errorf("notification %s delivered %d times, want exactly 1", n.NotificationID, ok[n.NotificationID])
		}
	}
	if total.Delivered != 3 || total.Dead != 0 {
		t.Errorf("report %+v, want 3 delivered", total)
	}
	its := items(t, mem)
	for _, it := range its {
		if it.State != store.OutboxDelivered {
			t.Errorf("item %s is %s", it.ID, it.State)
		}
	}
	if n := len(reqs) - len(ok); n < 3 {
		t.Errorf("only %d failed requests: the 429/500 phase was not exercised", n)
	}
	t.Logf("%d requests for 3 notifications", len(reqs))
	assertNoSecrets(t, logs.String(), its)
}

// TestDeadLetterKeepsChannelsIndependent: an SMTP 550 on the recipient
// dead-letters the e-mail item with an error log line, while the webhook
// delivers normally.
func TestDeadLetterKeepsChannelsIndependent(t *testing.T) {
	rcv := newReceiver(t, func(time.Time, int) (int, string) { return http.StatusAccepted, "" })
	srv := smtptest.Start(t, smtptest.Options{Mechanisms: []string{"LOGIN"}, Username: "user", Password: smtpPass,
		Refuse: map[string]*smtp.SMTPError{"ops@example.com": {Code: 550, EnhancedCode: smtp.EnhancedCode{5, 1, 1}, Message: "no such user"}}})
	mail, err := email.New(email.Config{Host: srv.Host, Port: srv.Port, Username: "user", Password: smtpPass,
		From: "alerts@example.com", To: []string{"ops@example.com"}, TLSConfig: &tls.Config{RootCAs: srv.RootCAs}})
	if err != nil {
		t.Fatal(err)
	}
	var logs bytes.Buffer
	mem := store.NewMemory()
	d := &alert.Dispatcher{Store: mem, Log: zerolog.New(&logs),
		Channels: map[string]alert.Notifier{"webhook": webhook.New(webhook.Config{URL: rcv.url()}), "email": mail}}
	ns := notifications(t, t0)
	if err := d.Enqueue(context.Background(), ns, t0); err != nil {
		t.Fatal(err)
	}
	rep, err := d.Deliver(context.Background(), t0)
	if err != nil {
		t.Fatal(err)
	}
	if rep.Delivered != 3 || rep.Dead != 3 {
		t.Fatalf("report %+v, want 3 delivered (webhook) and 3 dead (email)", rep)
	}
	for _, it := range items(t, mem) {
		want := map[string]store.OutboxState{"webhook": store.OutboxDelivered, "email": store.OutboxDead}[it.Channel]
		if it.State != want {
			t.Errorf("%s is %s, want %s", it.ID, it.State, want)
		}
		if it.Channel == "email" && !strings.Contains(it.LastError, "550") {
			t.Errorf("dead item's error %q does not say 550", it.LastError)
		}
	}
	if n := strings.Count(logs.String(), `"level":"error"`); n != 3 || !strings.Contains(logs.String(), "dead-lettered") {
		t.Errorf("want 3 error lines about dead-lettering, got %d:\n%s", n, logs.String())
	}
	if again, _ := d.Deliver(context.Background(), t0.Add(time.Hour)); !reflect.DeepEqual(again, alert.Report{}) {
		t.Errorf("dead and delivered items were sent again: %+v", again)
	}
	assertNoSecrets(t, logs.String(), items(t, mem))
}

// TestDeadAfterRetryingFor24h: a channel that keeps failing retryably is
// dead-lettered once its item is DeadAfter old, and the logs and errors
// never mention the URL even when the connection itself fails.
func TestDeadAfterRetryingFor24h(t *testing.T) {
	rcv := newReceiver(t, nil)
	url := rcv.url()
	rcv.srv.Close() // connection refused: a *url.Error carrying the URL
	var logs bytes.Buffer
	mem := store.NewMemory()
	d := &alert.Dispatcher{Store: mem, Log: zerolog.New(&logs), Channels: map[string]alert.Notifier{"webhook": webhook.New(webhook.Config{URL: url})}}
	ns := notifications(t, t0)[:1]
	if err := d.Enqueue(context.Background(), ns, t0); err != nil {
		t.Fatal(err)
	}
	var dead int
	for now := t0; now.Before(t0.Add(26 * time.Hour)); now = now.Add(10 * time.Minute) {
		rep, err := d.Deliver(context.Background(), now)
		if err != nil {
			t.Fatal(err)
		}
		if rep.Dead > 0 && now.Before(t0.Add(24*time.Hour)) {
			t.Fatalf("dead-lettered at +%s, before DeadAfter", now.Sub(t0))
		}
		dead += rep.Dead
	}
	its := items(t, mem)
	if dead != 1 || its[0].State != store.OutboxDead || its[0].Attempts < 10 {
		t.Fatalf("dead=%d item=%+v; want one dead item after many attempts", dead, its[0])
	}
	if !strings.Contains(its[0].LastError, "connection refused") {
		t.Errorf("LastError %q lost the cause", its[0].LastError)
	}
	assertNoSecrets(t, logs.String(), its)
}

// crashStore dies (fails UpdateItem, recording nothing) once, after the
// send it should record: the process crashed between send and record.
type crashStore struct {
	store.Store
	mu      sync.Mutex
	crashID string
	crashed bool
}

func (c *crashStore) UpdateItem(ctx context.Context, it store.OutboxItem) error {
	c.mu.Lock()
	defer c.mu.Unlock()
	if !c.crashed && it.ID == c.crashID {
		c.crashed = true
		return errors.New("process died")
	}
	return c.Store.UpdateItem(ctx, it)
}

// TestCrashBetweenSendAndRecord: after a restart nothing is lost, and the
// one duplicate carries the same idempotency key. A recompute of the
// notifications (state not saved either) enqueues nothing new.
func TestCrashBetweenSendAndRecord(t *testing.T) {
	rcv := newReceiver(t, func(time.Time, int) (int, string) { return http.StatusOK, "" })
	mem := store.NewMemory()
	ns := notifications(t, t0)
	crash := &crashStore{Store: mem, crashID: ns[1].NotificationID + "/webhook"}
	channels := map[string]alert.Notifier{"webhook": webhook.New(webhook.Config{URL: rcv.url()})}
	d := &alert.Dispatcher{Store: crash, Channels: channels, Log: zerolog.Nop()}
	ctx := context.Background()
	if err := d.Enqueue(ctx, ns, t0); err != nil {
		t.Fatal(err)
	}
	if _, err := d.Deliver(ctx, t0); err == nil || !strings.Contains(err.Error(), "process died") {
		t.Fatalf("Deliver err = %v, want the crash", err)
	}
	// Restart: a new dispatcher on the same store recomputes and re-enqueues.
	d2 := &alert.Dispatcher{Store: mem, Channels: channels, Log: zerolog.Nop()}
	if err := d2.Enqueue(ctx, notifications(t, t0), t0.Add(time.Minute)); err != nil {
		t.Fatal(err)
	}
	if n := len(items(t, mem)); n != 3 {
		t.Fatalf("re-enqueue after the crash made %d items, want the same 3", n)
	}
	if _, err := d2.Deliver(ctx, t0.Add(time.Minute)); err != nil {
		t.Fatal(err)
	}
	got := map[string]int{}
	for _, r := range rcv.log() {
		got[r.key]++
	}
	for i, n := range ns {
		want := 1
		if i == 1 {
			want = 2 // sent, crash, sent again: same Idempotency-Key
		}
		if got[n.NotificationID] != want {
			t.Errorf("notification %d received %d times, want %d", i, got[n.NotificationID], want)
		}
	}
	for _, it := range items(t, mem) {
		if it.State != store.OutboxDelivered {
			t.Errorf("%s is %s after restart", it.ID, it.State)
		}
	}
}

// TestStaleIsSuppressed: a backlog's notification is recorded, not sent.
func TestStaleIsSuppressed(t *testing.T) {
	rcv := newReceiver(t, func(time.Time, int) (int, string) { return http.StatusOK, "" })
	mem := store.NewMemory()
	d := &alert.Dispatcher{Store: mem, Log: zerolog.Nop(), Channels: map[string]alert.Notifier{"webhook": webhook.New(webhook.Config{URL: rcv.url()})}}
	now := t0.Add(3 * time.Hour)
	ns := notifications(t, now) // fired at t0: stale at t0+3h
	for _, n := range ns {
		if !n.Stale {
			t.Fatalf("notification %s not stale", n.GroupKey)
		}
	}
	if err := d.Enqueue(context.Background(), ns, now); err != nil {
		t.Fatal(err)
	}
	rep, err := d.Deliver(context.Background(), now.Add(time.Hour))
	if err != nil {
		t.Fatal(err)
	}
	if rep.Delivered != 0 || len(rcv.log()) != 0 {
		t.Fatalf("stale notifications were sent: %+v", rep)
	}
	for _, it := range items(t, mem) {
		if it.State != store.OutboxSuppressed {
			t.Errorf("%s is %s, want suppressed", it.ID, it.State)
		}
	}
}
