package pipeline

import (
	"context"
	"errors"
	"fmt"
	"time"

	"github.com/disconnect-doctor/disconnect-doctor/alert"
	"github.com/disconnect-doctor/disconnect-doctor/classify"
	"github.com/disconnect-doctor/disconnect-doctor/store"
	"github.com/disconnect-doctor/disconnect-doctor/watch"
)

// raise reports one of the pipeline's own alert conditions found while
// Evaluate does its I/O (a hub blob it cannot decode, a record the store
// refuses): it joins the built-in checks' conditions at this tick's
// reconcile (see package watch). Call it only from inside a tick (under
// evalMu); a condition found once should carry a Hold so it stays visible.
func (p *Pipeline) raise(c watch.Condition) { p.raised = append(p.raised, c) }

// watchSignals runs the pipeline's own checks against this tick and turns
// their conditions into alert transitions for alert.Manager. The wall-clock
// checks (silence, lag) run only in wallclock mode: a replay's input is
// complete and its times are not now's.
func (p *Pipeline) watchSignals(now, wm, alertNow time.Time) []classify.Signal {
	st := p.res.watch
	conds := p.raised
	p.raised = nil
	if p.cfg.Engine.Mode == classify.WallClock {
		conds = append(conds, watch.Lagging(p.cfg.Watch, now, wm)...)
		conds = append(conds, watch.Silent(p.cfg.Watch, st, now)...)
	}
	conds = append(conds, watch.Failing(st)...)
	return watch.Reconcile(st, conds, alertNow)
}

// watchDeliveries records a delivery's outcomes per channel (for
// notifications-failing, raised at the next tick) and saves them.
func (p *Pipeline) watchDeliveries(ctx context.Context, outs []alert.Outcome, now time.Time) error {
	if len(outs) == 0 || p.res == nil {
		return nil
	}
	ws := make([]watch.Outcome, len(outs))
	for i, o := range outs {
		ws[i] = watch.Outcome{Channel: o.Channel, Kind: o.Kind, Dead: o.Dead, Error: o.Error, At: now}
	}
	watch.Deliveries(p.res.watch, ws)
	return p.saveWatch(ctx)
}

// loadWatch reads the watch state and adopts the alert records of the
// pipeline's own kinds that it does not know (see watch.Adopt).
func (p *Pipeline) loadWatch(ctx context.Context, alerts *alert.State) (*watch.State, error) {
	b, err := p.st.GetBlob(ctx, store.MetaBlobs, watchKey)
	if err != nil && !errors.Is(err, store.ErrNotFound) {
		return nil, fmt.Errorf("pipeline: load watch: %w", err)
	}
	st, err := watch.Unmarshal(b.Data)
	if err != nil {
		// Lost state of the pipeline's own alerts is rebuilt from the alert
		// records and the next ticks' input; not a reason to stop.
		p.log.Error().Err(err).Msg("dropping unreadable watch state")
		st = watch.NewState()
	}
	var firing []watch.Condition
	for _, r := range alerts.Records() {
		if r.Firing && r.Kind != classify.HubIncident && !r.Kind.AboutDevice() {
			firing = append(firing, watch.Condition{Kind: r.Kind, Hub: r.Hub, Subject: r.Device, Since: r.Since,
				Summary: r.Summary, Evidence: r.Evidence, Recommendation: r.Recommendation})
		}
	}
	watch.Adopt(st, firing)
	st.ClearDirty()
	return st, nil
}

// saveWatch writes the watch state when its alerts or channels changed.
func (p *Pipeline) saveWatch(ctx context.Context) error {
	var b rowBatch
	if err := p.stageWatch(&b, false); err != nil {
		return err
	}
	return p.writeRows(ctx, store.MetaBlobs, &b)
}

// stageWatch adds the watch state to b when its alerts or channels
// changed, or (commit) when only the hubs' input records changed.
func (p *Pipeline) stageWatch(b *rowBatch, commit bool) error {
	st := p.res.watch
	alerts, inputs := st.Dirty()
	if !alerts && !(commit && inputs) {
		return nil
	}
	data, err := st.Marshal()
	if err != nil {
		return fmt.Errorf("pipeline: %w", err)
	}
	b.put(watchKey, data)
	st.ClearDirty()
	return nil
}

// pipelineHealth is the health API's view of the pipeline's own alerts:
// the open conditions and the channels' delivery records.
func (p *Pipeline) pipelineHealth(ctx context.Context) (any, error) {
	b, err := p.st.GetBlob(ctx, store.MetaBlobs, watchKey)
	if errors.Is(err, store.ErrNotFound) {
		return map[string]any{"alerts": []any{}}, nil
	}
	if err != nil {
		return nil, fmt.Errorf("pipeline: watch: %w", err)
	}
	st, err := watch.Unmarshal(b.Data)
	if err != nil {
		return nil, err
	}
	type cond struct {
		Key      string   `json:"key"`
		Kind     string   `json:"kind"`
		Severity string   `json:"severity"`
		Hub      string   `json:"hub,omitempty"`
		Subject  string   `json:"subject,omitempty"`
		Since    string   `json:"since"`
		Summary  string   `json:"summary"`
		Evidence []string `json:"evidence,omitempty"`
	}
	out := struct {
		Alerts   []cond                    `json:"alerts"`
		Channels map[string]*watch.Channel `json:"channels,omitempty"`
	}{Alerts: []cond{}, Channels: st.Channels}
	for _, a := range st.Conditions() {
		out.Alerts = append(out.Alerts, cond{Key: a.Key(), Kind: string(a.Kind), Severity: a.Kind.Severity(), Hub: a.Hub,
			Subject: a.Subject, Since: a.Since.UTC().Format(time.RFC3339), Summary: a.Summary, Evidence: a.Evidence})
	}
	return out, nil
}
