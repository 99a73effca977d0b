package store_test

import (
	"errors"
	"net/http"
	"strings"
	"testing"
	"time"

	"github.com/Azure/azure-sdk-for-go/sdk/azcore/policy"

	"github.com/disconnect-doctor/disconnect-doctor/event"
	"github.com/disconnect-doctor/disconnect-doctor/internal/azurite"
	"github.com/disconnect-doctor/disconnect-doctor/internal/faultproxy"
	"github.com/disconnect-doctor/disconnect-doctor/store"
	"github.com/disconnect-doctor/disconnect-doctor/store/storetest"
)

// shortRetry keeps fault tests quick: backoff starts at 10 ms, but a
// Retry-After up to 3 s is still honoured.
var shortRetry = policy.RetryOptions{MaxRetries: 4, RetryDelay: 10 * time.Millisecond, MaxRetryDelay: 3 * time.Second, TryTimeout: 2 * time.Second}

func events(n int, at time.Time) []event.Event {
	evs := make([]event.Event, n)
	for i := range evs {
		evs[i] = storetest.Event(i, "hub", "dev", at)
	}
	return evs
}

// TestTableRetries injects 429s, 503s and a slow response between the Table
// store and Azurite: every call still succeeds, Retry-After is honoured,
// and a fault that outlasts the retry budget is ErrUnavailable.
func TestTableRetries(t *testing.T) {
	t.Parallel() // its own Azurite: runs beside the other Azurite tests
	srv := azurite.Start(t, azurite.Options{})
	px := faultproxy.Start(t, "http://"+srv.Addr(), 1)
	s := openTable(t, azurite.ConnStringFor(px.URL()), srv.Prefix(), shortRetry)
	ctx := t.Context()
	if err := s.Ping(ctx); err != nil { // create nothing yet, just warm up
		t.Fatalf("Ping: %v", err)
	}
	cases := []struct {
		name       string
		fault      faultproxy.Fault
		op         func() error
		minGap     time.Duration // between a faulted request and the next one
		wantUnavai bool
	}{
		{"429 Retry-After on PutBlobs", faultproxy.Fault{Status: http.StatusTooManyRequests, RetryAfter: time.Second, Times: 2},
			func() error {
				_, err := s.PutBlobs(ctx, store.DeviceBlobs, []store.Blob{{Key: "d1", Data: []byte("x")}})
				return err
			}, time.Second, false},
		{"503 on a batch append", faultproxy.Fault{Status: http.StatusServiceUnavailable, Times: 3, Method: http.MethodPost},
			func() error { return s.AppendEvents(ctx, storetest.T0, events(250, storetest.T0), nil) }, 0, false},
		{"503 on a paged read", faultproxy.Fault{Status: http.StatusServiceUnavailable, Times: 2, Method: http.MethodGet},
			func() error {
				n := 0
				err := s.ReadEvents(ctx, storetest.T0, storetest.T0.Add(time.Hour), func(evs []event.Event, _ []store.Mark) error { n += len(evs); return nil })
				if err == nil && n != 250 {
					return errors.New("wrong number of events read back")
				}
				return err
			}, 0, false},
		{"slow response beyond the try timeout", faultproxy.Fault{Delay: 10 * time.Second, Times: 1},
			func() error { _, err := s.GetBlob(ctx, store.DeviceBlobs, "d1"); return err }, 0, false},
		{"503 beyond the retry budget", faultproxy.Fault{Status: http.StatusServiceUnavailable, Times: 5},
			func() error { _, err := s.GetBlob(ctx, store.DeviceBlobs, "d1"); return err }, 0, true},
		{"429 with Retry-After beyond MaxRetryDelay", faultproxy.Fault{Status: http.StatusTooManyRequests, RetryAfter: time.Minute, Times: 1},
			func() error { _, err := s.ListProgress(ctx); return err }, 0, true},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			px.Reset()
			px.Clear()
			px.Inject(c.fault)
			err := c.op()
			px.Clear()
			hits := px.Hits()
			if len(hits) == 0 {
				t.Fatalf("no fault was injected")
			}
			if c.wantUnavai {
				if !errors.Is(err, store.ErrUnavailable) {
					t.Fatalf("error %v, want ErrUnavailable", err)
				}
				if strings.Contains(err.Error(), azurite.Key) {
					t.Fatalf("error leaks the account key: %v", err)
				}
				return
			}
			if err != nil {
				t.Fatalf("after %d injected faults: %v", len(hits), err)
			}
			if c.minGap > 0 {
				arr := px.Arrivals()
				for i := 0; i+1 < len(arr) && i < len(hits); i++ {
					if gap := arr[i+1].Sub(arr[i]); gap < c.minGap {
						t.Errorf("request %d came %v after a Retry-After %v answer", i+1, gap, c.minGap)
					}
				}
			}
		})
	}
}

