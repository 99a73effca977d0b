package e2e

import (
	"context"
	"encoding/json"
	"fmt"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/disconnect-doctor/disconnect-doctor/internal/azurite"
	"github.com/disconnect-doctor/disconnect-doctor/internal/faultproxy"
	"github.com/disconnect-doctor/disconnect-doctor/internal/funchost"
	"github.com/disconnect-doctor/disconnect-doctor/internal/funchost/emulator"
	"github.com/disconnect-doctor/disconnect-doctor/store"
)

// timerPeriod is the Evaluate timer period the failover tests drive: short,
// so that a test takes seconds; the lease follows the measured period (1.5
// periods), so the figures scale to the production schedule.
const timerPeriod = 2 * time.Second

// instance starts an emulated Functions instance with its own identity,
// on the shared Table storage of srv under prefix.
func instance(t testing.TB, srv *azurite.Server, prefix, id string) *emulator.Host {
	t.Helper()
	return emulator.Start(t, emulator.Options{
		Env:             funchost.WithLocalSettings(map[string]string{"STATE_STORAGE": srv.ConnString(), "STATE_TABLE_PREFIX": prefix}),
		FunctionTimeout: time.Minute,
		MaxAttempts:     1,
		Instance:        id,
	})
}

// tickOnce invokes Evaluate as the timer does and reports whether it
// evaluated (rather than finding the lease held elsewhere).
func tickOnce(ctx context.Context, t testing.TB, h *emulator.Host) bool {
	t.Helper()
	r := h.Invoke(ctx, h.Timer("Evaluate"), 0, nil)
	if r.Failed() {
		t.Fatalf("Evaluate on %s failed: %v %s", h.Instance(), r.Err, r.Body)
	}
	return !slices.ContainsFunc(r.Logs, func(l string) bool { return strings.Contains(l, "evaluate skipped") })
}

// schedule returns the next timer occurrence after now: occurrences fall on
// multiples of timerPeriod on every instance, as a cron schedule does.
func nextOccurrence(now time.Time) time.Time { return now.Truncate(timerPeriod).Add(timerPeriod) }

func sleepUntil(t time.Time) { time.Sleep(time.Until(t)) }

// TestFailoverRestartedWorker: kill -9 the worker holding the Evaluate
// lease; the host restarts it on the same instance, and the new process
// evaluates at its next tick although the lease it took before has not run
// out (it is the instance's, not the process's).
func TestFailoverRestartedWorker(t *testing.T) {
	ctx := context.Background()
	srv := azurite.Start(t, azurite.Options{})
	a := instance(t, srv, srv.Prefix(), "instance-a")
	for i := range 3 {
		sleepUntil(nextOccurrence(time.Now()))
		if !tickOnce(ctx, t, a) {
			t.Fatalf("tick %d: the only instance did not evaluate", i)
		}
	}
	a.Kill() // kill -9 of the process group, right after a tick
	killed := time.Now()
	sleepUntil(nextOccurrence(time.Now()))
	ran := tickOnce(ctx, t, a) // the emulator restarts the exited worker first
	if a.Restarts() != 1 {
		t.Fatalf("%d restarts, want 1", a.Restarts())
	}
	if !ran {
		t.Fatalf("the restarted worker did not evaluate at its next tick (%.1fs after the kill): it is a stranger to its instance's lease",
			time.Since(killed).Seconds())
	}
}

// failover kills the holder a for good and ticks b until it evaluates; it
// returns the time from a's last evaluation to b's first.
func failover(ctx context.Context, t testing.TB, a, b *emulator.Host) time.Duration {
	t.Helper()
	var lastA time.Time
	for i := range 3 {
		sleepUntil(nextOccurrence(time.Now()))
		if !tickOnce(ctx, t, a) {
			t.Fatalf("tick %d: the first instance did not evaluate", i)
		}
		lastA = time.Now()
		if tickOnce(ctx, t, b) {
			t.Fatalf("tick %d: both instances evaluated", i)
		}
	}
	a.Kill() // the instance vanishes: nothing restarts it
	deadline := lastA.Add(10 * timerPeriod)
	for time.Now().Before(deadline) {
		sleepUntil(nextOccurrence(time.Now()))
		if tickOnce(ctx, t, b) {
			return time.Since(lastA)
		}
	}
	t.Fatalf("no evaluation within %v of the holder vanishing", 10*timerPeriod)
	return 0
}

// TestFailoverNewInstance: the instance holding the lease vanishes; another
// instance (a new identity) resumes evaluation within two timer periods.
func TestFailoverNewInstance(t *testing.T) {
	ctx := context.Background()
	srv := azurite.Start(t, azurite.Options{})
	prefix := srv.Prefix()
	a, b := instance(t, srv, prefix, "instance-a"), instance(t, srv, prefix, "instance-b")
	gap := failover(ctx, t, a, b)
	t.Logf("evaluation resumed on the new instance %.2fs (%.2f timer periods) after the last one on the vanished instance",
		gap.Seconds(), gap.Seconds()/timerPeriod.Seconds())
	// Two periods, plus the time one Evaluate invocation takes.
	if gap > 2*timerPeriod+timerPeriod/2 {
		t.Errorf("failover took %v, more than two timer periods (%v)", gap, 2*timerPeriod)
	}
}

