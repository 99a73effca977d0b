package emulator

import (
	"context"
	"os"
	"path/filepath"
	"testing"
	"time"
)

// timerApp copies the test app with Cleanup's schedule set to sched.
func timerApp(t *testing.T, sched string) string {
	t.Helper()
	dir := t.TempDir()
	if err := os.CopyFS(dir, os.DirFS(testApp)); err != nil {
		t.Fatal(err)
	}
	fj := `{"bindings":[{"type":"timerTrigger","direction":"in","name":"myTimer","schedule":"` + sched + `","runOnStartup":false,"useMonitor":true}]}`
	if err := os.WriteFile(filepath.Join(dir, "Cleanup", "function.json"), []byte(fj), 0o644); err != nil {
		t.Fatal(err)
	}
	return dir
}

func startTimerFake(t *testing.T, sched string, env map[string]string) *Host {
	t.Helper()
	startFake(t, nil, Options{}) // builds the fake handler once
	h := Start(t, Options{Root: timerApp(t, sched), Binary: fakeBin, Env: env})
	h.Clock = time.Now
	return h
}

// TestRunTimerFollowsSchedule: an every-second schedule fires on whole
// seconds, one invocation at a time.
func TestRunTimerFollowsSchedule(t *testing.T) {
	h := startTimerFake(t, "* * * * * *", nil)
	r, err := h.RunTimer(context.Background(), "Cleanup")
	if err != nil {
		t.Fatal(err)
	}
	time.Sleep(3500 * time.Millisecond)
	r.Stop()
	fs := r.Firings()
	if len(fs) < 3 || len(fs) > 4 {
		t.Fatalf("%d firings in 3.5 s of an every-second schedule", len(fs))
	}
	for i, f := range fs {
		if f.Result.Err != nil || f.Due.Nanosecond() != 0 || f.Started.Before(f.Due) || f.Started.Sub(f.Due) > 500*time.Millisecond {
			t.Errorf("firing %d: %+v", i, f)
		}
		if i > 0 && f.Due.Sub(fs[i-1].Due) != time.Second {
			t.Errorf("firing %d due %s after the previous", i, f.Due.Sub(fs[i-1].Due))
		}
	}
}

// TestRunTimerSkipsMissedOccurrences: invocations slower than the schedule
// never overlap; the occurrences that passed meanwhile are skipped and the
// next firing is the first occurrence after the slow one ended.
func TestRunTimerSkipsMissedOccurrences(t *testing.T) {
	h := startTimerFake(t, "* * * * * *", map[string]string{"FAKE_SLEEP": "2500ms"})
	r, err := h.RunTimer(context.Background(), "Cleanup")
	if err != nil {
		t.Fatal(err)
	}
	time.Sleep(7 * time.Second)
	r.Stop()
	fs := r.Firings()
	if len(fs) < 2 || len(fs) > 3 {
		t.Fatalf("%d firings of 2.5 s invocations in 7 s", len(fs))
	}
	for i := 1; i < len(fs); i++ {
		if fs[i].Started.Before(fs[i-1].Finished) {
			t.Errorf("firing %d started before %d finished", i, i-1)
		}
		if fs[i].Due.Before(fs[i-1].Finished) || fs[i].Due.Sub(fs[i-1].Finished) > time.Second {
			t.Errorf("firing %d due %s, the previous finished %s: want the first occurrence after", i, fs[i].Due, fs[i-1].Finished)
		}
	}
}
