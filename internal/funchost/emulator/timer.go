package emulator

import (
	"context"
	"fmt"
	"strings"
	"sync"
	"time"

	"github.com/disconnect-doctor/disconnect-doctor/internal/funchost"
)

// TimerFiring is one invocation of a timer function by RunTimer.
type TimerFiring struct {
	// Due is the schedule occurrence it fired for; Started and Finished
	// are wall-clock times.
	Due, Started, Finished time.Time
	Result                 *funchost.Result
}

// TimerRun is a timer function firing on its schedule (RunTimer).
type TimerRun struct {
	stop chan struct{}
	done chan struct{}

	mu      sync.Mutex
	firings []TimerFiring
}

// RunTimer fires the timer function fn on the wall clock at the
// occurrences of its function.json schedule (NCRONTAB with seconds), as the
// host's timer listener does on the instance holding the timer's singleton
// lock (reference §1): one invocation at a time, ScheduleStatus carrying
// the last and next occurrences. Occurrences that pass while an invocation
// runs are skipped — the next firing is the first occurrence after it ends
// (the WebJobs TimerListener schedules from the time a run completes; the
// reference does not cover overlap, so this is inferred). Past-due firings
// after a crash or failover are not emulated. It stops when ctx ends, at
// Stop, or at the test's cleanup.
func (h *Host) RunTimer(ctx context.Context, fn string) (*TimerRun, error) {
	f, ok := h.Functions[fn]
	if !ok {
		return nil, fmt.Errorf("emulator: no function %s", fn)
	}
	tb := f.Trigger()
	if !strings.EqualFold(tb.Type, "timerTrigger") {
		return nil, fmt.Errorf("emulator: %s is not a timer function", fn)
	}
	sched, err := funchost.ParseSchedule(tb.Schedule)
	if err != nil {
		return nil, fmt.Errorf("emulator: %s: %w", fn, err)
	}
	r := &TimerRun{stop: make(chan struct{}), done: make(chan struct{})}
	h.t.Cleanup(r.Stop)
	go func() {
		defer close(r.done)
		var last time.Time
		due := sched.Next(time.Now())
		for {
			wait := time.Until(due)
			select {
			case <-ctx.Done():
				return
			case <-r.stop:
				return
			case <-time.After(wait):
			}
			select { // stopped while waiting (both were ready): no firing
			case <-r.stop:
				return
			default:
			}
			next := sched.Next(due)
			started := time.Now()
			res := h.Invoke(ctx, h.Timer(fn, funchost.ScheduleStatus(last, next, started)), 0, nil)
			r.mu.Lock()
			r.firings = append(r.firings, TimerFiring{Due: due, Started: started, Finished: time.Now(), Result: res})
			r.mu.Unlock()
			last = due
			// Occurrences that passed while it ran are skipped: the next
			// firing is the first occurrence after it finished.
			due = next
			if now := time.Now(); due.Before(now) {
				due = sched.Next(now)
			}
		}
	}()
	return r, nil
}

// Stop stops the timer and waits for an invocation in flight.
func (r *TimerRun) Stop() {
	select {
	case <-r.stop:
	default:
		close(r.stop)
	}
	<-r.done
}

// Firings returns the invocations so far.
func (r *TimerRun) Firings() []TimerFiring {
	r.mu.Lock()
	defer r.mu.Unlock()
	return append([]TimerFiring(nil), r.firings...)
}
