package notify_test

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"
	"time"

	"github.com/rs/zerolog"

	"github.com/disconnect-doctor/disconnect-doctor/alert"
	"github.com/disconnect-doctor/disconnect-doctor/notify"
)

var now = time.Date(2026, 3, 1, 10, 0, 0, 0, time.UTC)

func TestParseRetryAfter(t *testing.T) {
	cases := []struct {
		in     string
		want   time.Duration
		wantOK bool
	}{
		{"120", 120 * time.Second, true},
		{" 5 ", 5 * time.Second, true},
		{"0", 0, true},
		{"Sun, 01 Mar 2026 10:01:30 GMT", 90 * time.Second, true},
		{"Sunday, 01-Mar-26 10:00:10 GMT", 10 * time.Second, true}, // RFC 850
		{"Sun Mar  1 10:00:20 2026", 20 * time.Second, true},       // asctime
		{"Sun, 01 Mar 2026 09:00:00 GMT", 0, true},                 // in the past
		{"99999999999999999999999", 24 * time.Hour, true},          // capped
		{"100000", 24 * time.Hour, true},
		{"", 0, false},
		{"-5", 0, false},
		{"1.5", 0, false},
		{"soon", 0, false},
	}
	for _, tc := range cases {
		got, ok := notify.ParseRetryAfter(tc.in, now)
		if got != tc.want || ok != tc.wantOK {
			t.Errorf("ParseRetryAfter(%q) = %v, %v; want %v, %v", tc.in, got, ok, tc.want, tc.wantOK)
		}
	}
}

func FuzzParseRetryAfter(f *testing.F) {
	for _, s := range []string{"120", "Sun, 01 Mar 2026 10:01:30 GMT", "", "-1", "1e9", "Sunday, 01-Mar-26 10:00:10 GMT"} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, s string) {
		d, ok := notify.ParseRetryAfter(s, now)
		if d < 0 || d > 24*time.Hour || (!ok && d != 0) {
			t.Fatalf("ParseRetryAfter(%q) = %v, %v", s, d, ok)
		}
	})
}

func TestClassify(t *testing.T) {
	cases := []struct {
		status    int
		retryAft  string
		wantRetry bool
		wantErr   bool
		wantAfter time.Duration
	}{
		{200, "", false, false, 0},
		{202, "", false, false, 0},
		{204, "", false, false, 0},
		{301, "", false, true, 0},
		{400, "", false, true, 0},
		{401, "", false, true, 0},
		{404, "", false, true, 0},
		{413, "", false, true, 0},
		{429, "30", true, true, 30 * time.Second},
		{429, "", true, true, 0},
		{500, "", true, true, 0},
		{502, "Sun, 01 Mar 2026 10:00:45 GMT", true, true, 45 * time.Second},
		{503, "7", true, true, 7 * time.Second},
	}
	for _, tc := range cases {
		h := http.Header{}
		if tc.retryAft != "" {
			h.Set("Retry-After", tc.retryAft)
		}
		retry, err := notify.Classify(tc.status, h, "", now)
		if retry != tc.wantRetry || (err != nil) != tc.wantErr {
			t.Errorf("Classify(%d) = %v, %v", tc.status, retry, err)
			continue
		}
		var ra alert.RetryAfterer
		if err != nil && (!errors.As(err, &ra) || ra.RetryAfter() != tc.wantAfter) {
			t.Errorf("Classify(%d): Retry-After not carried (%v)", tc.status, err)
		}
	}
}

const secretURLPath = "/workflows/abc/triggers/manual/paths/invoke"
const secretQuery = "api-version=2016-06-01&sig=TOPSECRETSIG"

