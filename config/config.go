// Package config reads disconnect-doctor's app settings (PRODUCT.md §4) from
// the environment. A bad value is a start-up error naming the setting, never a
// silent default; secrets are held in notify.Secret so that printing a Config
// cannot leak them. The storage settings are resolved by store.Open, which
// owns their precedence rules.
package config

import (
	"errors"
	"fmt"
	"net/mail"
	"net/url"
	"strconv"
	"strings"
	"time"

	"github.com/disconnect-doctor/disconnect-doctor/alert"
	"github.com/disconnect-doctor/disconnect-doctor/classify"
	"github.com/disconnect-doctor/disconnect-doctor/notify"
	"github.com/disconnect-doctor/disconnect-doctor/site"
	"github.com/disconnect-doctor/disconnect-doctor/watch"
)

// Config is every setting the handler uses besides storage.
type Config struct {
	// Port is FUNCTIONS_CUSTOMHANDLER_PORT; empty outside the host.
	Port string
	// UnderHost is true when FUNCTIONS_WORKER_RUNTIME is set: the handler runs
	// under the Functions host, where silent in-memory state is refused.
	UnderHost bool

	// Engine holds the classification settings (WATERMARK, ALLOWED_LATENESS,
	// RECONNECT_GRACE, FLAP_*, OFFLINE_AFTER, INCIDENT_MIN_DEVICES, RETENTION).
	Engine classify.Config
	// StaleAfter and RepeatInterval drive the alert side.
	StaleAfter     time.Duration
	RepeatInterval time.Duration
	// GroupInterval (GROUP_INTERVAL, 5m; 0 turns it off, stored as -1) is
	// how long a group of device alerts waits between notifications
	// (alert.Config.GroupInterval).
	GroupInterval time.Duration

	// StepEvents (EVALUATE_STEP_EVENTS) bounds the events one Evaluate step
	// reads: a backlog is worked through in steps, each committed.
	StepEvents int
	// ReadSafety (EVALUATE_READ_SAFETY) is how far before its cursor
	// Evaluate re-reads appended events, for appends still in flight at its
	// last read: the longest an append may take. A longer margin re-reads
	// more events at every tick (read requests, time).
	ReadSafety time.Duration
	// Watch holds the thresholds of the pipeline's own alerts
	// (PIPELINE_SILENT_AFTER, LAG_ALERT_AFTER).
	Watch watch.Config

	// PublicBaseURL is where people reach the app (links in notifications).
	PublicBaseURL string
	// Channels.
	WebhookURL notify.Secret
	TeamsURL   notify.Secret
	SMTP       SMTP
	Graph      Graph
	PagerDuty  PagerDuty
	// Routes choose each notification's channels (ALERT_ROUTES); nil
	// means every configured channel.
	Routes *alert.Routes

	// DigestHour is the UTC hour each hub's daily digest falls due
	// (DIGEST_HOUR, default 8), DigestOff when turned off.
	DigestHour int

	// Site tunes site outages (SITE_MIN_DEVICES, SITE_WINDOW; package site).
	Site site.Config
}

// SMTP is the e-mail channel; it is enabled when Host and To are set.
type SMTP struct {
	Host     string
	Port     int
	Username string
	Password notify.Secret
	From     string
	To       []string
	// TLS is "starttls", "implicit" (SMTPS) or "none" (a local sink only);
	// empty chooses by port: implicit on 465, STARTTLS elsewhere.
	TLS string
	// Auth is "password" (PLAIN/LOGIN with Username and Password) or
	// "xoauth2" (a managed-identity token for Exchange Online); ClientID
	// picks a user-assigned managed identity for that token.
	Auth     string
	ClientID string
}

// Enabled reports whether e-mail alerts are configured.
func (s SMTP) Enabled() bool { return s.Host != "" && len(s.To) > 0 }

// Graph is the Microsoft Graph sendMail channel (GRAPH_SENDER); it sends to
// ALERT_EMAIL_TO with a managed-identity token, no password.
type Graph struct {
	// Sender is the mailbox the mail is sent from (its UPN or object id).
	Sender string
	To     []string
	// ClientID picks a user-assigned managed identity (GRAPH_CLIENT_ID).
	ClientID string
}

// Enabled reports whether the Graph channel is configured.
func (g Graph) Enabled() bool { return g.Sender != "" }

// PagerDuty is the PagerDuty Events API v2 channel.
type PagerDuty struct {
	// RoutingKey is the integration key of an Events API v2 integration.
	RoutingKey notify.Secret
	// URL is the events endpoint (PAGERDUTY_EVENTS_URL; the EU service
	// region has its own).
	URL string
}

// Enabled reports whether the PagerDuty channel is configured.
func (p PagerDuty) Enabled() bool { return p.RoutingKey != "" }

