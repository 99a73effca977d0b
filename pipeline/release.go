package pipeline

import (
	"context"
	"fmt"
	"time"
)

// ReleaseLease gives up the Evaluate lease this process holds (a renewal
// that ends now), so that the live app's next tick does not wait for it to
// run out. For one-off processes sharing the live store, such as `handler
// replay --into`; a no-op when the lease is not held.
func (p *Pipeline) ReleaseLease(ctx context.Context) error {
	p.evalMu.Lock()
	defer p.evalMu.Unlock()
	now := p.now()
	if !p.holding(now) {
		return nil
	}
	p.leaseUntil = time.Time{}
	if _, err := p.st.AcquireLease(ctx, leaseName, p.instance, now, now); err != nil {
		return fmt.Errorf("pipeline: release lease: %w", err)
	}
	return nil
}
