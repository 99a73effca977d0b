package pipeline

import (
	"context"
	"fmt"
	"strings"
	"time"

	"github.com/disconnect-doctor/disconnect-doctor/classify"
	"github.com/disconnect-doctor/disconnect-doctor/store"
	"github.com/disconnect-doctor/disconnect-doctor/suspect"
)

// suspectPrefix prefixes the MetaBlobs keys of the early incident
// detector's per-hub state ("suspect/<hub>").
const suspectPrefix = "suspect/"

func (p *Pipeline) suspectConfig() suspect.Config {
	return suspect.Config{MinDevices: p.cfg.Engine.IncidentMinDevices}
}

// suspectSignals runs the early incident detector (package suspect) on this
// tick: a hub incident suspected from Event Grid, confirmed by the engine's
// own incident or withdrawn when the resource logs arrive. Wall clock only:
// a replay has the logs already.
func (p *Pipeline) suspectSignals(now, wm time.Time, out classify.Output) []classify.Signal {
	if p.cfg.Engine.Mode != classify.WallClock {
		return nil
	}
	opened := map[string]bool{}
	for _, s := range out.Signals {
		if s.Kind == classify.HubIncident && s.Firing {
			opened[s.Key.Hub] = true
		}
	}
	alerts := p.res.alerts
	open := func(hub string) bool {
		if opened[hub] {
			return true
		}
		r, ok := alerts.Get(string(classify.HubIncident) + "/" + hub)
		return ok && r.Firing && !r.Suspected
	}
	return suspect.Tick(p.suspectConfig(), p.res.suspect, suspect.Input{Now: now, Watermark: wm,
		IncidentOpen: open, Diagnoses: out.Diagnoses})
}

// loadSuspect reads the detector's per-hub blobs. An unreadable one is
// dropped (the hub's usual rate is learned again), never fatal.
func (p *Pipeline) loadSuspect(ctx context.Context) (*suspect.State, error) {
	st := suspect.NewState()
	err := p.st.ListBlobs(ctx, store.MetaBlobs, func(bs []store.Blob) error {
		for _, b := range bs {
			hub, ok := strings.CutPrefix(b.Key, suspectPrefix)
			if !ok {
				continue
			}
			if err := st.Unmarshal(hub, b.Data); err != nil {
				p.log.Error().Str("key", b.Key).Err(err).Msg("dropping unreadable state")
			}
		}
		return nil
	})
	if err != nil {
		return nil, fmt.Errorf("pipeline: load suspect: %w", err)
	}
	st.ClearDirty()
	return st, nil
}

// stageSuspect adds the hubs whose detector state changed to b: at a
// commit, or at once when a suspicion was raised, confirmed or withdrawn.
func (p *Pipeline) stageSuspect(b *rowBatch, commit bool) error {
	st := p.res.suspect
	for _, h := range st.Gone() {
		b.del(suspectPrefix + h)
	}
	hubs, urgent := st.Dirty()
	if len(hubs) == 0 || !(commit || urgent) {
		return nil
	}
	for _, h := range hubs {
		data, ok, err := st.Marshal(h)
		if err != nil {
			return fmt.Errorf("pipeline: %w", err)
		}
		if ok {
			b.put(suspectPrefix+h, data)
		}
	}
	st.ClearDirty()
	return nil
}