func TestSecretRedacts(t *testing.T) {
	s := notify.Secret("https://example.com" + secretURLPath + "?" + secretQuery)
	type cfg struct {
		URL notify.Secret
	}
	var zl strings.Builder
	zlog := zerolog.New(&zl)
	zlog.Info().Interface("cfg", cfg{s}).Stringer("url", s).Msg("config")
	j, _ := json.Marshal(cfg{s})
	outs := []string{s.String(), fmt.Sprint(s), fmt.Sprintf("%v %+v %#v %s %q %x", s, s, s, s, s, s),
		fmt.Sprintf("%+v %#v", cfg{s}, cfg{s}), string(j), zl.String()}
	for _, o := range outs {
		if strings.Contains(o, "TOPSECRETSIG") || strings.Contains(o, "example.com") {
			t.Errorf("secret leaked: %s", o)
		}
		if !strings.Contains(o, "redacted") {
			t.Errorf("no redaction marker in %s", o)
		}
	}
	if s.Reveal() != "https://example.com"+secretURLPath+"?"+secretQuery {
		t.Error("Reveal lost the value")
	}
}

func TestPostJSONScrubsURL(t *testing.T) {
	stop := make(chan struct{})
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		switch r.URL.Query().Get("mode") {
		case "echo": // a server that echoes the request URL in its error body
			w.WriteHeader(http.StatusBadRequest)
			fmt.Fprintf(w, "bad request to %s", r.URL.RequestURI())
		case "slow":
			select {
			case <-r.Context().Done():
			case <-stop:
			}
		case "legacy429":
			fmt.Fprint(w, "Microsoft Teams endpoint returned HTTP error 429")
		default:
			w.WriteHeader(http.StatusAccepted)
		}
	}))
	t.Cleanup(srv.Close)
	t.Cleanup(func() { close(stop) }) // runs first: release a slow handler
	closed := httptest.NewServer(http.NotFoundHandler())
	closed.Close()
	cases := []struct {
		name      string
		url       string
		timeout   time.Duration
		wantRetry bool
		wantErr   bool
	}{
		{"accepted", srv.URL + secretURLPath + "?" + secretQuery, 0, false, false},
		{"error body echoes the URL", srv.URL + secretURLPath + "?mode=echo&" + secretQuery, 0, false, true},
		{"legacy connector throttling in a 200", srv.URL + secretURLPath + "?mode=legacy429&" + secretQuery, 0, true, true},
		{"connection refused", closed.URL + secretURLPath + "?" + secretQuery, 0, true, true},
		{"timeout", srv.URL + secretURLPath + "?mode=slow&" + secretQuery, 50 * time.Millisecond, true, true},
		{"malformed URL", "http://[::1" + secretURLPath + "?" + secretQuery, 0, false, true},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			ctx := context.Background()
			if tc.timeout > 0 {
				var cancel context.CancelFunc
				ctx, cancel = context.WithTimeout(ctx, tc.timeout)
				defer cancel()
			}
			retry, err := notify.Poster{}.PostJSON(ctx, notify.Secret(tc.url), nil, []byte(`{}`))
			if retry != tc.wantRetry || (err != nil) != tc.wantErr {
				t.Fatalf("retry=%v err=%v", retry, err)
			}
			if err != nil && (strings.Contains(err.Error(), "TOPSECRETSIG") || strings.Contains(err.Error(), secretURLPath)) {
				t.Errorf("error leaks the URL: %v", err)
			}
		})
	}
}

// TestScrubKeepsHTTPError: a secret echoed in a response body is redacted
// without losing the *HTTPError the integrations classify by.
func TestScrubKeepsHTTPError(t *testing.T) {
	const key = "R0UT1NGKEY0123456789abcdef012345"
	in := &notify.HTTPError{Status: 400, Body: `{"errors":["Invalid routing key: ` + key + `"]}`}
	out := notify.Scrub(in, notify.Secret(key))
	var he *notify.HTTPError
	if !errors.As(out, &he) || he.Status != 400 || strings.Contains(out.Error(), key) || !strings.Contains(out.Error(), notify.Redacted) {
		t.Fatalf("Scrub gave %T %v", out, out)
	}
	if strings.Contains(in.Body, notify.Redacted) {
		t.Error("Scrub changed its argument")
	}
	clean := &notify.HTTPError{Status: 403, Body: "forbidden"}
	if notify.Scrub(clean, notify.Secret(key)) != error(clean) {
		t.Error("an error without the secret was replaced")
	}
}
