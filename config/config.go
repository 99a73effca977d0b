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

	"github.com/disconnect-doctor/disconnect-doctor/classify"
	"github.com/disconnect-doctor/disconnect-doctor/notify"
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

	// Watch holds the thresholds of the pipeline's own alerts
	// (PIPELINE_SILENT_AFTER, LAG_ALERT_AFTER).
	Watch watch.Config

	// PublicBaseURL is where people reach the app (links in notifications).
	PublicBaseURL string
	// Channels.
	WebhookURL notify.Secret
	TeamsURL   notify.Secret
	SMTP       SMTP
}

// SMTP is the e-mail channel; it is enabled when Host and To are set.
type SMTP struct {
	Host     string
	Port     int
	Username string
	Password notify.Secret
	From     string
	To       []string
	// TLS is "starttls" (default) or "none" (a local sink only).
	TLS string
}

// Enabled reports whether e-mail alerts are configured.
func (s SMTP) Enabled() bool { return s.Host != "" && len(s.To) > 0 }

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
	c.SMTP = SMTP{
		Host:     getenv("SMTP_HOST"),
		Port:     l.int("SMTP_PORT", 587, 1),
		Username: getenv("SMTP_USERNAME"),
		Password: notify.Secret(getenv("SMTP_PASSWORD")),
		From:     getenv("SMTP_FROM"),
		TLS:      strings.ToLower(l.str("SMTP_TLS", "starttls")),
	}
	if c.SMTP.TLS != "starttls" && c.SMTP.TLS != "none" {
		l.fail("SMTP_TLS", fmt.Errorf("%q is neither starttls nor none", c.SMTP.TLS))
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
	if (c.SMTP.Host == "") != (len(c.SMTP.To) == 0) {
		l.fail("SMTP_HOST", errors.New("SMTP_HOST and ALERT_EMAIL_TO must be set together"))
	}
	if c.SMTP.Enabled() {
		if _, err := mail.ParseAddress(c.SMTP.From); err != nil {
			l.fail("SMTP_FROM", fmt.Errorf("%q is not an address", c.SMTP.From))
		}
	}
	if len(l.errs) > 0 {
		return Config{}, errors.Join(l.errs...)
	}
	return c, nil
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