// Load reads the settings through getenv (os.Getenv in production, a map in
// tests). All problems are reported together, each naming its setting.
func Load(getenv func(string) string) (Config, error) {
	l := loader{getenv: getenv}
	c := Config{
		Port:          getenv("FUNCTIONS_CUSTOMHANDLER_PORT"),
		UnderHost:     getenv("FUNCTIONS_WORKER_RUNTIME") != "",
		PublicBaseURL: strings.TrimRight(getenv("PUBLIC_BASE_URL"), "/"),
	}
	e := classify.DefaultConfig()
	switch m := strings.ToLower(l.str("WATERMARK", "wallclock")); m {
	case "wallclock":
		e.Mode = classify.WallClock
	case "eventtime":
		e.Mode = classify.EventTime
	default:
		l.fail("WATERMARK", fmt.Errorf("%q is neither wallclock nor eventtime", m))
	}
	e.AllowedLateness = l.dur("ALLOWED_LATENESS", e.AllowedLateness)
	e.ReconnectGrace = l.dur("RECONNECT_GRACE", e.ReconnectGrace)
	e.Retention = l.dur("RETENTION", e.Retention)
	e.OfflineAfter = l.dur("OFFLINE_AFTER", e.OfflineAfter)
	e.FlapCount = l.int("FLAP_COUNT", e.FlapCount, 1)
	e.FlapWindow = l.dur("FLAP_WINDOW", e.FlapWindow)
	e.FlapReset = l.dur("FLAP_RESET", e.FlapReset)
	e.IncidentMinDevices = l.int("INCIDENT_MIN_DEVICES", e.IncidentMinDevices, 2)
	c.Engine = e
	c.StaleAfter = l.dur("STALE_AFTER", 30*time.Minute)
	c.RepeatInterval = l.dur("REPEAT_INTERVAL", 4*time.Hour)
	c.GroupInterval = -1
	if strings.TrimSpace(l.getenv("GROUP_INTERVAL")) != "0" {
		c.GroupInterval = l.dur("GROUP_INTERVAL", 5*time.Minute)
	}
	c.StepEvents = l.int("EVALUATE_STEP_EVENTS", 100_000, 100)
	c.ReadSafety = l.dur("EVALUATE_READ_SAFETY", 2*time.Minute)
	c.Watch = watch.DefaultConfig()
	c.Watch.SilentAfter = l.dur("PIPELINE_SILENT_AFTER", c.Watch.SilentAfter)
	c.Watch.LagAfter = l.dur("LAG_ALERT_AFTER", c.Watch.LagAfter)
	if err := e.Validate(); err != nil && len(l.errs) == 0 {
		l.errs = append(l.errs, err)
	}

	if c.PublicBaseURL != "" {
		l.url("PUBLIC_BASE_URL", c.PublicBaseURL)
	}
	if v := getenv("ALERT_WEBHOOK_URL"); v != "" {
		l.url("ALERT_WEBHOOK_URL", v)
		c.WebhookURL = notify.Secret(v)
	}
	if v := getenv("TEAMS_WEBHOOK_URL"); v != "" {
		l.url("TEAMS_WEBHOOK_URL", v)
		c.TeamsURL = notify.Secret(v)
	}
	l.channels(&c)
	l.routes(&c)
	c.DigestHour = l.digestHour()
	c.Site = site.Defaults()
	c.Site.MinDevices = l.int("SITE_MIN_DEVICES", c.Site.MinDevices, 2)
	c.Site.Window = l.dur("SITE_WINDOW", c.Site.Window)
	if len(l.errs) > 0 {
		return Config{}, errors.Join(l.errs...)
	}
	return c, nil
}