// BenchmarkFailover measures the seconds from the last evaluation on an
// instance that vanishes to the first on its successor, with the timer
// every timerPeriod (the lease follows the period: the figure in periods
// holds for the every-minute production schedule).
func BenchmarkFailover(b *testing.B) {
	ctx := context.Background()
	srv := azurite.Start(b, azurite.Options{})
	var total time.Duration
	n := 0
	for b.Loop() {
		prefix := srv.Prefix()
		x, y := instance(b, srv, prefix, fmt.Sprintf("bench-a-%d", n)), instance(b, srv, prefix, fmt.Sprintf("bench-b-%d", n))
		total += failover(ctx, b, x, y)
		n++
	}
	avg := total.Seconds() / float64(n)
	b.ReportMetric(avg, "failover-s")
	b.ReportMetric(avg/timerPeriod.Seconds(), "failover-periods")
}

// TestStaleHolderCommitRejected: the holder is paused (SIGSTOP, as a VM
// freeze) in the middle of an evaluation — its Table requests slowed by a
// proxy so that the pause lands after it renewed its lease and before it
// writes; its lease runs out, another instance takes over and claims the
// state; when the paused process wakes up, its evaluation fails instead of
// overwriting its successor's state.
func TestStaleHolderCommitRejected(t *testing.T) {
	ctx := context.Background()
	srv := azurite.Start(t, azurite.Options{})
	px := faultproxy.Start(t, "http://"+srv.Addr(), 5)
	prefix := srv.Prefix()
	a := emulator.Start(t, emulator.Options{
		Env:             funchost.WithLocalSettings(map[string]string{"STATE_STORAGE": azurite.ConnStringFor(px.URL()), "STATE_TABLE_PREFIX": prefix}),
		FunctionTimeout: time.Minute, MaxAttempts: 1, Instance: "instance-a",
	})
	b := instance(t, srv, prefix, "instance-b")
	for range 3 {
		sleepUntil(nextOccurrence(time.Now()))
		if !tickOnce(ctx, t, a) {
			t.Fatal("the first instance did not evaluate")
		}
	}
	// Every request slowed (a renewal is one conditional write, an idle
	// tick's other request the event read).
	px.Inject(faultproxy.Fault{Delay: 1500 * time.Millisecond, Probability: 1})
	sleepUntil(nextOccurrence(time.Now()))
	done := make(chan *funchost.Result, 1)
	go func() { done <- a.Invoke(ctx, a.Timer("Evaluate"), 0, nil) }()
	time.Sleep(2500 * time.Millisecond) // the lease renewed (one slow write), the events being read (a slow read)
	a.Pause()
	select {
	case r := <-done:
		a.Resume()
		t.Fatalf("the evaluation finished before the pause: %v %v", r.Err, r.Logs)
	default:
	}
	var ranB bool
	for deadline := time.Now().Add(time.Minute); !ranB && time.Now().Before(deadline); {
		sleepUntil(nextOccurrence(time.Now()))
		ranB = tickOnce(ctx, t, b)
	}
	if !ranB {
		a.Resume()
		t.Fatal("the second instance never took over from the paused one")
	}
	before := readMeta(ctx, t, srv, prefix)
	px.Clear()
	a.Resume()
	r := <-done
	if !r.Failed() {
		t.Fatalf("the stale holder's evaluation succeeded after its successor took over: %v", r.Logs)
	}
	lost := func() bool {
		return slices.ContainsFunc(a.Stderr(), func(l string) bool {
			return strings.Contains(l, "lease passed to another instance") || strings.Contains(l, "conflict")
		})
	}
	for wait := time.Now().Add(5 * time.Second); !lost() && time.Now().Before(wait); {
		time.Sleep(50 * time.Millisecond) // stderr is read by another goroutine
	}
	if !lost() {
		t.Errorf("the stale holder's failure does not say it lost the lease: %v; stderr:\n%s", r.Err, strings.Join(a.Stderr(), "\n"))
	}
	after := readMeta(ctx, t, srv, prefix)
	if after.Epoch != before.Epoch || !after.Committed.Equal(before.Committed) || after.Epoch < 2 {
		t.Errorf("the successor's state (epoch %d, committed %v) was overwritten: now epoch %d, committed %v",
			before.Epoch, before.Committed, after.Epoch, after.Committed)
	}
	sleepUntil(nextOccurrence(time.Now()))
	if !tickOnce(ctx, t, b) {
		t.Error("the successor stopped evaluating")
	}
}

// storedMeta is the part of the pipeline's meta row the tests read.
type storedMeta struct {
	Epoch     int64     `json:"epoch"`
	Committed time.Time `json:"committed"`
	Cursor    time.Time `json:"cursor"`
}

func readMeta(ctx context.Context, t testing.TB, srv *azurite.Server, prefix string) storedMeta {
	t.Helper()
	st, err := store.OpenTable(ctx, store.TableOptions{ConnectionString: srv.ConnString(), Prefix: prefix})
	if err != nil {
		t.Fatal(err)
	}
	b, err := st.GetBlob(ctx, store.MetaBlobs, "evaluate")
	if err != nil {
		t.Fatal(err)
	}
	var m storedMeta
	if err := json.Unmarshal(b.Data, &m); err != nil {
		t.Fatal(err)
	}
	return m
}
