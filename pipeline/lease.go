package pipeline

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"os"
	"time"

	"github.com/disconnect-doctor/disconnect-doctor/store"
)

// The Evaluate lease.
//
// Holder: the instance, as the platform names it (InstanceName), so a
// worker the host restarts on the same instance holds its own lease and
// evaluates at its next tick instead of waiting for the lease to run out.
//
// TTL: 1.5 timer periods, renewed at every tick. Timer occurrences fall on
// the same schedule on every instance, so when the holder vanishes right
// after a tick at t, its lease runs out at t + 1.5 periods and the first
// instance to tick after that — at t + 2 periods — takes over: evaluation
// resumes within two timer periods (the host's own timer lock fails over in
// about that time, reference/functions-host.md §1). The extra half period
// absorbs timer jitter, so a live holder is never overtaken between two of
// its own ticks. The period is measured between this process's ticks
// (1 minute until measured).
//
// Fencing: AcquireLease returns an epoch that grows each time the lease
// changes hands. A new holder first claims the state: it writes its epoch
// into the meta row, conditional on the ETag it read. Every commit is a
// write of that row conditional on the ETag its writer last saw, so a
// predecessor that was paused and wakes up late has its commit rejected
// (store.ErrConflict). Before a tick writes anything, the holder checks it
// still holds the lease (renewing it if the tick has run long), so a
// holder that has lost it writes nothing at all.

const (
	// defaultPeriod is the Evaluate timer period until one is measured
	// (functions/Evaluate/function.json runs every 30 s: a longer first
	// lease only delays a takeover right after the first tick).
	defaultPeriod = time.Minute
	// minPeriod and maxPeriod bound a measured period: ticks closer than
	// minPeriod are repeats (a drain, a retry), not the schedule.
	minPeriod = time.Second
	maxPeriod = 10 * time.Minute
)

// errFenced says this process no longer holds the Evaluate lease: it must
// not write, and its resident state is dropped.
var errFenced = errors.New("pipeline: the evaluate lease passed to another instance")

// InstanceName names this instance as the platform does (the host's own
// rule, EnvironmentExtensions.GetInstanceId): WEBSITE_POD_NAME (Linux
// Consumption, Flex), else CONTAINER_NAME, else WEBSITE_INSTANCE_ID
// (App Service plans), else the host name. A worker process the host
// restarts on the same instance gets the same name; a new instance gets a
// new one. "" when none is available (a random name is used then).
func InstanceName(getenv func(string) string) string {
	for _, k := range []string{"WEBSITE_POD_NAME", "CONTAINER_NAME", "WEBSITE_INSTANCE_ID"} {
		if v := getenv(k); v != "" {
			return v
		}
	}
	h, _ := os.Hostname()
	return h
}

// observeTick measures the timer period from the wall clock of successive
// ticks.
func (p *Pipeline) observeTick(now time.Time) {
	if !p.lastTick.IsZero() {
		if d := now.Sub(p.lastTick); d >= minPeriod && d <= maxPeriod {
			p.period = d
		}
	}
	p.lastTick = now
}

// leaseTTL is 1.5 timer periods.
func (p *Pipeline) leaseTTL() time.Duration {
	per := p.period
	if per == 0 {
		per = defaultPeriod
	}
	return per + per/2
}

// renew takes or renews the lease until now+ttl and records the epoch; on
// refusal leaseUntil is cleared.
func (p *Pipeline) renew(ctx context.Context, now time.Time, ttl time.Duration) error {
	epoch, err := p.st.AcquireLease(ctx, leaseName, p.instance, now, now.Add(ttl))
	if err != nil {
		return fmt.Errorf("pipeline: lease: %w", err)
	}
	if epoch == 0 {
		p.leaseUntil, p.epoch = time.Time{}, 0
		return nil
	}
	p.leaseUntil, p.epoch = now.Add(ttl), epoch
	return nil
}

// fence checks, before a tick writes anything, that this process still
// holds the lease under its epoch: on its own clock it has more than half
// of it left, or it renews it. A renewal under the same epoch means no
// other instance held the lease meanwhile, even if it ran out during a
// long tick (nobody else can have written); another epoch, or a refusal,
// means another instance has it.
func (p *Pipeline) fence(ctx context.Context) error {
	now := p.now()
	ttl := p.leaseTTL()
	if p.holding(now) && now.Before(p.leaseUntil.Add(-ttl/2)) {
		return nil
	}
	held := p.epoch
	if err := p.renew(ctx, now, ttl); err != nil {
		return err
	}
	if p.epoch != held {
		return errFenced
	}
	return nil
}

// fenced returns ctx carrying this holder's fencing token: every state
// write of the tick (blobs, diagnoses, incidents) carries its epoch, and
// the store refuses it once a later epoch has written there
// (store.WithFence). The lease check in fence cannot close the gap between
// the check and the writes — a process paused in between wakes up to a
// store its successor has written — the store's check, made with each
// write, does.
func (p *Pipeline) fenced(ctx context.Context) context.Context {
	return store.WithFence(ctx, store.Fence{Name: leaseName, Epoch: p.epoch})
}

// claim makes res, just loaded, this holder's: a meta row written under an
// older epoch gets this epoch, conditionally on the ETag read, so that a
// predecessor's later commit fails. A row of a newer epoch means this
// process has lost the lease.
func (p *Pipeline) claim(ctx context.Context, res *resident) error {
	switch {
	case res.meta.Epoch == p.epoch:
		return nil
	case res.meta.Epoch > p.epoch:
		return fmt.Errorf("%w (epoch %d committed, this process holds %d)", errFenced, res.meta.Epoch, p.epoch)
	}
	m := res.meta
	m.Epoch = p.epoch
	data, err := json.Marshal(m)
	if err != nil {
		return fmt.Errorf("pipeline: encode meta: %w", err)
	}
	tags, err := p.st.PutBlobs(ctx, store.MetaBlobs, []store.Blob{{Key: metaKey, Data: data, ETag: res.etag}})
	if err != nil {
		return fmt.Errorf("pipeline: claim the state for epoch %d: %w", p.epoch, err)
	}
	res.meta.Epoch, res.etag = p.epoch, tags[0]
	return nil
}

// keepLease renews the lease at the end of a tick that used more than half
// of it (fence's rule), so that a long tick — a loaded instance, a whole hub
// dropping — does not leave its lease to run out before this instance's
// next tick and hand evaluation to another instance while the holder is
// alive. A short tick costs no request. A failure here is not the tick's:
// the next tick renews or loses the lease as usual.
func (p *Pipeline) keepLease(ctx context.Context) {
	if err := p.fence(ctx); err != nil && !errors.Is(err, errFenced) {
		p.log.Warn().Err(err).Msg("evaluate lease: renewal at the end of the tick failed; the next tick retries")
	}
}