// channels reads the e-mail, Graph and PagerDuty settings.
func (l *loader) channels(c *Config) {
	getenv := l.getenv
	c.SMTP = SMTP{
		Host:     getenv("SMTP_HOST"),
		Port:     l.int("SMTP_PORT", 587, 1),
		Username: getenv("SMTP_USERNAME"),
		Password: notify.Secret(getenv("SMTP_PASSWORD")),
		From:     getenv("SMTP_FROM"),
		TLS:      strings.ToLower(l.str("SMTP_TLS", "")),
		Auth:     strings.ToLower(l.str("SMTP_AUTH", "password")),
		ClientID: l.str("SMTP_CLIENT_ID", ""),
	}
	switch c.SMTP.TLS {
	case "", "starttls", "implicit", "none":
	default:
		l.fail("SMTP_TLS", fmt.Errorf("%q is not starttls, implicit or none", c.SMTP.TLS))
	}
	switch c.SMTP.Auth {
	case "password":
	case "xoauth2":
		if c.SMTP.Password != "" {
			l.fail("SMTP_PASSWORD", errors.New("is not used with SMTP_AUTH=xoauth2: remove it"))
		}
		if c.SMTP.TLS == "none" {
			l.fail("SMTP_TLS", errors.New("none would send SMTP_AUTH=xoauth2's bearer token in clear text"))
		}
	default:
		l.fail("SMTP_AUTH", fmt.Errorf("%q is neither password nor xoauth2", c.SMTP.Auth))
	}
	if to := getenv("ALERT_EMAIL_TO"); to != "" {
		for _, a := range strings.FieldsFunc(to, func(r rune) bool { return r == ',' || r == ';' }) {
			a = strings.TrimSpace(a)
			if _, err := mail.ParseAddress(a); err != nil {
				l.fail("ALERT_EMAIL_TO", fmt.Errorf("%q is not an address", a))
				continue
			}
			c.SMTP.To = append(c.SMTP.To, a)
		}
	}
	c.Graph = Graph{Sender: l.str("GRAPH_SENDER", ""), To: c.SMTP.To, ClientID: l.str("GRAPH_CLIENT_ID", "")}
	if c.SMTP.Host != "" && len(c.SMTP.To) == 0 {
		l.fail("SMTP_HOST", errors.New("SMTP_HOST and ALERT_EMAIL_TO must be set together"))
	}
	if c.Graph.Sender != "" && len(c.SMTP.To) == 0 {
		l.fail("GRAPH_SENDER", errors.New("GRAPH_SENDER needs ALERT_EMAIL_TO (the recipients)"))
	}
	if len(c.SMTP.To) > 0 && c.SMTP.Host == "" && c.Graph.Sender == "" {
		l.fail("ALERT_EMAIL_TO", errors.New("set SMTP_HOST (SMTP) or GRAPH_SENDER (Microsoft Graph) to send it"))
	}
	if c.SMTP.Enabled() {
		if _, err := mail.ParseAddress(c.SMTP.From); err != nil {
			l.fail("SMTP_FROM", fmt.Errorf("%q is not an address", c.SMTP.From))
		}
	}
	if s := c.Graph.Sender; s != "" && strings.ContainsAny(s, "/?#% \t") {
		l.fail("GRAPH_SENDER", fmt.Errorf("%q is not a mailbox's user principal name or object id", s))
	}
	c.PagerDuty = PagerDuty{RoutingKey: notify.Secret(strings.TrimSpace(getenv("PAGERDUTY_ROUTING_KEY"))),
		URL: l.str("PAGERDUTY_EVENTS_URL", "https://events.pagerduty.com/v2/enqueue")}
	l.url("PAGERDUTY_EVENTS_URL", c.PagerDuty.URL)
}

// loader collects errors so that one start-up names every bad setting.
type loader struct {
	getenv func(string) string
	errs   []error
}

func (l *loader) fail(name string, err error) {
	l.errs = append(l.errs, fmt.Errorf("config: %s: %w", name, err))
}

func (l *loader) str(name, def string) string {
	if v := strings.TrimSpace(l.getenv(name)); v != "" {
		return v
	}
	return def
}

func (l *loader) dur(name string, def time.Duration) time.Duration {
	v := strings.TrimSpace(l.getenv(name))
	if v == "" {
		return def
	}
	d, err := ParseDuration(v)
	if err != nil {
		l.fail(name, err)
		return def
	}
	if d <= 0 {
		l.fail(name, fmt.Errorf("%q must be positive", v))
		return def
	}
	return d
}

func (l *loader) int(name string, def, min int) int {
	v := strings.TrimSpace(l.getenv(name))
	if v == "" {
		return def
	}
	n, err := strconv.Atoi(v)
	if err != nil || n < min {
		l.fail(name, fmt.Errorf("%q is not a whole number >= %d", v, min))
		return def
	}
	return n
}

// url checks an absolute http(s) URL. The value itself never goes into the
// error: webhook URLs carry their credentials in the query string.
func (l *loader) url(name, v string) {
	u, err := url.Parse(v)
	if err != nil || (u.Scheme != "https" && u.Scheme != "http") || u.Host == "" {
		l.fail(name, errors.New("not an absolute http(s) URL"))
	}
}

// ParseDuration accepts Go duration syntax ("90s", "5m", "1h30m") and whole
// days ("7d"), the one unit operators reach for that Go lacks.
func ParseDuration(s string) (time.Duration, error) {
	if n, ok := strings.CutSuffix(s, "d"); ok {
		days, err := strconv.Atoi(n)
		if err != nil {
			return 0, fmt.Errorf("invalid duration %q", s)
		}
		return time.Duration(days) * 24 * time.Hour, nil
	}
	d, err := time.ParseDuration(s)
	if err != nil {
		return 0, fmt.Errorf("invalid duration %q", s)
	}
	return d, nil
}
