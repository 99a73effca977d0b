// Package notify holds what the integrations (notify/teams, notify/email,
// notify/webhook) share: the Notifier interface they implement, a Secret
// type that cannot leak into a log, one HTTP poster that classifies
// responses (2xx ok; 429/5xx retry, honouring Retry-After; other 4xx
// permanent) and strips the URL from transport errors, and Retry-After
// parsing. Integrations know nothing about grouping or retries: they send
// one alert.Notification and say whether a failure is worth retrying.
package notify

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"io"
	"net/http"
	"net/url"
	"strconv"
	"strings"
	"time"

	"github.com/disconnect-doctor/disconnect-doctor/alert"
)

// Notifier is the interface every integration implements; it is
// alert.Notifier (defined there so that the Dispatcher can hold integrations
// without an import cycle).
type Notifier = alert.Notifier

// Redacted is what a Secret prints as.
const Redacted = "<redacted>"

// Secret holds a secret (a webhook URL, a password). Every way of printing
// or encoding it — String, fmt verbs including %#v, JSON — gives
// "<redacted>", so a secret cannot reach a log line or an error by accident;
// Reveal returns the value for the one place that needs it.
type Secret string

// Reveal returns the secret's value.
func (s Secret) Reveal() string { return string(s) }

// String returns "<redacted>".
func (s Secret) String() string { return Redacted }

// GoString returns "<redacted>" (for %#v).
func (s Secret) GoString() string { return Redacted }

// Format prints "<redacted>" for every verb.
func (s Secret) Format(f fmt.State, _ rune) { io.WriteString(f, Redacted) }

// MarshalJSON encodes the secret as "<redacted>".
func (s Secret) MarshalJSON() ([]byte, error) { return []byte(`"` + Redacted + `"`), nil }

// MarshalText encodes the secret as "<redacted>" (zerolog, encoding/xml …).
func (s Secret) MarshalText() ([]byte, error) { return []byte(Redacted), nil }

// HTTPError is a non-success HTTP answer. It carries no URL.
type HTTPError struct {
	// Status is the HTTP status code.
	Status int
	// After is the server's Retry-After (0 when absent).
	After time.Duration
	// Body is the start of the response body, with any secret removed.
	Body string
}

// Error describes the answer.
func (e *HTTPError) Error() string {
	s := "http " + strconv.Itoa(e.Status) + " " + http.StatusText(e.Status)
	if e.After > 0 {
		s += " (retry after " + e.After.String() + ")"
	}
	if e.Body != "" {
		s += ": " + e.Body
	}
	return s
}

// RetryAfter returns the server's Retry-After (alert.RetryAfterer).
func (e *HTTPError) RetryAfter() time.Duration { return e.After }

// Classify turns an HTTP status into the Notifier's (retry, err): 2xx is
// success; 429 and 5xx are retryable, with Retry-After (seconds or an
// HTTP-date, relative to now) when the server sent one; everything else
// (other 4xx, unexpected 1xx/3xx) is permanent. body is the start of the
// response body, already free of secrets.
func Classify(status int, header http.Header, body string, now time.Time) (retry bool, err error) {
	if status >= 200 && status < 300 {
		return false, nil
	}
	e := &HTTPError{Status: status, Body: body}
	if status == http.StatusTooManyRequests || status >= 500 {
		e.After, _ = ParseRetryAfter(header.Get("Retry-After"), now)
		return true, e
	}
	return false, e
}

// maxRetryAfter caps what a server may ask for; the Dispatcher's DeadAfter
// bounds the total anyway.
const maxRetryAfter = 24 * time.Hour

// ParseRetryAfter parses a Retry-After value: delay-seconds or an HTTP-date
// (RFC 9110 §10.2.3), relative to now. ok is false for an empty or
// malformed value; a date in the past gives 0 with ok true. The result is
// capped at 24h.
func ParseRetryAfter(v string, now time.Time) (d time.Duration, ok bool) {
	v = strings.TrimSpace(v)
	if v == "" {
		return 0, false
	}
	if v[0] >= '0' && v[0] <= '9' {
		secs, err := strconv.ParseUint(v, 10, 64)
		if err != nil {
			if errors.Is(err, strconv.ErrRange) {
				return maxRetryAfter, true
			}
			return 0, false
		}
		if secs > uint64(maxRetryAfter/time.Second) {
			return maxRetryAfter, true
		}
		return time.Duration(secs) * time.Second, true
	}
	t, err := http.ParseTime(v)
	if err != nil {
		return 0, false
	}
	d = t.Sub(now)
	if d < 0 {
		return 0, true
	}
	return min(d, maxRetryAfter), true
}

