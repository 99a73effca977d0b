package pipeline

import (
	"context"
	"fmt"
	"time"

	"github.com/disconnect-doctor/disconnect-doctor/classify"
	"github.com/disconnect-doctor/disconnect-doctor/event"
	"github.com/disconnect-doctor/disconnect-doctor/rollup"
)

// rollupOf returns the dashboard's rollup, made on first use and again
// after the state is reloaded (its cached rows are then no longer known to
// be current). Called under evalMu only.
func (p *Pipeline) rollupOf() *rollup.Rollup {
	if p.rollup == nil {
		p.rollup = rollup.New(p.st, p.cfg.Engine.Retention)
	}
	return p.rollup
}

// noteRollup lets the rollup see a page of events Evaluate read (hub-side
// errors, the newest record per hub) and how many were new to the engine.
func (p *Pipeline) noteRollup(evs []event.Event, fresh int) { p.rollupOf().Note(evs, fresh) }

// stageRollup counts the tick's diagnoses into the dashboard's per-minute
// rollup and samples the ingest rate; flushRollup writes them with the
// commit (the dashboard is as fresh as the last commit). Both are
// idempotent, so a tick replayed after a crash counts nothing twice.
func (p *Pipeline) stageRollup(ctx context.Context, ds []classify.Diagnosis, wm, now time.Time) error {
	r := p.rollupOf()
	if err := r.Stage(ctx, ds, wm, p.res.engine.HubErrors); err != nil {
		return fmt.Errorf("pipeline: %w", err)
	}
	if err := r.StageSample(ctx, now); err != nil {
		return fmt.Errorf("pipeline: %w", err)
	}
	return nil
}

// flushRollup writes what the rollup staged since the last commit.
func (p *Pipeline) flushRollup(ctx context.Context) error {
	if err := p.rollupOf().Flush(ctx); err != nil {
		return fmt.Errorf("pipeline: %w", err)
	}
	return nil
}
