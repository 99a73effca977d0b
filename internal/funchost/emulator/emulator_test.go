package emulator

import (
	"context"
	"errors"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/disconnect-doctor/disconnect-doctor/internal/funchost"
)

// testApp is funchost's small test app (the reference's function names).
const testApp = "../testdata/app"

var (
	fakeOnce sync.Once
	fakeBin  string
	fakeErr  error
)

// TestMain removes the fakehandler build after the tests.
func TestMain(m *testing.M) {
	code := m.Run()
	if fakeBin != "" {
		os.RemoveAll(filepath.Dir(fakeBin))
	}
	os.Exit(code)
}

// startFake runs the emulator against testdata/fakehandler, a real process.
func startFake(t *testing.T, env map[string]string, opts Options) *Host {
	t.Helper()
	fakeOnce.Do(func() {
		dir, err := os.MkdirTemp("", "funchost-fake-")
		if err != nil {
			fakeErr = err
			return
		}
		fakeBin = filepath.Join(dir, "fakehandler")
		out, err := exec.Command("go", "build", "-o", fakeBin, "./testdata/fakehandler").CombinedOutput()
		if err != nil {
			fakeErr = errors.New(string(out))
		}
	})
	if fakeErr != nil {
		t.Fatalf("build fakehandler: %v", fakeErr)
	}
	opts.Root, opts.Binary, opts.Env = testApp, fakeBin, env
	h := Start(t, opts)
	h.Clock = time.Now
	return h
}

// TestDeliverPartitionRetriesAndCheckpoints: a batch failing twice is
// re-sent with RetryCount 0,1,2 and the same sequence numbers, and the
// partition checkpoints after the last attempt; a batch failing past the
// bound is checkpointed anyway (reference §4.3).
func TestDeliverPartitionRetriesAndCheckpoints(t *testing.T) {
	ctx := context.Background()
	tests := []struct {
		name        string
		failTimes   string
		maxAttempts int
		succeeded   bool
		attempts    int
		bounded     bool
	}{
		{"succeeds after two failures", "2", 5, true, 3, false},
		{"bounded forever-retry still checkpoints", "99", 3, false, 3, true},
		{"first attempt succeeds", "0", 5, true, 1, false},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			h := startFake(t, map[string]string{"FAKE_FAIL_TIMES": tt.failTimes}, Options{MaxAttempts: tt.maxAttempts})
			h.Functions["ProcessEvents"].Retry = &funchost.RetryPolicy{Strategy: "exponentialBackoff", MaxRetryCount: -1,
				MinimumInterval: funchost.Duration(5 * time.Second), MaximumInterval: funchost.Duration(time.Minute)}
			out := h.DeliverPartition(ctx, "ProcessEvents", "1", []Batch{
				{Bodies: [][]byte{[]byte(`{"a":1}`), []byte(`{"a":2}`)}},
				{Bodies: [][]byte{[]byte(`{"a":3}`)}},
			})
			if len(out) != 2 {
				t.Fatalf("%d outcomes", len(out))
			}
			b := out[0]
			if b.Succeeded() != tt.succeeded || len(b.Results) != tt.attempts || b.Bounded != tt.bounded {
				t.Fatalf("batch 0: succeeded=%v attempts=%d bounded=%v, last err %v",
					b.Succeeded(), len(b.Results), b.Bounded, b.Last().Err)
			}
			ids := map[string]bool{}
			for i, r := range b.Results {
				if r.RetryCount != i {
					t.Errorf("attempt %d RetryCount = %d", i, r.RetryCount)
				}
				ids[r.InvocationID] = true
			}
			if len(ids) != len(b.Results) {
				t.Error("each attempt needs its own invocation id")
			}
			for i, d := range b.Delays {
				if want := h.Functions["ProcessEvents"].Retry.Delay(i + 1); d != want {
					t.Errorf("delay %d = %v, want %v", i, d, want)
				}
			}
			if b.Checkpoint != 1 || out[1].Checkpoint != 2 {
				t.Errorf("checkpoints = %d, %d; want 1, 2", b.Checkpoint, out[1].Checkpoint)
			}
			if seq, ok := h.Checkpoint("telemetry", "1"); !ok || seq != 2 {
				t.Errorf("Checkpoint = %d, %v", seq, ok)
			}
			if tt.attempts > 1 {
				if n := strings.Count(strings.Join(h.Stderr(), "\n"), "failing on purpose"); n < 1 {
					t.Error("the handler's stderr was not captured")
				}
			}
		})
	}
}

// TestHostFailureModes: the emulator treats a hang (function timeout), an
// empty body and a missing JSON content type as failures, restarting the
// handler after a timeout or an empty result, and recovers a killed one.
func TestHostFailureModes(t *testing.T) {
	ctx := context.Background()
	tests := []struct {
		mode     string
		want     error
		restarts int
	}{
		{"hang", funchost.ErrTimeout, 1},
		{"empty", funchost.ErrEmptyResult, 1},
		{"text", funchost.ErrContentType, 0},
	}
	for _, tt := range tests {
		t.Run(tt.mode, func(t *testing.T) {
			h := startFake(t, map[string]string{"FAKE_MODE": tt.mode}, Options{FunctionTimeout: 500 * time.Millisecond})
			r := h.Invoke(ctx, h.Timer("Cleanup"), 0, nil)
			if !errors.Is(r.Err, tt.want) {
				t.Fatalf("Err = %v, want %v", r.Err, tt.want)
			}
			if got := h.Restarts(); got != tt.restarts {
				t.Errorf("restarts = %d, want %d", got, tt.restarts)
			}
		})
	}
	t.Run("killed handler is restarted", func(t *testing.T) {
		h := startFake(t, nil, Options{})
		h.Kill()
		r := h.Invoke(ctx, h.HTTP("Items", "GET", "api/items/1", nil, nil, nil), 0, nil)
		if r.Err != nil {
			t.Fatalf("Err = %v", r.Err)
		}
		o, err := r.HTTPResponse("res")
		if err != nil || o.StatusCode != 201 {
			t.Errorf("res = %+v, %v", o, err)
		}
		if h.Restarts() != 1 {
			t.Errorf("restarts = %d", h.Restarts())
		}
	})
	t.Run("binding failure never reaches the handler", func(t *testing.T) {
		h := startFake(t, nil, Options{})
		r := h.Invoke(ctx, h.HTTP("Items", "DELETE", "api/items/1", nil, nil, nil), 0, nil)
		if !errors.Is(r.Err, funchost.ErrBinding) {
			t.Fatalf("Err = %v", r.Err)
		}
		for _, l := range h.Stdout() {
			if strings.Contains(l, "invoked") {
				t.Errorf("handler was invoked: %s", l)
			}
		}
	})
}