// Poster posts JSON to a secret URL and classifies the answer. Its zero
// value uses http.DefaultClient and the wall clock.
type Poster struct {
	// Client sends the request (http.DefaultClient when nil).
	Client *http.Client
	// Now is the clock for HTTP-date Retry-After values (time.Now when nil).
	Now func() time.Time
}

// maxBody is how much of an error response is kept.
const maxBody = 512

// PostJSON posts body to u with Content-Type application/json and the
// extra headers, and returns the Notifier's (retry, err) per Classify.
// Transport failures (refused, reset, timeout) are retryable. No error
// returned mentions u: url.Error's URL is replaced, and the secret is cut
// from the response body too.
func (p Poster) PostJSON(ctx context.Context, u Secret, header http.Header, body []byte) (retry bool, err error) {
	req, err := http.NewRequestWithContext(ctx, http.MethodPost, u.Reveal(), bytes.NewReader(body))
	if err != nil {
		return false, fmt.Errorf("build request: %w", Scrub(err, u))
	}
	for k, vs := range header {
		req.Header[k] = vs
	}
	req.Header.Set("Content-Type", "application/json")
	client := p.Client
	if client == nil {
		client = http.DefaultClient
	}
	resp, err := client.Do(req)
	if err != nil {
		return true, fmt.Errorf("post: %w", Scrub(err, u))
	}
	defer resp.Body.Close()
	b, _ := io.ReadAll(io.LimitReader(resp.Body, maxBody))
	io.Copy(io.Discard, io.LimitReader(resp.Body, 1<<20)) // let the connection be reused
	now := time.Now
	if p.Now != nil {
		now = p.Now
	}
	retry, err = Classify(resp.StatusCode, resp.Header, redactString(strings.TrimSpace(string(b)), u), now())
	if err != nil {
		return retry, err
	}
	// Legacy Office 365 connectors reported throttling inside a 200 body.
	if strings.Contains(string(b), "HTTP error 429") {
		return true, &HTTPError{Status: http.StatusTooManyRequests, Body: redactString(string(b), u)}
	}
	return false, nil
}

// Scrub returns err with every mention of the secret u removed: a
// *url.Error has its URL replaced (keeping the cause for errors.Is), and
// any other error whose text contains the URL, its host or its path is
// replaced by its redacted text (an *HTTPError keeps its type, with the
// body redacted).
func Scrub(err error, u Secret) error {
	if err == nil {
		return nil
	}
	var ue *url.Error
	if errors.As(err, &ue) {
		inner := ue.Err
		if inner != nil && leaks(inner.Error(), u) {
			inner = errors.New(redactString(inner.Error(), u))
		}
		return &url.Error{Op: ue.Op, URL: Redacted, Err: inner}
	}
	if he, ok := err.(*HTTPError); ok { // keep the type: callers classify by it
		if !leaks(he.Body, u) {
			return he
		}
		c := *he
		c.Body = redactString(c.Body, u)
		return &c
	}
	if leaks(err.Error(), u) {
		return errors.New(redactString(err.Error(), u))
	}
	return err
}

// secretParts lists the substrings of a secret URL that must not be shown:
// the whole URL, its path and query (which hold the signature), and the
// userinfo password.
func secretParts(u Secret) []string {
	s := u.Reveal()
	if s == "" {
		return nil
	}
	parts := []string{s}
	if pu, err := url.Parse(s); err == nil {
		if pu.RawQuery != "" {
			parts = append(parts, pu.RawQuery)
		}
		if len(pu.Path) > 1 {
			parts = append(parts, pu.Path)
		}
		if p, ok := pu.User.Password(); ok && p != "" {
			parts = append(parts, p)
		}
	}
	return parts
}

func leaks(s string, u Secret) bool {
	for _, p := range secretParts(u) {
		if strings.Contains(s, p) {
			return true
		}
	}
	return false
}

func redactString(s string, u Secret) string {
	for _, p := range secretParts(u) {
		s = strings.ReplaceAll(s, p, Redacted)
	}
	return s
}