// TestTableConformanceFlaky runs the conformance suite (less the cases
// that only add volume) through a proxy that fails 5% of requests with 503:
// retries make it invisible.
func TestTableConformanceFlaky(t *testing.T) {
	t.Parallel() // its own Azurite: runs beside the other Azurite tests
	srv := azurite.Start(t, azurite.Options{})
	px := faultproxy.Start(t, "http://"+srv.Addr(), 42)
	px.Inject(faultproxy.Fault{Status: http.StatusServiceUnavailable, Probability: 0.05})
	retry := policy.RetryOptions{MaxRetries: 8, RetryDelay: 5 * time.Millisecond, MaxRetryDelay: 100 * time.Millisecond}
	storetest.RunCases(t, func(t *testing.T) store.Store {
		return openTable(t, azurite.ConnStringFor(px.URL()), srv.Prefix(), retry)
	}, func(name string) bool { return !storetest.Heavy[name] })
	total, _ := px.Counts()
	t.Logf("%d requests, %d failed by injection", total, len(px.Hits()))
	if len(px.Hits()) == 0 {
		t.Fatal("no fault was injected")
	}
}

// TestTableOutage stops Azurite: calls fail with ErrUnavailable (directly:
// connection refused; through the proxy: 502) without leaking the key;
// after a restart with disk persistence the data is back and calls work.
func TestTableOutage(t *testing.T) {
	t.Parallel() // its own Azurite: runs beside the other Azurite tests
	srv := azurite.Start(t, azurite.Options{Disk: true})
	px := faultproxy.Start(t, "http://"+srv.Addr(), 1)
	retry := policy.RetryOptions{MaxRetries: 2, RetryDelay: 10 * time.Millisecond, MaxRetryDelay: 50 * time.Millisecond}
	prefix := srv.Prefix()
	direct := openTable(t, srv.ConnString(), prefix, retry)
	proxied := openTable(t, azurite.ConnStringFor(px.URL()), prefix, retry)
	ctx := t.Context()
	tags, err := direct.PutBlobs(ctx, store.HubBlobs, []store.Blob{{Key: "hub", Data: []byte("state")}})
	if err != nil {
		t.Fatalf("PutBlobs: %v", err)
	}
	if err := direct.AppendEvents(ctx, storetest.T0, events(10, storetest.T0), nil); err != nil {
		t.Fatalf("AppendEvents: %v", err)
	}
	srv.Stop()
	for name, s := range map[string]*store.Table{"direct": direct, "proxied": proxied} {
		for op, call := range map[string]func() error{
			"Ping":         func() error { return s.Ping(ctx) },
			"GetBlob":      func() error { _, err := s.GetBlob(ctx, store.HubBlobs, "hub"); return err },
			"AppendEvents": func() error { return s.AppendEvents(ctx, storetest.T0, events(3, storetest.T0), nil) },
			"ReadEvents": func() error {
				return s.ReadEvents(ctx, storetest.T0, storetest.T0.Add(time.Minute), func([]event.Event, []store.Mark) error { return nil })
			},
			"AcquireLease": func() error {
				_, err := s.AcquireLease(ctx, "evaluate", "me", storetest.T0, storetest.T0.Add(time.Minute))
				return err
			},
		} {
			err := call()
			if !errors.Is(err, store.ErrUnavailable) {
				t.Errorf("%s %s while Azurite is down: %v, want ErrUnavailable", name, op, err)
			} else if strings.Contains(err.Error(), azurite.Key) || strings.Contains(err.Error(), "AccountKey") {
				t.Errorf("%s %s: error leaks the key: %v", name, op, err)
			}
		}
	}
	srv.Restart()
	for name, s := range map[string]*store.Table{"direct": direct, "proxied": proxied} {
		b, err := s.GetBlob(ctx, store.HubBlobs, "hub")
		if err != nil || string(b.Data) != "state" || b.ETag != tags[0] {
			t.Fatalf("%s after restart: %q %s %v, want the data written before", name, b.Data, b.ETag, err)
		}
		n := 0
		if err := s.ReadEvents(ctx, storetest.T0, storetest.T0.Add(time.Minute), func(evs []event.Event, _ []store.Mark) error { n += len(evs); return nil }); err != nil || n != 10 {
			t.Fatalf("%s after restart: %d events, %v", name, n, err)
		}
	}
}
